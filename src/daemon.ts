// Composition root: the only place that wires real adapters together.
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { LoadedConfig } from './config';
import { ShipitError, conflict, usageError } from './domain/errors';
import { systemClock, type Clock } from './ports/clock';
import type { ContainerRuntime } from './ports/runtime';
import { runtimeFor } from './docker/select-runtime';
import { SqliteStore } from './store/sqlite';
import { ProxyRouter } from './proxy/router';
import { ProxyServer } from './proxy/server';
import { AccessLogFile } from './proxy/access-log';
import { HttpsService } from './tls/https';
import { HealthMonitor } from './health/monitor';
import { probe } from './health/probe';
import { Routes } from './engine/routes';
import { Executor } from './engine/executor';
import { ServiceLocks } from './engine/locks';
import { Retirer } from './engine/retirer';
import { Deployer } from './engine/deployer';
import { RolloutGates } from './engine/gates';
import { RainbowReaper } from './engine/rainbow-reaper';
import { reconcile } from './engine/reconcile';
import { ApiServer } from './api/server';
import { brief, controlPlane } from './control-plane';
import { ensureToken } from './api/auth';
import { LogCollector } from './observe/logs';
import { AccessLogReader } from './observe/logs-access';
import type { LogRequest } from './observe/log-query';
import { Observability } from './observe/observability';
import { rulesFrom } from './observe/alerts';
import { Scaler } from './scale/scaler';
import { Autoscaler } from './scale/autoscaler';
import { PreviewManager } from './engine/previews';
import { Discovery } from './engine/discovery';
import { Healer } from './scale/healer';
import type { ReconcileReport } from './engine/reconcile';
import { Successor } from './handover';
import { EngineWatch } from './engine/engine-watch';
import { resync, type Shortfall } from './engine/resync';

export interface DaemonFiles {
  stateDir: string;
  db: string;
  token: string;
  pid: string;
  log: string;
  accessLog: string;
}

export function daemonFiles(cfg: LoadedConfig): DaemonFiles {
  const d = cfg.stateDir;
  return {
    stateDir: d,
    db: path.join(d, 'state.db'),
    token: path.join(d, 'token'),
    pid: path.join(d, 'daemon.pid'),
    log: path.join(d, 'daemon.log'),
    accessLog: path.join(d, 'access.log'),
  };
}

export interface DaemonOptions {
  log?: Logger;
  runtime?: ContainerRuntime;
  /** How often counters are read and alerts evaluated (default 1 s). */
  tickMs?: number;
  /** How often Docker stats are read (default 5 s). */
  usageIntervalMs?: number;
  /** The autoscaler's clock (schedules, delays); tests inject one. */
  autoscaleClock?: Clock;
  /**
   * Daemon upgrade, new side: the listening sockets of the daemon being
   * replaced (see handover.ts). Background work then waits for startBackground().
   */
  inherited?: ReadonlyMap<string, net.Server>;
  /** First wait after a failed ACME attempt (default 5 s, doubling); tests shorten it. */
  acmeFirstRetryMs?: number;
}

export class Daemon {
  private readyFlag = false;
  private closing: Promise<void> | null = null;
  private unwatch: () => void = () => {};
  private reaper: RainbowReaper | null = null;
  discovery!: Discovery;
  healer!: Healer;
  scaler!: Scaler;
  autoscaler!: Autoscaler;
  /** proxy.tls: certificates, ACME and the HTTPS listener (null without TLS). */
  https: HttpsService | null = null;
  previews!: PreviewManager;
  /** Aggregated container logs: follows every managed container from startup. */
  logCollector: LogCollector | null = null;
  private accessFlush: NodeJS.Timeout | null = null;
  private report: ReconcileReport | null = null;
  /** Notices the Docker engine going away and coming back (then resyncs). */
  engine!: EngineWatch;
  private handingOver = false;
  /** Set once a successor took over (daemon upgrade): shutdown then leaves its sockets and pid file alone. */
  private handedOver = false;
  private resolveClosed!: () => void;
  /** Resolves once the daemon has shut down (after `shutdown`). */
  readonly closed = new Promise<void>((r) => (this.resolveClosed = r));

