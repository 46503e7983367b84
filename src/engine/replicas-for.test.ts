import type { ReleaseRecord, ServiceSpec } from '../domain/types';
import { autoscale, serviceSpec } from '../testing/scale-harness';
import { replicasFor } from './deployer';

function live(replicas: number): ReleaseRecord {
  return {
    service: 'web',
    number: 4,
    image: 'app:1',
    strategy: 'blue-green',
    spec: serviceSpec(),
    status: 'live',
    replicas,
    startedAt: 1,
    finishedAt: 2,
    result: 'succeeded',
    reason: null,
    demotedAt: null,
  };
}

const spec = (replicas: number, a?: Partial<NonNullable<ServiceSpec['autoscale']>>) =>
  serviceSpec({ replicas, autoscale: a ? autoscale(a) : undefined });

describe('replicasFor', () => {
  it('without autoscale: shipit.yml replicas, whatever runs now', () => {
    expect(replicasFor(spec(2), null)).toBe(2);
    expect(replicasFor(spec(2), live(7))).toBe(2);
    expect(replicasFor(spec(0), live(3))).toBe(0);
  });

  it('with autoscale: as many as the live release runs now', () => {
    expect(replicasFor(spec(2, { min: 1, max: 10 }), live(6))).toBe(6);
  });

  it('with autoscale: the live count clamped to max', () => {
    expect(replicasFor(spec(2, { min: 1, max: 4 }), live(9))).toBe(4);
  });

  it('with autoscale: the live count raised to min', () => {
    expect(replicasFor(spec(2, { min: 3, max: 8 }), live(1))).toBe(3);
  });

  it('with autoscale min 0: a deploy still starts at least one replica', () => {
    expect(replicasFor(spec(0, { min: 0, max: 5 }), null)).toBe(1);
  });

  it('with autoscale and the live release at zero: shipit.yml replicas, clamped', () => {
    expect(replicasFor(spec(2, { min: 0, max: 5 }), live(0))).toBe(2);
    expect(replicasFor(spec(9, { min: 0, max: 5 }), live(0))).toBe(5);
    expect(replicasFor(spec(0, { min: 0, max: 5 }), live(0))).toBe(1);
    expect(replicasFor(spec(1, { min: 3, max: 5 }), live(0))).toBe(3);
  });

  it('with autoscale and no live release (first deploy): shipit.yml replicas, clamped', () => {
    expect(replicasFor(spec(2, { min: 1, max: 5 }), null)).toBe(2);
    expect(replicasFor(spec(8, { min: 1, max: 5 }), null)).toBe(5);
  });
});
