#!/usr/bin/env node
// Runs inside the Dockerfile's `deps` stage (plain node, no npm, no shell): turns a copy of the
// build context's node_modules into the production set. Removes every package
// package-lock.json marks "dev", checks that every production package is there (so an image
// never ships without a dependency), and drops native-build leftovers (object files, C
// sources) that only `npm install` needed.
//   node scripts/prune-dev-deps.js [DIR]   (DIR holds package-lock.json and node_modules/)
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dir = path.resolve(process.argv[2] ?? '.');
const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8'));
if (!lock.packages) {
  console.error('prune-dev-deps: package-lock.json has no "packages" (lockfileVersion 2+ needed)');
  process.exit(1);
}

/** Sources a native package no longer needs once its .node file is built. */
const NATIVE_SOURCES = { 'better-sqlite3': ['deps', 'src'] };

const rm = (p) => fs.rmSync(p, { recursive: true, force: true });
let removed = 0;
const missing = [];
for (const [key, meta] of Object.entries(lock.packages)) {
  if (!key.startsWith('node_modules/') || meta.link) continue;
  const at = path.join(dir, key);
  if (meta.dev) {
    if (fs.existsSync(at)) removed++;
    rm(at);
    continue;
  }
  if (!fs.existsSync(path.join(at, 'package.json'))) {
    if (!meta.optional && !meta.devOptional) missing.push(key);
    continue;
  }
  if (fs.existsSync(path.join(at, 'binding.gyp'))) trimNativeBuild(at, key);
}
if (missing.length) {
  console.error(
    `prune-dev-deps: production packages missing from node_modules: ${missing.join(', ')}\n` +
      'run `npm ci` (and `npm run build`) before building the image',
  );
  process.exit(1);
}

/** Keeps build/Release/*.node (what `bindings` loads); drops object files and sources. */
function trimNativeBuild(at, key) {
  const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
  for (const d of NATIVE_SOURCES[name] ?? []) rm(path.join(at, d));
  const build = path.join(at, 'build');
  if (!fs.existsSync(build)) return;
  for (const e of fs.readdirSync(build)) if (e !== 'Release') rm(path.join(build, e));
  const release = path.join(build, 'Release');
  if (!fs.existsSync(release)) return;
  for (const e of fs.readdirSync(release, { withFileTypes: true })) {
    if (!(e.isFile() && e.name.endsWith('.node')) || e.name.startsWith('test_'))
      rm(path.join(release, e.name));
  }
}

console.log(`prune-dev-deps: removed ${removed} dev packages`);