  private constructor(
    readonly cfg: LoadedConfig,
    readonly files: DaemonFiles,
    readonly log: Logger,
    readonly store: SqliteStore,
    readonly runtime: ContainerRuntime,
    readonly router: ProxyRouter,
    readonly monitor: HealthMonitor,
    readonly deployer: Deployer,
    readonly retirer: Retirer,
    readonly locks: ServiceLocks,
    readonly proxy: ProxyServer,
    readonly api: ApiServer,
    private readonly accessLog: AccessLogFile | null,
    readonly observe: Observability,
  ) {}

  get ready(): boolean {
    return this.readyFlag;
  }

  static async start(cfg: LoadedConfig, opts: DaemonOptions = {}): Promise<Daemon> {
    const files = daemonFiles(cfg);
    fs.mkdirSync(files.stateDir, { recursive: true });
    const log = opts.log ?? pino({ base: { project: cfg.project } });
    if (!opts.inherited) assertNotRunning(files.pid);
    // Certificate files are read first: a bad one fails the start before anything changed.
    const tlsCfg = cfg.raw.proxy.tls;
    const https = tlsCfg
      ? new HttpsService(tlsCfg, {
          configDir: cfg.dir,
          stateDir: files.stateDir,
          log: log.child({ part: 'tls' }),
          acmeFirstRetryMs: opts.acmeFirstRetryMs,
        })
      : null;
    const runtime = opts.runtime ?? runtimeFor(cfg.runtime, log);
    await runtime.ping();
    const store = SqliteStore.open(files.db);
    const token = ensureToken(files.token);
    const clock = systemClock;
    const router = new ProxyRouter(clock);
    const monitor = new HealthMonitor(
      probe,
      (id, healthy) => router.setHealth(id, healthy),
      log.child({ part: 'health' }),
    );
    const routes = new Routes(router, monitor);
    const project = cfg.project;
    const gates = new RolloutGates();
    const executor = new Executor({
      project,
      runtime,
      router,
      routes,
      store,
      probe,
      clock,
      log,
      gates,
    });
    const locks = new ServiceLocks();
    const retirer = new Retirer({ store, clock, executor, locks, log });
    const observe = new Observability({
      project,
      router,
      runtime,
      store,
      log: log.child({ part: 'observe' }),
      rules: rulesFrom(cfg.raw.alerts),
      cpuLimit: (service, release) => store.getRelease(service, release)?.spec.resources?.cpus,
      tickMs: opts.tickMs,
      usageIntervalMs: opts.usageIntervalMs,
    });
    const deployer = new Deployer({
      project,
      store,
      runtime,
      clock,
      executor,
      locks,
      retirer,
      gates,
      log,
      observer: observe,
    });
    const scaler = new Scaler({
      project,
      store,
      runtime,
      router,
      executor,
      locks,
      clock,
      log: log.child({ part: 'scale' }),
      observer: observe,
    });
    const autoscaler = new Autoscaler({
      store,
      locks,
      scaler,
      clock: opts.autoscaleClock ?? clock,
      log: log.child({ part: 'autoscale' }),
      targets: (service) => router.targets(service),
      requests: (service) => router.requests(service),
      rps: (service) => observe.window.rates(service, 'all', 5000).rps,
      cpu: (service, release) => observe.cpuOf(service, release),
      tickMs: opts.tickMs,
    });
    // Asynchronous and buffered: the access log must never slow down or crash the proxy,
    // nor keep the daemon from starting (a file it may not write: it runs without).
    let accessLog: AccessLogFile | null = null;
    try {
      accessLog = new AccessLogFile(files.accessLog, {
        onError: (message) => log.warn({ err: message }, 'access log'),
      });
    } catch (e) {
      log.warn(
        { err: (e as Error).message, file: files.accessLog },
        'cannot open the access log: running without it',
      );
    }
    const proxy = new ProxyServer(router, {
      upstreamTimeoutMs: cfg.proxy.upstreamTimeoutMs,
      maxBodyBytes: cfg.proxy.maxBodyBytes,
      accessLog,
      log: log.child({ part: 'proxy' }),
      inherited: opts.inherited,
      intercept: https?.intercept,
      coldStart: (service) => {
        autoscaler.touch(service);
        return scaler.wake(service);
      },
    });
    let daemon: Daemon | null = null;
    const plane = controlPlane(() => daemon as Daemon);
    const api = new ApiServer(plane, token, log.child({ part: 'api' }));
    daemon = new Daemon(
      cfg,
      files,
      log,
      store,
      runtime,
      router,
      monitor,
      deployer,
      retirer,
      locks,
      proxy,
      api,
      accessLog,
      observe,
    );
    daemon.scaler = scaler;
    daemon.https = https;
    if (https) observe.metrics.tlsCertificates(() => https.store.expiries());
    daemon.autoscaler = autoscaler;
    daemon.healer = new Healer({
      project,
      runtime,
      store,
      locks,
      scaler,
      clock,
      log: log.child({ part: 'heal' }),
    });
    daemon.engine = new EngineWatch({
      runtime,
      log: log.child({ part: 'engine' }),
      onBack: async () => {
        const d = daemon as Daemon;
        const short = await resync({ project, runtime, store, router, routes, locks, log });
        d.rescale(short, 'engine-restart', 'after the Docker engine came back');
      },
    });
    daemon.discovery = new Discovery({
      project,
      runtime,
      store,
      router,
      proxy,
      services: cfg.services,
      log: log.child({ part: 'discovery' }),
    });
    daemon.previews = new PreviewManager({
      project,
      store,
      previews: store.previews,
      deployer,
      runtime,
      router,
      routes,
      locks,
      clock,
      log: log.child({ part: 'preview' }),
      services: () => Object.keys(cfg.services),
    });
    const listenProxy = async () => {
      await proxy.listen(cfg.proxy.port, cfg.proxy.host).catch((e: NodeJS.ErrnoException) => {
        throw listenError(e, `proxy.listen ${cfg.proxy.host}:${cfg.proxy.port}`);
      });
      if (https)
        await proxy
          .listenTls(https.server, https.port, https.host)
          .catch((e: NodeJS.ErrnoException) => {
            throw listenError(e, `proxy.tls.listen ${https.host}:${https.port}`);
          });
    };
    try {
      // Bound first (a port in use must fail before anything changes), but requests wait
      // until reconcile has filled the routing table: not a 404 for a service that exists.
      // A successor (daemon upgrade) takes its sockets only then: its predecessor serves meanwhile.
      proxy.hold();
      if (!opts.inherited) await listenProxy();
      // The access log is buffered: flushed every second so `shipit logs --access -f` stays live.
      daemon.accessFlush = setInterval(() => accessLog?.flush(), 1000);
      daemon.accessFlush.unref();
      await daemon.discovery.ensure(Object.values(cfg.services));
      const report = await reconcile({
        project,
        runtime,
        store,
        router,
        routes,
        retirer,
        probe,
        clock,
        log,
        routed: () => proxy.open(),
      });
      log.info(report, 'reconciled');
      daemon.report = report;
      if (opts.inherited) await listenProxy();
      const apiListen = cfg.api.socketPath
        ? { socketPath: cfg.api.socketPath }
        : { host: cfg.api.host, port: cfg.api.port };
      const apiKey = `api:${cfg.api.host}:${cfg.api.port}`;
      const handover = opts.inherited ? { inherited: opts.inherited.get(apiKey) } : undefined;
      await api.listen(apiListen, handover).catch((e: NodeJS.ErrnoException) => {
        throw listenError(
          e,
          `api.listen ${cfg.api.socketPath ?? `${cfg.api.host}:${cfg.api.port}`}`,
        );
      });
      daemon.reaper = new RainbowReaper({ store, router, executor, locks, clock, log });
      if (!opts.inherited) daemon.startBackground();
    } catch (e) {
      await daemon.shutdown(false);
      throw e;
    }
    return daemon;
  }

