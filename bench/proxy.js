'use strict';
// Proxy figures: the same tiny upstream reached directly, through nginx and
// through the shipit proxy; max throughput with p50/p99 (wrk, closed loop), and
// the p99 at a fixed rate (bench/fixed-rate.js, open loop). The load generator,
// the upstream, nginx and the shipit proxy are separate processes; on 2+ cores
// the load generator runs on CPU 0 and the server under test on CPU 1 (README).
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { ROOT, freePort, sleep } = require('./lib');

/** Seconds of each fixed-rate round (RATE req/s; every server once per round, as for max throughput). */
const SECONDS = Number(process.env.BENCH_PROXY_SECONDS || 2);
const WARMUP_S = Number(process.env.BENCH_PROXY_WARMUP || 1);
/**
 * Max throughput is measured in rounds of ROUND_S seconds, every server once per round, and
 * the ratios are the median of each round's: the machine's speed drifts (another tenant), and
 * a server measured minutes after another may meet a different machine.
 */
const ROUNDS = Number(process.env.BENCH_PROXY_ROUNDS || 5);
const ROUND_S = Number(process.env.BENCH_PROXY_ROUND_SECONDS || 2);
/** Rounds of the fixed-rate runs (SECONDS each), every server once per round. */
const FIXED_ROUNDS = Number(process.env.BENCH_PROXY_FIXED_ROUNDS || 3);
const CONNECTIONS = Number(process.env.BENCH_PROXY_CONNECTIONS || 50);
const RATE = Number(process.env.BENCH_PROXY_RATE || 2000);
/** Directory for `node --cpu-prof` of the shipit proxy (access-log variant); unset: no profile. */
const CPU_PROF = process.env.BENCH_PROXY_CPU_PROF || '';
/** Extra node flags for the shipit proxy processes (e.g. `--max-semi-space-size=32`). */
const NODE_FLAGS = (process.env.BENCH_PROXY_NODE_FLAGS || '').split(/\s+/).filter(Boolean);
const PIN = os.cpus().length >= 2 && process.env.BENCH_PIN !== '0';
const EXPERIMENT = process.env.BENCH_PROXY_EXPERIMENT === '1';
const LOAD_CPU = '0';
const SUT_CPU = '1';
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** Every child still running, so that a failure or an exit never leaves one behind. */
const live = new Set();
function killAll() {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAll);

function pinned(cpu, cmd, args) {
  return PIN ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args];
}

function setAffinity(pid, cpu) {
  if (PIN) spawnSync('taskset', ['-a', '-p', '-c', cpu, String(pid)], { stdio: 'ignore' });
}

function nginxBin() {
  for (const p of ['/usr/sbin/nginx', '/usr/local/sbin/nginx']) if (fs.existsSync(p)) return p;
  return 'nginx';
}

/** Spawns a child; resolves with it once it exits (rejects on a spawn error). */
function track(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  child.exited = new Promise((resolve, reject) => {
    child.once('error', (e) => {
      live.delete(child);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal, stderr });
    });
  });
  child.exited.catch(() => {});
  child.stderrText = () => stderr;
  return child;
}

async function stop(child, signal = 'SIGTERM', ms = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const t = sleep(ms).then(() => 'timeout');
  if ((await Promise.race([child.exited.catch(() => null), t])) === 'timeout') {
    child.kill('SIGKILL');
    await child.exited.catch(() => null);
  }
}

/** A node child that prints {"port": N} on its first stdout line. */
async function startNodeChild(cpu, script, args, nodeFlags = []) {
  const [cmd, argv] = pinned(cpu, process.execPath, [...nodeFlags, script, ...args]);
  const child = track(cmd, argv);
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start`)), 10_000);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      resolve(JSON.parse(out.slice(0, nl)).port);
    });
    child.exited.then(({ code, stderr }) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(script)} exited (${code}): ${stderr}`));
    }, reject);
  });
  return { child, port, pids: () => [child.pid, ...childrenOf(child.pid)] };
}

/** The child processes of pid (cluster workers, nginx's worker). */
function childrenOf(pid) {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // gone
  }
}

