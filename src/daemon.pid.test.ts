import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runningDaemonPid } from './daemon';

let dir: string;
let pidFile: string;
let children: ChildProcess[];

function start(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(c);
  return c;
}

function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((r) => c.once('exit', () => r()));
}

/** Waits until /proc shows the process (exec done: cmdline is the new program's). */
async function procState(pid: number, want: (stat: string, cmdline: string) => boolean) {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (want(stat, cmdline)) return;
    } catch {
      /* not there yet */
    }
    if (Date.now() > deadline) throw new Error(`process ${pid} never got to the wanted state`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const hasProc = fs.existsSync('/proc/self/stat');
const linuxIt = hasProc ? it : it.skip;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-pid-'));
  pidFile = path.join(dir, 'shipit.pid');
  children = [];
});

afterEach(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      const gone = exited(c);
      c.kill('SIGKILL');
      await gone;
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('runningDaemonPid', () => {
  it('is null without a pid file', () => {
    expect(runningDaemonPid(pidFile)).toBeNull();
  });

  it('is null for an empty, garbled or unreadable pid file', () => {
    fs.writeFileSync(pidFile, '');
    expect(runningDaemonPid(pidFile)).toBeNull();
    fs.writeFileSync(pidFile, 'not a pid\n');
    expect(runningDaemonPid(pidFile)).toBeNull();
    fs.writeFileSync(pidFile, '0\n');
    expect(runningDaemonPid(pidFile)).toBeNull();
    expect(runningDaemonPid(dir)).toBeNull(); // a directory: reading it fails
  });

  it('is null for its own pid (a successor reading the file of the daemon it replaces)', () => {
    fs.writeFileSync(pidFile, `${process.pid}\n`);
    expect(runningDaemonPid(pidFile)).toBeNull();
  });

  it('is null for a process that is gone (a stale file after kill -9)', async () => {
    const c = start(process.execPath, ['-e', '']);
    const pid = c.pid!;
    await exited(c);
    fs.writeFileSync(pidFile, `${pid}\n`);
    expect(runningDaemonPid(pidFile)).toBeNull();
  });

  linuxIt('is null for a live process that is not node (the pid was given out again)', async () => {
    const c = start('sleep', ['5']);
    const pid = c.pid!;
    await procState(pid, (_, cmdline) => cmdline.startsWith('sleep'));
    fs.writeFileSync(pidFile, `${pid}\n`);
    expect(runningDaemonPid(pidFile)).toBeNull();
  });

  it('is the pid of a live node process', async () => {
    const c = start(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    const pid = c.pid!;
    if (hasProc) await procState(pid, (_, cmdline) => cmdline.includes('setInterval'));
    fs.writeFileSync(pidFile, `${pid}\n`);
    expect(runningDaemonPid(pidFile)).toBe(pid);
    fs.writeFileSync(pidFile, `  ${pid}  `); // surrounding whitespace is fine
    expect(runningDaemonPid(pidFile)).toBe(pid);
  });

  linuxIt('is null for a node process that exited and awaits its reaper (a zombie)', async () => {
    // sh starts node in the background, prints its pid, and becomes sleep: sleep never
    // waits for children, so the exited node stays a zombie until sleep is gone.
    const c = start('sh', ['-c', `"${process.execPath}" -e "" & echo $!; exec sleep 5`]);
    const pid = await new Promise<number>((resolve, reject) => {
      let out = '';
      c.stdout!.setEncoding('utf8');
      c.stdout!.on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) resolve(Number(out.trim()));
      });
      c.once('exit', () => reject(new Error('sh exited before printing the pid')));
    });
    await procState(pid, (stat) => stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z'));
    process.kill(pid, 0); // a zombie still answers signal 0
    fs.writeFileSync(pidFile, `${pid}\n`);
    expect(runningDaemonPid(pidFile)).toBeNull();
  });
});
