import type { Logger } from 'pino';
import type {
  AnalysisSpec,
  ContainerInfo,
  DeployEvent,
  Plan,
  ServiceSpec,
  Step,
} from '../domain/types';
import { describeStep } from '../domain/types';
import { failed, isShipitError } from '../domain/errors';
import type { Clock } from '../ports/clock';
import type { ContainerRuntime } from '../ports/runtime';
import type { StateStore } from '../ports/store';
import type { ReleaseCounters, Router } from '../ports/router';
import { quantileMs, since } from '../proxy/stats';
import type { RolloutGates } from './gates';
import type { Probe } from '../health/probe';
import type { Routes } from './routes';
import { waitHealthy } from './wait-healthy';

export interface ExecutorDeps {
  project: string;
  runtime: ContainerRuntime;
  router: Router;
  routes: Routes;
  store: StateStore;
  probe: Probe;
  clock: Clock;
  log: Logger;
  gates: RolloutGates;
}

type MarkStep = Extract<Step, { kind: 'mark' }>;

function pick(containers: ContainerInfo[], indices?: number[]): ContainerInfo[] {
  return indices ? containers.filter((c) => indices.includes(c.index)) : containers;
}

export type Emit = (e: Omit<DeployEvent, 'at' | 'service'> & { at?: number }) => void;

/** Specs of the releases a plan touches (the new one, and those it routes back to). */
export type SpecOf = (release: number) => ServiceSpec;

/**
 * Runs a plan's steps in order and makes no decisions of its own. When a step
 * fails it runs the plan's compensation, then rethrows the first error.
 */
export class Executor {
  /** Counters of a release when its analysis began, kept across the plan's pauses. */
  private baselines = new Map<string, ReleaseCounters>();

  constructor(private readonly deps: ExecutorDeps) {}

  async run(plan: Plan, specOf: SpecOf, emit: Emit): Promise<void> {
    const total = plan.steps.length;
    const started = this.deps.clock.now();
    const verified: Verified = new Map();
    for (let i = 0; i < total; i++) {
      const step = plan.steps[i];
      const t0 = this.deps.clock.now();
      // Marks in a row are one transaction: a daemon killed between "r3 live" and
      // "r2 previous" must not leave two live releases (or none) behind.
      let last = i;
      if (step.kind === 'mark' && !step.bestEffort)
        while (plan.steps[last + 1]?.kind === 'mark' && !plan.steps[last + 1].bestEffort) last++;
      let at = i;
      const announce = (k: number) => {
        at = k;
        const s = plan.steps[k];
        emit({
          release: plan.release,
          type: 'step',
          message: `[${k + 1}/${total}] ${describeStep(s)}`,
          data: {
            cause: s.cause,
            kind: s.kind,
            ...(s.kind === 'set-weights' ? { weights: s.weights } : {}),
          },
        });
      };
      try {
        if (last > i) {
          this.deps.store.atomically(() => {
            for (let k = i; k <= last; k++) {
              announce(k);
              if (k === i) this.deps.gates.check(plan.service);
              this.mark(plan.service, plan.steps[k] as MarkStep);
            }
          });
        } else {
          announce(i);
          this.deps.gates.check(plan.service);
          // Only a set-weights right after the wait-healthy step routes what it verified.
          if (step.kind !== 'set-weights') verified.clear();
          await this.step(plan.service, step, specOf, emit, started, verified);
        }
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        if (step.bestEffort) {
          this.deps.log.warn(
            { service: plan.service, step: step.kind, err: e.message },
            'best-effort step failed',
          );
          emit({
            release: plan.release,
            type: 'warning',
            message: `${describeStep(step)} failed: ${e.message}`,
          });
          continue;
        }
        emit({
          release: plan.release,
          type: 'step-failed',
          message: e.message,
          data: { step: at + 1 },
        });
        await this.compensate(plan, specOf, emit);
        // Typed at the edge of the engine: anything unexpected is an operation failure (exit 1).
        throw isShipitError(err) ? err : failed(`${describeStep(plan.steps[at])}: ${e.message}`);
      }
      for (let k = i; k <= last; k++) {
        emit({
          release: plan.release,
          type: 'step-done',
          message: `[${k + 1}/${total}] done in ${this.deps.clock.now() - t0}ms`,
        });
      }
      i = last;
    }
  }

