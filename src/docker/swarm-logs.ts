// Logs of a task on another node, through the manager's service logs endpoint
// (the manager asks the task's node). Tasks on this node are read from their
// container directly (DockerRuntime), which also ends the stream when it stops.

import { runtimeError } from '../domain/errors';
import type { FollowLogsOptions, LogFollow, RuntimeLogLine } from '../ports/runtime';
import { demuxLogs, FrameDecoder, TimestampedLineSplitter } from './demux';
import { statusOf } from './runtime';
import type { SwarmApi } from './swarm-api';

/** Services are created without a TTY: their logs are always multiplexed. */
export async function serviceLogs(api: SwarmApi, serviceId: string, tail: number): Promise<string> {
  const stream = await api
    .stream(`/services/${serviceId}/logs`, {
      stdout: true,
      stderr: true,
      follow: false,
      tail: Math.max(0, Math.floor(tail)),
    })
    .catch((e: unknown) => {
      throw api.translate(e);
    });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', reject);
  });
  return demuxLogs(Buffer.concat(chunks), false);
}

/**
 * Service logs never end while the service exists: `gone` is asked every
 * second and ends a followed stream once the task is no longer running.
 */
export function followServiceLogs(
  api: SwarmApi,
  serviceId: string,
  opts: FollowLogsOptions,
  onLine: (l: RuntimeLogLine) => void,
  gone: () => Promise<boolean>,
): LogFollow {
  let stopped = false;
  let paused = false;
  let stream: NodeJS.ReadableStream | null = null;
  let timer: NodeJS.Timeout | null = null;
  const end = (): void => {
    if (timer) clearInterval(timer);
    (stream as { destroy?: () => void } | null)?.destroy?.();
  };
  const read = async (): Promise<void> => {
    try {
      stream = await api.stream(`/services/${serviceId}/logs`, {
        stdout: true,
        stderr: true,
        follow: opts.follow,
        timestamps: true,
        ...(opts.since ? { since: opts.since.replace(/^0+(?=\d)/, '') } : {}),
      });
    } catch (e) {
      throw statusOf(e) === 404 ? runtimeError(`service ${serviceId} is gone`) : api.translate(e);
    }
    if (stopped) return end();
    if (paused) stream.pause();
    const decoder = new FrameDecoder(false);
    const lines = new TimestampedLineSplitter(true, (l) => {
      if (!stopped) onLine(l);
    });
    let ended = false;
    if (opts.follow) {
      timer = setInterval(() => {
        // A failed check (manager unreachable) is not an end: keep following.
        void gone()
          .catch(() => false)
          .then((g) => {
            if (g && !ended) {
              ended = true;
              // Lines already sent come in before the close: a short grace, then end.
              setTimeout(end, 500);
            }
          });
      }, 1000);
    }
    const s = stream;
    await new Promise<void>((resolve, reject) => {
      s.on('data', (chunk: Buffer) => {
        for (const f of decoder.push(chunk)) lines.push(f);
      });
      s.once('end', resolve);
      s.once('close', resolve);
      s.once('error', (e: Error) => (stopped || ended ? resolve() : reject(api.translate(e))));
    });
    if (timer) clearInterval(timer);
    if (stopped) return;
    for (const f of decoder.end()) lines.push(f);
    lines.end();
  };
  return {
    stop: () => {
      stopped = true;
      end();
    },
    pause: () => {
      paused = true;
      stream?.pause();
    },
    resume: () => {
      paused = false;
      stream?.resume();
    },
    done: read(),
  };
}
