// Alert rules as a small state machine: ok -> pending (condition holds) ->
// firing (it held for `for`) -> ok (resolved). Pure: the caller supplies the
// time and the metric values, and acts on the transitions it gets back.

export type AlertMetric = 'error_rate' | 'p99' | 'rps' | 'cpu' | 'memory';
export type AlertState = 'ok' | 'pending' | 'firing';

export interface AlertRule {
  name: string;
  service: string;
  metric: AlertMetric;
  op: 'above' | 'below';
  /** error_rate and cpu: ratio; p99: ms; rps: per second; memory: bytes. */
  threshold: number;
  forMs: number;
  windowMs: number;
  webhook: string;
}

export interface AlertStatus {
  name: string;
  service: string;
  metric: AlertMetric;
  op: 'above' | 'below';
  threshold: number;
  state: AlertState;
  /** The last evaluated value; null when there was nothing to measure (no container, say). */
  value: number | null;
  /** When the current state began (ms). */
  since: number;
}

export interface AlertTransition {
  rule: AlertRule;
  status: 'firing' | 'resolved';
  value: number | null;
  /** When the alert started firing. */
  startsAt: number;
  /** When it resolved (null while firing). */
  endsAt: number | null;
}

export interface AlertConfigInput {
  name: string;
  service: string;
  when: {
    metric: AlertMetric;
    above?: number;
    below?: number;
    for: number;
    window: number;
  };
  notify: { webhook: string };
}

export function rulesFrom(alerts: AlertConfigInput[]): AlertRule[] {
  return alerts.map((a) => ({
    name: a.name,
    service: a.service,
    metric: a.when.metric,
    op: a.when.below !== undefined ? 'below' : 'above',
    threshold: a.when.below ?? a.when.above ?? 0,
    forMs: a.when.for,
    windowMs: a.when.window,
    webhook: a.notify.webhook,
  }));
}

interface RuleState {
  state: AlertState;
  since: number;
  value: number | null;
  firingSince: number;
}

export class AlertEngine {
  private states = new Map<string, RuleState>();

  constructor(
    readonly rules: AlertRule[],
    now = 0,
  ) {
    for (const r of rules)
      this.states.set(r.name, { state: 'ok', since: now, value: null, firingSince: 0 });
  }

  /** Evaluates every rule once; returns what started firing and what resolved. */
  evaluate(now: number, valueOf: (rule: AlertRule) => number | null): AlertTransition[] {
    const out: AlertTransition[] = [];
    for (const rule of this.rules) {
      const s = this.states.get(rule.name) as RuleState;
      const value = valueOf(rule);
      s.value = value;
      const holds =
        value !== null && (rule.op === 'above' ? value > rule.threshold : value < rule.threshold);
      if (holds) {
        if (s.state === 'ok') Object.assign(s, { state: 'pending', since: now });
        if (s.state === 'pending' && now - s.since >= rule.forMs) {
          Object.assign(s, { state: 'firing', since: now, firingSince: now });
          out.push({ rule, status: 'firing', value, startsAt: now, endsAt: null });
        }
      } else if (s.state !== 'ok') {
        if (s.state === 'firing')
          out.push({ rule, status: 'resolved', value, startsAt: s.firingSince, endsAt: now });
        Object.assign(s, { state: 'ok', since: now });
      }
    }
    return out;
  }

  statuses(): AlertStatus[] {
    return this.rules.map((r) => {
      const s = this.states.get(r.name) as RuleState;
      return {
        name: r.name,
        service: r.service,
        metric: r.metric,
        op: r.op,
        threshold: r.threshold,
        state: s.state,
        value: s.value,
        since: s.since,
      };
    });
  }
}
