import pino from 'pino';
import type { HealthcheckSpec } from '../domain/types';
import { HealthMonitor, type MonitoredTarget } from './monitor';
import type { Probe, ProbeResult } from './probe';

const hc: HealthcheckSpec = {
  path: '/',
  intervalMs: 5,
  timeoutMs: 5,
  healthyThreshold: 3,
  unhealthyThreshold: 2,
};

function target(id: string, host = `10.0.0.${id.length + 1}`): MonitoredTarget {
  return { id, name: `app-web-${id}`, host, port: 3000, healthcheck: hc };
}

/** Plays a script of results per host; once the script runs out, repeats the last. */
function scripted(scripts: Record<string, boolean[]>) {
  const calls: string[] = [];
  const probe: Probe = async (host) => {
    calls.push(host);
    const s = scripts[host];
    const ok = s.length > 1 ? s.shift()! : s[0];
    return { ok, detail: ok ? 'GET / -> 200' : 'GET / -> 503' } satisfies ProbeResult;
  };
  return { probe, calls };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

const log = pino({ level: 'silent' });

describe('HealthMonitor', () => {
  let monitor: HealthMonitor | null = null;
  afterEach(() => monitor?.stop());

  it('flips unhealthy after unhealthyThreshold failures, back after healthyThreshold successes, reporting every check', async () => {
    const { probe } = scripted({ h1: [true, false, false, false, true, true, true, false, true] });
    const changes: [string, boolean, string][] = [];
    monitor = new HealthMonitor(
      probe,
      (id, healthy, detail) => changes.push([id, healthy, detail]),
      log,
    );
    const t = target('a', 'h1');
    monitor.watch([t]);
    expect(monitor.status('a')).toEqual({ healthy: true, detail: '' });
    await until(() => changes.length >= 9);
    monitor.stop();
    expect(changes.slice(0, 9).map((c) => c[1])).toEqual([
      true, // ok
      true, // 1 failure < 2
      false, // 2 failures: flips
      false,
      false, // 1 success < 3
      false, // 2 successes
      true, // 3 successes: flips back
      true, // a single failure does not flip
      true,
    ]);
    expect(changes.every((c) => c[0] === 'a')).toBe(true);
    expect(changes[2][2]).toBe('GET / -> 503');
    expect(changes[6][2]).toBe('GET / -> 200');
  });

  it('status() tracks the last detail and health; unknown ids give null', async () => {
    const { probe } = scripted({ h2: [false] });
    const changes: boolean[] = [];
    monitor = new HealthMonitor(probe, (_id, healthy) => changes.push(healthy), log);
    monitor.watch([target('b', 'h2')]);
    await until(() => changes.length >= 2);
    expect(monitor.status('b')).toEqual({ healthy: false, detail: 'GET / -> 503' });
    expect(monitor.status('zzz')).toBeNull();
  });

  it('keeps the state of targets still watched and stops probing unwatched ones', async () => {
    const { probe, calls } = scripted({ ha: [false], hb: [true] });
    const seen: Record<string, boolean[]> = { a: [], b: [] };
    monitor = new HealthMonitor(probe, (id, healthy) => seen[id].push(healthy), log);
    monitor.watch([target('a', 'ha'), target('b', 'hb')]);
    await until(() => seen.a.length >= 2);
    expect(monitor.status('a')?.healthy).toBe(false);
    // re-watching a with a new set keeps its (unhealthy) state instead of starting fresh
    monitor.watch([target('a', 'ha')]);
    expect(monitor.status('a')?.healthy).toBe(false);
    expect(monitor.status('b')).toBeNull();
    const bChecks = calls.filter((h) => h === 'hb').length;
    const bReports = seen.b.length;
    await new Promise((r) => setTimeout(r, 40));
    expect(calls.filter((h) => h === 'hb').length).toBeLessThanOrEqual(bChecks + 1); // at most one already in flight
    expect(seen.b.length).toBe(bReports); // and its result is not reported
    expect(seen.a.length).toBeGreaterThan(2);
    expect(seen.a.every((h, i) => i === 0 || h === false)).toBe(true);
  });

  it('stop() stops all probing', async () => {
    const { probe, calls } = scripted({ hs: [true] });
    monitor = new HealthMonitor(probe, () => {}, log);
    monitor.watch([target('s', 'hs')]);
    await until(() => calls.length >= 2);
    monitor.stop();
    const n = calls.length;
    await new Promise((r) => setTimeout(r, 40));
    expect(calls.length).toBeLessThanOrEqual(n + 1);
    expect(monitor.status('s')).toBeNull();
  });

  it('probes on the target interval, not at once', async () => {
    const { probe, calls } = scripted({ hi: [true] });
    monitor = new HealthMonitor(probe, () => {}, log);
    monitor.watch([{ ...target('i', 'hi'), healthcheck: { ...hc, intervalMs: 60 } }]);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual([]);
    await until(() => calls.length === 1);
  });
});
