'use strict';
// Deploy figures: the flip (new release healthy -> every new request goes to
// it), blue/green deploy and rollback times (in the daemon, and as the CLI's
// wall time), failed requests meanwhile, and the daemon's RSS.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startLoadProcess } = require('../scripts/lib/load.js');
const { ROOT, makeProject, startDaemon, stopProject, quantile, ms, sleep } = require('./lib');
const { freePort, containers, until } = require('./lib');

const ROUNDS = Number(process.env.BENCH_DEPLOY_ROUNDS || 5);
const SERVICES = 10;
const CLI = path.join(ROOT, 'bin', 'shipit.js');

/** Runs the CLI to completion (not spawnSync: the daemon answering it runs in this process). */
function cli(dir, ...args) {
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, ...args, '--config', path.join(dir, 'shipit.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  return new Promise((resolve, reject) =>
    child.on('close', (code) =>
      code === 0
        ? resolve(performance.now() - t0)
        : reject(new Error(`shipit ${args.join(' ')}: exit ${code}: ${err}`)),
    ),
  );
}

/**
 * Runs one daemon operation in process and times it. `routed`: its first
 * routing change (the router's setService, wrapped), for a deploy the first
 * after the new release was healthy; `flip`: from healthy to that change.
 */
async function timed(daemon, op, { deploy }) {
  let kind = null;
  let healthyAt = null;
  // Healthy: the last container's health event (the wait-healthy step's end, if none).
  const sink = (e) => {
    if (e.type === 'step') kind = e.data && e.data.kind;
    else if (e.type === 'health' && e.data && e.data.healthy === e.data.total)
      healthyAt = performance.now();
    else if (e.type === 'step-done' && kind === 'wait-healthy' && healthyAt === null)
      healthyAt = performance.now();
  };
  let routed = null;
  const router = daemon.router;
  const setService = router.setService;
  router.setService = function (...args) {
    const r = setService.apply(this, args);
    if (routed === null && (!deploy || healthyAt !== null)) {
      routed = performance.now();
    }
    return r;
  };
  const t0 = performance.now();
  try {
    const outcome = await op(sink);
    return {
      ms: performance.now() - t0,
      toRouted: routed === null ? null : routed - t0,
      flip: routed === null || healthyAt === null ? null : routed - healthyAt,
      release: outcome.release,
    };
  } finally {
    router.setService = setService;
  }
}

async function deploys() {
  const p = await makeProject('', '', { replicas: 2, interval: '250ms' });
  let daemon;
  let load = null;
  try {
    daemon = await startDaemon(p);
    const { loadConfig } = require(path.join(ROOT, 'dist', 'config', 'load.js'));
    const base = loadConfig({ path: path.join(p.dir, 'shipit.yml') }).services.web;
    // First without load: the deploy's own time, Docker's container start included.
    const idle = [];
    for (let i = 0; i < ROUNDS; i++) {
      idle.push(
        await timed(
          daemon,
          (sink) => daemon.deployer.deploy({ ...base, image: 'demo-web:v2' }, {}, sink),
          { deploy: true },
        ),
      );
      await timed(daemon, (sink) => daemon.deployer.rollback('web', undefined, {}, sink), {
        deploy: false,
      });
    }
    load = startLoadProcess({ port: p.port, clients: 20, slowClients: 2, slowPath: '/slow?1' });
    await load.ready;
    await sleep(500);
    const d = [];
    const r = [];
    for (let i = 0; i < ROUNDS; i++) {
      const image = 'demo-web:v2';
      const dep = await timed(
        daemon,
        (sink) => daemon.deployer.deploy({ ...base, image }, {}, sink),
        {
          deploy: true,
        },
      );
      d.push(dep);
      const rb = await timed(
        daemon,
        (sink) => daemon.deployer.rollback('web', undefined, {}, sink),
        { deploy: false },
      );
      r.push(rb);
    }
    // What a user waits for: the CLI's wall time, node start-up and the API included.
    const cliDeploy = [];
    const cliRollback = [];
    for (let i = 0; i < ROUNDS; i++) {
      cliDeploy.push(await cli(p.dir, 'deploy', '--image', 'demo-web:v2'));
      cliRollback.push(await cli(p.dir, 'rollback'));
    }
    const s = await load.stop();
    load = null;
    const medMax = (xs) => `${ms(quantile(xs, 0.5))} / ${ms(Math.max(...xs))}`;
    const flips = d.map((x) => x.flip).filter((x) => x !== null);
    const of = `median / max of ${ROUNDS}`;
    return [
      [
        `flip: new release healthy -> routing gives it all traffic, ${of} (goal < 10 ms)`,
        flips.length
          ? `${quantile(flips, 0.5).toFixed(2)} / ${Math.max(...flips).toFixed(2)} ms`
          : 'n/a',
      ],
      [
        `blue/green deploy of 2 busybox replicas (health interval 250 ms) in the daemon, no load: start -> flip, ${of} (goal ≤ 2 s)`,
        medMax(idle.map((x) => x.toRouted)),
      ],
      [
        `the same deploy under load (below): start -> flip, ${of} (goal ≤ 2 s)`,
        medMax(d.map((x) => x.toRouted)),
      ],
      [
        `the same deploy, done (old release drained: its 1 s slow requests finish), ${of}`,
        medMax(d.map((x) => x.ms)),
      ],
      [
        `rollback with the previous release kept, in the daemon, ${of} (goal < 200 ms)`,
        medMax(r.map((x) => x.ms)),
      ],
      [`\`shipit deploy\` wall time (CLI start-up and API included), ${of}`, medMax(cliDeploy)],
      [`\`shipit rollback\` wall time, ${of}`, medMax(cliRollback)],
      [
        `failed requests during ${ROUNDS * 2} deploys and ${ROUNDS * 2} rollbacks (20 keep-alive clients + 2 slow)`,
        `${s.failed} of ${s.ok + s.failed}`,
      ],
    ];
  } finally {
    if (load) await load.stop().catch(() => {});
    await stopProject(p, daemon);
  }
}

