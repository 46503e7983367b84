#!/usr/bin/env node
'use strict';
// `npm test`: the unit tests on every core, then the e2e tests one file at a time (they
// share one Docker engine and measure timings and failed requests under load), then one
// coverage report of both runs against jest.config.js's thresholds.
//
// One `jest --runInBand` for everything took 93 s for the unit files alone; two workers
// take 50 s. The e2e files stay in band. For a part of the suite, run jest itself
// (`npx jest test/blue-green.test.ts`): jest.config.js holds the same projects.
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');
const libCoverage = require('istanbul-lib-coverage');
const libReport = require('istanbul-lib-report');
const reports = require('istanbul-reports');

const ROOT = path.resolve(__dirname, '..');
const JEST = require.resolve('jest/bin/jest');
const COVERAGE = path.join(ROOT, 'coverage');

function jest(project, workerArgs) {
  const dir = path.join(COVERAGE, project);
  const results = path.join(COVERAGE, `${project}-results.json`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(results, { force: true });
  const args = [
    JEST,
    '--selectProjects',
    project,
    '--coverage',
    '--coverageDirectory',
    dir,
    '--coverageReporters=json',
    // The thresholds apply to both runs together (below), not to each.
    '--coverageThreshold',
    '{}',
    '--json',
    '--outputFile',
    results,
    // One closing line for both runs is printed below, not one per run.
    '--reporters=default',
    ...workerArgs,
  ];
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
  let counts = { passed: 0, failed: 0, skipped: 0 };
  try {
    const j = JSON.parse(fs.readFileSync(results, 'utf8'));
    counts = {
      passed: j.numPassedTests,
      failed: j.numFailedTests,
      skipped: j.numPendingTests + j.numTodoTests,
    };
  } catch {
    /* no results: jest itself failed; its exit code says so */
  }
  console.log(
    `${project} tests: exit ${r.status ?? r.signal}, ${Math.round((Date.now() - t0) / 1000)} s`,
  );
  return { ok: r.status === 0, counts, coverage: path.join(dir, 'coverage-final.json') };
}

function coverage(files) {
  const map = libCoverage.createCoverageMap({});
  for (const f of files) if (fs.existsSync(f)) map.merge(JSON.parse(fs.readFileSync(f, 'utf8')));
  fs.writeFileSync(path.join(COVERAGE, 'coverage-final.json'), JSON.stringify(map));
  const context = libReport.createContext({ dir: COVERAGE, coverageMap: map });
  reports.create('text-summary').execute(context);
  reports.create('lcov').execute(context);
  const total = map.getCoverageSummary();
  const { global: want } = require(path.join(ROOT, 'jest.config.js')).coverageThreshold;
  const misses = Object.entries(want)
    .filter(([k, min]) => total[k].pct < min)
    .map(([k, min]) => `${k} ${total[k].pct}% < ${min}%`);
  for (const m of misses) console.error(`coverage threshold not met: ${m} (jest.config.js)`);
  return misses.length === 0;
}

const unit = jest('unit', ['--maxWorkers', String(Math.max(2, os.availableParallelism()))]);
const e2e = jest('e2e', ['--runInBand']);
const covered = coverage([unit.coverage, e2e.coverage]);
const sum = (k) => unit.counts[k] + e2e.counts[k];
const crashed = [unit, e2e].filter((r) => !r.ok && r.counts.failed === 0).length;
console.log(
  `tests: ${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped` +
    (crashed ? `; ${crashed} jest run(s) FAILED without a failed test (see above)` : ''),
);
process.exit(unit.ok && e2e.ok && covered ? 0 : 1);
