// The runtime tests' image: FROM scratch with only a static busybox, serving with httpd.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerSpec } from '../../src/ports/runtime';

export const IMAGE = 'shipit-test-busybox:latest';
export const HTTPD = ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/'];

/** A ContainerSpec of the test image serving on 8080 for `project`, with `over` on top. */
export function specOf(project: string, over: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    project,
    service: 'web',
    release: 1,
    index: 0,
    image: IMAGE,
    port: 8080,
    env: {},
    command: HTTPD,
    ...over,
  };
}

export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Builds the image unless the tag exists. */
export function ensureTestImage(): void {
  try {
    docker('image', 'inspect', IMAGE);
    return;
  } catch {
    // build it below
  }
  const dir = mkdtempSync(join(tmpdir(), 'shipit-busybox-'));
  try {
    copyFileSync('/bin/busybox', join(dir, 'busybox'));
    writeFileSync(
      join(dir, 'Dockerfile'),
      ['FROM scratch', 'COPY busybox /bin/busybox', `CMD ${JSON.stringify(HTTPD)}`, ''].join('\n'),
    );
    execFileSync('docker', ['build', '-q', '-t', IMAGE, dir], {
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
