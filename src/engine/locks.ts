import { conflict } from '../domain/errors';

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

  holder(service: string): string | undefined {
    return this.held.get(service);
  }
}