  /**
   * The daemon's own work besides serving: Docker events, log collection,
   * rainbow reaping, metrics and alerts, autoscaling, preview TTLs, and
   * rescaling what a restart found short. A successor (daemon upgrade) starts
   * it only once its predecessor has stopped its own.
   */
  startBackground(): void {
    const { runtime, router, store, log, cfg } = this;
    // A container that dies leaves routing at once, not at its next failed probe.
    this.unwatch = runtime.watch(cfg.project, (e) => {
      if (e.action !== 'die' && e.action !== 'oom') return;
      router.setHealth(e.id, false);
      log.warn(
        { service: e.service, release: e.release, container: e.id.slice(0, 12), event: e.action },
        'container died',
      );
      this.healer.died(e.service, e.release, e.id);
    });
    this.logCollector = new LogCollector({
      project: cfg.project,
      runtime,
      store: store.logs,
      log: log.child({ part: 'logs' }),
      retentionMs: cfg.raw.logs.retention,
      maxLines: cfg.raw.logs.maxLines,
    });
    this.logCollector.start();
    this.reaper?.start();
    this.observe.start();
    this.autoscaler.start();
    this.previews.start();
    // An interrupted rolling deploy or scale leaves the live release short (or long): back to its count.
    this.rescale(this.report?.mismatched ?? [], 'reconcile', 'after a restart');
    this.engine.start();
    this.https?.start();
    fs.writeFileSync(this.files.pid, `${process.pid}\n`);
  }

