import { leastInflight, Target } from './target';

function t(id: string, inflight = 0, over: Partial<Pick<Target, 'healthy' | 'draining'>> = {}) {
  const x = new Target(id, `app-web-r1-${id}`, 'web', 1, '10.0.0.2', 8080);
  x.inflight = inflight;
  Object.assign(x, over);
  return x;
}

describe('Target', () => {
  it('builds its url and is available only when healthy and not draining', () => {
    const x = new Target('c1', 'n', 'web', 3, '10.1.2.3', 3000);
    expect(x.url).toBe('http://10.1.2.3:3000');
    expect(x.available).toBe(true);
    x.healthy = false;
    expect(x.available).toBe(false);
    x.healthy = true;
    x.draining = true;
    expect(x.available).toBe(false);
  });
});

describe('leastInflight', () => {
  it('returns null for no targets', () => {
    expect(leastInflight([])).toBeNull();
  });

  it('picks the target with the fewest in-flight requests, wherever it sits', () => {
    for (let rotation = 0; rotation < 6; rotation++) {
      const ts = [t('a', 3), t('b', 1), t('c', 2)];
      expect(leastInflight(ts)?.id).toBe('b');
    }
  });

  it('skips unhealthy and draining targets even if they are idle', () => {
    const ts = [t('sick', 0, { healthy: false }), t('gone', 0, { draining: true }), t('busy', 9)];
    for (let i = 0; i < 6; i++) expect(leastInflight(ts)?.id).toBe('busy');
  });

  it('skips the excluded target', () => {
    const a = t('a', 0);
    const b = t('b', 5);
    for (let i = 0; i < 4; i++) expect(leastInflight([a, b], a)).toBe(b);
  });

  it('returns null when no target is available', () => {
    const a = t('a', 0, { healthy: false });
    const b = t('b', 0, { draining: true });
    const c = t('c', 0);
    expect(leastInflight([a, b])).toBeNull();
    expect(leastInflight([a, b, c], c)).toBeNull();
    expect(leastInflight([c], c)).toBeNull();
  });

  it('rotates between tied targets', () => {
    const ts = [t('a'), t('b'), t('c')];
    const seen = new Set<string>();
    for (let i = 0; i < 9; i++) seen.add(leastInflight(ts)!.id);
    expect(seen).toEqual(new Set(['a', 'b', 'c']));
  });
});
