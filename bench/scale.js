'use strict';
// Scaling figures: cold start from zero (request to first byte), and how fast
// the autoscaler reacts to a load step (first new replica routed, max reached).
const { startLoadProcess } = require('../scripts/lib/load.js');
const {
  containers,
  makeProject,
  startDaemon,
  stopProject,
  timedGet,
  until,
  quantile,
  ms,
} = require('./lib');

const ROUNDS = Number(process.env.BENCH_COLD_ROUNDS || 5);

async function coldStart() {
  const p =
    await makeProject(`    autoscale: { min: 0, max: 3, idleTimeout: 1s, scaleDownDelay: 500ms }
`);
  let daemon;
  try {
    daemon = await startDaemon(p, { tickMs: 250 });
    const firsts = [];
    for (let i = 0; i < ROUNDS; i++) {
      await until('scale to zero', 20_000, () => containers(p.project, true).length === 0);
      const r = await timedGet(p.port);
      if (r.status !== 200) throw new Error(`cold start answered ${r.status}`);
      firsts.push(r.ttfb);
    }
    await until('scale to zero', 20_000, () => containers(p.project, true).length === 0);
    const burst = await Promise.all(Array.from({ length: 20 }, () => timedGet(p.port)));
    const failed = burst.filter((r) => r.status !== 200).length;
    return [
      [
        `cold start from zero, request to first byte (median of ${ROUNDS})`,
        ms(quantile(firsts, 0.5)),
      ],
      [`cold start from zero, slowest of ${ROUNDS}`, ms(Math.max(...firsts))],
      [
        'cold start, 20 concurrent first requests: slowest / failed',
        `${ms(Math.max(...burst.map((r) => r.ttfb)))} / ${failed}`,
      ],
    ];
  } finally {
    await stopProject(p, daemon);
  }
}

async function scaleUp() {
  const p =
    await makeProject(`    autoscale: { min: 1, max: 4, target: { inflightPerReplica: 2 }, scaleDownDelay: 60s }
`);
  let daemon;
  try {
    daemon = await startDaemon(p);
    const routed = () =>
      daemon.router.targets('web').filter((t) => !t.draining && t.healthy).length;
    const load = startLoadProcess({ port: p.port, clients: 12, path: '/slow?1' });
    await load.ready;
    const t0 = Date.now();
    await until('a second replica', 30_000, () => routed() >= 2);
    const first = Date.now() - t0;
    await until('4 replicas', 30_000, () => routed() >= 4);
    const full = Date.now() - t0;
    const s = await load.stop();
    const decided = daemon.store.listEvents('web').find((e) => e.type === 'scale');
    return [
      [
        'autoscale reaction: load step (12 clients) -> scale decision',
        decided ? ms(decided.at - t0) : 'n/a',
      ],
      ['autoscale reaction: load step -> first new replica taking traffic', ms(first)],
      ['autoscale reaction: load step -> 4 replicas (max) taking traffic', ms(full)],
      ['failed requests while scaling up', `${s.failed} of ${s.ok + s.failed}`],
    ];
  } finally {
    await stopProject(p, daemon);
  }
}

module.exports = {
  name: 'scaling',
  run: async () => [...(await coldStart()), ...(await scaleUp())],
};
