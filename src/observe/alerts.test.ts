import { AlertEngine, rulesFrom, type AlertRule } from './alerts';

function rule(over: Partial<AlertRule> = {}): AlertRule {
  return {
    name: 'web-errors',
    service: 'web',
    metric: 'error_rate',
    op: 'above',
    threshold: 0.05,
    forMs: 0,
    windowMs: 60_000,
    webhook: 'http://127.0.0.1:9999/hook',
    ...over,
  };
}

/** valueOf that answers the same value for every rule. */
const always = (v: number | null) => () => v;

describe('AlertEngine', () => {
  it('starts every rule ok with no value, since the construction time', () => {
    const e = new AlertEngine([rule(), rule({ name: 'other', metric: 'p99', threshold: 500 })], 42);
    expect(e.statuses()).toEqual([
      {
        name: 'web-errors',
        service: 'web',
        metric: 'error_rate',
        op: 'above',
        threshold: 0.05,
        state: 'ok',
        value: null,
        since: 42,
      },
      {
        name: 'other',
        service: 'web',
        metric: 'p99',
        op: 'above',
        threshold: 500,
        state: 'ok',
        value: null,
        since: 42,
      },
    ]);
  });

  it('with for=0 fires on the first evaluation where the condition holds', () => {
    const r = rule({ forMs: 0 });
    const e = new AlertEngine([r], 0);
    expect(e.evaluate(1000, always(0.01))).toEqual([]);
    expect(e.statuses()[0]).toMatchObject({ state: 'ok', value: 0.01 });

    const out = e.evaluate(2000, always(0.5));
    expect(out).toEqual([{ rule: r, status: 'firing', value: 0.5, startsAt: 2000, endsAt: null }]);
    expect(e.statuses()[0]).toMatchObject({ state: 'firing', value: 0.5, since: 2000 });
  });

  it('does not notify again while it keeps firing', () => {
    const e = new AlertEngine([rule()], 0);
    expect(e.evaluate(1000, always(0.5))).toHaveLength(1);
    expect(e.evaluate(2000, always(0.6))).toEqual([]);
    expect(e.evaluate(3000, always(0.7))).toEqual([]);
    // `since` stays at the time it started firing; the value follows the latest reading.
    expect(e.statuses()[0]).toMatchObject({ state: 'firing', since: 1000, value: 0.7 });
  });

  it('the threshold itself does not hold: "above" is strict', () => {
    const e = new AlertEngine([rule({ threshold: 0.05 })], 0);
    expect(e.evaluate(1000, always(0.05))).toEqual([]);
    expect(e.statuses()[0].state).toBe('ok');
  });

  it('with for=N goes pending and fires only once the condition held N ms', () => {
    const r = rule({ forMs: 60_000 });
    const e = new AlertEngine([r], 0);
    expect(e.evaluate(10_000, always(0.2))).toEqual([]);
    expect(e.statuses()[0]).toMatchObject({ state: 'pending', since: 10_000, value: 0.2 });

    expect(e.evaluate(40_000, always(0.3))).toEqual([]);
    expect(e.evaluate(69_999, always(0.3))).toEqual([]);
    expect(e.statuses()[0]).toMatchObject({ state: 'pending', since: 10_000 });

    const out = e.evaluate(70_000, always(0.4));
    expect(out).toEqual([
      { rule: r, status: 'firing', value: 0.4, startsAt: 70_000, endsAt: null },
    ]);
    expect(e.statuses()[0]).toMatchObject({ state: 'firing', since: 70_000, value: 0.4 });
  });

  it('pending -> ok when the condition stops holding, without a notification', () => {
    const e = new AlertEngine([rule({ forMs: 60_000 })], 0);
    e.evaluate(10_000, always(0.2));
    expect(e.statuses()[0].state).toBe('pending');
    expect(e.evaluate(20_000, always(0.01))).toEqual([]);
    expect(e.statuses()[0]).toMatchObject({ state: 'ok', since: 20_000, value: 0.01 });

    // Holding again restarts the `for` clock from scratch.
    e.evaluate(30_000, always(0.2));
    expect(e.evaluate(80_000, always(0.2))).toEqual([]);
    expect(e.statuses()[0]).toMatchObject({ state: 'pending', since: 30_000 });
    expect(e.evaluate(90_000, always(0.2))).toEqual([
      expect.objectContaining({ status: 'firing', startsAt: 90_000 }),
    ]);
  });

  it('resolves with startsAt (when it started firing) and endsAt (now)', () => {
    const r = rule({ forMs: 5000 });
    const e = new AlertEngine([r], 0);
    e.evaluate(1000, always(0.5)); // pending
    e.evaluate(6000, always(0.5)); // firing
    e.evaluate(7000, always(0.5)); // still firing
    const out = e.evaluate(9000, always(0.01));
    expect(out).toEqual([
      { rule: r, status: 'resolved', value: 0.01, startsAt: 6000, endsAt: 9000 },
    ]);
    expect(e.statuses()[0]).toMatchObject({ state: 'ok', since: 9000, value: 0.01 });
    // Staying below does not resolve twice.
    expect(e.evaluate(10_000, always(0))).toEqual([]);
  });

  it('a second firing carries its own startsAt', () => {
    const e = new AlertEngine([rule()], 0);
    e.evaluate(1000, always(1));
    e.evaluate(2000, always(0));
    expect(e.evaluate(5000, always(1))).toEqual([
      expect.objectContaining({ status: 'firing', startsAt: 5000 }),
    ]);
    expect(e.evaluate(8000, always(0))).toEqual([
      expect.objectContaining({ status: 'resolved', startsAt: 5000, endsAt: 8000 }),
    ]);
  });

  it('"below" rules fire when the value drops under the threshold', () => {
    const r = rule({ name: 'too-quiet', metric: 'rps', op: 'below', threshold: 1 });
    const e = new AlertEngine([r], 0);
    expect(e.evaluate(1000, always(5))).toEqual([]);
    expect(e.evaluate(2000, always(1))).toEqual([]); // strict
    expect(e.evaluate(3000, always(0.5))).toEqual([
      { rule: r, status: 'firing', value: 0.5, startsAt: 3000, endsAt: null },
    ]);
    expect(e.evaluate(4000, always(2))).toEqual([
      { rule: r, status: 'resolved', value: 2, startsAt: 3000, endsAt: 4000 },
    ]);
  });

  it('a null value never fires, not even a "below" rule', () => {
    const e = new AlertEngine(
      [rule({ name: 'a' }), rule({ name: 'b', op: 'below', threshold: 10 })],
      0,
    );
    expect(e.evaluate(1000, always(null))).toEqual([]);
    expect(e.evaluate(100_000, always(null))).toEqual([]);
    expect(e.statuses().map((s) => [s.state, s.value])).toEqual([
      ['ok', null],
      ['ok', null],
    ]);
  });

  it('a null value resolves a firing alert (its containers are gone)', () => {
    const r = rule({ metric: 'memory', threshold: 100 });
    const e = new AlertEngine([r], 0);
    e.evaluate(1000, always(500));
    expect(e.evaluate(2000, always(null))).toEqual([
      { rule: r, status: 'resolved', value: null, startsAt: 1000, endsAt: 2000 },
    ]);
    expect(e.statuses()[0]).toMatchObject({ state: 'ok', value: null, since: 2000 });
  });

  it('evaluates each rule with its own value and reports only the rules that changed', () => {
    const errors = rule({ name: 'errors', threshold: 0.05 });
    const slow = rule({ name: 'slow', metric: 'p99', threshold: 500, forMs: 10_000 });
    const e = new AlertEngine([errors, slow], 0);
    const values: Record<string, number> = { errors: 0.1, slow: 900 };
    const seen: string[] = [];
    const out = e.evaluate(1000, (r) => {
      seen.push(r.name);
      return values[r.name];
    });
    expect(seen).toEqual(['errors', 'slow']);
    expect(out.map((t) => [t.rule.name, t.status])).toEqual([['errors', 'firing']]);
    expect(e.statuses().map((s) => [s.name, s.state, s.value])).toEqual([
      ['errors', 'firing', 0.1],
      ['slow', 'pending', 900],
    ]);
  });
});

