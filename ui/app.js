// shipit dashboard: plain browser JavaScript, no build step. Data comes from the
// control API (cookie session after login); live numbers from GET /v1/events (SSE).
'use strict';

(function () {
  const UI_HEADER = { 'X-Shipit-UI': '1' };
  const LOG_POLL_MS = 2000;
  const STATUS_POLL_MS = 2000;
  const MAX_LOG_LINES = 500;

  const state = {
    status: null, // last GET /v1/status body
    statusAt: 0, // when it arrived (the fresher of it and the stream wins)
    live: new Map(), // "service/release" -> stats row from the SSE stream
    alerts: new Map(), // name -> alert
    history: new Map(), // service -> releases[]
    lastEvent: new Map(), // service -> DeployEvent
    cards: new Map(), // service -> card elements
    busy: new Set(), // services with an action running from this page
  };
  let events = null;
  let pollTimer = null;
  let sseRetryTimer = null;
  let refreshTimer = null;
  const refreshPending = new Set();
  let logTimer = null;
  let logAfter = null;
  let logGen = 0;
  let started = false;

  const $ = (id) => document.getElementById(id);

  /** Builds an element; attrs are attributes (never `style`), children are nodes or text. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) el.append(c instanceof Node ? c : String(c));
    return el;
  }

  function setText(el, text) {
    const t = String(text);
    if (el.textContent !== t) el.textContent = t;
  }

  class HttpError extends Error {
    constructor(status, body) {
      super((body && body.error) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, opts = {}) {
    const res = await fetch(path, { credentials: 'same-origin', ...opts });
    if (res.status === 401) {
      if (started) showLogin('Your session has ended: log in again.');
      throw new HttpError(401, { error: 'not logged in' });
    }
    const text = await res.text();
    let body;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = { error: text.slice(0, 200) };
    }
    if (!res.ok) throw new HttpError(res.status, body);
    return body;
  }

  // ---- login ----

  function showLogin(message) {
    stop();
    $('dash').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    const err = $('login-error');
    err.hidden = !message;
    err.textContent = message || '';
    $('token').focus();
  }

  async function login(ev) {
    ev.preventDefault();
    const err = $('login-error');
    err.hidden = true;
    $('login-button').disabled = true;
    try {
      const res = await fetch('/ui/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', ...UI_HEADER },
        body: JSON.stringify({ token: $('token').value }),
      });
      if (res.status === 401) {
        err.textContent = 'Wrong token. Copy it from .shipit/token and try again.';
        err.hidden = false;
        return;
      }
      if (!res.ok) {
        // e.g. 429 after too many wrong tokens: the server says how long to wait
        const body = await res.json().catch(() => null);
        throw new Error((body && body.error) || `login failed: HTTP ${res.status}`);
      }
      $('token').value = '';
      await start();
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    } finally {
      $('login-button').disabled = false;
    }
  }

  async function logout() {
    await fetch('/ui/logout', { method: 'POST', credentials: 'same-origin', headers: UI_HEADER });
    showLogin('Logged out.');
  }

  async function start() {
    await loadStatus();
    $('login').hidden = true;
    $('dash').hidden = false;
    $('logout').hidden = false;
    if (started) return;
    started = true;
    connectEvents();
    restartLogs();
  }

  function stop() {
    started = false;
    if (events) events.close();
    events = null;
    clearInterval(pollTimer);
    clearTimeout(sseRetryTimer);
    clearTimeout(logTimer);
    pollTimer = sseRetryTimer = logTimer = null;
    logGen++;
    setConn('off', 'offline');
  }

  // ---- data ----

  async function loadStatus() {
    const s = await api('/v1/status');
    state.status = s;
    state.statusAt = Date.now();
    if (Array.isArray(s.alerts)) {
      state.alerts = new Map(s.alerts.map((a) => [a.name, a]));
    }
    setText($('project'), `${s.project}${s.ready ? '' : ' (starting)'}`);
    render();
    for (const svc of s.services) if (!state.history.has(svc.name)) loadHistory(svc.name);
  }

  async function loadHistory(service) {
    try {
      const r = await api(`/v1/releases?service=${encodeURIComponent(service)}&limit=20`);
      state.history.set(service, r.releases || []);
      renderHistory(service);
    } catch (e) {
      if (e.status !== 401) console.warn('history', e);
    }
  }

  /** Coalesces bursts of deploy events into one status + history reload. */
  function scheduleRefresh(service) {
    refreshPending.add(service || '*');
    if (refreshTimer) return;
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      const pending = [...refreshPending];
      refreshPending.clear();
      try {
        await loadStatus();
        const names = pending.includes('*') ? [...state.cards.keys()] : pending;
        names.forEach(loadHistory);
      } catch (e) {
        if (e.status !== 401) console.warn('status', e);
      }
    }, 250);
  }

  function setConn(mode, text) {
    const c = $('conn');
    c.dataset.mode = mode;
    setText(c, text);
  }

  function connectEvents() {
    if (!started) return;
    const es = new EventSource('/v1/events');
    events = es;
    es.addEventListener('open', () => {
      setConn('live', 'live');
      clearInterval(pollTimer);
      pollTimer = null;
      scheduleRefresh();
    });
    es.addEventListener('stats', (m) => applyStats(JSON.parse(m.data)));
    es.addEventListener('deploy', (m) => {
      const e = JSON.parse(m.data);
      state.lastEvent.set(e.service, e);
      renderLastEvent(e.service);
      scheduleRefresh(e.service);
    });
    es.addEventListener('alert', (m) => {
      const a = JSON.parse(m.data);
      state.alerts.set(a.name, { ...state.alerts.get(a.name), ...a });
      renderAlerts();
    });
    es.addEventListener('error', () => {
      if (es.readyState !== EventSource.CLOSED) {
        setConn('reconnecting', 'reconnecting…');
        return;
      }
      // No stream here (older daemon, or the session ended): poll, and try the stream again later.
      events = null;
      setConn('polling', 'polling (no live stream)');
      if (!pollTimer) pollTimer = setInterval(() => loadStatus().catch(() => {}), STATUS_POLL_MS);
      sseRetryTimer = setTimeout(connectEvents, 15000);
    });
  }

  function applyStats(data) {
    $('conn').dataset.statsAt = String(data.at);
    $('conn').title = `last numbers at ${fmtTime(data.at)}`;
    let stale = false;
    const now = Date.now();
    for (const svc of data.services || []) {
      const known = state.status && state.status.services.find((s) => s.name === svc.name);
      for (const key of [...state.live.keys()])
        if (key.startsWith(`${svc.name}/`)) state.live.delete(key);
      for (const r of svc.releases || []) {
        state.live.set(`${svc.name}/${r.number}`, { ...r, receivedAt: now });
        const rel = known && known.releases.find((x) => x.number === r.number);
        if (!rel && r.weight > 0) stale = true;
        if (rel && rel.weight !== r.weight) {
          rel.weight = r.weight;
          stale = true; // weights moved: the rollout state in /v1/status moved too
        }
      }
    }
    render();
    if (stale) scheduleRefresh();
  }

  // ---- rendering ----

  function render() {
    const s = state.status;
    if (!s) return;
    const box = $('services');
    const names = s.services.map((x) => x.name);
    for (const [name, card] of state.cards) {
      if (!names.includes(name)) {
        card.root.remove();
        state.cards.delete(name);
      }
    }
    for (const svc of s.services) {
      let card = state.cards.get(svc.name);
      if (!card) {
        card = makeCard(svc.name);
        state.cards.set(svc.name, card);
        box.append(card.root);
      }
      renderService(card, svc);
    }
    renderAlerts();
    renderLogServices(names);
  }

  function makeCard(name) {
    const btn = (action, label, cls) =>
      h(
        'button',
        { type: 'button', class: cls, 'data-action': action, 'data-testid': `${action}-${name}` },
        label,
      );
    const actions = h(
      'div',
      { class: 'actions' },
      btn('promote', 'Promote', 'primary'),
      btn('abort', 'Abort', 'danger'),
      btn('rollback', 'Roll back', ''),
    );
    actions.addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-action]');
      if (b) runAction(name, b.dataset.action);
    });
    const rows = h('tbody');
    const historyRows = h('tbody');
    const card = {
      root: h(
        'section',
        { class: 'card service', 'data-service': name, 'data-testid': `service-${name}` },
        h(
          'div',
          { class: 'card-head' },
          h('h2', {}, name),
          h('span', { class: 'hosts' }),
          h('span', { class: 'rollout' }),
          actions,
        ),
        h('p', { class: 'outcome', 'data-testid': `outcome-${name}`, hidden: true }),
        h(
          'table',
          { class: 'releases' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['release', 'status', 'image', 'traffic', 'health', 'req/s', 'errors', 'p99'].map(
                (t) => h('th', {}, t),
              ),
            ),
          ),
          rows,
        ),
        h('p', { class: 'last-event' }),
        h(
          'details',
          { class: 'history', open: true },
          h('summary', {}, 'Deploy history'),
          h(
            'table',
            {},
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ...['release', 'image', 'strategy', 'result', 'started', 'duration', 'reason'].map(
                  (t) => h('th', {}, t),
                ),
              ),
            ),
            historyRows,
          ),
        ),
      ),
      rows,
      historyRows,
      releaseRows: new Map(),
    };
    card.hosts = card.root.querySelector('.hosts');
    card.rollout = card.root.querySelector('.rollout');
    card.outcome = card.root.querySelector('.outcome');
    card.lastEvent = card.root.querySelector('.last-event');
    card.buttons = actions;
    return card;
  }

  function renderService(card, svc) {
    setText(card.hosts, `hosts ${(svc.hosts || []).join(', ') || '—'}`);
    const ro = svc.rollout;
    setText(
      card.rollout,
      ro
        ? `rollout of r${ro.release}${ro.paused ? ` paused: ${ro.paused}` : ' in progress'}`
        : svc.busy
          ? `${svc.busy} in progress`
          : '',
    );
    card.rollout.classList.toggle('paused', !!(ro && ro.paused));
    const mine = state.busy.has(svc.name);
    const hasPrevious = svc.releases.some((r) => r.status === 'previous');
    card.buttons.querySelector('[data-action=promote]').disabled = mine || !ro;
    card.buttons.querySelector('[data-action=abort]').disabled = mine || !ro;
    card.buttons.querySelector('[data-action=rollback]').disabled = mine || !!ro || !hasPrevious;

    // Rows: releases the daemon reports, plus any the stream shows carrying traffic.
    const byNumber = new Map(svc.releases.map((r) => [r.number, { ...r }]));
    for (const [key, st] of state.live) {
      const [s, n] = key.split('/');
      if (s === svc.name && st.weight > 0 && !byNumber.has(Number(n)))
        byNumber.set(Number(n), {
          number: Number(n),
          status: 'live',
          image: '',
          weight: st.weight,
        });
    }
    const wanted = [...byNumber.values()].sort((a, b) => b.number - a.number);
    for (const [n, row] of card.releaseRows) {
      if (!byNumber.has(n)) {
        row.tr.remove();
        card.releaseRows.delete(n);
      }
    }
    wanted.forEach((rel, i) => {
      let row = card.releaseRows.get(rel.number);
      if (!row) {
        row = makeReleaseRow(svc.name, rel.number);
        card.releaseRows.set(rel.number, row);
      }
      if (card.rows.children[i] !== row.tr)
        card.rows.insertBefore(row.tr, card.rows.children[i] || null);
      updateReleaseRow(row, svc, rel);
    });
  }

  function makeReleaseRow(service, number) {
    const cells = {};
    const td = (k, ...c) => (cells[k] = h('td', { class: k }, ...c));
    const fill = h('div', { class: 'fill' });
    const pct = h('span', { class: 'pct', 'data-testid': `weight-${service}-r${number}` });
    const tr = h(
      'tr',
      { 'data-release': number },
      td('num', `r${number}`),
      td('status'),
      td('image'),
      td('traffic', h('div', { class: 'weight' }, h('div', { class: 'bar' }, fill), pct)),
      td('health', h('span', { 'data-testid': `health-${service}-r${number}` })),
      td('rps', h('span', { 'data-testid': `rps-${service}-r${number}` })),
      td('err', h('span', { 'data-testid': `errors-${service}-r${number}` })),
      td('p99', h('span', { 'data-testid': `p99-${service}-r${number}` })),
    );
    return { tr, cells, fill, pct };
  }

  function updateReleaseRow(row, svc, rel) {
    const st = state.live.get(`${svc.name}/${rel.number}`);
    const weight = st && st.receivedAt >= state.statusAt ? st.weight : rel.weight;
    setText(row.cells.status, rel.status);
    row.tr.dataset.status = rel.status;
    setText(row.cells.image, rel.image || '—');
    setText(row.pct, Math.round(weight * 10) / 10);
    row.fill.style.width = `${Math.max(0, Math.min(100, weight))}%`;
    let healthy;
    let total;
    if (st && typeof st.total === 'number') {
      healthy = st.healthy;
      total = st.total;
    } else {
      const ts = (svc.targets || []).filter((t) => t.release === rel.number && !t.draining);
      healthy = ts.filter((t) => t.healthy).length;
      total = ts.length;
    }
    const health = row.cells.health.firstChild;
    setText(health, total ? `${healthy}/${total}` : '—');
    health.className = !total ? '' : healthy === total ? 'ok' : healthy ? 'warn' : 'bad';
    setText(row.cells.rps.firstChild, st ? fmtNum(st.rps) : '—');
    setText(row.cells.err.firstChild, st ? `${fmtNum((st.errorRate || 0) * 100)}%` : '—');
    row.cells.err.firstChild.className = st && st.errorRate > 0.05 ? 'bad' : '';
    setText(row.cells.p99.firstChild, st && st.p99Ms != null ? fmtMs(st.p99Ms) : '—');
  }

  function renderLastEvent(service) {
    const card = state.cards.get(service);
    const e = state.lastEvent.get(service);
    if (!card || !e) return;
    setText(card.lastEvent, `${fmtTime(e.at)}  ${e.release ? `r${e.release} ` : ''}${e.message}`);
  }

  function renderHistory(service) {
    const card = state.cards.get(service);
    if (!card) return;
    const rows = (state.history.get(service) || []).map((r) =>
      h(
        'tr',
        { 'data-result': r.result || r.status },
        h('td', {}, `r${r.number}`),
        h('td', {}, r.image),
        h('td', {}, r.strategy),
        h('td', { class: `result ${r.result || ''}` }, r.result || r.status),
        h('td', {}, fmtTime(r.startedAt)),
        h('td', {}, r.finishedAt ? fmtMs(r.finishedAt - r.startedAt) : '…'),
        h('td', { class: 'reason', title: r.reason || '' }, r.reason || ''),
      ),
    );
    card.historyRows.replaceChildren(...rows);
  }

  function renderAlerts() {
    const box = $('alerts');
    const shown = [...state.alerts.values()]
      .filter((a) => a.state === 'firing' || a.state === 'pending')
      .sort((a, b) =>
        a.state === b.state ? a.name.localeCompare(b.name) : a.state === 'firing' ? -1 : 1,
      );
    if (!shown.length) {
      box.replaceChildren(h('p', { class: 'quiet' }, 'No firing alerts.'));
      return;
    }
    box.replaceChildren(
      ...shown.map((a) =>
        h(
          'div',
          { class: `alert ${a.state}`, 'data-testid': `alert-${a.name}` },
          h('strong', {}, `${a.state === 'firing' ? 'FIRING' : 'pending'}: ${a.name}`),
          ` ${a.service ? `${a.service} · ` : ''}${a.metric ? `${a.metric} ` : ''}${fmtNum(a.value)} ${a.op || 'above'} ${fmtNum(a.threshold)}`,
          a.since ? ` since ${fmtTime(a.since)}` : '',
        ),
      ),
    );
  }

  // ---- actions ----

  async function runAction(service, action) {
    const card = state.cards.get(service);
    if (!card) return;
    if (
      (action === 'rollback' || action === 'abort') &&
      !confirm(
        action === 'abort'
          ? `Abort the rollout of ${service}? All traffic goes back to the stable release.`
          : `Roll ${service} back to the previous release?`,
      )
    )
      return;
    state.busy.add(service);
    render();
    const out = card.outcome;
    out.hidden = false;
    out.className = 'outcome running';
    setText(out, `${action}…`);
    try {
      const res = await fetch(`/v1/services/${encodeURIComponent(service)}/${action}`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', ...UI_HEADER },
        body: '{}',
      });
      if (res.status === 401) return showLogin('Your session has ended: log in again.');
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new Error(body.error || `HTTP ${res.status}`);
      }
      let last = null;
      let final = null;
      await readLines(res, (line) => {
        const e = JSON.parse(line);
        if (e.type === 'result' || e.type === 'error') final = e;
        else {
          last = e;
          setText(out, `${action}: ${e.message}`);
        }
      });
      if (!final) throw new Error('the stream ended without a result');
      if (final.type === 'error') throw new Error(final.error || final.message || 'failed');
      const r = final.result || {};
      out.className = 'outcome ok';
      setText(
        out,
        `${action} done${r.release ? ` (r${r.release}` : ''}${r.durationMs != null ? `, ${fmtMs(r.durationMs)}` : ''}${r.release ? ')' : ''}${last ? `: ${last.message}` : ''}`,
      );
    } catch (e) {
      out.className = 'outcome failed';
      setText(out, `${action} failed: ${e.message}`);
    } finally {
      state.busy.delete(service);
      scheduleRefresh(service);
    }
  }

  async function readLines(res, onLine) {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read();
      buf += done ? dec.decode() : dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) onLine(line);
      }
      if (done) break;
    }
    if (buf.trim()) onLine(buf.trim());
  }

  // ---- logs ----

  function renderLogServices(names) {
    const sel = $('log-service');
    const want = ['', ...names];
    const have = [...sel.options].map((o) => o.value);
    if (want.join('\n') === have.join('\n')) return;
    const cur = sel.value;
    sel.replaceChildren(...want.map((n) => h('option', { value: n }, n || 'all services')));
    sel.value = want.includes(cur) ? cur : '';
  }

  function restartLogs() {
    clearTimeout(logTimer);
    logAfter = null;
    const gen = ++logGen;
    $('log-lines').replaceChildren();
    $('log-note').hidden = true;
    pollLogs(gen);
  }

  async function pollLogs(gen) {
    if (gen !== logGen || !started) return;
    const q = new URLSearchParams({ limit: '100' });
    const svc = $('log-service').value;
    const grep = $('log-filter').value.trim();
    if (svc) q.set('service', svc);
    if (grep) q.set('grep', grep);
    if (logAfter !== null) q.set('after', String(logAfter));
    let next = LOG_POLL_MS;
    try {
      const r = await api(`/v1/logs?${q}`);
      if (gen !== logGen) return;
      $('log-note').hidden = true;
      $('log-lines').hidden = false;
      appendLogs(r.lines || []);
    } catch (e) {
      if (gen !== logGen) return;
      const note = $('log-note');
      note.hidden = false;
      if (e.status === 404) {
        $('log-lines').hidden = true;
        note.textContent =
          'The log tail is not available: this daemon has no GET /v1/logs route. Use `shipit logs -f` meanwhile.';
        next = 30000;
      } else if (e.status === 401) {
        return;
      } else {
        note.textContent = `Logs: ${e.message}`;
      }
    }
    logTimer = setTimeout(() => pollLogs(gen), next);
  }

  function appendLogs(lines) {
    if (!lines.length) return;
    const box = $('log-lines');
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    for (const l of lines) {
      logAfter = l.id;
      box.append(
        h(
          'div',
          { class: `log-line ${l.stream || ''} ${l.level || ''}` },
          h(
            'span',
            { class: 'time', title: l.time || '' },
            typeof l.ts === 'number' ? fmtTime(l.ts) : l.time || '',
          ),
          h(
            'span',
            { class: 'src' },
            `${l.service || ''}${l.release != null ? ` r${l.release}` : ''}`,
          ),
          h('span', { class: 'msg' }, l.msg),
        ),
      );
    }
    while (box.childElementCount > MAX_LOG_LINES) box.firstElementChild.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  // ---- formatting ----

  function fmtNum(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '—';
    return Math.abs(n) >= 100 ? String(Math.round(n)) : String(Math.round(n * 100) / 100);
  }

  function fmtMs(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '—';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 120000) return `${Math.round(ms / 100) / 10} s`;
    return `${Math.round(ms / 60000)} min`;
  }

  function fmtTime(ms) {
    if (!ms) return '';
    const d = new Date(ms);
    const today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString() : d.toLocaleString();
  }

  // ---- boot ----

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    $('log-service').addEventListener('change', restartLogs);
    let filterTimer = null;
    $('log-filter').addEventListener('input', () => {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(restartLogs, 400);
    });
    // Already logged in (cookie) -> straight to the dashboard; else the login form.
    start().catch((e) =>
      showLogin(e.status === 401 ? '' : `Cannot reach the daemon: ${e.message}`),
    );
  });
})();