  private async compensate(plan: Plan, specOf: SpecOf, emit: Emit): Promise<void> {
    for (const step of plan.compensation) {
      emit({
        release: plan.release,
        type: 'compensate',
        message: describeStep(step),
        data: { cause: step.cause },
      });
      try {
        await this.step(plan.service, step, specOf, emit, this.deps.clock.now());
      } catch (err) {
        // Keep going: every compensation step is independent, and a half-undone deploy is worse.
        this.deps.log.error(
          { service: plan.service, err: (err as Error).message },
          'compensation step failed',
        );
        emit({ release: plan.release, type: 'compensate-failed', message: (err as Error).message });
      }
    }
  }

  private async step(
    service: string,
    step: Step,
    specOf: SpecOf,
    emit: Emit,
    planStarted: number,
    verified?: Verified,
  ): Promise<void> {
    const d = this.deps;
    switch (step.kind) {
      case 'start': {
        const spec = specOf(step.release);
        if (!(await d.runtime.imageExists(spec.image))) {
          throw failed(
            `image "${spec.image}" not found on the Docker engine`,
            'build or pull it first, or check the tag with: docker images',
          );
        }
        await d.runtime.ensureNetwork(d.project);
        let indices = step.indices ?? Array.from({ length: step.count }, (_, i) => i + 1);
        if (step.ensure) {
          const up = new Set((await this.running(service, step.release)).map((c) => c.index));
          indices = indices.filter((i) => !up.has(i));
        }
        const started = await Promise.all(
          indices.map((index) =>
            d.runtime.start({
              project: d.project,
              service,
              release: step.release,
              index,
              image: spec.image,
              port: spec.port,
              env: spec.env,
              command: spec.command,
              memoryBytes: spec.resources?.memoryBytes,
              cpus: spec.resources?.cpus,
              ...(spec.links?.length ? { links: [...spec.links] } : {}),
              ...(spec.labels ? { labels: { ...spec.labels } } : {}),
            }),
          ),
        );
        if (started.length) {
          emit({
            release: step.release,
            type: 'info',
            message: `started ${started.map((c) => c.name).join(', ')}`,
          });
        }
        return;
      }
      case 'wait-healthy': {
        const spec = specOf(step.release);
        const running = await this.running(service, step.release);
        const containers = pick(running, step.indices);
        if (containers.length === 0) throw failed(`r${step.release} has no running container`);
        // Progress for a live display (`shipit deploy` on a terminal): 0/N, then each one up.
        let healthy = 0;
        const progress = () =>
          emit({
            release: step.release,
            type: 'health',
            message: `r${step.release}: ${healthy}/${containers.length} healthy`,
            data: { healthy, total: containers.length },
          });
        progress();
        await waitHealthy(
          containers,
          spec.healthcheck,
          step.timeoutMs,
          step.quick ?? false,
          d,
          planStarted,
          step.pollMs,
          () => {
            healthy++;
            progress();
          },
        );
        verified?.set(step.release, running);
        return;
      }
      case 'set-weights': {
        const releases = await Promise.all(
          Object.entries(step.weights).map(async ([n, weight]) => ({
            number: Number(n),
            weight,
            spec: specOf(Number(n)),
            containers: take(verified, Number(n)) ?? (await this.running(service, Number(n))),
          })),
        );
        d.routes.publish(service, releases);
        return;
      }
      case 'drain': {
        const ids = pick(
          await d.runtime.list({ project: d.project, service, release: step.release }),
          step.indices,
        ).map((c) => c.id);
        const left = await d.router.drain(ids, step.timeoutMs);
        if (left > 0)
          emit({
            release: step.release,
            type: 'info',
            message: `drainTimeout passed with ${left} request(s) still in flight on r${step.release}`,
          });
        return;
      }
      case 'remove': {
        const containers = pick(
          await d.runtime.list({ project: d.project, service, release: step.release }),
          step.indices,
        );
        const grace = specOf(step.release).deploy.drainTimeoutMs;
        await Promise.all(
          containers.map(async (c) => {
            await d.router.drain([c.id], 0);
            await d.runtime.stop(c.id, Math.min(grace, 10000));
            await d.runtime.remove(c.id);
          }),
        );
        d.router.forget(containers.map((c) => c.id));
        return;
      }
      case 'pause': {
        const analysis = step.analysis;
        const tick = analysis ? this.analyzer(service, step.release, analysis, emit) : () => {};
        if (step.pauseMs === 'manual') {
          emit({
            release: step.release,
            type: 'paused',
            message: `r${step.release} waits for \`shipit promote ${service}\``,
            data: { cause: step.cause },
          });
        }
        await d.gates.pause(service, step.pauseMs, analysis?.intervalMs ?? 100, tick);
        return;
      }
      case 'mark':
        this.mark(service, step);
        return;
    }
  }

