// The behaviour every ContainerRuntime must have, as a shared jest suite.
// Run it from a test file: `runtimeContract('fake', async () => ({ … }))`.

import { isShipitError } from '../domain/errors';
import type { ContainerInfo } from '../domain/types';
import type { ContainerRuntime, ContainerSpec, RuntimeLogLine } from '../ports/runtime';

export interface RuntimeContractSubject {
  runtime: ContainerRuntime;
  /** An image that exists locally and runs a long-lived process. */
  image: string;
  /** A project name no one else uses (the suite creates containers and the network in it). */
  project: string;
  /** Command for the long-lived process, when the image's default is not one. */
  command?: string[];
  /** Removes whatever the suite left behind (runs even when tests fail). */
  cleanup: () => Promise<void>;
  /** Makes a running container print one line on its stdout or stderr. */
  writeLog: (c: ContainerInfo, stream: 'stdout' | 'stderr', text: string) => Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

async function expectShipitError(p: Promise<unknown>, code: string): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeDefined();
  expect(isShipitError(caught)).toBe(true);
  expect((caught as { code: string }).code).toBe(code);
}

export function runtimeContract(name: string, make: () => Promise<RuntimeContractSubject>): void {
  describe(`ContainerRuntime contract: ${name}`, () => {
    let s: RuntimeContractSubject | undefined;
    const created: string[] = [];

    const subject = (): RuntimeContractSubject => {
      if (!s) throw new Error('runtime contract: make() failed, see beforeAll');
      return s;
    };
    const specOf = (over: Partial<ContainerSpec> = {}): ContainerSpec => {
      const { project, image, command } = subject();
      return {
        project,
        service: 'web',
        release: 1,
        index: 0,
        image,
        port: 8080,
        env: { SHIPIT_CONTRACT: '1' },
        ...(command ? { command } : {}),
        labels: { 'com.example.contract': 'yes' },
        ...over,
      };
    };
    const start = async (over: Partial<ContainerSpec> = {}): Promise<ContainerInfo> => {
      const info = await subject().runtime.start(specOf(over));
      created.push(info.id);
      return info;
    };
    const removeAll = async (): Promise<void> => {
      const rt = subject().runtime;
      for (const id of created.splice(0)) await rt.remove(id);
    };

    beforeAll(async () => {
      s = await make();
    });

    afterAll(async () => {
      if (!s) return;
      try {
        for (const id of created) await s.runtime.remove(id).catch(() => undefined);
      } finally {
        await s.cleanup();
      }
    });

    it('answers ping', async () => {
      await expect(subject().runtime.ping()).resolves.toBeUndefined();
    });

    it('ensureNetwork is idempotent, also when called concurrently', async () => {
      const { runtime, project } = subject();
      await runtime.ensureNetwork(project);
      await runtime.ensureNetwork(project);
      await Promise.all([runtime.ensureNetwork(project), runtime.ensureNetwork(project)]);
    });

    it('imageExists tells known images from unknown ones', async () => {
      const { runtime, image, project } = subject();
      await expect(runtime.imageExists(image)).resolves.toBe(true);
      await expect(runtime.imageExists(`${project}-no-such-image:v0`)).resolves.toBe(false);
    });

    it('start gives a running container with its name, label fields and an ip', async () => {
      const { runtime, project, image } = subject();
      const info = await start({ service: 'web', release: 3, index: 1, port: 8080 });
      expect(info).toMatchObject({
        name: `${project}-web-r3-1`,
        project,
        service: 'web',
        release: 3,
        index: 1,
        image,
        port: 8080,
        running: true,
        state: 'running',
        exitCode: null,
      });
      expect(info.id).toEqual(expect.any(String));
      expect(info.ip).toMatch(IPV4);
      const again = await runtime.inspect(info.id);
      expect(again).toEqual(info);
      await removeAll();
    });

    it('list returns the project containers, narrowed by service and release', async () => {
      const { runtime, project } = subject();
      const a = await start({ service: 'web', release: 1, index: 0 });
      const b = await start({ service: 'web', release: 2, index: 0 });
      const c = await start({ service: 'web', release: 2, index: 1 });
      const d = await start({ service: 'api', release: 1, index: 0 });
      const ids = (list: ContainerInfo[]) => list.map((i) => i.id).sort();

      expect(ids(await runtime.list({ project }))).toEqual([a, b, c, d].map((i) => i.id).sort());
      expect(ids(await runtime.list({ project, service: 'web' }))).toEqual(
        [a, b, c].map((i) => i.id).sort(),
      );
      expect(ids(await runtime.list({ project, service: 'web', release: 2 }))).toEqual(
        [b, c].map((i) => i.id).sort(),
      );
      expect(ids(await runtime.list({ project, release: 1 }))).toEqual(
        [a, d].map((i) => i.id).sort(),
      );
      expect(await runtime.list({ project, service: 'nope' })).toEqual([]);
      expect(await runtime.list({ project: `${project}-other` })).toEqual([]);

      // Stopped containers are listed too.
      await runtime.stop(a.id, 0);
      const listed = await runtime.list({ project, service: 'web', release: 1 });
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ id: a.id, running: false, ip: null });
      await removeAll();
    });

    it('inspect returns null for an unknown id', async () => {
      const { runtime, project } = subject();
      await expect(runtime.inspect(`${project}-no-such-container`)).resolves.toBeNull();
    });

    it('usage reports memory and CPU counters of a running container, null once stopped or gone', async () => {
      const { runtime, project } = subject();
      const info = await start({ service: 'usage' });
      const u = await runtime.usage(info.id);
      expect(u).not.toBeNull();
      expect(u?.memoryBytes).toBeGreaterThan(0);
      expect(u?.systemNs).toBeGreaterThan(0);
      expect(u?.cpuNs).toBeGreaterThanOrEqual(0);
      expect(u?.onlineCpus).toBeGreaterThanOrEqual(1);
      await runtime.stop(info.id, 1000);
      await expect(runtime.usage(info.id)).resolves.toBeNull();
      await expect(runtime.usage(`${project}-no-such-container`)).resolves.toBeNull();
      await removeAll();
    });

    it('stop leaves the container stopped with an exit code; stopping again is fine', async () => {
      const { runtime, project } = subject();
      const info = await start({ service: 'stopme' });
      await runtime.stop(info.id, 1000);
      const after = await runtime.inspect(info.id);
      expect(after).not.toBeNull();
      expect(after).toMatchObject({ id: info.id, running: false, ip: null });
      expect(after?.state).not.toBe('running');
      expect(after?.exitCode).toEqual(expect.any(Number));
      await runtime.stop(info.id, 1000);
      await runtime.stop(`${project}-no-such-container`, 1000);
      await removeAll();
    });

    it('watch reports a container that dies, until it is stopped', async () => {
      const { runtime, project } = subject();
      const seen: { id: string; action: string; service: string; release: number }[] = [];
      const unwatch = runtime.watch(project, (e) => seen.push(e));
      try {
        await new Promise((r) => setTimeout(r, 200)); // the event stream is connected
        const info = await start({ service: 'watchme', release: 7 });
        await runtime.stop(info.id, 1000);
        const deadline = Date.now() + 5000;
        while (!seen.some((e) => e.id === info.id && e.action === 'die') && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(seen).toContainEqual({ id: info.id, action: 'die', service: 'watchme', release: 7 });
      } finally {
        unwatch();
        await removeAll();
      }
    });

    it('remove is idempotent', async () => {
      const { runtime, project } = subject();
      const info = await start({ service: 'removeme' });
      await runtime.remove(info.id);
      await runtime.remove(info.id);
      await runtime.remove(`${project}-no-such-container`);
      await expect(runtime.inspect(info.id)).resolves.toBeNull();
      expect(await runtime.list({ project, service: 'removeme' })).toEqual([]);
      created.splice(0);
    });

    it('start with an unknown image throws ShipitError(failed) and starts nothing', async () => {
      const { runtime, project } = subject();
      const before = await runtime.list({ project });
      await expectShipitError(
        runtime.start(specOf({ service: 'ghost', image: `${project}-no-such-image:v0` })),
        'failed',
      );
      expect(await runtime.list({ project })).toEqual(before);
    });

    it('logs returns text, and rejects with not-found for an unknown id', async () => {
      const { runtime, project } = subject();
      const info = await start({ service: 'logs' });
      await expect(runtime.logs(info.id, 50)).resolves.toEqual(expect.any(String));
      await expectShipitError(runtime.logs(`${project}-no-such-container`, 10), 'not-found');
      await removeAll();
    });

    it('followLogs streams lines with their stream and engine time, pauses, honours since, ends on stop', async () => {
      const { runtime, project, writeLog } = subject();
      const info = await start({ service: 'follow' });
      await writeLog(info, 'stdout', 'first line');
      await writeLog(info, 'stderr', 'second line');
      const seen: RuntimeLogLine[] = [];
      const f = runtime.followLogs(info.id, { follow: true }, (l) => seen.push(l));
      const mine = () => seen.filter((l) => / line$/.test(l.text));
      const waitFor = async (n: number) => {
        const deadline = Date.now() + 5000;
        while (mine().length < n && Date.now() < deadline) await sleep(20);
      };
      await waitFor(2);
      await writeLog(info, 'stdout', 'third line');
      await waitFor(3);
      // Paused, lines are held back (not lost) until resume.
      f.pause();
      await writeLog(info, 'stderr', 'held line');
      await sleep(300);
      expect(mine()).toHaveLength(3);
      f.resume();
      await waitFor(4);
      expect(mine().map((l) => [l.stream, l.text])).toEqual([
        ['stdout', 'first line'],
        ['stderr', 'second line'],
        ['stdout', 'third line'],
        ['stderr', 'held line'],
      ]);
      for (const l of seen) expect(l.ts).toMatch(/^\d{10}\.\d{9}$/);
      const ts = mine().map((l) => l.ts);
      expect([...ts].sort()).toEqual(ts);
      expect(Math.abs(Number(ts[0].slice(0, 10)) * 1000 - Date.now())).toBeLessThan(60_000);

      // The stream ends by itself when the container stops.
      await runtime.stop(info.id, 1000);
      await f.done;

      // since is inclusive, to the nanosecond; follow: false ends after what is recorded.
      const again: RuntimeLogLine[] = [];
      await runtime.followLogs(info.id, { follow: false, since: ts[1] }, (l) => again.push(l)).done;
      expect(again.filter((l) => / line$/.test(l.text)).map((l) => l.text)).toEqual([
        'second line',
        'third line',
        'held line',
      ]);

      // stop() ends a stream early; unknown containers reject with not-found.
      // Without follow the stream ends after what is recorded, also while the container runs.
      const other = await start({ service: 'follow', index: 1 });
      await writeLog(other, 'stdout', 'other line');
      const recorded: string[] = [];
      await runtime.followLogs(other.id, { follow: false }, (l) => recorded.push(l.text)).done;
      expect(recorded).toContain('other line');
      const g = runtime.followLogs(other.id, { follow: true }, () => undefined);
      await sleep(50);
      g.stop();
      await expect(g.done).resolves.toBeUndefined();
      await expectShipitError(
        runtime.followLogs(`${project}-no-such-container`, { follow: false }, () => undefined).done,
        'not-found',
      );
      await removeAll();
    });

    it('replaces a leftover container with the same name', async () => {
      const { runtime, project } = subject();
      const first = await start({ service: 'again', release: 7, index: 0 });
      await runtime.stop(first.id, 0);
      const second = await start({ service: 'again', release: 7, index: 0 });
      expect(second.id).not.toBe(first.id);
      expect(second.name).toBe(first.name);
      expect(second.running).toBe(true);
      await expect(runtime.inspect(first.id)).resolves.toBeNull();
      const listed = await runtime.list({ project, service: 'again' });
      expect(listed.map((i) => i.id)).toEqual([second.id]);
      // And a running one is replaced too.
      const third = await start({ service: 'again', release: 7, index: 0 });
      expect((await runtime.list({ project, service: 'again' })).map((i) => i.id)).toEqual([
        third.id,
      ]);
      await removeAll();
    });

    it('removeNetwork is idempotent once the containers are gone', async () => {
      const { runtime, project } = subject();
      await removeAll();
      await runtime.ensureNetwork(project);
      await runtime.removeNetwork(project);
      await runtime.removeNetwork(project);
      // And the network comes back on demand.
      const info = await start({ service: 'back' });
      expect(info.ip).toMatch(IPV4);
      await removeAll();
      await runtime.removeNetwork(project);
    });
  });
}