  /** Brings live releases back to their recorded count, in the background, each under its lock. */
  private rescale(list: Shortfall[], source: string, why: string): void {
    for (const m of list) {
      this.scaler
        .scale(m.service, m.want, {
          source,
          reason: `${m.running} of ${m.want} running ${why}`,
          lockWaitMs: 60_000,
        })
        .catch((e: Error) =>
          this.log.warn({ service: m.service, err: e.message, source }, 'rescale failed'),
        );
    }
  }

  /** Deploys every configured service that has no live release yet (the `up` promise). */
  async deployMissing(): Promise<void> {
    for (const spec of Object.values(this.cfg.services)) {
      if (this.store.releasesWithStatus(['live'], spec.name).length) continue;
      try {
        const r = await this.deployer.deploy(spec, {}, () => {});
        this.log.info({ service: spec.name, release: r.release }, 'initial deploy done');
      } catch (e) {
        this.log.error({ service: spec.name, err: (e as Error).message }, 'initial deploy failed');
      }
    }
    this.readyFlag = true;
  }

  /** Container log lines, or with q.access the proxy access log (API `GET /v1/logs`). */
  logLines(q: LogRequest, signal: AbortSignal): AsyncIterable<unknown> {
    if (q.access) return new AccessLogReader(this.files.accessLog).lines(q, signal);
    if (!this.logCollector) throw usageError('log collection has not started yet');
    return this.logCollector.lines(q, signal);
  }

  markReady(): void {
    this.readyFlag = true;
  }

  /** Stops what startBackground began, and the retirer's timers; serving goes on. */
  private async stopBackground(): Promise<void> {
    this.engine.stop();
    this.unwatch();
    this.reaper?.stop();
    const observing = this.observe.stop();
    this.autoscaler.stop();
    this.previews.stop();
    this.healer.stop();
    this.retirer.stop();
    await this.https?.stop();
    await observing;
    await this.logCollector?.stop().catch(() => {});
  }