describe('rulesFrom', () => {
  it('maps above / below / for / window / webhook', () => {
    const rules = rulesFrom([
      {
        name: 'web-errors',
        service: 'web',
        when: { metric: 'error_rate', above: 0.05, for: 60_000, window: 120_000 },
        notify: { webhook: 'http://127.0.0.1:9999/hook' },
      },
      {
        name: 'api-quiet',
        service: 'api',
        when: { metric: 'rps', below: 2, for: 0, window: 30_000 },
        notify: { webhook: 'http://hooks.test/quiet' },
      },
      {
        name: 'api-zero',
        service: 'api',
        when: { metric: 'rps', below: 0, for: 0, window: 30_000 },
        notify: { webhook: 'http://hooks.test/zero' },
      },
    ]);
    expect(rules).toEqual([
      {
        name: 'web-errors',
        service: 'web',
        metric: 'error_rate',
        op: 'above',
        threshold: 0.05,
        forMs: 60_000,
        windowMs: 120_000,
        webhook: 'http://127.0.0.1:9999/hook',
      },
      {
        name: 'api-quiet',
        service: 'api',
        metric: 'rps',
        op: 'below',
        threshold: 2,
        forMs: 0,
        windowMs: 30_000,
        webhook: 'http://hooks.test/quiet',
      },
      {
        // A threshold of 0 is still a "below" rule.
        name: 'api-zero',
        service: 'api',
        metric: 'rps',
        op: 'below',
        threshold: 0,
        forMs: 0,
        windowMs: 30_000,
        webhook: 'http://hooks.test/zero',
      },
    ]);
  });

  it('maps an empty list to no rules', () => {
    expect(rulesFrom([])).toEqual([]);
  });
});
