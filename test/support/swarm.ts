// Swarm mode for the tests that need it: `docker swarm init` when the engine
// is not in swarm mode, and `docker swarm leave --force` at the end only if a
// test initialised it and no other test process still uses it (jest runs test
// files in parallel workers: a marker directory counts the users).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MARK = path.join(os.tmpdir(), 'shipit-test-swarm');
const INITIALISED = path.join(MARK, 'initialised-by-tests');

function run(...args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('docker', args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: r.stdout.trim(), err: r.stderr.trim() };
}

export function swarmState(): string {
  return run('info', '--format', '{{.Swarm.LocalNodeState}}').out;
}

/** Makes the engine a single-node swarm manager if it is not one; returns the release function. */
export function useSwarm(): () => void {
  fs.mkdirSync(MARK, { recursive: true });
  const me = path.join(MARK, `user-${process.pid}`);
  fs.writeFileSync(me, '');
  if (swarmState() !== 'active') {
    const r = run('swarm', 'init', '--advertise-addr', '127.0.0.1');
    if (!r.ok && !/already part of a swarm/.test(r.err))
      throw new Error(`docker swarm init: ${r.err}`);
    if (r.ok) fs.writeFileSync(INITIALISED, String(process.pid));
  }
  return () => {
    fs.rmSync(me, { force: true });
    const users = fs.readdirSync(MARK).filter((f) => f.startsWith('user-'));
    // Users whose process is gone (a killed jest worker) do not count.
    const alive = users.filter((f) => {
      try {
        process.kill(Number(f.slice('user-'.length)), 0);
        return true;
      } catch {
        return false;
      }
    });
    if (alive.length === 0 && fs.existsSync(INITIALISED)) {
      run('swarm', 'leave', '--force');
      fs.rmSync(MARK, { recursive: true, force: true });
    }
  };
}

/** Removes every service and the overlay network of a project (by label), whatever state a test left. */
export function purgeSwarmProject(project: string): void {
  const ids = run('service', 'ls', '-q', '--filter', `label=io.shipit.project=${project}`)
    .out.split('\n')
    .filter(Boolean);
  if (ids.length) run('service', 'rm', ...ids);
  // Task containers leave the network a moment after their service is removed.
  for (let i = 0; i < 60; i++) {
    const r = run('network', 'rm', `${project}_shipit`);
    if (r.ok || /not found/.test(r.err)) break;
    spawnSync('sleep', ['0.5']);
  }
  const left = run('ps', '-aq', '--filter', `label=io.shipit.project=${project}`).out;
  if (left) run('rm', '-f', ...left.split('\n'));
}

/** The container of a one-task service on this node (for docker exec in tests). */
export function taskContainer(serviceId: string): string {
  const r = run(
    'ps',
    '-q',
    '--no-trunc',
    '--filter',
    `label=com.docker.swarm.service.id=${serviceId}`,
  );
  const id = r.out.split('\n')[0];
  if (!id) throw new Error(`no running container for service ${serviceId}`);
  return id;
}

/**
 * The project's overlay network, made as docs/swarm.md says before shipit's own service
 * (docker-stack.yml) joins it; returns its subnet.
 */
export function createProjectNetwork(project: string): string {
  const name = `${project}_shipit`;
  const r = run(
    'network',
    'create',
    '-d',
    'overlay',
    '--attachable',
    '--label',
    'io.shipit.managed=true',
    '--label',
    `io.shipit.project=${project}`,
    name,
  );
  if (!r.ok) throw new Error(`docker network create ${name}: ${r.err}`);
  return run('network', 'inspect', name, '-f', '{{(index .IPAM.Config 0).Subnet}}').out;
}

/** The running container of a stack's shipit service on this node ('' when there is none). */
export function stackDaemonContainer(stack: string): string {
  return run(
    'ps',
    '-q',
    '--filter',
    `label=com.docker.swarm.service.name=${stack}_shipit`,
    '--filter',
    'status=running',
  ).out;
}
