// dockerode loads, when required, two modules shipit never calls: its BuildKit
// session (@grpc/grpc-js, protobufjs) and docker-modem's ssh:// transport
// (ssh2): about 200 ms of a daemon start that must serve again within 2 s of a
// restart, and of every CLI call that talks to Docker. Both export one
// function; stand-ins put in the module cache first load the real module on
// their first call, so nothing changes for a caller that does use them.
import Module from 'node:module';
import path from 'node:path';

function deferred(file: string): void {
  if (require.cache[file]) return;
  const stand = new Module(file, module);
  stand.filename = file;
  stand.loaded = true;
  let real: ((...args: unknown[]) => unknown) | null = null;
  stand.exports = function (this: unknown, ...args: unknown[]): unknown {
    if (!real) {
      delete require.cache[file];
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a path known only now
      real = require(file) as (...args: unknown[]) => unknown;
    }
    return real.apply(this, args);
  };
  require.cache[file] = stand;
}

// Imported for this side effect before dockerode (see docker/runtime.ts).
try {
  const lib = path.dirname(require.resolve('dockerode')); // dockerode/lib
  deferred(path.join(lib, 'session.js'));
  deferred(require.resolve('docker-modem/lib/ssh', { paths: [lib] }));
} catch {
  /* another layout of the packages: they load the usual way */
}
