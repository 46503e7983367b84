import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ShipitError } from './domain/errors';
import {
  isSuccessor,
  listenOnInherited,
  nextMessage,
  receiveListeners,
  Successor,
  type HandoverMessage,
} from './handover';

// The child side of the protocol, in plain node. The mode comes in as the config path
// (argv: shipit.js up --config <mode>).
const CHILD = `
const mode = process.argv[4];
console.log(JSON.stringify({
  argv: process.argv.slice(2),
  handover: process.env.SHIPIT_HANDOVER,
  daemonChild: process.env.SHIPIT_DAEMON_CHILD,
}));
setInterval(() => {}, 1000); // lives until killed, with or without its parent
if (mode === 'exit') process.exit(3);
process.on('message', (m, handle) => {
  if (m.t === 'listener') {
    handle.on('connection', (s) => s.end('child ' + process.pid + ' on ' + m.key + '\\n'));
  } else if (m.t === 'listeners-done') {
    if (mode === 'fail') return process.send({ t: 'failed', error: 'port 80 is taken' });
    if (mode === 'silent') return;
    if (mode === 'exit-late') return process.exit(4);
    process.send({ t: 'ready', pid: process.pid });
  } else if (m.t === 'go') {
    process.send({ t: 'running', pid: process.pid });
  }
});
process.on('disconnect', () => console.log('disconnected'));
`;

let dir: string;
let script: string;
let logFile: string;
let successors: Successor[];
let servers: net.Server[];

function successor(mode = 'normal'): Successor {
  const s = new Successor({ node: process.execPath, script, configPath: mode, logFile });
  successors.push(s);
  return s;
}

async function listening(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** Connects, and resolves with what the other end wrote before closing. */
function answer(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (got += d));
    c.on('end', () => resolve(got));
    c.on('error', reject);
  });
}

function exited(s: Successor): Promise<string> {
  return new Promise((r) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null)
      return r(String(s.child.signalCode ?? s.child.exitCode));
    s.child.once('exit', (code, signal) => r(String(signal ?? code)));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function rejection(p: Promise<unknown>): Promise<ShipitError> {
  try {
    await p;
  } catch (e) {
    return e as ShipitError;
  }
  throw new Error('expected a rejection');
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-handover-'));
  script = path.join(dir, 'shipit.js');
  fs.writeFileSync(script, CHILD);
  logFile = path.join(dir, 'daemon.log');
  successors = [];
  servers = [];
});

