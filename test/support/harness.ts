import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export const ROOT = path.resolve(__dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'shipit.js');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export function docker(...args: string[]): string {
  const r = spawnSync('docker', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Container ids of a project (optionally one release), running ones only unless all=true. */
export function containerIds(project: string, release?: number, all = false): string[] {
  const f = ['--filter', `label=io.shipit.project=${project}`];
  if (release !== undefined) f.push('--filter', `label=io.shipit.release=${release}`);
  const out = docker('ps', ...(all ? ['-a'] : []), '-q', '--no-trunc', ...f);
  return out ? out.split('\n').sort() : [];
}

export interface ProjectOptions {
  replicas?: number;
  deployTimeout?: string;
  keepPrevious?: string;
  /** Extra keys of the web service (indented 4 spaces), e.g. an autoscale block. */
  serviceYaml?: string;
  drainTimeout?: string;
  extraYaml?: string;
}

/** A throwaway project dir with its own shipit.yml, proxy port and API socket; labels make cleanup exact. */
export class TestProject {
  readonly project = `e2e-${randomBytes(4).toString('hex')}`;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-e2e-'));
  port = 0;
  daemon: ChildProcess | null = null;
  private daemonLog: string[] = [];

  async init(o: ProjectOptions = {}): Promise<this> {
    this.port = await freePort();
    this.writeConfig(`project: ${this.project}
proxy:
  listen: 127.0.0.1:${this.port}
  upstreamTimeout: 30s
services:
  web:
    image: demo-web:v1
    port: 8080
    replicas: ${o.replicas ?? 2}
${o.serviceYaml ?? ''}    healthcheck:
      path: /healthz
      interval: 500ms
      timeout: 1s
    deploy:
      strategy: blue-green
      deployTimeout: ${o.deployTimeout ?? '15s'}
      drainTimeout: ${o.drainTimeout ?? '10s'}
      keepPrevious: ${o.keepPrevious ?? '10m'}
${o.extraYaml ?? ''}`);
    return this;
  }

  writeConfig(text: string): void {
    fs.writeFileSync(path.join(this.dir, 'shipit.yml'), text);
  }

  cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    const t0 = Date.now();
    return new Promise((resolve) => {
      const p = spawn(process.execPath, [BIN, ...args], {
        cwd: this.dir,
        env: { ...process.env, ...env },
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (c) => (stdout += c));
      p.stderr.on('data', (c) => (stderr += c));
      p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 }));
    });
  }

  /** Starts `shipit up` in the foreground as a child (so a test can kill -9 it) and waits until ready. */
  async up(): Promise<void> {
    this.daemonLog = [];
    const p = spawn(process.execPath, [BIN, 'up'], { cwd: this.dir, env: process.env });
    p.stdout.on('data', (c) => this.daemonLog.push(String(c)));
    p.stderr.on('data', (c) => this.daemonLog.push(String(c)));
    this.daemon = p;
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`daemon exited ${p.exitCode}:\n${this.log()}`);
      const s = await this.cli(['status', '--json']);
      if (s.code === 0 && JSON.parse(s.stdout).ready) return;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`daemon not ready within 60s:\n${this.log()}`);
  }

  log(): string {
    const lines = Number(process.env.SHIPIT_LOG_LINES) || 30;
    return this.daemonLog.join('').split('\n').slice(-lines).join('\n');
  }

  async kill9(): Promise<void> {
    const p = this.daemon;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  async status(): Promise<{
    services: {
      name: string;
      releases: { number: number; status: string; weight: number; image: string }[];
      targets: { id: string; healthy: boolean; draining: boolean; release: number }[];
    }[];
  }> {
    const s = await this.cli(['status', '--json']);
    if (s.code !== 0) throw new Error(`status failed: ${s.stderr}`);
    return JSON.parse(s.stdout);
  }

  /** Removes everything this project created, whatever state the test left it in. */
  async cleanup(): Promise<void> {
    if (this.daemon && this.daemon.exitCode === null) {
      await this.cli(['down', '--remove']).catch(() => undefined);
      await this.kill9();
    }
    const ids = containerIds(this.project, undefined, true);
    if (ids.length) spawnSync('docker', ['rm', '-f', ...ids]);
    spawnSync('docker', ['network', 'rm', `${this.project}_shipit`]);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
