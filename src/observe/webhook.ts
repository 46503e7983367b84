import type { Logger } from 'pino';

export interface WebhookOptions {
  log: Logger;
  /** Tries per payload, the first included. */
  attempts?: number;
  /** Delay before the first retry; doubles each time. */
  baseDelayMs?: number;
  /** Per attempt. */
  timeoutMs?: number;
  fetch?: typeof globalThis.fetch;
}

/**
 * Delivers JSON payloads by POST in the background, retried with exponential
 * backoff. Payloads to one URL go out in order (a "resolved" never overtakes
 * its "firing"); nothing waits for them.
 */
export class WebhookNotifier {
  private queues = new Map<string, Promise<void>>();
  private stopped = false;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly timeoutMs: number;
  private readonly fetch: typeof globalThis.fetch;

  constructor(private readonly o: WebhookOptions) {
    this.attempts = o.attempts ?? 6;
    this.baseDelayMs = o.baseDelayMs ?? 500;
    this.timeoutMs = o.timeoutMs ?? 5000;
    this.fetch = o.fetch ?? globalThis.fetch;
  }

  send(url: string, payload: Record<string, unknown>): void {
    const prev = this.queues.get(url) ?? Promise.resolve();
    const next = prev.then(() => this.deliver(url, payload));
    this.queues.set(url, next);
    void next.finally(() => {
      if (this.queues.get(url) === next) this.queues.delete(url);
    });
  }

  /** Resolves when every queued payload was delivered or given up. */
  async idle(): Promise<void> {
    while (this.queues.size) await Promise.all(this.queues.values());
  }

  /** Gives up what is still queued (at daemon shutdown). */
  stop(): void {
    this.stopped = true;
  }

  private async deliver(url: string, payload: Record<string, unknown>): Promise<void> {
    const body = JSON.stringify(payload);
    let last = '';
    for (let attempt = 1; attempt <= this.attempts && !this.stopped; attempt++) {
      try {
        const res = await this.fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'shipit' },
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.o.log.info({ url, attempt, status: res.status }, 'webhook delivered');
          return;
        }
        last = `HTTP ${res.status}`;
      } catch (e) {
        last = (e as Error).message;
      }
      this.o.log.warn({ url, attempt, err: last }, 'webhook delivery failed');
      if (attempt < this.attempts && !this.stopped)
        await new Promise((r) => setTimeout(r, this.baseDelayMs * 2 ** (attempt - 1)).unref());
    }
    this.o.log.error({ url, attempts: this.attempts, err: last }, 'webhook given up');
  }
}
