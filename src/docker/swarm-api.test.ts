import type Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import { ShipitError, runtimeError } from '../domain/errors';
import { dockerMessage, statusOf } from './runtime';
import { SwarmApi } from './swarm-api';

interface DialCall {
  path: string;
  method: string;
  isStream: boolean;
  statusCodes: Record<number, unknown>;
  options: { _query: Record<string, unknown>; _body?: unknown };
}

/** A dockerode stand-in whose modem answers each dial with `answer(call)`. */
function fakeDocker(answer: (c: DialCall) => { err?: unknown; data?: unknown }) {
  const calls: DialCall[] = [];
  const getEvents = jest.fn(async (_o: { filters: string }) => new PassThrough());
  const docker = {
    modem: {
      dial: (c: DialCall, cb: (err: unknown, data: unknown) => void) => {
        calls.push(c);
        const { err, data } = answer(c);
        setImmediate(() => cb(err ?? null, data));
      },
    },
    getEvents,
  } as unknown as Docker;
  return { api: new SwarmApi(docker, '/run/test.sock'), calls, getEvents };
}

const dockerErr = (statusCode?: number, json?: unknown, message = 'HTTP error', code?: string) =>
  Object.assign(new Error(message), { statusCode, json, code });

describe('statusOf / dockerMessage (shared with the Docker adapter)', () => {
  it('reads the HTTP status of a dockerode error, and nothing from non-objects', () => {
    expect(statusOf(dockerErr(404))).toBe(404);
    expect(statusOf(new Error('x'))).toBeUndefined();
    expect(statusOf(null)).toBeUndefined();
    expect(statusOf('404')).toBeUndefined();
  });

  it("prefers Docker's own message, from JSON, a Buffer or a string body, over the error's", () => {
    expect(dockerMessage(dockerErr(409, { message: 'name conflicts' }))).toBe('name conflicts');
    expect(dockerMessage(dockerErr(500, Buffer.from('  boom\n')))).toBe('boom');
    expect(dockerMessage(dockerErr(500, ' plain text \n'))).toBe('plain text');
  });

  it("falls back to the error's message when the body says nothing usable", () => {
    expect(dockerMessage(dockerErr(500, { message: 42 }, 'fallback'))).toBe('fallback');
    expect(dockerMessage(dockerErr(500, Buffer.alloc(0), 'empty buffer'))).toBe('empty buffer');
    expect(dockerMessage(dockerErr(500, '', 'empty string'))).toBe('empty string');
    expect(dockerMessage(dockerErr(500, undefined, 'no body'))).toBe('no body');
    expect(dockerMessage('just a string')).toBe('just a string');
    expect(dockerMessage(undefined)).toBe('undefined');
  });
});

describe('SwarmApi', () => {
  it('get dials GET with the query, the accepted status codes, and no body', async () => {
    const { api, calls } = fakeDocker(() => ({ data: [{ ID: 's1' }] }));
    await expect(api.get('/services', { filters: { label: ['a=b'] } })).resolves.toEqual([
      { ID: 's1' },
    ]);
    expect(calls).toHaveLength(1);
    const c = calls[0];
    expect(c).toMatchObject({ path: '/services?', method: 'GET', isStream: false });
    expect(c.options).toEqual({ _query: { filters: { label: ['a=b'] } } });
    expect(c.statusCodes[200]).toBe(true);
    expect(c.statusCodes[404]).toBe('not found');
  });

  it('get turns errors into ShipitErrors with the engine message', async () => {
    const { api } = fakeDocker(() => ({ err: dockerErr(500, { message: 'rpc error: boom' }) }));
    const e = await api.get('/tasks').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ShipitError);
    expect((e as ShipitError).code).toBe('runtime');
    expect((e as ShipitError).message).toBe('rpc error: boom');
  });

  it('find answers null for 404 and throws translated errors otherwise', async () => {
    const { api: gone } = fakeDocker(() => ({ err: dockerErr(404, { message: 'no such' }) }));
    await expect(gone.find('/services/x')).resolves.toBeNull();
    const { api: found } = fakeDocker(() => ({ data: { ID: 'x' } }));
    await expect(found.find('/services/x')).resolves.toEqual({ ID: 'x' });
    const { api: broken } = fakeDocker(() => ({ err: dockerErr(503, { message: 'not a swarm' }) }));
    await expect(broken.find('/services/x')).rejects.toMatchObject({
      code: 'runtime',
      message: 'not a swarm',
    });
  });

  it("post sends the JSON body and leaves errors as dockerode's; del and stream dial as asked", async () => {
    const err = dockerErr(409, { message: 'exists' });
    const { api, calls } = fakeDocker((c) => (c.method === 'POST' ? { err } : { data: 'ok' }));
    await expect(api.post('/networks/create', { Name: 'n' }, { v: 1 })).rejects.toBe(err);
    expect(calls[0]).toMatchObject({ method: 'POST', path: '/networks/create?', isStream: false });
    expect(calls[0].options).toEqual({ _query: { v: 1 }, _body: { Name: 'n' } });

    await expect(api.post('/services/s/update', {})).rejects.toBe(err);
    expect(calls[1].options).toEqual({ _query: {}, _body: {} });
    calls.splice(1, 1);

    await expect(api.del('/networks/n')).resolves.toBe('ok');
    expect(calls[1]).toMatchObject({ method: 'DELETE', path: '/networks/n?' });
    expect(calls[1].options).toEqual({ _query: {} });

    await api.stream('/services/s/logs', { follow: true });
    expect(calls[2]).toMatchObject({ method: 'GET', path: '/services/s/logs?', isStream: true });
    expect(calls[2].options._query).toEqual({ follow: true });
  });

  it('events asks the engine for its event stream with the filters', async () => {
    const { api, getEvents } = fakeDocker(() => ({}));
    await api.events('{"type":["container"]}');
    expect(getEvents).toHaveBeenCalledWith({ filters: '{"type":["container"]}' });
  });

  it('translate: socket errors are "unreachable" with a hint; ShipitErrors pass through', () => {
    const { api } = fakeDocker(() => ({}));
    for (const code of ['ENOENT', 'ECONNREFUSED']) {
      const e = api.translate(dockerErr(undefined, undefined, 'connect', code));
      expect(e.code).toBe('unreachable');
      expect(e.message).toContain('not reachable at /run/test.sock');
      expect(e.hint).toMatch(/docker-bootstrap/);
    }
    const denied = api.translate(dockerErr(undefined, undefined, 'connect', 'EACCES'));
    expect(denied.code).toBe('unreachable');
    expect(denied.message).toContain('permission denied on the Docker socket /run/test.sock');
    const own = runtimeError('mine');
    expect(api.translate(own)).toBe(own);
    expect(api.translate(null)).toMatchObject({ code: 'runtime', message: 'null' });
  });
});
