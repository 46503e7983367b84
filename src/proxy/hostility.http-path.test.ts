// The same tests as hostility.test.ts, on the 'http' data path (node's http.Server and
// http-proxy-3); hostility.test.ts itself runs on the default one (raw).
import { onDataPath } from '../testing/data-path';
import './hostility.test';

onDataPath('http');