afterEach(async () => {
  for (const s of successors) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      const gone = exited(s);
      s.child.kill('SIGKILL');
      await gone;
    }
  }
  for (const server of servers) server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('Successor', () => {
  it('hands the listening sockets to the child, which accepts on them; ready, go, running', async () => {
    const { server, port } = await listening();
    const s = successor();
    expect(s.pid).toBe(s.child.pid);
    expect(s.pid).toBeGreaterThan(0);
    s.sendListeners([['proxy:127.0.0.1:' + port, server]]);
    const ready = await s.expect('ready', 10_000);
    expect(ready).toEqual({ t: 'ready', pid: s.pid });

    // The old side stops accepting; the socket lives on in the child.
    await new Promise<void>((r) => server.close(() => r()));
    expect(await answer(port)).toBe(`child ${s.pid} on proxy:127.0.0.1:${port}\n`);
    expect(await answer(port)).toBe(`child ${s.pid} on proxy:127.0.0.1:${port}\n`);

    s.send({ t: 'go' });
    expect(await s.expect('running', 10_000)).toEqual({ t: 'running', pid: s.pid });

    // started as "<script> up --config <path>", marked as a successor, output to the log file
    const first = JSON.parse(fs.readFileSync(logFile, 'utf8').split('\n')[0]!) as unknown;
    expect(first).toEqual({ argv: ['up', '--config', 'normal'], handover: '1', daemonChild: '1' });
  });

  it('hands over several listeners, each under its key', async () => {
    const a = await listening();
    const b = await listening();
    const s = successor();
    s.sendListeners([
      ['proxy', a.server],
      ['api', b.server],
    ]);
    await s.expect('ready', 10_000);
    a.server.close();
    b.server.close();
    expect(await answer(a.port)).toBe(`child ${s.pid} on proxy\n`);
    expect(await answer(b.port)).toBe(`child ${s.pid} on api\n`);
  });

  it('appends to the log file rather than truncating it', async () => {
    fs.writeFileSync(logFile, 'the old daemon wrote this\n');
    const s = successor('exit');
    await exited(s);
    const lines = fs.readFileSync(logFile, 'utf8').split('\n');
    expect(lines[0]).toBe('the old daemon wrote this');
    expect(lines[1]).toContain('"argv"');
  });

  it('rejects, naming the exit, when the child exits before it is ready', async () => {
    const s = successor('exit');
    const err = await rejection(s.expect('ready', 10_000));
    expect(err).toBeInstanceOf(ShipitError);
    expect(err.code).toBe('failed');
    expect(err.message).toBe('the new daemon exited (code 3) before it was ready');
    // asked again once it is gone: at once, same reason
    const again = await rejection(s.expect('running', 10_000));
    expect(again.message).toBe('the new daemon exited (code 3) before it was running');
  });

  it('rejects, naming the exit, when the child exits after receiving the listeners', async () => {
    const { server } = await listening();
    const s = successor('exit-late');
    s.sendListeners([['proxy', server]]);
    const err = await rejection(s.expect('ready', 10_000));
    expect(err.message).toBe('the new daemon exited (code 4) before it was ready');
  });

  it('rejects with the error the child reports', async () => {
    const { server } = await listening();
    const s = successor('fail');
    s.sendListeners([['proxy', server]]);
    const err = await rejection(s.expect('ready', 10_000));
    expect(err).toBeInstanceOf(ShipitError);
    expect(err.message).toBe('the new daemon failed to start: port 80 is taken');
  });

  it('rejects when the child takes too long, and leaves it to the caller to kill', async () => {
    const { server } = await listening();
    const s = successor('silent');
    s.sendListeners([['proxy', server]]);
    const started = Date.now();
    const err = await rejection(s.expect('ready', 300));
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(err.message).toBe('the new daemon was not ready within 0.3s');
    expect(alive(s.pid)).toBe(true);
    // no listener left behind on the child
    expect(s.child.listenerCount('message')).toBe(0);
  });

  it('ignores messages of other types while waiting', async () => {
    const { server } = await listening();
    const s = successor();
    s.sendListeners([['proxy', server]]);
    const running = s.expect('running', 10_000);
    // 'ready' comes first and does not settle the wait for 'running'
    await s.expect('ready', 10_000);
    s.send({ t: 'go' });
    expect(await running).toEqual({ t: 'running', pid: s.pid });
  });

  it('refuses a script or a node binary that does not exist, before starting anything', () => {
    const missing = path.join(dir, 'nope', 'shipit.js');
    let err: unknown;
    try {
      new Successor({ node: process.execPath, script: missing, configPath: 'x', logFile });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ShipitError);
    expect(err).toMatchObject({
      code: 'failed',
      message: `cannot hand over to ${missing}: no such file`,
    });
    expect(
      () => new Successor({ node: path.join(dir, 'node'), script, configPath: 'x', logFile }),
    ).toThrow(`cannot hand over to ${path.join(dir, 'node')}: no such file`);
    expect(fs.existsSync(logFile)).toBe(false);
  });

  it('release() lets the child live on by itself, still serving', async () => {
    const { server, port } = await listening();
    const s = successor();
    s.sendListeners([['proxy', server]]);
    await s.expect('ready', 10_000);
    s.send({ t: 'go' });
    await s.expect('running', 10_000);
    server.close();

    s.release();
    expect(s.child.connected).toBe(false);
    s.release(); // twice is harmless
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(s.pid)).toBe(true);
    expect(s.child.exitCode).toBeNull();
    expect(await answer(port)).toBe(`child ${s.pid} on proxy\n`);
    expect(fs.readFileSync(logFile, 'utf8')).toContain('disconnected');
  });

  it('kill() kills the child, and a pending wait rejects naming the signal', async () => {
    const s = successor('silent');
    const waiting = rejection(s.expect('ready', 10_000));
    const gone = exited(s);
    s.kill();
    expect(await gone).toBe('SIGKILL');
    expect((await waiting).message).toBe('the new daemon exited (SIGKILL) before it was ready');
    expect(alive(s.pid)).toBe(false);
    expect(() => s.kill()).not.toThrow(); // already gone: nothing to do
  });
});

type Listener = (...args: never[]) => void;

/** The listeners `start` adds to process for 'message' and 'disconnect'. They are called
 *  directly: emitting on process would also reach the test runner's own IPC listeners. */