function nginxConf(dir, port, upstreamPort) {
  const root = process.getuid?.() === 0;
  return `${root ? 'user www-data;\n' : ''}worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

function get(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () =>
      // write, not end: nginx takes a half-closed client for one that left (499)
      s.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
    );
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('close', () => resolve(out.slice(9, 12)));
    s.on('error', () => resolve(''));
  });
}

async function startNginx(tmp, upstreamPort) {
  const dir = fs.mkdtempSync(path.join(tmp, 'nginx-'));
  fs.chmodSync(dir, 0o755); // the worker (www-data) creates its temp paths here
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(dir, port, upstreamPort));
  const [cmd, argv] = pinned(SUT_CPU, nginxBin(), [
    '-p',
    dir,
    '-e',
    path.join(dir, 'error.log'),
    '-c',
    path.join(dir, 'nginx.conf'),
  ]);
  const child = track(cmd, argv);
  const deadline = Date.now() + 10_000;
  while ((await get(port)) !== '200') {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop(child);
      let log = '';
      try {
        log = fs.readFileSync(path.join(dir, 'error.log'), 'utf8');
      } catch {
        // no log written
      }
      throw new Error(`nginx did not start: ${child.stderrText()} ${log}`);
    }
    await sleep(50);
  }
  // master and worker(s): the CPU figure counts them all
  const pids = () => [child.pid, ...childrenOf(child.pid)];
  // SIGQUIT would wait for wrk's keep-alive connections; SIGTERM is nginx's fast shutdown.
  return { child, port, pids };
}

function cpuTicks(pids) {
  let sum = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
    } catch {
      // exited
    }
  }
  return sum;
}

function parseDuration(s) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
}

/** wrk, closed loop, for `seconds`; resolves with req/s, latency quantiles (ms), errors. */
async function wrk(port, seconds, cpuOf = []) {
  const [cmd, argv] = pinned(LOAD_CPU, 'wrk', [
    '-t1',
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    '--latency',
    `http://127.0.0.1:${port}/`,
  ]);
  const child = track(cmd, argv);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const before = cpuOf.map((pids) => cpuTicks(pids()));
  const t0 = Date.now();
  const wrkPid = child.pid;
  let wrkTicks = 0;
  // wrk's own CPU, sampled just before it exits (its /proc entry goes with it)
  const sampler = setInterval(() => (wrkTicks = cpuTicks([wrkPid]) || wrkTicks), 200);
  const { code, stderr } = await child.exited.finally(() => clearInterval(sampler));
  const wall = (Date.now() - t0) / 1000;
  const after = cpuOf.map((pids) => cpuTicks(pids()));
  if (code !== 0) throw new Error(`wrk exited ${code}: ${stderr}`);
  const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(out)?.[1]);
  const lat = (p) => parseDuration(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s*(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
  if (!rps) throw new Error(`wrk printed no figure:\n${out}\n${stderr}`);
  const share = (t) => t / CLK_TCK / wall; // of one core
  return {
    rps,
    p50: lat(50),
    p99: lat(99),
    errors,
    cpu: [...after.map((a, i) => share(a - before[i])), share(wrkTicks)],
  };
}

/** p50/p99 of the rounds: the median of each (failed, unanswered: the sum). */
function medianFixed(runs) {
  return {
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    failed: runs.reduce((sum, r) => sum + r.failed, 0),
    unanswered: runs.reduce((sum, r) => sum + r.unanswered, 0),
  };
}

async function fixedRate(port) {
  const [cmd, argv] = pinned(LOAD_CPU, process.execPath, [
    path.join(__dirname, 'fixed-rate.js'),
    String(port),
    String(RATE),
    String(SECONDS),
    String(CONNECTIONS),
  ]);
  const child = track(cmd, argv);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const { code, stderr } = await child.exited;
  if (code !== 0) throw new Error(`fixed-rate exited ${code}: ${stderr}`);
  return JSON.parse(out);
}

function ensureTools() {
  const r = spawnSync('bash', [path.join(__dirname, 'nginx-bootstrap.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) throw new Error('bench/nginx-bootstrap.sh failed');
  if (!fs.existsSync(path.join(ROOT, 'dist', 'proxy', 'server.js')))
    throw new Error('no dist/: run `npm run build` first');
}

const f0 = (x) => Math.round(x).toLocaleString('en-US');
const f2 = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** One figure per field of a server's wrk rounds: the median (errors: the sum). */
function medianRun(runs) {
  return {
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    cpu: runs[0].cpu.map((_, i) => median(runs.map((r) => r.cpu[i]))),
  };
}
/** a / b in each round (the two measured back to back, runs by round), and their median. */
function pairedRatio(a, b, f) {
  const each = a.map((r, i) => f(r) / f(b[i]));
  return { median: median(each), each };
}
const pairedText = (p) =>
  `${p.median.toFixed(2)}× (rounds: ${p.each.map((x) => `${x.toFixed(2)}×`).join(', ')})`;

async function run() {
  ensureTools();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-bench-proxy-'));
  const servers = [];
  let upstream;
  const results = {};
  try {
    upstream = await startNodeChild(SUT_CPU, path.join(__dirname, 'upstream.js'), []);
    const shipit =
      (accessLog, prof, env = {}) =>
      () => {
        const saved = { ...process.env };
        Object.assign(process.env, env); // the child inherits it
        try {
          return startNodeChild(
            SUT_CPU,
            path.join(__dirname, 'shipit-proxy.js'),
            [String(upstream.port), ...(accessLog ? [path.join(tmp, 'access.log')] : [])],
            [
              ...NODE_FLAGS,
              ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(prof)}`] : []),
            ],
          );
        } finally {
          for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
        }
      };
    const targets = [
      // direct: the upstream is the server under test (CPU 1)
      { key: 'direct', start: async () => ({ port: upstream.port, pids: () => [] }) },
      // proxied: the proxy gets CPU 1; the upstream shares CPU 0 with the load generator
      { key: 'nginx', start: () => startNginx(tmp, upstream.port) },
      // the default data path (raw), with and without the access log
      { key: 'shipit', start: shipit(true, CPU_PROF) },
      { key: 'shipitNoLog', start: shipit(false) },
      // the other data paths (ProxyOptions.dataPath, SHIPIT_PROXY_DATAPATH)
      { key: 'shipitHttp', start: shipit(true, '', { BENCH_PROXY_DATAPATH: 'http' }) },
      { key: 'shipitUndici', start: shipit(true, '', { BENCH_PROXY_DATAPATH: 'undici' }) },
    ];
    // BENCH_PROXY_EXPERIMENT=1: also bench/experiments/raw-proxy.js (not shipit; README)
    if (EXPERIMENT)
      targets.push({
        key: 'raw',
        start: () =>
          startNodeChild(SUT_CPU, path.join(__dirname, 'experiments', 'raw-proxy.js'), [
            String(upstream.port),
          ]),
      });
    const started = [];
    for (const t of targets) {
      const server = await t.start();
      if (server.child) servers.push(server.child);
      started.push({ key: t.key, server });
    }
    // the upstream shares CPU 0 with the load generator, unless it is the server under test
    const measure = (key, f) => {
      setAffinity(upstream.child.pid, key === 'direct' ? SUT_CPU : LOAD_CPU);
      return f();
    };
    for (const { key, server } of started) await measure(key, () => wrk(server.port, WARMUP_S));
    // count rounds of run(server), every server once per round: each server's runs, by key
    const inRounds = async (count, what, run) => {
      const runs = {};
      for (let r = 1; r <= count; r++) {
        process.stderr.write(`bench: proxy: ${what}, round ${r} of ${count}\n`);
        for (const { key, server } of started)
          (runs[key] ??= []).push(await measure(key, () => run(server)));
      }
      return runs;
    };
    const rounds = await inRounds(ROUNDS, 'max throughput', (server) =>
      wrk(server.port, ROUND_S, [server.pids, upstream.pids]),
    );
    const fixedRounds = await inRounds(FIXED_ROUNDS, 'fixed rate', (server) =>
      fixedRate(server.port),
    );
    for (const { key, server } of started) {
      results[key] = {
        max: medianRun(rounds[key]),
        rounds: rounds[key],
        fixed: medianFixed(fixedRounds[key]),
        fixedRounds: fixedRounds[key],
      };
      await stop(server.child);
    }
  } finally {
    for (const c of servers) await stop(c, 'SIGKILL');
    await stop(upstream?.child);
    killAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const { direct: d, nginx: n, shipit: s } = results;
  // the shipit variants after the default one, with their names in the table
  const others = [
    ['shipitNoLog', 'shipit without access log'],
    ['shipitHttp', 'shipit (http data path)'],
    ['shipitUndici', 'shipit (undici data path)'],
  ].map(([key, name]) => ({ r: results[key], name }));
  const all = [d, n, s, ...others.map((o) => o.r)];
  const each = (f) => all.map(f).join(' / ');
  const order = ['direct', 'nginx', 'shipit', ...others.map((o) => o.name)].join(' / ');
  const errors = all.reduce(
    (sum, r) => sum + r.max.errors + r.fixed.failed + r.fixed.unanswered,
    0,
  );
  const cpu = (r) => r.max.cpu.map((c) => `${Math.round(100 * c)}%`).join(' / ');
  // Requests per CPU-second of the proxy process(es): the proxy's cost whatever
  // the bottleneck was (the machine's other core, another tenant...).
  const perCpuRound = (x) => x.rps / x.cpu[0];
  const perCpu = (r) => median(r.rounds.map(perCpuRound));
  const vsNginx = (r, f) => pairedText(pairedRatio(r.rounds, n.rounds, f));
  const rps = (x) => x.rps;
  const fixedVsNginx = (r) => pairedText(pairedRatio(r.fixedRounds, n.fixedRounds, (x) => x.p99));
  const pin = PIN ? `wrk on CPU ${LOAD_CPU}, server under test on CPU ${SUT_CPU}` : 'unpinned';
  const proxied = [n, s, ...others.map((o) => o.r)];
  return [
    [
      `throughput ${order} (wrk -t1 -c${CONNECTIONS}, median of ${ROUNDS} rounds of ${ROUND_S} s, every server once per round, ${pin}; shipit: the default raw data path, access log on)`,
      `${each((r) => f0(r.max.rps))} req/s`,
    ],
    ['p50 at max throughput, same order', `${each((r) => f2(r.max.p50))} ms`],
    ['p99 at max throughput, same order', `${each((r) => f2(r.max.p99))} ms`],
    ['throughput shipit / nginx, median of the rounds (goal ≥ 0.8×)', vsNginx(s, rps)],
    ['throughput shipit / direct', pairedText(pairedRatio(s.rounds, d.rounds, rps))],
    ...others.map((o) => [`throughput ${o.name} / nginx`, vsNginx(o.r, rps)]),
    [
      `p99 at a fixed ${f0(RATE)} req/s, same order (open loop, ${CONNECTIONS} connections, median of ${FIXED_ROUNDS} rounds of ${SECONDS} s)`,
      `${each((r) => f2(r.fixed.p99))} ms`,
    ],
    [`p50 at a fixed ${f0(RATE)} req/s, same order`, `${each((r) => f2(r.fixed.p50))} ms`],
    [
      `p99 at ${f0(RATE)} req/s shipit / nginx, median of the rounds (goal ≤ 1.5×)`,
      fixedVsNginx(s),
    ],
    ...others
      .slice(1)
      .map((o) => [`p99 at ${f0(RATE)} req/s ${o.name} / nginx`, fixedVsNginx(o.r)]),
    ['CPU at max throughput, nginx: proxy / upstream / wrk', cpu(n)],
    ['CPU at max throughput, shipit: proxy / upstream / wrk', cpu(s)],
    [
      `requests per proxy CPU-second at max throughput, nginx / shipit / ${others.map((o) => o.name).join(' / ')}`,
      proxied.map((r) => f0(perCpu(r))).join(' / '),
    ],
    ['requests per proxy CPU-second, shipit / nginx', vsNginx(s, perCpuRound)],
    ...others
      .slice(1)
      .map((o) => [`requests per proxy CPU-second, ${o.name} / nginx`, vsNginx(o.r, perCpuRound)]),
    ['failed requests, all proxy runs', String(errors)],
    ...(results.raw ? experimentRows(results.raw, n, perCpu) : []),
  ];
}

function experimentRows(x, n, perCpu) {
  const failed = x.max.errors + x.fixed.failed + x.fixed.unanswered;
  return [
    [
      'experiment raw-proxy (not shipit): req/s, p99, p99 at the fixed rate, failed',
      `${f0(x.max.rps)} req/s, ${f2(x.max.p99)} ms, ${f2(x.fixed.p99)} ms, ${failed}`,
    ],
    ['experiment raw-proxy / nginx: throughput', ratio(x.max.rps, n.max.rps)],
    ['experiment raw-proxy / nginx: requests per proxy CPU-second', ratio(perCpu(x), perCpu(n))],
  ];
}

module.exports = { name: 'proxy', run };