/** Resident set size of a process, bytes (from /proc). */
function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const mib = (b) => `${(b / 1024 / 1024).toFixed(0)} MiB`;

/** The real daemon (`shipit up`, its own process) with 10 services: RSS idle and under load. */
async function memory() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-bench-'));
  const project = `bench-rss-${process.pid}`;
  const port = await freePort();
  const services = Array.from(
    { length: SERVICES },
    (_, i) => `  s${i}:
    image: demo-web:v1
    port: 8080
    hosts: [${i === 0 ? '"*"' : `s${i}.test`}]
    replicas: 1
    healthcheck: { path: /healthz, interval: 1s, timeout: 1s }
`,
  ).join('');
  fs.writeFileSync(
    path.join(dir, 'shipit.yml'),
    `project: ${project}\nproxy:\n  listen: 127.0.0.1:${port}\nservices:\n${services}`,
  );
  const daemon = spawn(process.execPath, [CLI, 'up', '--config', path.join(dir, 'shipit.yml')], {
    stdio: 'ignore',
  });
  let load = null;
  try {
    await until(`${SERVICES} services live`, 120_000, async () => {
      if (daemon.exitCode !== null) throw new Error(`shipit up exited ${daemon.exitCode}`);
      return containers(project).length === SERVICES;
    });
    await until('the default service answers', 30_000, async () => {
      const res = await fetch(`http://127.0.0.1:${port}/`).catch(() => null);
      return res !== null && res.status === 200;
    });
    await sleep(5000); // settle: start-up garbage collected, timers running
    const idle = rssOf(daemon.pid);
    load = startLoadProcess({ port, clients: 50 });
    await load.ready;
    let peak = 0;
    for (let t = 0; t < 40; t++) {
      await sleep(200);
      peak = Math.max(peak, rssOf(daemon.pid));
    }
    const s = await load.stop();
    load = null;
    return [
      [`daemon RSS, idle, ${SERVICES} services of 1 replica`, mib(idle)],
      [
        `daemon RSS under load, peak (50 keep-alive clients for 8 s; ${Math.round(s.ok / 8)} req/s, ${s.failed} failed)`,
        mib(peak),
      ],
    ];
  } finally {
    if (load) await load.stop().catch(() => {});
    spawnSync(process.execPath, [
      CLI,
      'down',
      '--remove',
      '--config',
      path.join(dir, 'shipit.yml'),
    ]);
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
    const left = containers(project, true);
    if (left.length) spawnSync('docker', ['rm', '-f', ...left]);
    spawnSync('docker', ['network', 'rm', `${project}_shipit`]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = {
  name: 'deploy',
  run: async () => [...(await deploys()), ...(await memory())],
};
