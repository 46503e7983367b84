#!/usr/bin/env node
'use strict';
// The README's demo: a real blue/green deploy and rollback of the busybox demo
// app under concurrent load, then the request and error counts.
// (npm run demo builds shipit and the images first; see package.json "predemo".)
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startLoadProcess } = require('./lib/load.js');

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'shipit.js');
const PORT = Number(process.env.DEMO_PORT || 8080);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shipit-demo-'));

const config = fs
  .readFileSync(path.join(ROOT, 'examples', 'shipit.yml'), 'utf8')
  .replace(/listen: 127\.0\.0\.1:\d+/, `listen: 127.0.0.1:${PORT}`);
fs.writeFileSync(path.join(dir, 'shipit.yml'), config);

function shipit(...args) {
  return new Promise((resolve) => {
    console.log(`\n$ shipit ${args.join(' ')}`);
    const t0 = Date.now();
    const p = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: 'inherit' });
    p.on('close', (code) => resolve({ code, ms: Date.now() - t0 }));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function summary(label, s) {
  const byVersion = {};
  for (const x of s.samples) byVersion[x.version || '?'] = (byVersion[x.version || '?'] || 0) + 1;
  console.log(
    `\n${label}: ${s.ok + s.failed} requests, ${s.failed} failed; slow (/slow?2): ${s.slowOk} ok, ${s.slowFailed} failed; by version: ${JSON.stringify(byVersion)}`,
  );
  for (const f of s.failures) console.log(`  failure: ${f}`);
}

async function main() {
  console.log(`demo directory: ${dir} (proxy on 127.0.0.1:${PORT})`);
  let failed = false;
  const up = await shipit('up', '--detach');
  if (up.code !== 0) process.exit(up.code);
  try {
    console.log('\nload: 50 keep-alive clients on / and 5 clients on /slow?2, through the proxy');
    let load = startLoadProcess({ port: PORT, clients: 50, slowClients: 5 });
    await load.ready;
    await sleep(2000);
    const dep = await shipit('deploy', '--image', 'demo-web:v2');
    await sleep(2500);
    let s = await load.stop();
    summary('during the v2 deploy', s);
    failed = failed || dep.code !== 0 || s.failed > 0;

    load = startLoadProcess({ port: PORT, clients: 50, slowClients: 5 });
    await load.ready;
    await sleep(2000);
    const rb = await shipit('rollback');
    await sleep(2500);
    s = await load.stop();
    summary(`during the rollback (the command took ${rb.ms}ms)`, s);
    failed = failed || rb.code !== 0 || s.failed > 0;

    await shipit('status');
    await shipit('history');
  } finally {
    await shipit('down', '--remove');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(failed ? '\ndemo FAILED' : '\ndemo OK: zero failed requests');
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
