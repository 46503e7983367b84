// The same tests as server.test.ts, on the 'raw' data path (llhttp on both sides' sockets);
// server.test.ts itself runs on the default one.
import { onRawPath } from '../testing/raw-path';
import './server.test';

onRawPath();