function added(start: () => void): { message: Listener[]; disconnect: Listener[] } {
  const listeners = (e: string) => process.listeners(e as 'message') as Listener[];
  const before = { message: listeners('message'), disconnect: listeners('disconnect') };
  start();
  return {
    message: listeners('message').filter((l) => !before.message.includes(l)),
    disconnect: listeners('disconnect').filter((l) => !before.disconnect.includes(l)),
  };
}

function still(l: Listener): boolean {
  return [...process.listeners('message'), ...process.listeners('disconnect')].includes(l as never);
}

describe('new side', () => {
  it('listenOnInherited: the new server accepts on the received socket', async () => {
    const { server: handle, port } = await listening();
    const server = net.createServer((s) => s.end('new server\n'));
    servers.push(server);
    await listenOnInherited(server, handle);
    expect((server.address() as net.AddressInfo).port).toBe(port);
    expect(await answer(port)).toBe('new server\n');
    expect(await answer(port)).toBe('new server\n');
    server.close();
  });

  it('listenOnInherited rejects when the server cannot listen on the handle', async () => {
    const handle = net.createServer(); // not listening: no socket to take over
    const server = net.createServer();
    await expect(listenOnInherited(server, handle)).rejects.toThrow();
    expect(server.listening).toBe(false);
  });

  it('receiveListeners collects sockets by key; what they accept early reaches the new server', async () => {
    const a = await listening();
    const b = await listening();
    let got!: Promise<Map<string, net.Server>>;
    const l = added(() => {
      got = receiveListeners(10_000);
    });
    expect(l.message).toHaveLength(1);
    const onMessage = l.message[0] as (m: HandoverMessage, handle?: net.Server) => void;
    onMessage({ t: 'listener', key: 'proxy' }, a.server);
    onMessage({ t: 'listener', key: 'api' }, b.server);
    onMessage({ t: 'listener', key: 'ignored' }); // no handle came with it
    onMessage({ t: 'listeners-done' });
    const inherited = await got;
    expect([...inherited.keys()]).toEqual(['proxy', 'api']);
    expect(inherited.get('proxy')).toBe(a.server);
    expect(still(onMessage)).toBe(false);

    // A connection arrives before the new server took the socket over: it waits in a queue.
    const accepted = once(a.server, 'connection');
    const early = answer(a.port);
    await accepted;
    const server = net.createServer((s) => s.end('new server\n'));
    servers.push(server);
    await listenOnInherited(server, a.server);
    expect(a.server.listenerCount('connection')).toBe(0);
    expect(await early).toBe('new server\n');
    expect(await answer(a.port)).toBe('new server\n');
  });

  it('receiveListeners gives up when nothing comes', async () => {
    let got!: Promise<Map<string, net.Server>>;
    const l = added(() => {
      got = receiveListeners(50);
    });
    await expect(got).rejects.toThrow('no listening sockets came from the old daemon');
    expect(still(l.message[0]!)).toBe(false);
  });

  it('nextMessage resolves on its message type only, and rejects when the old daemon goes away', async () => {
    let go!: Promise<void>;
    const l = added(() => {
      go = nextMessage('go');
    });
    expect(l.message).toHaveLength(1);
    expect(l.disconnect).toHaveLength(1);
    const onMessage = l.message[0] as (m: HandoverMessage) => void;
    let settled = false;
    void go.then(() => (settled = true));
    onMessage({ t: 'listeners-done' });
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    onMessage({ t: 'go' });
    await go;
    expect(still(l.message[0]!)).toBe(false);
    expect(still(l.disconnect[0]!)).toBe(false);

    let gone!: Promise<void>;
    const l2 = added(() => {
      gone = nextMessage('go');
    });
    (l2.disconnect[0] as () => void)();
    await expect(gone).rejects.toThrow('the old daemon went away before "go"');
    expect(still(l2.message[0]!)).toBe(false);
    // (a once listener called directly, not emitted, does not remove itself)
    process.off('disconnect', l2.disconnect[0] as () => void);
  });

  it('isSuccessor needs SHIPIT_HANDOVER=1 and an IPC channel', () => {
    const saved = process.env.SHIPIT_HANDOVER;
    try {
      delete process.env.SHIPIT_HANDOVER;
      expect(isSuccessor()).toBe(false);
      process.env.SHIPIT_HANDOVER = '1';
      expect(isSuccessor()).toBe(typeof process.send === 'function');
    } finally {
      if (saved === undefined) delete process.env.SHIPIT_HANDOVER;
      else process.env.SHIPIT_HANDOVER = saved;
    }
  });
});
