#!/usr/bin/env node
'use strict';
// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): the functions with the
// most self time, and the self time by origin (native, node core, each package,
// each file of this project),
// as shares of the time the process was busy (not idle).
//   node bench/cpuprofile-top.js FILE.cpuprofile [N]
const fs = require('node:fs');
const path = require('node:path');

const [file, n = '10'] = process.argv.slice(2);
if (!file) {
  console.error('usage: cpuprofile-top.js FILE.cpuprofile [N]');
  process.exit(2);
}
const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((node) => [node.id, node]));
// Self time per node: the sampling intervals attributed to it.
const self = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i + 1] ?? 0;
  self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + dt);
}
const all = [...self.values()].reduce((a, b) => a + b, 0);
// Shares are of the busy time: "(idle)" is the event loop waiting.
let idle = 0;
for (const [id, us] of self) if (byId.get(id).callFrame.functionName === '(idle)') idle += us;
const total = all - idle;
const fns = new Map();
const groups = new Map();
/** native, node core, a package of node_modules, or a file of this project. */
const group = (url) => {
  if (!url) return '(native: syscalls, GC, V8)';
  if (url.startsWith('node:')) return 'node core (JS)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = u.slice(nm + 'node_modules/'.length).split('/');
    return `package ${parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  const root = path.resolve(__dirname, '..') + '/';
  return u.startsWith(root) ? `shipit ${u.slice(root.length)}` : u;
};
const short = (url) => {
  if (!url) return '(native)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  const root = path.resolve(__dirname, '..') + '/';
  return u.startsWith(root) ? u.slice(root.length) : u;
};
for (const [id, us] of self) {
  const cf = byId.get(id).callFrame;
  if (cf.functionName === '(idle)') continue;
  const where = short(cf.url);
  const key = `${cf.functionName || '(anonymous)'}  ${where}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
  const g = group(cf.url);
  groups.set(g, (groups.get(g) ?? 0) + us);
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k);
console.log(
  `${(all / 1e6).toFixed(1)} s sampled in ${file}, ${((100 * idle) / all).toFixed(1)}% idle; shares below are of the busy ${(total / 1e6).toFixed(1)} s\n\ntop ${n} self time:`,
);
for (const [k, us] of top(fns, Number(n))) console.log(`${pct(us)}  ${k}`);
console.log('\nself time by origin:');
for (const [k, us] of top(groups, 12)) console.log(`${pct(us)}  ${k}`);
