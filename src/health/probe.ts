import http from 'node:http';
import net from 'node:net';
import type { HealthcheckSpec } from '../domain/types';

export interface ProbeResult {
  ok: boolean;
  /** What the check saw, for error messages: status and the start of the body, or the socket error. */
  detail: string;
  /** No answer within the timeout (rather than a bad answer or a refused connection). */
  timedOut?: boolean;
}

export type Probe = (host: string, port: number, hc: HealthcheckSpec) => Promise<ProbeResult>;

const noKeepAlive = new http.Agent({ keepAlive: false });

export function httpProbe(
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, agent: noKeepAlive, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 200) body += c;
      });
      res.on('end', () => {
        const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400;
        resolve({
          ok,
          detail: `GET ${path} -> ${res.statusCode} ${JSON.stringify(body.trim().slice(0, 120))}`,
        });
      });
      res.on('error', (e) => resolve({ ok: false, detail: `GET ${path}: ${e.message}` }));
    });
    let timedOut = false;
    req.on('timeout', () => {
      timedOut = true;
      req.destroy(new Error(`timed out after ${timeoutMs}ms`));
    });
    req.on('error', (e) =>
      resolve({ ok: false, detail: `GET ${path}: ${e.message}`, ...(timedOut && { timedOut }) }),
    );
  });
}

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (r: ProbeResult) => {
      s.destroy();
      resolve(r);
    };
    s.setTimeout(timeoutMs, () =>
      done({ ok: false, detail: `tcp ${port}: timed out after ${timeoutMs}ms`, timedOut: true }),
    );
    s.once('connect', () => done({ ok: true, detail: `tcp ${port}: connected` }));
    s.once('error', (e) => done({ ok: false, detail: `tcp ${port}: ${e.message}` }));
  });
}

export const probe: Probe = (host, port, hc) =>
  hc.tcp ? tcpProbe(host, port, hc.timeoutMs) : httpProbe(host, port, hc.path ?? '/', hc.timeoutMs);
