import { FakeRuntime } from './fake-runtime';
import { runtimeContract } from './runtime-contract';
import type { ContainerSpec } from '../ports/runtime';

runtimeContract('FakeRuntime', async () => {
  const runtime = new FakeRuntime({ images: ['app:1'] });
  return {
    runtime,
    image: 'app:1',
    project: 'contract',
    cleanup: async () => undefined,
    writeLog: async (c, stream, text) => runtime.writeLog(c.id, text, stream),
  };
});

describe('FakeRuntime', () => {
  const spec = (over: Partial<ContainerSpec> = {}): ContainerSpec => ({
    project: 'p',
    service: 'web',
    release: 1,
    index: 0,
    image: 'app',
    port: 3000,
    env: { A: '1' },
    ...over,
  });

  it('gives deterministic ids and ips 10.0.0.N', async () => {
    const rt = new FakeRuntime({ images: ['app:latest'] });
    const a = await rt.start(spec());
    const b = await rt.start(spec({ index: 1 }));
    expect([a.id, b.id]).toEqual(['fake00000001', 'fake00000002']);
    expect([a.ip, b.ip]).toEqual(['10.0.0.2', '10.0.0.3']);
    const again = new FakeRuntime({ images: ['app'] });
    expect((await again.start(spec())).id).toBe('fake00000001');
  });

  it('treats app and app:latest as the same image', async () => {
    const rt = new FakeRuntime().addImage('app');
    await expect(rt.imageExists('app:latest')).resolves.toBe(true);
    await expect(rt.imageExists('app:2')).resolves.toBe(false);
    rt.images.add('registry.local:5000/team/app:2');
    await expect(rt.imageExists('registry.local:5000/team/app:2')).resolves.toBe(true);
    await expect(rt.imageExists('registry.local:5000/team/app')).resolves.toBe(false);
  });

  it('failStartFor makes start fail without leaving a container', async () => {
    const rt = new FakeRuntime({ images: ['app:1', 'app:2'] });
    rt.failStartFor('app:2');
    await expect(rt.start(spec({ image: 'app:2' }))).rejects.toMatchObject({ code: 'runtime' });
    expect(rt.all()).toEqual([]);
    const custom = new Error('boom');
    rt.failStartFor('app:1', custom);
    await expect(rt.start(spec({ image: 'app:1' }))).rejects.toBe(custom);
    rt.clearStartFailures();
    await expect(rt.start(spec({ image: 'app:1' }))).resolves.toMatchObject({ running: true });
  });

  it('kill simulates a crash', async () => {
    const rt = new FakeRuntime({ images: ['app'] });
    const a = await rt.start(spec());
    const b = await rt.start(spec({ index: 1 }));
    rt.kill(a.id);
    expect(await rt.inspect(a.id)).toMatchObject({
      running: false,
      state: 'exited',
      exitCode: 137,
      ip: null,
    });
    expect(rt.running().map((c) => c.id)).toEqual([b.id]);
    expect(rt.running({ service: 'web', release: 1 })).toHaveLength(1);
    expect(rt.all({ project: 'p' })).toHaveLength(2);
    expect(() => rt.kill('nope')).toThrow(/no container/);
  });

  it('records calls, keeps specs and serves logs', async () => {
    const rt = new FakeRuntime({ images: ['app'], stopExitCode: 143 });
    const a = await rt.start(spec({ command: ['serve'], labels: { x: 'y' } }));
    rt.writeLog(a.id, 'one\ntwo\n');
    rt.writeLog(a.id, 'three');
    await expect(rt.logs(a.id, 2)).resolves.toBe('two\nthree\n');
    await expect(rt.logs(a.id, 0)).resolves.toBe('');
    await rt.stop(a.id, 5000);
    expect((await rt.inspect(a.id))?.exitCode).toBe(143);
    expect(rt.specOf(a.id)).toMatchObject({ command: ['serve'], labels: { x: 'y' } });
    expect(rt.specOf('nope')).toBeUndefined();
    expect(rt.calls.map((c) => c.op)).toEqual(['start', 'logs', 'logs', 'stop', 'inspect']);
    expect(rt.callsOf('stop')).toEqual([[a.id, 5000]]);
    expect(rt.networks.has('p')).toBe(true);
  });

  it('refuses to remove a network with running containers', async () => {
    const rt = new FakeRuntime({ images: ['app'] });
    const a = await rt.start(spec());
    await expect(rt.removeNetwork('p')).rejects.toMatchObject({ code: 'runtime' });
    await rt.stop(a.id, 0);
    await rt.removeNetwork('p');
    expect(rt.networks.has('p')).toBe(false);
  });

  it('throws unreachable on every call when the engine is "down"', async () => {
    const rt = new FakeRuntime({ images: ['app'] });
    rt.reachable = false;
    await expect(rt.ping()).rejects.toMatchObject({ code: 'unreachable' });
    await expect(rt.start(spec())).rejects.toMatchObject({ code: 'unreachable' });
    await expect(rt.list({ project: 'p' })).rejects.toMatchObject({ code: 'unreachable' });
    expect(rt.all()).toEqual([]);
  });
});