  /**
   * Daemon upgrade, old side (`shipit up` while this daemon runs): starts the
   * successor with `cmd`, hands it the listening sockets and, once it serves,
   * stops accepting, lets open connections finish and shuts down. Every
   * service is locked across it, so it is refused while an operation runs.
   * If the successor fails to start, nothing changed here.
   */
  async handOver(cmd: { node: string; script: string }): Promise<{ from: number; to: number }> {
    if (this.handingOver || this.closing)
      throw conflict('a daemon upgrade or shutdown is already in progress');
    const names = new Set(Object.keys(this.cfg.services));
    for (const r of this.store.releasesWithStatus(['live', 'previous', 'deploying']))
      names.add(r.service);
    const unlocks: (() => void)[] = [];
    const unlockAll = () => unlocks.forEach((u) => u());
    try {
      for (const name of names) unlocks.push(this.locks.acquire(name, 'a daemon upgrade'));
    } catch (e) {
      unlockAll();
      throw e;
    }
    this.handingOver = true;
    let next: Successor | null = null;
    try {
      next = new Successor({ ...cmd, configPath: this.cfg.path, logFile: this.files.log });
      this.log.info({ pid: next.pid, script: cmd.script }, 'daemon upgrade: successor started');
      next.sendListeners([...this.proxy.listeners(), ...this.api.listeners()]);
      await next.expect('ready', 120_000);
    } catch (e) {
      next?.kill();
      this.handingOver = false;
      unlockAll();
      throw e;
    }
    // The successor serves beside us now: from here we only finish what we have.
    await this.stopBackground();
    const drainMs = Math.max(
      5000,
      ...Object.values(this.cfg.services).map((s) => s.deploy.drainTimeoutMs),
    );
    const drained = this.proxy.retire(drainMs);
    this.api.stopAccepting();
    next.send({ t: 'go' });
    try {
      await next.expect('running', 30_000);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'daemon upgrade: the successor failed late');
    }
    next.release();
    this.handedOver = true;
    const to = next.pid;
    this.log.info({ successor: to }, 'daemon upgrade: handed over; draining');
    void drained.then(() => this.shutdown(false));
    return { from: process.pid, to };
  }

  /** True once a successor took over: the process may exit when `closed` resolves. */
  get replaced(): boolean {
    return this.handedOver;
  }

  shutdown(remove: boolean): Promise<void> {
    if (!this.closing) this.closing = this.doShutdown(remove);
    return this.closing;
  }

  private async doShutdown(remove: boolean): Promise<void> {
    this.log.info({ remove }, 'shutting down');
    await this.stopBackground();
    this.monitor.stop();
    // After a handover the API's socket path is the successor's: closing ours would unlink it.
    if (!this.handedOver) await this.api.close().catch(() => {});
    await this.proxy.close().catch(() => {});
    if (remove) {
      const all = await this.runtime.list({ project: this.cfg.project }).catch(() => []);
      await Promise.all(all.map((c) => this.runtime.remove(c.id).catch(() => {})));
      await this.runtime.removeNetwork(this.cfg.project).catch(() => {});
      const now = Date.now();
      for (const r of this.store.releasesWithStatus(['live', 'previous', 'deploying'])) {
        this.store.updateRelease(r.service, r.number, {
          status: 'retired',
          ...(r.status === 'deploying' ? { result: 'interrupted', finishedAt: now } : {}),
        });
      }
    }
    if (this.accessFlush) clearInterval(this.accessFlush);
    await this.accessLog?.close();
    this.store.close();
    try {
      if (fs.readFileSync(this.files.pid, 'utf8').trim() === String(process.pid))
        fs.unlinkSync(this.files.pid);
    } catch {
      /* no pid file: nothing to clean */
    }
    this.resolveClosed();
  }

  status(service?: string): unknown {
    const names = new Set<string>([
      ...Object.keys(this.cfg.services),
      ...this.store.listReleases(undefined, 1000).map((r) => r.service),
    ]);
    const services = [...names]
      .filter((n) => !service || n === service)
      .sort()
      .map((name) => {
        const releases = this.store.releasesWithStatus(['live', 'previous', 'deploying'], name);
        const weights = this.router.weights(name);
        return {
          name,
          hosts:
            releases.find((r) => r.status === 'live')?.spec.hosts ??
            this.cfg.services[name]?.hosts ??
            [],
          busy: this.locks.holder(name) ?? null,
          rollout: this.deployer.rolloutOf(name),
          releases: releases.map((r) => ({ ...brief(r), weight: weights[r.number] ?? 0 })),
          targets: this.router.targets(name),
          autoscale: this.autoscaler.status(name),
        };
      });
    if (service && services.length === 0)
      throw usageError(`no service "${service}"`, `services: ${[...names].join(', ')}`);
    return {
      project: this.cfg.project,
      pid: process.pid,
      proxy: this.proxy.address(),
      ready: this.readyFlag,
      engine: this.engine.state(),
      services,
      alerts: this.observe.alerts.statuses().filter((a) => !service || a.service === service),
    };
  }
}

function assertNotRunning(pidFile: string): void {
  const pid = runningDaemonPid(pidFile);
  if (pid === null) return;
  throw usageError(
    `a shipit daemon is already running (pid ${pid}, ${pidFile})`,
    'stop it with: shipit down (or run shipit up from the new version to upgrade it in place)',
  );
}

/**
 * The pid in a daemon pid file, if that process lives and is a node process:
 * not a stale file left by kill -9, not a zombie awaiting its reaper, not a
 * pid the system gave to something else since.
 */
export function runningDaemonPid(pidFile: string): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (!pid || pid === process.pid) return null;
    process.kill(pid, 0);
  } catch {
    return null;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (state === 'Z' || !cmd.includes('node')) return null;
  } catch {
    /* no /proc (not Linux): the signal check has to do */
  }
  return pid;
}

function listenError(e: NodeJS.ErrnoException, what: string): Error {
  if (e.code === 'EADDRINUSE')
    return usageError(
      `${what}: address already in use`,
      'stop whatever listens there, or change the address in shipit.yml',
    );
  if (e.code === 'EACCES')
    return usageError(`${what}: permission denied`, 'use a port above 1023, or run as root');
  return e instanceof ShipitError ? e : usageError(`${what}: ${e.message}`);
}
