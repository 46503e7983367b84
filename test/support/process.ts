// Small helpers for tests that drive shipit from outside: a command run to its end, a
// plain HTTP GET, and waiting for a condition.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { ROOT, type CliResult } from './harness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a command to its end (never rejects): exit code, output and wall time. */
export function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  cwd = ROOT,
): Promise<CliResult> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(cmd, args, { cwd, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    p.on('error', (e) => (stderr += String(e)));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 }));
  });
}

/** GET http://127.0.0.1:port/path on a fresh connection (a bearer token if given), 5 s at most. */
export function get(
  port: number,
  urlPath: string,
  token?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        agent: false,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Probes every `everyMs` until it returns non-null (errors count as not yet); throws after `ms`. */
export async function until<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | null>,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${ms} ms${last ? ` (last error: ${last})` : ''}`);
}
