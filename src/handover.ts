// Daemon upgrade without a gap: the running daemon starts its successor as a
// child with an IPC channel and passes it the listening sockets (node sends
// server handles over IPC; Node 20 has no SO_REUSEPORT). Both accept on the
// same sockets for a moment; then the old one stops accepting, drains and exits.
//
//   old                                   new (SHIPIT_HANDOVER=1)
//   locks every service
//   spawn ──────────────────────────────▶ start
//   { t: listener, key } + handle ×N ───▶ collects them
//   { t: listeners-done } ──────────────▶ Daemon.start(inherited), background deferred
//                         ◀──────────────  { t: ready }
//   stops its background work
//   stops accepting
//   { t: go } ──────────────────────────▶ unix API socket takes the real name,
//                                          background work starts, pid file
//                         ◀──────────────  { t: running }
//   drains open connections, exits
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import { failed } from './domain/errors';

export type HandoverMessage =
  | { t: 'listener'; key: string }
  | { t: 'listeners-done' }
  | { t: 'ready'; pid: number }
  | { t: 'go' }
  | { t: 'running'; pid: number }
  | { t: 'failed'; error: string };

/** What starts the successor: the node binary and the shipit script to run (the upgraded one). */
export interface SuccessorCommand {
  node: string;
  script: string;
  configPath: string;
  logFile: string;
}

/** Old side: the successor process, started detached so it outlives us, with an IPC channel. */
export class Successor {
  readonly child: ChildProcess;
  private exited: string | null = null;

  constructor(cmd: SuccessorCommand) {
    for (const f of [cmd.node, cmd.script])
      if (!fs.existsSync(f)) throw failed(`cannot hand over to ${f}: no such file`);
    const logFd = fs.openSync(cmd.logFile, 'a');
    try {
      this.child = spawn(cmd.node, [cmd.script, 'up', '--config', cmd.configPath], {
        detached: true,
        stdio: ['ignore', logFd, logFd, 'ipc'],
        env: { ...process.env, SHIPIT_HANDOVER: '1', SHIPIT_DAEMON_CHILD: '1' },
      });
    } finally {
      fs.closeSync(logFd);
    }
    this.child.on('exit', (code, signal) => (this.exited = signal ?? `code ${code}`));
    this.child.on('error', (e) => (this.exited = e.message));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  sendListeners(listeners: [string, net.Server][]): void {
    for (const [key, server] of listeners)
      this.child.send({ t: 'listener', key } satisfies HandoverMessage, server);
    this.child.send({ t: 'listeners-done' } satisfies HandoverMessage);
  }

  send(m: HandoverMessage): void {
    this.child.send(m);
  }

  /** Resolves on the child's message of type t; rejects if it exits, reports a failure, or takes too long. */
  expect(t: HandoverMessage['t'], timeoutMs: number): Promise<HandoverMessage> {
    return new Promise((resolve, reject) => {
      const done = (err: Error | null, m?: HandoverMessage) => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        if (err) reject(err);
        else resolve(m as HandoverMessage);
      };
      const onMessage = (m: HandoverMessage) => {
        if (m.t === t) done(null, m);
        else if (m.t === 'failed') done(failed(`the new daemon failed to start: ${m.error}`));
      };
      const onExit = () =>
        done(failed(`the new daemon exited (${this.exited ?? 'unknown'}) before it was ${t}`));
      const timer = setTimeout(
        () => done(failed(`the new daemon was not ${t} within ${timeoutMs / 1000}s`)),
        timeoutMs,
      );
      if (this.exited) return onExit();
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
    });
  }

  /** Lets the child live on by itself. */
  release(): void {
    if (this.child.connected) this.child.disconnect();
    this.child.unref();
  }

  kill(): void {
    if (this.exited === null) this.child.kill('SIGKILL');
  }
}

/** New side: is this process a successor started by Successor? */
export function isSuccessor(): boolean {
  return process.env.SHIPIT_HANDOVER === '1' && typeof process.send === 'function';
}

/** Connections a received listening socket accepted before its new owner took it over. */
const early = new WeakMap<net.Server, net.Socket[]>();

/**
 * New side: makes `server` accept on a socket received from the old daemon.
 * A received socket accepts from the moment it arrives; what it accepted
 * before now was queued, and is passed on to `server` as its own connections.
 */
export function listenOnInherited(server: net.Server, handle: net.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(handle, () => {
      server.off('error', reject);
      handle.removeAllListeners('connection');
      for (const socket of early.get(handle) ?? []) server.emit('connection', socket);
      early.delete(handle);
      resolve();
    });
  });
}

/** New side: collects the listening sockets the old daemon sends, by key. */
export function receiveListeners(timeoutMs = 30_000): Promise<Map<string, net.Server>> {
  const got = new Map<string, net.Server>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(failed('no listening sockets came from the old daemon'));
    }, timeoutMs);
    const onMessage = (m: HandoverMessage, handle?: net.Server) => {
      if (m.t === 'listener' && handle) {
        const queued: net.Socket[] = [];
        early.set(handle, queued);
        handle.on('connection', (socket: net.Socket) => queued.push(socket));
        got.set(m.key, handle);
      }
      if (m.t !== 'listeners-done') return;
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(got);
    };
    process.on('message', onMessage);
  });
}

/** New side: resolves when the old daemon sends a message of type t. */
export function nextMessage(t: HandoverMessage['t']): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: HandoverMessage) => {
      if (m.t !== t) return;
      process.off('message', onMessage);
      process.off('disconnect', onGone);
      resolve();
    };
    const onGone = () => {
      process.off('message', onMessage);
      reject(failed(`the old daemon went away before "${t}"`));
    };
    process.on('message', onMessage);
    process.once('disconnect', onGone);
  });
}

/** New side: a message to the old daemon, if it still listens (a send on a closed channel throws later). */
export function tell(m: HandoverMessage): void {
  if (process.connected) process.send?.(m);
}
