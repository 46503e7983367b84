import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { ShipitError, failed, type ErrorCode } from '../domain/errors';
import { readTokenFile } from '../api/auth';
import { call } from './client';
import { config, endpoint, type GlobalArgs } from './context';
import { makeOut } from './render';
import type { LoadedConfig } from '../config';
import { isSuccessor, nextMessage, receiveListeners, tell } from '../handover';

/** A daemon's exit code while starting, as the error `shipit up --detach` exits with. */
const EXIT_KIND: Record<number, ErrorCode> = { 2: 'config', 3: 'unreachable', 4: 'conflict' };

const READY_TIMEOUT_MS = 180_000;

export function register(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command(
    'up',
    'start the daemon (proxy + control API); deploy services without a live release; adopt running containers',
    (c) =>
      c
        .option('detach', {
          type: 'boolean',
          alias: 'd',
          describe: 'run in the background; return once the proxy serves',
        })
        .example('$0 up --detach', 'start in the background, log to .shipit/daemon.log')
        .example('$0 up', 'run in this terminal until Ctrl-C'),
    async (a) => {
      const out = makeOut(!!a.json);
      const cfg = config(a);
      const { Daemon, daemonFiles, runningDaemonPid } = await import('../daemon');
      const files = daemonFiles(cfg);
      if (isSuccessor()) return runSuccessor(cfg);
      if (!process.env.SHIPIT_DAEMON_CHILD && runningDaemonPid(files.pid)) {
        // A daemon runs already: this is an upgrade. It hands its sockets to a new one, started
        // from this (possibly newer) shipit, and drains; not one request is refused meanwhile.
        const r = await call<{ from: number; to: number }>(
          endpoint(cfg),
          'POST',
          '/v1/daemon/handover',
          { node: process.execPath, script: path.resolve(process.argv[1]) },
        );
        out.data({ upgraded: true, ...r, log: files.log });
        return out.line(
          `shipit daemon upgraded: pid ${r.from} handed over to pid ${r.to} without dropping a connection; log ${files.log}`,
        );
      }
      if (a.detach && !process.env.SHIPIT_DAEMON_CHILD) {
        readTokenFile(files.token); // a token file others can read: exit 2 here, not in the child
        fs.mkdirSync(files.stateDir, { recursive: true });
        const logFd = fs.openSync(files.log, 'a');
        const child = spawn(
          process.execPath,
          [...process.execArgv, process.argv[1], 'up', '--config', cfg.path],
          {
            detached: true,
            stdio: ['ignore', logFd, logFd],
            env: { ...process.env, SHIPIT_DAEMON_CHILD: '1' },
          },
        );
        let exited: number | null = null;
        child.on('exit', (code) => (exited = code ?? 1));
        child.unref();
        const ep = endpoint(cfg);
        const deadline = Date.now() + READY_TIMEOUT_MS;
        while (Date.now() < deadline) {
          if (exited !== null) {
            const tail = fs.readFileSync(files.log, 'utf8').trim().split('\n').slice(-5).join('\n');
            // Its own exit code says why (2 config, 3 engine unreachable, 4 conflict): pass it on.
            throw new ShipitError(
              EXIT_KIND[exited] ?? 'failed',
              `the daemon exited (code ${exited}) while starting`,
              `last lines of ${files.log}:\n${tail}`,
            );
          }
          try {
            ep.token = ep.token ?? fs.readFileSync(files.token, 'utf8').trim();
            const s = await call<{ ready: boolean; proxy: { host: string; port: number } }>(
              ep,
              'GET',
              '/v1/status',
            );
            if (s.ready) {
              out.data({ pid: child.pid, proxy: s.proxy, log: files.log });
              out.line(
                `shipit daemon running (pid ${child.pid}); proxy on ${s.proxy.host}:${s.proxy.port}; log ${files.log}`,
              );
              return;
            }
          } catch {
            /* not up yet */
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        throw failed(
          `the daemon did not become ready within ${READY_TIMEOUT_MS / 1000}s`,
          `see ${files.log}`,
        );
      }
      const { default: pino } = await import('pino');
      const log = pino({ base: { project: cfg.project } });
      const daemon = await Daemon.start(cfg, { log });
      const stop = () => void daemon.shutdown(false);
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      log.info({ proxy: daemon.proxy.address(), pid: process.pid }, 'daemon started');
      await daemon.deployMissing();
      log.info('daemon ready');
      await daemon.closed;
      log.info('daemon stopped');
      // Replaced by a successor: open API connections (streams) must not keep us alive.
      if (daemon.replaced) process.exit(0);
    },
  );
}

/** Daemon upgrade, new side: takes the old daemon's sockets, starts, and takes over when told. */
async function runSuccessor(cfg: LoadedConfig): Promise<void> {
  const { Daemon } = await import('../daemon');
  const { default: pino } = await import('pino');
  const log = pino({ base: { project: cfg.project } });
  let daemon: Awaited<ReturnType<typeof Daemon.start>>;
  try {
    const inherited = await receiveListeners();
    daemon = await Daemon.start(cfg, { log, inherited });
    tell({ t: 'ready', pid: process.pid });
    // An old daemon that went away before "go" (crashed) serves no more: take over anyway.
    await nextMessage('go').catch((e: Error) => log.warn({ err: e.message }, 'taking over now'));
    daemon.api.publish();
    daemon.startBackground();
  } catch (e) {
    log.error({ err: (e as Error).message }, 'daemon upgrade: could not take over');
    tell({ t: 'failed', error: (e as Error).message });
    process.exit(1);
  }
  tell({ t: 'running', pid: process.pid });
  const stop = () => void daemon.shutdown(false);
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.once('disconnect', () => log.info('daemon upgrade: the old daemon let go'));
  log.info({ proxy: daemon.proxy.address(), pid: process.pid }, 'daemon started (upgrade)');
  await daemon.deployMissing();
  log.info('daemon ready');
  await daemon.closed;
  log.info('daemon stopped');
}
