// Log aggregation: follows stdout/stderr of every managed container of the project, parses
// each line and stores it in batches, so a noisy container costs the proxy (same process)
// one short transaction per batch, not one write per line.
//
// No line is lost or stored twice across daemon restarts: per container, a cursor (engine
// time of the last stored line, in ns, and how many stored lines had exactly that time) is
// committed with each batch; a restart follows from that time (the engine's `since` is
// inclusive) and skips the lines the cursor covers.

import type { Logger } from 'pino';
import type { ContainerInfo } from '../domain/types';
import { isShipitError } from '../domain/errors';
import { systemClock, type Clock } from '../ports/clock';
import type { LogCursor, LogEntry, LogFilter, LogStore } from '../ports/logs';
import type { ContainerRuntime, LogFollow, RuntimeLogLine } from '../ports/runtime';
import { nsToMs, parseLogLine } from './log-parse';
import { toLogLine, type LogLineOut, type LogRequest } from './log-query';

export interface LogCollectorOptions {
  project: string;
  runtime: ContainerRuntime;
  store: LogStore;
  log: Logger;
  /** Lines older than this are deleted (ms). */
  retentionMs: number;
  /** At most this many lines are kept. */
  maxLines: number;
  clock?: Clock;
  /** A batch is stored at most this long after its first line (ms). Default 100. */
  flushMs?: number;
  /** ... or as soon as it has this many lines. Default 500. */
  flushLines?: number;
  /** Retention runs at start and then this often (ms). Default 30 s. */
  pruneEveryMs?: number;
  /** Pause before following a container again whose stream ended while it runs (ms). */
  refollowDelayMs?: number;
  /**
   * Most lines taken per second, all containers together (default 10 000, about a tenth of
   * a core): beyond it, reading is paused for the rest of each 100 ms window. The engine keeps
   * the lines, so a flood is stored late, not lost, and the proxy keeps its CPU.
   */
  maxLinesPerSec?: number;
}

/** Longer lines are cut (a runaway line must not bloat the database). */
export const MAX_LINE_CHARS = 64 * 1024;
/** Rows per query while following: bounds the memory one slow client can hold. */
const FOLLOW_PAGE = 500;

interface Followed {
  info: ContainerInfo;
  handle: LogFollow | null;
  /** Where stored output ended when this follow began: lines it covers are skipped. */
  from: LogCursor | null;
  skipped: number;
  caughtUp: boolean;
  throttled: boolean;
  /** Removed from the engine: its cursor goes once the stream has ended. */
  destroyed: boolean;
}

export class LogCollector {
  private readonly followed = new Map<string, Followed>();
  /** Per container: how far its output was received (stored, or pending in this process). */
  private readonly cursors = new Map<string, LogCursor>();
  private pending: LogEntry[] = [];
  private readonly pendingCursors = new Map<string, LogCursor>();
  private flushTimer: NodeJS.Timeout | null = null;
  private pruneTimer: NodeJS.Timeout | null = null;
  private windowTimer: NodeJS.Timeout | null = null;
  /** Lines taken in the current 100 ms window, and the followers paused until the next one. */
  private windowLines = 0;
  private readonly paused = new Set<Followed>();
  private readonly windowBudget: number;
  private unwatch: () => void = () => {};
  private stopping = false;
  private readonly flushWaiters = new Set<() => void>();
  private readonly clock: Clock;
  private readonly flushMs: number;
  private readonly flushLines: number;
  /** Settles once every container that existed at start() is followed or caught up. */
  ready: Promise<void> = Promise.resolve();

  constructor(private readonly o: LogCollectorOptions) {
    this.clock = o.clock ?? systemClock;
    this.flushMs = o.flushMs ?? 100;
    this.flushLines = o.flushLines ?? 500;
    this.windowBudget = Math.max(1, Math.floor((o.maxLinesPerSec ?? 10_000) / 10));
  }

  start(): void {
    const stored = this.o.store.logCursors();
    for (const c of stored) this.cursors.set(c.containerId, c);
    this.unwatch = this.o.runtime.watch(this.o.project, (e) => {
      if (e.action === 'start') void this.onStart(e.id);
      if (e.action === 'destroy') this.forget(e.id);
    });
    this.prune();
    this.pruneTimer = setInterval(() => this.prune(), this.o.pruneEveryMs ?? 30_000);
    this.pruneTimer.unref();
    this.windowTimer = setInterval(() => this.newWindow(), 100);
    this.windowTimer.unref();
    this.ready = this.followExisting(stored);
  }

