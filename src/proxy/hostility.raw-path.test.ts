// The same tests as hostility.test.ts, on the 'raw' data path (llhttp on both sides' sockets);
// hostility.test.ts itself runs on the default one.
import { onRawPath } from '../testing/raw-path';
import './hostility.test';

onRawPath();
