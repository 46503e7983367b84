import type { Logger } from 'pino';
import type { ContainerRuntime } from '../ports/runtime';

export interface EngineWatchDeps {
  runtime: ContainerRuntime;
  log: Logger;
  /** Called once the engine answers again after it did not. */
  onBack: () => Promise<void>;
  intervalMs?: number;
}

/**
 * Pings the Docker engine every interval and notices when it goes away and
 * when it comes back (restarted under a running daemon). Serving goes on
 * meanwhile with what the proxy knows; operations fail with a clear error.
 */
export class EngineWatch {
  private up = true;
  private since = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly d: EngineWatchDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.d.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** up, and since when (ms epoch) it has been in that state. */
  state(): { up: boolean; since: number } {
    return { up: this.up, since: this.since };
  }

  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.d.runtime.ping();
      if (!this.up) {
        this.d.log.warn({ downMs: Date.now() - this.since }, 'the Docker engine answers again');
        this.up = true;
        this.since = Date.now();
        await this.d
          .onBack()
          .catch((e: Error) =>
            this.d.log.error({ err: e.message }, 'resync after the engine came back failed'),
          );
      }
    } catch (e) {
      if (this.up) {
        this.d.log.error({ err: (e as Error).message }, 'the Docker engine does not answer');
        this.up = false;
        this.since = Date.now();
      }
    } finally {
      this.busy = false;
    }
  }
}
