// The same tests as cold-start.test.ts, on the 'raw' data path (llhttp on both sides' sockets);
// cold-start.test.ts itself runs on the default one.
import { onRawPath } from '../testing/raw-path';
import './cold-start.test';

onRawPath();
