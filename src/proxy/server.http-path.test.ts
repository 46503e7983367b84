// The same tests as server.test.ts, on the 'http' data path (node's http.Server and
// http-proxy-3); server.test.ts itself runs on the default one (raw).
import { onDataPath } from '../testing/data-path';
import './server.test';

onDataPath('http');
