import { editDistance, suggest } from './suggest';

describe('editDistance', () => {
  it.each([
    ['web', 'web', 0],
    ['wbe', 'web', 1],
    ['webb', 'web', 1],
    ['we', 'web', 1],
    ['wab', 'web', 1],
    ['api', 'web', 3],
    ['', 'web', 3],
    ['deplyo', 'deploy', 1],
    ['ca', 'abc', 3],
  ])('%j -> %j is %d', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});

describe('suggest', () => {
  const services = ['web', 'api', 'worker'];

  it('names the close misspelling: swaps, extra, missing and wrong letters, any case', () => {
    expect(suggest('wbe', services)).toBe('web');
    expect(suggest('webb', services)).toBe('web');
    expect(suggest('ap', services)).toBe('api');
    expect(suggest('API', services)).toBe('api');
    expect(suggest('wroker', services)).toBe('worker');
    expect(suggest('workr', services)).toBe('worker');
  });

  it('suggests nothing when nothing is plausibly meant', () => {
    expect(suggest('database', services)).toBeUndefined();
    expect(suggest('nope', services)).toBeUndefined();
    expect(suggest('x', services)).toBeUndefined();
    expect(suggest('', services)).toBeUndefined();
    expect(suggest('web', [])).toBeUndefined();
  });

  it('allows more edits for longer names, never more than three', () => {
    expect(suggest('wrkr', ['worker'])).toBeUndefined(); // 2 edits in 4 letters
    expect(suggest('wrokre', ['worker'])).toBe('worker'); // 2 edits in 6 letters
    expect(suggest('paymnt-srvce', ['payment-service'])).toBe('payment-service'); // 3
    expect(suggest('pymnt-srvc', ['payment-service'])).toBeUndefined(); // 5
  });

  it('prefers the nearest, then the first listed', () => {
    expect(suggest('wec', ['wed', 'web'])).toBe('wed');
    expect(suggest('webx', ['web2', 'web'])).toBe('web2');
    expect(suggest('apps', ['app', 'apps-admin'])).toBe('app');
  });
});