  /** Stops following, stores what is pending. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unwatch();
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    if (this.windowTimer) clearInterval(this.windowTimer);
    const handles = [...this.followed.values()].map((f) => f.handle).filter((h) => h !== null);
    for (const h of handles) h.stop();
    await Promise.race([
      Promise.allSettled(handles.map((h) => h.done)),
      new Promise((r) => setTimeout(r, 2000).unref()),
    ]);
    this.flush();
    this.wake();
  }

  /** Stores the pending batch now. */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (!this.pending.length && !this.pendingCursors.size) return;
    const batch = this.pending;
    const cursors = [...this.pendingCursors.values()];
    this.pending = [];
    this.pendingCursors.clear();
    try {
      this.o.store.appendLogs(batch, cursors);
    } catch (err) {
      // Not retried: the cursors were not stored either, so a restart catches these lines up.
      this.o.log.error(
        { err: (err as Error).message, lines: batch.length },
        'storing log lines failed',
      );
    }
    this.wake();
  }

  /**
   * The newest `q.limit` matching lines, oldest first; with `q.follow`, then every matching
   * line as it is stored, until `signal` aborts. Pulled by the consumer, so a slow client
   * only delays itself.
   */
  async *lines(q: LogRequest, signal: AbortSignal): AsyncGenerator<LogLineOut> {
    const filter: LogFilter = {
      service: q.service,
      release: q.release,
      sinceMs: q.sinceMs,
      grep: q.grep,
      afterId: q.afterId,
    };
    let cursor = this.o.store.lastLogId();
    for (const e of this.o.store.tailLogs(filter, q.limit)) yield toLogLine(e);
    if (!q.follow) return;
    while (!signal.aborted) {
      const top = this.o.store.lastLogId();
      const rows = this.o.store.logsAfter(filter, cursor, FOLLOW_PAGE);
      // A short page means every line up to `top` was looked at: do not scan them again.
      cursor = rows.length === FOLLOW_PAGE ? rows[rows.length - 1].id : Math.max(cursor, top);
      for (const e of rows) {
        if (signal.aborted) return;
        yield toLogLine(e);
      }
      if (rows.length < FOLLOW_PAGE) await this.nextFlush(signal, 1000);
    }
  }

  /** Containers being followed right now (ids), for tests and status. */
  following(): string[] {
    return [...this.followed.keys()];
  }

  private async followExisting(stored: LogCursor[]): Promise<void> {
    let all: ContainerInfo[];
    try {
      all = await this.o.runtime.list({ project: this.o.project });
    } catch (err) {
      this.o.log.warn(
        { err: (err as Error).message },
        'cannot list containers to follow their logs',
      );
      return;
    }
    const exists = new Set(all.map((c) => c.id));
    const gone = stored.map((c) => c.containerId).filter((id) => !exists.has(id));
    if (gone.length) {
      this.o.store.forgetLogCursors(gone);
      for (const id of gone) if (!this.followed.has(id)) this.cursors.delete(id);
    }
    for (const c of all) this.follow(c);
  }

  private async onStart(id: string): Promise<void> {
    if (this.stopping || this.followed.has(id)) return;
    let info: ContainerInfo | null;
    try {
      info = await this.o.runtime.inspect(id);
    } catch (err) {
      this.o.log.warn(
        { container: id.slice(0, 12), err: (err as Error).message },
        'cannot inspect',
      );
      return;
    }
    if (info) this.follow(info);
  }

  /** Follows a running container; a stopped one is caught up once. */
  private follow(info: ContainerInfo): void {
    if (this.stopping || this.followed.has(info.id)) return;
    const from = this.cursors.get(info.id) ?? null;
    const f: Followed = {
      info,
      handle: null,
      from,
      skipped: 0,
      caughtUp: from === null,
      throttled: false,
      destroyed: false,
    };
    this.followed.set(info.id, f);
    const opts = { follow: info.running, ...(from ? { since: from.ts } : {}) };
    f.handle = this.o.runtime.followLogs(info.id, opts, (l) => this.onLine(f, l));
    this.o.log.debug(
      { service: info.service, release: info.release, container: info.name, since: from?.ts },
      'following container logs',
    );
    f.handle.done.then(
      () => this.ended(f),
      (err: unknown) => this.ended(f, err),
    );
  }

  private async ended(f: Followed, err?: unknown): Promise<void> {
    if (this.followed.get(f.info.id) === f) this.followed.delete(f.info.id);
    this.paused.delete(f);
    if (f.destroyed) return this.forget(f.info.id);
    const fields = { service: f.info.service, release: f.info.release, container: f.info.name };
    if (err) {
      const gone = isShipitError(err) && err.code === 'not-found';
      if (!gone) this.o.log.warn({ ...fields, err: (err as Error).message }, 'log stream failed');
      return;
    }
    if (this.stopping) return;
    // The stream ends when the container stops; it may have been started again since.
    let now: ContainerInfo | null;
    try {
      now = await this.o.runtime.inspect(f.info.id);
    } catch {
      return;
    }
    if (!now?.running || this.stopping) return;
    await new Promise((r) => setTimeout(r, this.o.refollowDelayMs ?? 200));
    this.follow(now);
  }

  /** A removed container's cursor is of no more use (it cannot write again). */
  private forget(id: string): void {
    const f = this.followed.get(id);
    if (f) {
      f.destroyed = true;
      return;
    }
    this.cursors.delete(id);
    this.pendingCursors.delete(id);
    try {
      this.o.store.forgetLogCursors([id]);
    } catch (err) {
      this.o.log.warn({ container: id.slice(0, 12), err: (err as Error).message }, 'cannot forget');
    }
  }

  private onLine(f: Followed, l: RuntimeLogLine): void {
    const id = f.info.id;
    if (!f.caughtUp && f.from) {
      if (l.ts < f.from.ts) return;
      if (l.ts === f.from.ts && f.skipped < f.from.n) {
        f.skipped++;
        return;
      }
      f.caughtUp = l.ts > f.from.ts;
    }
    const cur = this.cursors.get(id);
    let next: LogCursor;
    if (!cur || l.ts > cur.ts) next = { containerId: id, ts: l.ts, n: 1 };
    else if (l.ts === cur.ts) next = { ...cur, n: cur.n + 1 };
    else next = cur; // the engine's clock stepped back: keep the line, not the cursor
    this.cursors.set(id, next);
    this.pendingCursors.set(id, next);

    const text = l.text.length > MAX_LINE_CHARS ? l.text.slice(0, MAX_LINE_CHARS) : l.text;
    const p = parseLogLine(text);
    this.pending.push({
      ts: nsToMs(l.ts),
      tsNs: l.ts,
      service: f.info.service,
      release: f.info.release,
      container: f.info.name,
      stream: l.stream,
      level: p.level,
      msg: p.msg,
      text,
    });
    if (this.pending.length >= this.flushLines) this.flush();
    else if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), this.flushMs);
    if (++this.windowLines >= this.windowBudget && !this.paused.has(f)) {
      f.handle?.pause();
      this.paused.add(f);
      if (!f.throttled) {
        f.throttled = true;
        this.o.log.info(
          { service: f.info.service, release: f.info.release, container: f.info.name },
          'container writes logs faster than they are collected: reading them is slowed down',
        );
      }
    }
  }

  private newWindow(): void {
    this.windowLines = 0;
    const paused = [...this.paused];
    this.paused.clear();
    // resume() may deliver lines at once, and so pause some again: the set is cleared first.
    for (const f of paused) f.handle?.resume();
  }

  private prune(): void {
    try {
      const deleted = this.o.store.pruneLogs(
        this.clock.now() - this.o.retentionMs,
        this.o.maxLines,
      );
      if (deleted) this.o.log.info({ deleted }, 'old log lines deleted');
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'log retention failed');
    }
  }

  private wake(): void {
    for (const w of [...this.flushWaiters]) w();
  }

  /** Resolves at the next stored batch, when `signal` aborts, or after `maxMs`. */
  private nextFlush(signal: AbortSignal, maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.flushWaiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, maxMs);
      this.flushWaiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