  private mark(service: string, step: MarkStep): void {
    const d = this.deps;
    const now = d.clock.now();
    const before = d.store.getRelease(service, step.release);
    // finishedAt is when the deploy that made the release ended: a rollback to it keeps it.
    const ends = (step.status === 'live' || step.status === 'failed') && !before?.finishedAt;
    d.store.updateRelease(service, step.release, {
      status: step.status,
      ...(ends ? { finishedAt: now } : {}),
      ...(step.status === 'previous' ? { demotedAt: now } : {}),
    });
  }

  /**
   * Canary analysis: every interval, the release's own counters since its
   * first pause are compared with the limits; a breach throws (and aborts).
   */
  private analyzer(service: string, release: number, a: AnalysisSpec, emit: Emit): () => void {
    const key = `${service}/${release}`;
    let base = this.baselines.get(key);
    if (!base) {
      base = this.deps.router.releaseStats(service, release);
      this.baselines.set(key, base);
    }
    const baseline = base;
    let last = this.deps.clock.now();
    return () => {
      const now = this.deps.clock.now();
      if (now - last < a.intervalMs) return;
      last = now;
      const s = since(this.deps.router.releaseStats(service, release), baseline);
      if (s.requests < a.minRequests) return;
      const rate = s.errors / s.requests;
      const p99 = quantileMs(s, 0.99);
      emit({
        release,
        type: 'analysis',
        message: `r${release}: ${s.requests} requests, error_rate ${rate.toFixed(3)}, p99 <= ${p99}ms`,
        data: { requests: s.requests, errorRate: rate, p99Ms: p99 },
      });
      if (rate > a.maxErrorRate) {
        throw failed(
          `canary analysis: error_rate ${rate.toFixed(3)} is above maxErrorRate ${a.maxErrorRate} (${s.errors} of ${s.requests} requests answered 5xx)`,
        );
      }
      if (a.maxP99Ms !== undefined && p99 > a.maxP99Ms) {
        throw failed(
          `canary analysis: p99 ${p99}ms is above maxP99 ${a.maxP99Ms}ms (${s.requests} requests)`,
        );
      }
    };
  }

  private async running(service: string, release: number): Promise<ContainerInfo[]> {
    const all = await this.deps.runtime.list({ project: this.deps.project, service, release });
    return all.filter((c) => c.running && c.ip);
  }
}

/**
 * A release's running containers as listed by the wait-healthy step that just passed: the
 * set-weights step after it routes them without asking the engine again (the flip).
 */
type Verified = Map<number, ContainerInfo[]>;

/** The verified list of a release, once: later steps list afresh. */
function take(verified: Verified | undefined, release: number): ContainerInfo[] | undefined {
  const list = verified?.get(release);
  verified?.delete(release);
  return list;
}
