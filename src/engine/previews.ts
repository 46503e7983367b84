import type { Logger } from 'pino';
import type { DeployEvent, ServiceSpec } from '../domain/types';
import { conflict, notFound, usageError } from '../domain/errors';
import { suggest } from '../domain/suggest';
import type { Clock } from '../ports/clock';
import type { ContainerRuntime } from '../ports/runtime';
import type { StateStore } from '../ports/store';
import type { PreviewRecord, PreviewStore } from '../ports/previews';
import type { Router } from '../ports/router';
import type { Deployer } from './deployer';
import type { ServiceLocks } from './locks';
import type { Routes } from './routes';

/** A DNS label short enough that `pv-<name>` is a valid service name (32 characters). */
export const PREVIEW_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,27}[a-z0-9])?$/;
export const DEFAULT_PREVIEW_TTL_MS = 24 * 3600_000;
const PREFIX = 'pv-';

export interface PreviewRequest {
  name: string;
  service: string;
  image: string;
  ttlMs?: number;
  env?: Record<string, string>;
  /** The service's settings from shipit.yml, as the CLI read them. */
  spec: ServiceSpec;
}

export interface PreviewInfo {
  name: string;
  service: string;
  image: string;
  host: string;
  url: string;
  createdAt: number;
  expiresAt: number;
}

export interface PreviewDeps {
  project: string;
  store: StateStore;
  previews: PreviewStore;
  deployer: Deployer;
  runtime: ContainerRuntime;
  router: Router;
  routes: Routes;
  locks: ServiceLocks;
  clock: Clock;
  log: Logger;
  /** Service names of shipit.yml (a preview's `pv-<name>` must not shadow one). */
  services: () => string[];
  /** How often expired previews are looked for. */
  reapEveryMs?: number;
}

/**
 * The preview's Host: `<name>.` in front of the service's first exact host, or
 * of a wildcard's domain; `<name>.localhost` for a service that only has `*`.
 */
export function previewHost(hosts: string[], name: string): string {
  const exact = hosts.find((h) => h !== '*' && !h.startsWith('*.'));
  if (exact) return `${name}.${exact.replace(/:\d+$/, '')}`;
  const wild = hosts.find((h) => h.startsWith('*.'));
  if (wild) return `${name}${wild.slice(1)}`;
  return `${name}.localhost`;
}

const info = (p: PreviewRecord): PreviewInfo => ({
  name: p.name,
  service: p.service,
  image: p.image,
  host: p.host,
  url: `http://${p.host}/`,
  createdAt: p.createdAt,
  expiresAt: p.expiresAt,
});

/**
 * Ephemeral copies of a service: own containers (service `pv-<name>`, label
 * io.shipit.preview), reachable only at their own Host, removed at their TTL
 * by a reaper that also runs after a daemon restart (the TTL is in the store).
 */
export class PreviewManager {
  private timer: NodeJS.Timeout | null = null;
  private reaping: Promise<void> | null = null;

  constructor(private readonly d: PreviewDeps) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.reap(), this.d.reapEveryMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private names(): string[] {
    return this.d.previews.list().map((r) => r.name);
  }

  list(): PreviewInfo[] {
    return this.d.previews.list().map(info);
  }

  async up(req: PreviewRequest, sink: (e: DeployEvent) => void): Promise<PreviewInfo> {
    const { name } = req;
    if (!PREVIEW_NAME_RE.test(name))
      throw usageError(
        `preview name "${name}" is not valid`,
        'use lowercase letters, digits and "-", at most 29 characters, starting and ending with a letter or digit',
      );
    const existing = this.d.previews.get(name);
    if (existing)
      throw conflict(
        `preview "${name}" already exists (${existing.image}, expires ${new Date(existing.expiresAt).toISOString()})`,
        `remove it first with: shipit preview down ${name}`,
      );
    if (req.spec.name !== req.service)
      throw usageError(`spec.name "${req.spec.name}" does not match service "${req.service}"`);
    const routeName = `${PREFIX}${name}`;
    if (this.d.services().includes(routeName))
      throw usageError(
        `preview "${name}" would shadow the service "${routeName}"`,
        'pick another name',
      );
    const ttl = req.ttlMs ?? DEFAULT_PREVIEW_TTL_MS;
    if (!(ttl > 0)) throw usageError(`--ttl must be a positive duration, got ${ttl}ms`);
    const host = previewHost(req.spec.hosts, name);
    const now = this.d.clock.now();
    const env = { ...(req.env ?? {}) };
    const record: PreviewRecord = {
      name,
      service: req.service,
      routeName,
      image: req.image,
      host,
      env,
      createdAt: now,
      expiresAt: now + ttl,
    };
    // Recorded first: a second `preview up` of the same name is refused while this one deploys.
    this.d.previews.insert(record);
    const spec: ServiceSpec = {
      ...structuredClone(req.spec),
      name: routeName,
      image: req.image,
      env: { ...req.spec.env, ...env },
      hosts: [host],
      replicas: 1,
      labels: { 'io.shipit.preview': name, 'io.shipit.preview-of': req.service },
      deploy: { ...structuredClone(req.spec.deploy), strategy: 'blue-green', keepPreviousMs: 0 },
    };
    delete spec.autoscale;
    try {
      await this.d.deployer.deploy(spec, {}, sink);
    } catch (e) {
      this.d.previews.delete(name);
      throw e;
    }
    this.d.log.info({ preview: name, service: req.service, image: req.image, host }, 'preview up');
    return info(record);
  }

  async down(name: string, why = 'shipit preview down'): Promise<PreviewInfo> {
    const p = this.d.previews.get(name);
    if (!p) {
      const guess = suggest(name, this.names());
      throw notFound(
        `no preview "${name}"${guess ? `; did you mean "${guess}"?` : ''}`,
        'see: shipit preview ls',
      );
    }
    const unlock = await this.d.locks.acquireWithin(
      p.routeName,
      'removing the preview',
      60_000,
      this.d.clock,
    );
    try {
      this.d.routes.remove(p.routeName);
      const containers = await this.d.runtime.list({
        project: this.d.project,
        service: p.routeName,
      });
      const ids = containers.map((c) => c.id);
      await this.d.router.drain(ids, 5000);
      await Promise.all(
        containers.map(async (c) => {
          await this.d.runtime.stop(c.id, 2000);
          await this.d.runtime.remove(c.id);
        }),
      );
      this.d.router.forget(ids);
      for (const r of this.d.store.releasesWithStatus(
        ['live', 'previous', 'deploying'],
        p.routeName,
      ))
        this.d.store.updateRelease(p.routeName, r.number, { status: 'retired' });
      this.d.previews.delete(name);
      this.d.store.appendEvent({
        service: p.routeName,
        release: null,
        at: this.d.clock.now(),
        type: 'preview-down',
        message: `preview ${name} removed (${why})`,
      });
      this.d.log.info({ preview: name, containers: ids.length, why }, 'preview removed');
      return info(p);
    } finally {
      unlock();
    }
  }

  /** Removes every expired preview (one round at a time). Public for tests. */
  reap(): Promise<void> {
    this.reaping ??= (async () => {
      const now = this.d.clock.now();
      for (const p of this.d.previews.list()) {
        if (p.expiresAt > now) continue;
        await this.down(p.name, 'its TTL passed').catch((e: Error) =>
          this.d.log.warn({ preview: p.name, err: e.message }, 'expired preview not removed yet'),
        );
      }
    })().finally(() => (this.reaping = null));
    return this.reaping;
  }
}
