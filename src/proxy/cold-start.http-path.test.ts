// The same tests as cold-start.test.ts, on the 'http' data path (node's http.Server and
// http-proxy-3); cold-start.test.ts itself runs on the default one (raw).
import { onDataPath } from '../testing/data-path';
import './cold-start.test';

onDataPath('http');
