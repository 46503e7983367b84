#!/usr/bin/env node
'use strict';
// `npm run bench`: runs each benchmark section on this machine, one after the
// other, and prints one table. Every figure comes from this run.
const os = require('node:os');

const SECTIONS = {
  deploy: () => require('./deploy'),
  scaling: () => require('./scale'),
  proxy: () => require('./proxy'),
};

async function main() {
  const wanted = process.argv.slice(2);
  const names = wanted.length ? wanted : Object.keys(SECTIONS);
  const rows = [];
  for (const name of names) {
    if (!SECTIONS[name])
      throw new Error(`no bench section "${name}" (have: ${Object.keys(SECTIONS).join(', ')})`);
    const section = SECTIONS[name]();
    process.stderr.write(`bench: ${section.name}...\n`);
    const t0 = Date.now();
    for (const [what, figure] of await section.run()) rows.push([section.name, what, figure]);
    process.stderr.write(
      `bench: ${section.name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
    );
  }
  const head = ['section', 'what', 'figure'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  console.log(
    `\nshipit bench on ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, ${new Date().toISOString()}\n`,
  );
  console.log(line(head));
  console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const r of rows) console.log(line(r));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench failed: ${e.stack || e.message}`);
    process.exit(1);
  },
);
