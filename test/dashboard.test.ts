// The web dashboard in a real browser (Debian's Chromium driven by playwright-core)
// against a real daemon and Docker engine: login, live weights during a canary, promote.
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Dashboard } from '../src/api/ui';
import { ROOT, TestProject, freePort } from './support/harness';

jest.setTimeout(180_000);

const CHROMIUM = process.env.SHIPIT_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const haveBrowser = fs.existsSync(CHROMIUM);
if (!haveBrowser) {
  console.warn(
    `dashboard.test.ts SKIPPED: no Chromium at ${CHROMIUM}. Install it with ` +
      '`bash scripts/browser-bootstrap.sh` (Debian: apt-get install -y chromium), or point SHIPIT_CHROMIUM at one.',
  );
}

function get(
  port: number,
  urlPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      })
      .on('error', reject);
  });
}

const byTestId = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

function collectErrors(page: Page, into: string[]): void {
  page.on('pageerror', (e) => into.push(String(e)));
  page.on('console', (m) => {
    // Answers like the 401 of a wrong token are expected; script errors are not.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
      into.push(`console: ${m.text()}`);
  });
}

(haveBrowser ? describe : describe.skip)('web dashboard (Chromium)', () => {
  const t = new TestProject();
  let apiPort = 0;
  let token = '';
  let browser: Browser;
  let page: Page;
  let hooks: http.Server;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    apiPort = await freePort();
    hooks = http.createServer((req, res) => {
      req.resume();
      res.end('ok');
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    const hookPort = (hooks.address() as net.AddressInfo).port;
    await t.init({
      replicas: 2,
      extraYaml: `      canary:
        steps:
          - { weight: 20, pause: manual }
api:
  listen: 127.0.0.1:${apiPort}
alerts:
  - name: web-busy
    service: web
    when: { metric: rps, above: 0.2, window: 30s }
    notify: { webhook: http://127.0.0.1:${hookPort}/hook }
`,
    });
    await t.up();
    token = fs.readFileSync(path.join(t.dir, '.shipit', 'token'), 'utf8').trim();
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    collectErrors(page, pageErrors);
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    hooks?.close();
    await t.cleanup();
  });

  it('serves the page with a strict CSP, and a wrong token shows an error', async () => {
    const raw = await get(apiPort, '/ui');
    expect(raw.status).toBe(200);
    expect(raw.headers['content-security-policy']).toMatch(/^default-src 'self'/);
    expect(raw.headers['cache-control']).toBe('no-store');

    await page.goto(`http://127.0.0.1:${apiPort}/ui`);
    await page.locator('#token').fill('not-the-token');
    await page.locator('#login-button').click();
    await expectText(byTestId(page, 'login-error'), /wrong token/i);
    expect(await page.locator('#dash').isHidden()).toBe(true);
    expect(await page.context().cookies()).toEqual([]);
  });

  it('the right token logs in with an HttpOnly session cookie and shows the service', async () => {
    await page.locator('#token').fill(token);
    await page.locator('#login-button').click();
    await byTestId(page, 'service-web').waitFor({ timeout: 10_000 });
    expect(await page.locator('#login').isHidden()).toBe(true);
    const cookies = await page.context().cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({
      name: 'shipit_session',
      httpOnly: true,
      sameSite: 'Strict',
    });
    expect(cookies[0].value).not.toContain(token);

    await expectText(byTestId(page, 'weight-web-r1'), /^100$/);
    await expectText(byTestId(page, 'alerts'), /No firing alerts/);
    await expectText(byTestId(page, 'health-web-r1'), /^2\/2$/);
    expect(await byTestId(page, 'weight-web-r2').count()).toBe(0);
    // The live stream, not polling: /v1/events answers as SSE and stats keep arriving.
    await page.waitForSelector('[data-testid="conn"][data-mode="live"]', { timeout: 10_000 });
    const firstStats = await waitForStats(page, 0);
    await waitForStats(page, firstStats);
    // A marker that a reload would wipe.
    await page.evaluate('window.__noReload = 42');
  });

  it('shows the canary weight moving to 20% live during the deploy, without reload', async () => {
    const t0 = Date.now();
    const deploy = t.cli(['deploy', '--strategy', 'canary', '--image', 'demo-web:v2']);
    await expectText(byTestId(page, 'weight-web-r2'), /^20$/, 60_000);
    console.log(`dashboard showed r2 at 20% ${Date.now() - t0}ms after the deploy started`);
    const d = await deploy;
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/paused/);
    await expectText(byTestId(page, 'weight-web-r1'), /^80$/);
    await expectText(page.locator('[data-service="web"] .rollout'), /rollout of r2 paused/);
    expect(await noReload(page)).toBe(true);

    // Traffic through the proxy shows up as a request rate in the page.
    for (let i = 0; i < 30; i++) await get(t.port, '/');
    await waitUntil('a request rate above 0 for r1 or r2', async () => {
      const rates = await Promise.all(
        ['rps-web-r1', 'rps-web-r2'].map(async (id) =>
          Number(await byTestId(page, id).textContent()),
        ),
      );
      return rates.some((r) => r > 0);
    });
    // ...and trips the rps alert, which the page shows as firing (alert event, no reload).
    await expectText(byTestId(page, 'alert-web-busy'), /FIRING: web-busy/, 15_000);
    expect(await byTestId(page, 'alerts').textContent()).not.toContain('No firing alerts');
  });

  it('promote in the page: the outcome is shown and r2 carries 100%', async () => {
    await byTestId(page, 'promote-web').click();
    await expectText(byTestId(page, 'outcome-web'), /promote done/, 60_000);
    await expectText(byTestId(page, 'weight-web-r2'), /^100$/, 10_000);
    const r1 = byTestId(page, 'weight-web-r1');
    if (await r1.count()) await expectText(r1, /^0$/, 10_000);
    expect(await noReload(page)).toBe(true);
    const s = await t.status();
    expect(s.services[0].releases.find((r) => r.number === 2)).toMatchObject({
      status: 'live',
      weight: 100,
    });
    // The deploy history lists the canary release.
    await expectText(
      page.locator('[data-service="web"] .history tbody tr').first(),
      /r2\s*demo-web:v2\s*canary/,
    );
  });

  it('log tail: container lines appear, and the filter narrows them', async () => {
    const lines = page.locator('[data-testid="log-lines"] .log-line');
    // Unfiltered, the tail has the v1 containers' start-up lines...
    await waitUntil(
      'a v1 line in the tail',
      async () => (await lines.allTextContents()).some((l) => l.includes('version=v1')),
      15_000,
    );
    // ...and the filter restarts it with only matching lines.
    await page.locator('#log-filter').fill('version=v2');
    let texts: string[] = [];
    await waitUntil(
      'only v2 lines in the tail',
      async () => {
        texts = await lines.allTextContents();
        return texts.length > 0 && texts.every((l) => l.includes('version=v2'));
      },
      15_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; lines: ${JSON.stringify(texts)}`);
    });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('a cookie-authenticated POST without the UI header is refused (CSRF)', async () => {
    const status = await page.evaluate(
      "fetch('/v1/services/web/rollback', { method: 'POST', body: '{}' }).then((r) => r.status)",
    );
    expect(status).toBe(403);
  });

  it('log out ends the session', async () => {
    await page.locator('#logout').click();
    await page.locator('#login').waitFor();
    await page.reload();
    await page.locator('#login').waitFor();
    expect(await page.locator('#dash').isHidden()).toBe(true);
  });
});

// The page's other paths against a stub API (same Dashboard routes, canned /v1 answers):
// the log tail's polling and filter, confirm() before rollback, and a failed action.
(haveBrowser ? describe : describe.skip)('web dashboard against a stub API (Chromium)', () => {
  const TOKEN = 'stub-token';
  const ui = new Dashboard(TOKEN);
  const logQueries: URLSearchParams[] = [];
  const posts: { path: string; uiHeader: unknown }[] = [];
  let sseBroken = false; // and no /v1/logs either: an older daemon
  let statusCalls = 0;
  let server: http.Server;
  let base = '';
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const T0 = Date.now() - 60_000;
  const lines = (
    [
      [1, 'stdout', 'hello'],
      [2, 'stderr', 'boom 1'],
      [3, 'stdout', 'bye'],
    ] as const
  ).map(([id, stream, msg]) => {
    const ts = T0 + id * 1000;
    return { id, ts, time: new Date(ts).toISOString(), service: 'web', release: 1, stream, msg };
  });
  const status = {
    project: 'stub',
    ready: true,
    services: [
      {
        name: 'web',
        hosts: ['*'],
        busy: null,
        rollout: null,
        releases: [
          { number: 2, image: 'app:v2', status: 'live', weight: 100, replicas: 1 },
          { number: 1, image: 'app:v1', status: 'previous', weight: 0, replicas: 1 },
        ],
        targets: [{ release: 2, healthy: true, draining: false, inflight: 0 }],
      },
    ],
    alerts: [
      {
        name: 'slow-web',
        service: 'web',
        metric: 'p99',
        state: 'pending',
        value: 900,
        threshold: 500,
        op: 'above',
        since: Date.now(),
      },
    ],
  };

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const p = url.pathname;
      if (ui.owns(p)) return void ui.handle(req, res, p);
      if (ui.authenticate(req, false) !== 'session') {
        res.writeHead(401).end('{"error":"no"}');
        return;
      }
      const json = (body: unknown) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (p === '/v1/status') {
        statusCalls++;
        return json(status);
      }
      if (p === '/v1/releases') return json({ releases: [] });
      if (p === '/v1/events' && sseBroken) return json({ events: [] }); // an older daemon
      if (p === '/v1/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`event: stats\ndata: ${JSON.stringify({ at: 5, services: [] })}\n\n`);
        return;
      }
      if (p === '/v1/logs' && !sseBroken) {
        const q = url.searchParams;
        logQueries.push(q);
        const grep = q.get('grep');
        const after = Number(q.get('after') ?? 0);
        return json({
          lines: lines.filter((l) => l.id > after && (!grep || new RegExp(grep).test(l.msg))),
        });
      }
      if (req.method === 'POST') {
        posts.push({ path: p, uiHeader: req.headers['x-shipit-ui'] });
        req.resume();
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write(`${JSON.stringify({ type: 'plan', message: 'make r1 live again' })}\n`);
        res.end(`${JSON.stringify({ type: 'error', error: 'r1 containers are gone' })}\n`);
        return;
      }
      res.writeHead(404).end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    browser = await launch();
    page = await (await browser.newContext()).newPage();
    collectErrors(page, pageErrors);
    await page.goto(`${base}/ui`);
    await page.locator('#token').fill(TOKEN);
    await page.locator('#login-button').click();
    await byTestId(page, 'service-web').waitFor({ timeout: 10_000 });
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    server?.closeAllConnections();
    server?.close();
  });

  it('shows a pending alert from /v1/status', async () => {
    await expectText(byTestId(page, 'alert-slow-web'), /pending: slow-web.*p99 900 above 500/);
  });

  it('tails logs with after=<last id>, and the filter restarts the tail with grep', async () => {
    const shown = page.locator('[data-testid="log-lines"] .log-line');
    await waitUntil('3 log lines', async () => (await shown.count()) === 3);
    expect(await shown.nth(1).locator('.src').textContent()).toBe('web r1');
    expect(await shown.nth(1).locator('.msg').textContent()).toBe('boom 1');
    expect(await shown.nth(1).locator('.time').getAttribute('title')).toBe(lines[1].time);
    expect(await shown.nth(1).locator('.time').textContent()).toMatch(/\d+:\d\d:\d\d/);
    await waitUntil('a poll with after=3', async () =>
      logQueries.some((q) => q.get('after') === '3'),
    );
    expect(logQueries[0].get('limit')).toBe('100');
    expect(logQueries[0].has('after')).toBe(false);
    await page.locator('#log-filter').fill('boom');
    await waitUntil('a poll with grep=boom', async () =>
      logQueries.some((q) => q.get('grep') === 'boom' && !q.has('after')),
    );
    await waitUntil('only the matching line', async () => (await shown.count()) === 1);
    expect(await shown.first().textContent()).toContain('boom 1');
  });

  it('rollback asks first; declined sends nothing, accepted shows the failure from the stream', async () => {
    page.once('dialog', (d) => void d.dismiss());
    await byTestId(page, 'rollback-web').click();
    await new Promise((r) => setTimeout(r, 300));
    expect(posts).toEqual([]);
    page.once('dialog', (d) => void d.accept());
    await byTestId(page, 'rollback-web').click();
    await expectText(byTestId(page, 'outcome-web'), /^rollback failed: r1 containers are gone$/);
    expect(posts).toEqual([{ path: '/v1/services/web/rollback', uiHeader: '1' }]);
    expect(pageErrors).toEqual([]);
  });

  it('on a daemon without an event stream or logs: says so and polls /v1/status', async () => {
    sseBroken = true;
    const other = await page.context().newPage(); // same cookie: already logged in
    await other.goto(`${base}/ui`);
    await other.waitForSelector('[data-testid="conn"][data-mode="polling"]', { timeout: 10_000 });
    const before = statusCalls;
    await waitUntil('two more status polls', async () => statusCalls >= before + 2, 6000);
    await expectText(byTestId(other, 'weight-web-r2'), /^100$/);
    await expectText(byTestId(other, 'log-note'), /log tail is not available/);
    await other.close();
  });
});

async function waitUntil(what: string, ok: () => Promise<boolean>, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeout}ms waiting for ${what}`);
}

async function expectText(
  loc: ReturnType<Page['locator']>,
  re: RegExp,
  timeout = 10_000,
): Promise<void> {
  let last = '';
  await waitUntil(
    `${String(loc)} to match ${re}`,
    async () => {
      if (!(await loc.count())) return false;
      last = ((await loc.first().textContent()) ?? '').trim();
      return re.test(last);
    },
    timeout,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; last text: "${last}"`);
  });
}

/** Waits for a stats event newer than `after` (the page stamps each one on the connection badge). */
async function waitForStats(page: Page, after: number): Promise<number> {
  let at = 0;
  await waitUntil(`a stats event after ${after}`, async () => {
    at = Number(await byTestId(page, 'conn').getAttribute('data-stats-at'));
    return at > after;
  });
  return at;
}

function noReload(page: Page): Promise<boolean> {
  return page.evaluate('window.__noReload === 42') as Promise<boolean>;
}
