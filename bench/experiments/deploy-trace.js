'use strict';
// One blue/green deploy of 2 busybox replicas (health interval 250 ms), idle and under
// load, with every deploy event and the runtime's calls timed: where the time goes.
//   node bench/experiments/deploy-trace.js
const path = require('node:path');
const { startLoadProcess } = require('../../scripts/lib/load.js');
const { ROOT, makeProject, startDaemon, stopProject, sleep } = require('../lib');

async function traced(daemon, base, label) {
  const t0 = performance.now();
  const at = () => `${(performance.now() - t0).toFixed(0).padStart(5)} ms`;
  const lines = [];
  // the runtime's calls, each with its duration
  const rt = daemon.runtime;
  const saved = {};
  for (const k of [
    'create',
    'start',
    'inspect',
    'ensureNetwork',
    'imageExists',
    'list',
    'stop',
    'remove',
  ]) {
    if (typeof rt[k] !== 'function') continue;
    saved[k] = rt[k];
    rt[k] = async function (...args) {
      const s = performance.now();
      try {
        return await saved[k].apply(this, args);
      } finally {
        lines.push(`${at()}  runtime.${k} took ${(performance.now() - s).toFixed(0)} ms`);
      }
    };
  }
  const sink = (e) => {
    const d = e.data ? JSON.stringify(e.data).slice(0, 90) : '';
    lines.push(`${at()}  ${e.type} ${d}`);
  };
  const origSet = daemon.router.setService;
  daemon.router.setService = function (...a) {
    lines.push(`${at()}  router.setService`);
    return origSet.apply(this, a);
  };
  try {
    await daemon.deployer.deploy({ ...base, image: 'demo-web:v2' }, {}, sink);
  } finally {
    Object.assign(rt, saved);
    daemon.router.setService = origSet;
  }
  console.log(`--- ${label}: ${at()}\n${lines.join('\n')}`);
  await daemon.deployer.rollback('web', undefined, {}, () => {});
}

(async () => {
  const p = await makeProject('', '', { replicas: 2, interval: '250ms' });
  let daemon;
  let load;
  try {
    daemon = await startDaemon(p);
    const { loadConfig } = require(path.join(ROOT, 'dist', 'config', 'load.js'));
    const base = loadConfig({ path: path.join(p.dir, 'shipit.yml') }).services.web;
    await traced(daemon, base, 'idle');
    load = startLoadProcess({ port: p.port, clients: 20, slowClients: 2, slowPath: '/slow?1' });
    await load.ready;
    await sleep(500);
    await traced(daemon, base, 'under load');
    await traced(daemon, base, 'under load (2)');
  } finally {
    if (load) await load.stop();
    if (daemon) await stopProject(p, daemon);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
