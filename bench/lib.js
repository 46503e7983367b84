'use strict';
// Shared pieces of the benchmarks: a throwaway project, the daemon (from the
// build in dist/) in this process, timed requests, and summary statistics.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { randomBytes } = require('node:crypto');

const ROOT = path.resolve(__dirname, '..');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function docker(...args) {
  const r = spawnSync('docker', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Ids of a project's containers (running only unless all). */
function containers(project, all = false) {
  const out = docker(
    'ps',
    ...(all ? ['-a'] : []),
    '-q',
    '--filter',
    `label=io.shipit.project=${project}`,
  );
  return out ? out.split('\n') : [];
}

/**
 * A project directory with a shipit.yml whose web service gets `serviceYaml` (indented 4);
 * `base` overrides its replicas and health check interval.
 */
async function makeProject(serviceYaml = '', extra = '', base = {}) {
  const project = `bench-${randomBytes(3).toString('hex')}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-bench-'));
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'shipit.yml'),
    `project: ${project}
proxy:
  listen: 127.0.0.1:${port}
services:
  web:
    image: demo-web:v1
    port: 8080
    replicas: ${base.replicas ?? 1}
    healthcheck: { path: /healthz, interval: ${base.interval ?? '500ms'}, timeout: 1s }
    deploy: { strategy: blue-green, deployTimeout: 20s, drainTimeout: 2s }
${serviceYaml}${extra}`,
  );
  return { project, dir, port };
}

/** Starts the daemon of a project in this process and deploys it. */
async function startDaemon(p, opts = {}) {
  const { Daemon } = require(path.join(ROOT, 'dist', 'daemon.js'));
  const { loadConfig } = require(path.join(ROOT, 'dist', 'config', 'load.js'));
  const pino = require('pino');
  const daemon = await Daemon.start(loadConfig({ path: path.join(p.dir, 'shipit.yml') }), {
    log: pino({ level: 'silent' }),
    ...opts,
  });
  await daemon.deployMissing();
  return daemon;
}

async function stopProject(p, daemon) {
  if (daemon) await daemon.shutdown(true).catch(() => {});
  const ids = containers(p.project, true);
  if (ids.length) spawnSync('docker', ['rm', '-f', ...ids]);
  spawnSync('docker', ['network', 'rm', `${p.project}_shipit`]);
  fs.rmSync(p.dir, { recursive: true, force: true });
}

/** GET through the proxy; resolves with the status and the time to the first response byte (ms). */
function timedGet(port, p = '/') {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      const ttfb = performance.now() - t0;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ttfb, ms: performance.now() - t0 }));
    });
    req.on('error', reject);
  });
}

async function until(what, ms, f) {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await sleep(50);
  }
}

function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

const ms = (x) => `${Math.round(x)} ms`;

module.exports = {
  ROOT,
  freePort,
  sleep,
  docker,
  containers,
  makeProject,
  startDaemon,
  stopProject,
  timedGet,
  until,
  quantile,
  ms,
};
