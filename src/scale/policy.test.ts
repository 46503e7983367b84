import { AutoscaleDecider, type AutoscalePolicy, type Observation } from './policy';

const policy = (p: Partial<AutoscalePolicy> = {}): AutoscalePolicy => ({
  min: 1,
  max: 10,
  target: { inflightPerReplica: 10 },
  scaleDownDelayMs: 30_000,
  idleTimeoutMs: 60_000,
  ...p,
});

const obs = (o: Partial<Observation> = {}): Observation => ({
  now: 100_000,
  replicas: 1,
  inflight: 0,
  rps: 0,
  cpu: null,
  lastRequestAt: 100_000,
  floor: 0,
  ...o,
});

describe('AutoscaleDecider', () => {
  it('scales up at once to what the in-flight load needs, capped at max', () => {
    const d = new AutoscaleDecider(policy());
    expect(d.decide(obs({ inflight: 35 })).desired).toBe(4);
    expect(d.decide(obs({ replicas: 4, inflight: 500 })).desired).toBe(10);
    expect(d.decide(obs({ replicas: 4, inflight: 500 })).reason).toMatch(/^up: 500.0 in flight/);
  });

  it('leaves the count alone within 10% of the target', () => {
    const d = new AutoscaleDecider(policy());
    expect(d.decide(obs({ replicas: 3, inflight: 32 })).desired).toBe(3);
    expect(d.decide(obs({ replicas: 3, inflight: 28 })).desired).toBe(3);
    expect(d.decide(obs({ replicas: 3, inflight: 34 })).desired).toBe(4);
  });

  it('scales down only after the load stayed lower for scaleDownDelay', () => {
    const d = new AutoscaleDecider(policy());
    let t = 0;
    expect(d.decide(obs({ now: t, replicas: 1, inflight: 40 })).desired).toBe(4);
    for (t = 1000; t < 30_000; t += 1000) {
      const r = d.decide(obs({ now: t, replicas: 4, inflight: 5 }));
      expect(r.desired).toBe(4);
      expect(r.reason).toMatch(/^holding 4/);
    }
    const down = d.decide(obs({ now: 30_000, replicas: 4, inflight: 5 }));
    expect(down.desired).toBe(1);
    expect(down.reason).toMatch(/^down:/);
  });

  it('a noisy load around a level does not make the count oscillate', () => {
    const d = new AutoscaleDecider(policy({ scaleDownDelayMs: 10_000 }));
    let replicas = 1;
    const changes: number[] = [];
    for (let t = 0; t < 120_000; t += 1000) {
      const inflight = 25 + (t % 3000 === 0 ? 8 : -8); // 17..33 around 25
      const { desired } = d.decide(obs({ now: t, replicas, inflight }));
      if (desired !== replicas) changes.push(desired);
      replicas = desired;
    }
    expect(changes).toEqual([4]);
  });

  it('never goes below min or the schedule floor, nor above max', () => {
    const d = new AutoscaleDecider(policy({ min: 2, max: 6, scaleDownDelayMs: 0 }));
    expect(d.decide(obs({ replicas: 5, inflight: 0 })).desired).toBe(2);
    const floor = d.decide(obs({ replicas: 2, inflight: 0, floor: 5 }));
    expect(floor.desired).toBe(5);
    expect(floor.reason).toBe('floor 5 (min 2, schedule 5)');
    expect(d.decide(obs({ replicas: 2, floor: 20 })).desired).toBe(6);
  });

  it('scales by requests per second', () => {
    const d = new AutoscaleDecider(policy({ target: { rpsPerReplica: 50 } }));
    expect(d.decide(obs({ rps: 260 })).desired).toBe(6);
    expect(d.decide(obs({ replicas: 6, rps: 290 })).desired).toBe(6);
  });

  it('scales by CPU ratio per replica, and waits for a first reading', () => {
    const d = new AutoscaleDecider(policy({ target: { cpu: 0.5 }, scaleDownDelayMs: 0 }));
    expect(d.decide(obs({ replicas: 2, cpu: null })).desired).toBe(2);
    expect(d.decide(obs({ replicas: 2, cpu: 0.9 })).desired).toBe(4);
    expect(d.decide(obs({ replicas: 4, cpu: 0.1 })).desired).toBe(1);
  });

  it('with min 0 goes to zero after idleTimeout without a request, and keeps one before', () => {
    const d = new AutoscaleDecider(policy({ min: 0, idleTimeoutMs: 60_000, scaleDownDelayMs: 0 }));
    expect(d.decide(obs({ now: 59_999, lastRequestAt: 0, replicas: 1 })).desired).toBe(1);
    const idle = d.decide(obs({ now: 60_000, lastRequestAt: 0, replicas: 1 }));
    expect(idle.desired).toBe(0);
    expect(idle.reason).toBe('idle for 60s (idleTimeout 60s)');
    // a request in flight is not idle, whatever the clock says
    expect(d.decide(obs({ now: 90_000, lastRequestAt: 0, replicas: 1, inflight: 1 })).desired).toBe(
      1,
    );
  });

  it('a schedule floor keeps a min-0 service up even when idle', () => {
    const d = new AutoscaleDecider(policy({ min: 0, idleTimeoutMs: 1000 }));
    expect(d.decide(obs({ now: 50_000, lastRequestAt: 0, replicas: 3, floor: 3 })).desired).toBe(3);
  });
});

describe('AutoscaleDecider hysteresis', () => {
  it('a load sitting on a boundary does not flip between two counts', () => {
    const d = new AutoscaleDecider(policy({ scaleDownDelayMs: 0 }));
    // 20 in flight, 10 per replica: 2 replicas; 19..21 must not move it either way
    for (const inflight of [19, 20, 21, 18.5]) {
      expect(d.decide(obs({ replicas: 2, inflight })).desired).toBe(2);
    }
    // at 2 replicas, dropping to 10 in flight is exactly one replica's target: stay (no 10% margin)
    expect(d.decide(obs({ replicas: 2, inflight: 10 })).desired).toBe(2);
    // clearly lower: down
    expect(d.decide(obs({ replicas: 2, inflight: 8 })).desired).toBe(1);
  });
});
