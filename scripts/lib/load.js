'use strict';
// Concurrent keep-alive HTTP load through the proxy, recording every outcome.
// Used by the e2e tests and the demo; loopback only, bounded by stop().
const http = require('node:http');

/**
 * @param {{ port: number, host?: string, clients?: number, slowClients?: number, slowPath?: string, path?: string }} o
 */
function startLoad(o) {
  const host = o.host || '127.0.0.1';
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: (o.clients || 0) + (o.slowClients || 0) + 4,
  });
  const stats = {
    ok: 0,
    failed: 0,
    failures: [],
    slowOk: 0,
    slowFailed: 0,
    /** every completed request: start time, end time, release header, body version, slow? */
    samples: [],
  };
  let running = true;

  function once(path, slow) {
    return new Promise((resolve) => {
      const started = Date.now();
      const req = http.get(
        { host, port: o.port, path, agent, headers: { host: o.hostHeader || 'localhost' } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (body += c));
          res.on('end', () => {
            const ok = res.statusCode === 200;
            const m = /version=(\S+)/.exec(body);
            stats.samples.push({
              started,
              ended: Date.now(),
              status: res.statusCode,
              release: Number(res.headers['x-shipit-release']),
              version: m ? m[1] : null,
              slow,
            });
            record(ok, slow, ok ? null : `${res.statusCode} ${body.slice(0, 120)}`);
            resolve();
          });
          res.on('error', (e) => {
            record(false, slow, `response error: ${e.message}`);
            resolve();
          });
        },
      );
      req.setTimeout(30000, () => req.destroy(new Error('client timeout')));
      req.on('error', (e) => {
        record(false, slow, `request error: ${e.code || e.message}`);
        resolve();
      });
    });
  }

  function record(ok, slow, why) {
    if (ok) {
      stats.ok++;
      if (slow) stats.slowOk++;
    } else {
      stats.failed++;
      if (slow) stats.slowFailed++;
      if (stats.failures.length < 20) stats.failures.push(why);
    }
  }

  async function loop(path, slow) {
    while (running) {
      const failedBefore = stats.failed;
      await once(path, slow);
      // After a failure, back off a little: a dead proxy must not turn the loop into a CPU spin.
      if (stats.failed > failedBefore) await new Promise((r) => setTimeout(r, 20));
    }
  }

  const loops = [];
  for (let i = 0; i < (o.clients || 0); i++) loops.push(loop(o.path || '/', false));
  for (let i = 0; i < (o.slowClients || 0); i++) loops.push(loop(o.slowPath || '/slow?2', true));

  return {
    stats,
    /** Stops issuing requests and waits for the in-flight ones to finish. */
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return stats;
    },
  };
}

module.exports = { startLoad };

/**
 * The same load from a child process at lower CPU priority, as if the clients
 * were on another machine: on a 2-core host the load generator would otherwise
 * compete with the very daemon and CLI it measures.
 */
function startLoadProcess(o) {
  const { fork } = require('node:child_process');
  const os = require('node:os');
  const child = fork(__filename, ['--worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    os.setPriority(child.pid, 10);
  } catch {
    /* not permitted: run at normal priority */
  }
  const ready = new Promise((resolve) => child.once('message', resolve));
  child.send({ start: o });
  return {
    ready,
    async stop() {
      await ready;
      const done = new Promise((resolve, reject) => {
        child.once('message', (m) => resolve(m.stats));
        child.once('exit', (code) => reject(new Error(`load worker exited ${code}`)));
      });
      child.send({ stop: true });
      const stats = await done;
      child.disconnect();
      return stats;
    },
  };
}

module.exports.startLoadProcess = startLoadProcess;

if (require.main === module && process.argv[2] === '--worker') {
  let load = null;
  // The parent (a test) went away without stopping us: stop too.
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (m) => {
    if (m.start) {
      load = startLoad(m.start);
      process.send({ started: true });
    } else if (m.stop && load) {
      const stats = await load.stop();
      process.send({ stats }, () => process.exit(0));
    }
  });
}
