import type { DeployEvent } from '../domain/types';

export type EventSink = (e: DeployEvent) => void;

export interface Paused {
  paused: true;
  release: number;
  message: string;
}

/**
 * A rollout in progress: its events go to whoever follows it now (the deploy
 * command, then `promote`), and a follower returns when it completes or
 * reaches a manual pause; the rollout itself goes on in the daemon.
 */
export class Rollout<T> {
  private listeners = new Set<EventSink>();
  private pauseWaiters: ((p: Paused) => void)[] = [];
  lastPause: Paused | null = null;
  done!: Promise<T>;

  constructor(readonly release: number) {}

  emit = (e: DeployEvent): void => {
    for (const l of this.listeners) l(e);
    if (e.type === 'paused') {
      this.lastPause = { paused: true, release: this.release, message: e.message };
      const waiters = this.pauseWaiters.splice(0);
      for (const w of waiters) w(this.lastPause);
    } else if (e.type === 'step') {
      this.lastPause = null;
    }
  };

  listen(sink: EventSink): void {
    this.listeners.add(sink);
  }

  unlisten(sink: EventSink): void {
    this.listeners.delete(sink);
  }

  /** Resolves with the outcome, or at the next manual pause; rejects with the rollout's error. */
  async follow(sink: EventSink): Promise<T | Paused> {
    this.listen(sink);
    try {
      return await Promise.race([this.done, new Promise<Paused>((r) => this.pauseWaiters.push(r))]);
    } finally {
      this.unlisten(sink);
    }
  }
}
