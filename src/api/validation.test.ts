import { ShipitError } from '../domain/errors';
import {
  deployBodySchema,
  parseBody,
  rollbackBodySchema,
  serviceSpecSchema,
  shutdownBodySchema,
} from './validation';

function goodSpec(): Record<string, unknown> {
  return {
    name: 'web',
    image: 'app:1',
    port: 8080,
    hosts: ['example.test'],
    replicas: 2,
    env: { A: '1' },
    healthcheck: {
      path: '/healthz',
      intervalMs: 1000,
      timeoutMs: 500,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    },
    deploy: {
      strategy: 'blue-green',
      deployTimeoutMs: 60000,
      drainTimeoutMs: 5000,
      keepPreviousMs: 0,
    },
  };
}

function errorOf(fn: () => unknown): ShipitError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ShipitError);
    return e as ShipitError;
  }
  throw new Error('expected parseBody to throw');
}

describe('parseBody', () => {
  it('returns the parsed body when valid', () => {
    const body = { spec: goodSpec(), dryRun: true };
    expect(parseBody(deployBodySchema, body)).toEqual(body);
    expect(parseBody(rollbackBodySchema, { to: 3 })).toEqual({ to: 3 });
    expect(parseBody(rollbackBodySchema, undefined)).toEqual({});
    expect(parseBody(shutdownBodySchema, null)).toEqual({});
  });

  it('throws a usage error (HTTP 400) naming the bad field by its path', () => {
    const spec = goodSpec();
    spec.port = 70000;
    const e = errorOf(() => parseBody(deployBodySchema, { spec }));
    expect(e.code).toBe('usage');
    expect(e.httpStatus).toBe(400);
    expect(e.message).toMatch(/^invalid request: spec\.port: /);
  });

  it('names nested fields', () => {
    const spec = goodSpec();
    (spec.healthcheck as Record<string, unknown>).path = 'healthz';
    (spec.deploy as Record<string, unknown>).strategy = 'yolo';
    const e = errorOf(() => parseBody(deployBodySchema, { spec }));
    expect(e.message).toContain('spec.healthcheck.path: ');
    expect(e.message).toContain('spec.deploy.strategy: ');
    expect(e.message.split('; ')).toHaveLength(2);
  });

  it('names array elements and record values', () => {
    const spec = goodSpec();
    spec.hosts = ['ok.test', ''];
    spec.env = { A: 1 };
    const e = errorOf(() => parseBody(serviceSpecSchema, spec));
    expect(e.message).toContain('hosts.1: ');
    expect(e.message).toContain('env.A: ');
  });

  it('names a missing field and an unknown field', () => {
    const spec = goodSpec();
    delete spec.image;
    expect(errorOf(() => parseBody(serviceSpecSchema, spec)).message).toContain('image: ');
    const e = errorOf(() => parseBody(rollbackBodySchema, { to: 1, force: true }));
    expect(e.message).toContain('force');
  });

  it('rejects a bad service name and a non-integer rollback target', () => {
    const spec = goodSpec();
    spec.name = 'Web_Service';
    expect(errorOf(() => parseBody(serviceSpecSchema, spec)).message).toContain('name: ');
    expect(errorOf(() => parseBody(rollbackBodySchema, { to: 1.5 })).message).toContain('to: ');
    expect(errorOf(() => parseBody(rollbackBodySchema, { to: 0 })).message).toContain('to: ');
  });

  it('says (body) when the body itself has the wrong type', () => {
    const e = errorOf(() => parseBody(rollbackBodySchema, 'nope'));
    expect(e.message).toMatch(/^invalid request: \(body\): /);
  });
});
