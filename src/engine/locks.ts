import { conflict } from '../domain/errors';
import type { Clock } from '../ports/clock';

/** One operation per service at a time; a second one is refused, not queued. */
export class ServiceLocks {
  private held = new Map<string, string>();

  acquire(service: string, what: string): () => void {
    const current = this.held.get(service);
    if (current) {
      throw conflict(
        `${service}: ${current} is in progress`,
        `wait for it to finish (shipit status ${service}), then try again`,
      );
    }
    this.held.set(service, what);
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.held.delete(service);
      }
    };
  }

  /**
   * Like acquire, but waits up to waitMs for the operation in progress to end
   * (polling); then refuses like acquire does.
   */
  async acquireWithin(
    service: string,
    what: string,
    waitMs: number,
    clock: Clock,
  ): Promise<() => void> {
    const deadline = clock.now() + waitMs;
    for (;;) {
      try {
        return this.acquire(service, what);
      } catch (e) {
        if (clock.now() >= deadline) throw e;
      }
      await clock.sleep(20);
    }
  }

  holder(service: string): string | undefined {
    return this.held.get(service);
  }
}
