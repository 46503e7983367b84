import { failed, usageError } from '../domain/errors';

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * Signals from `shipit promote` / `shipit abort` to a rollout in progress.
 * A pause waits on its service's gate; abort is also seen between steps.
 */
export class RolloutGates {
  private waiting = new Map<string, Waiter>();
  private aborted = new Map<string, string>();
  private running = new Set<string>();

  begin(service: string): void {
    this.running.add(service);
    this.aborted.delete(service);
  }

  end(service: string): void {
    this.running.delete(service);
    this.aborted.delete(service);
    this.waiting.delete(service);
  }

  /** Throws the abort error when `shipit abort` was called for this rollout. */
  check(service: string): void {
    const why = this.aborted.get(service);
    if (why !== undefined) throw failed(why);
  }

  /**
   * Waits `ms` (or until promote when 'manual'), calling `tick` every
   * `tickMs` (canary analysis; it throws to fail the rollout).
   */
  async pause(
    service: string,
    ms: number | 'manual',
    tickMs: number,
    tick: () => void,
  ): Promise<void> {
    this.check(service);
    const started = Date.now();
    let promoted = false;
    let abortError: Error | null = null;
    this.waiting.set(service, {
      resolve: () => (promoted = true),
      reject: (e) => (abortError = e),
    });
    try {
      for (;;) {
        if (abortError) throw abortError;
        tick();
        if (promoted) return;
        const left = ms === 'manual' ? Infinity : started + ms - Date.now();
        if (left <= 0) return;
        await new Promise((r) => setTimeout(r, Math.min(tickMs, left, 100)));
      }
    } finally {
      this.waiting.delete(service);
    }
  }

  /** Continues a paused rollout; false when nothing is paused. */
  promote(service: string): boolean {
    const w = this.waiting.get(service);
    if (!w) return false;
    w.resolve();
    return true;
  }

  abort(service: string, reason = 'aborted by `shipit abort`'): void {
    if (!this.running.has(service))
      throw usageError(`${service} has no rollout in progress to abort`);
    this.aborted.set(service, reason);
    this.waiting.get(service)?.reject(failed(reason));
  }

  isPaused(service: string): boolean {
    return this.waiting.has(service);
  }
}
