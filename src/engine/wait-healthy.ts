import type { ContainerInfo, HealthcheckSpec } from '../domain/types';
import { failed } from '../domain/errors';
import type { Clock } from '../ports/clock';
import type { ContainerRuntime } from '../ports/runtime';
import type { Probe } from '../health/probe';

export interface WaitHealthyDeps {
  runtime: ContainerRuntime;
  probe: Probe;
  clock: Clock;
}

/** While a container is still starting, probe this often rather than every interval. */
const STARTUP_POLL_MS = 200;
/** While its probes fail, ask the runtime this often whether the container still runs. */
const RUNNING_CHECK_MS = 1000;

/**
 * Resolves when every container has passed healthyThreshold probes in a row
 * (one, when `quick`) before `since + timeoutMs`; rejects with the last probe output and the container's
 * logs when one exits or the timeout passes.
 */
export async function waitHealthy(
  containers: ContainerInfo[],
  hc: HealthcheckSpec,
  timeoutMs: number,
  quick: boolean,
  deps: WaitHealthyDeps,
  /** When the clock started: the deploy's start, so deployTimeout bounds the whole rollout. */
  since = deps.clock.now(),
  /** Probe this often until healthy (default: STARTUP_POLL_MS, or the interval if shorter). */
  pollMs?: number,
  /** Called as each container passes its threshold. */
  onHealthy: (c: ContainerInfo) => void = () => {},
): Promise<void> {
  const deadline = since + timeoutMs;
  const poll = pollMs ?? Math.min(STARTUP_POLL_MS, hc.intervalMs);
  await Promise.all(
    containers.map(async (c) => {
      await waitOne(c, hc, deadline, quick ? 1 : hc.healthyThreshold, timeoutMs, poll, deps);
      onHealthy(c);
    }),
  );
}

async function waitOne(
  c: ContainerInfo,
  hc: HealthcheckSpec,
  deadline: number,
  threshold: number,
  timeoutMs: number,
  pollMs: number,
  deps: WaitHealthyDeps,
): Promise<void> {
  let successes = 0;
  let checked = deps.clock.now();
  for (;;) {
    if (!c.ip) throw failed(`${c.name} has no address on the project network`);
    const r = await deps.probe(c.ip, c.port, hc);
    const last = r.detail;
    if (r.ok) {
      if (++successes >= threshold) return;
    } else {
      successes = 0;
      if (deps.clock.now() - checked >= RUNNING_CHECK_MS) {
        checked = deps.clock.now();
        await assertRunning(c, last, deps.runtime);
      }
    }
    const left = deadline - deps.clock.now();
    if (left <= 0) {
      await assertRunning(c, last, deps.runtime);
      const logs = await deps.runtime.logs(c.id, 5).catch(() => '');
      throw failed(
        `${c.name} did not become healthy within ${timeoutMs}ms: ${last}`,
        logs.trim() ? `last log lines of ${c.name}:\n${logs.trim()}` : undefined,
      );
    }
    await deps.clock.sleep(Math.min(left, r.ok ? hc.intervalMs : pollMs));
  }
}

async function assertRunning(
  c: ContainerInfo,
  last: string,
  runtime: ContainerRuntime,
): Promise<void> {
  const now = await runtime.inspect(c.id);
  if (now && now.running) return;
  const logs = await runtime.logs(c.id, 10).catch(() => '');
  throw failed(
    `${c.name} ${now ? `exited (code ${now.exitCode ?? '?'})` : 'disappeared'} before becoming healthy; last check: ${last}`,
    logs.trim() ? `last log lines of ${c.name}:\n${logs.trim()}` : undefined,
  );
}
