// Lifecycle events of a project's Swarm tasks, reported under their service's
// id (a shipit "container" is a one-task service, see swarm-spec.ts). Two
// sources: the local engine's container events (at once, but only for tasks on
// this node) and a poll of the manager's task list (every node, including
// tasks lost with their node). Each (task, action) is reported once.

import type { ContainerEvent } from '../ports/runtime';
import { followEventLines, LABEL } from './runtime';
import { currentTask, isTerminal, type SwarmService, type SwarmTask } from './swarm-spec';

export interface SwarmWatchSource {
  /** The local engine's container event stream (JSON lines), filtered as asked. */
  events(filters: string): Promise<NodeJS.ReadableStream>;
  /** The project's services and their tasks; nodes that are down. */
  snapshot(project: string): Promise<{
    services: SwarmService[];
    tasks: SwarmTask[];
    downNodes: Set<string>;
  }>;
}

export function watchSwarm(
  src: SwarmWatchSource,
  project: string,
  onEvent: (e: ContainerEvent) => void,
  pollMs = 1000,
): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  // `${taskOrContainer}:${action}`, bounded: what was reported already.
  const seen = new Set<string>();
  // Container id -> task id, so both sources use one key per task.
  const taskOfContainer = new Map<string, string>();
  const emit = (key: string, e: ContainerEvent): void => {
    if (stopped) return;
    const k = `${taskOfContainer.get(key) ?? key}:${e.action === 'oom' ? 'die' : e.action}`;
    if (e.action !== 'oom' && seen.has(k)) return;
    seen.add(k);
    if (seen.size > 10_000) seen.delete(seen.values().next().value as string);
    onEvent(e);
  };

  const filters = JSON.stringify({
    type: ['container'],
    label: [`${LABEL.managed}=true`, `${LABEL.project}=${project}`],
    event: ['start', 'die', 'oom', 'stop'],
  });
  const onLine = (line: string): void => {
    let ev: { id?: string; Action?: string; Actor?: { Attributes?: Record<string, string> } };
    try {
      ev = JSON.parse(line);
    } catch {
      return;
    }
    const a = ev.Actor?.Attributes ?? {};
    const service = a['com.docker.swarm.service.id'];
    const task = a['com.docker.swarm.task.id'];
    if (!ev.id || !service || !ev.Action) return;
    if (task) taskOfContainer.set(ev.id, task);
    emit(ev.id, {
      id: service,
      action: ev.Action,
      service: a[LABEL.service] ?? '',
      release: Number(a[LABEL.release] ?? 0),
    });
  };
  // Service id -> what the last poll saw, to report changes only.
  type Seen = { task: string; running: boolean; service: string; release: number };
  let known = new Map<string, Seen>();
  let first = true;
  const poll = async (): Promise<void> => {
    try {
      const { services, tasks, downNodes } = await src.snapshot(project);
      const next = new Map<string, Seen>();
      for (const svc of services) {
        const labels = svc.Spec.Labels ?? {};
        const base = {
          id: svc.ID,
          service: labels[LABEL.service] ?? '',
          release: Number(labels[LABEL.release] ?? 0),
        };
        const t = currentTask(tasks.filter((x) => x.ServiceID === svc.ID));
        if (!t) continue;
        const cid = t.Status.ContainerStatus?.ContainerID;
        if (cid) taskOfContainer.set(cid, t.ID);
        const lost = t.NodeID !== undefined && downNodes.has(t.NodeID);
        const running = t.Status.State === 'running' && !lost;
        next.set(svc.ID, { task: t.ID, running, service: base.service, release: base.release });
        const before = known.get(svc.ID);
        // The first poll only learns what runs: events from before watch() are not news.
        if (first) continue;
        if (running && (!before || before.task !== t.ID || !before.running))
          emit(t.ID, { ...base, action: 'start' });
        if (!running && (isTerminal(t) || lost) && before?.running && before.task === t.ID)
          emit(t.ID, { ...base, action: 'die' });
      }
      for (const [id, before] of known) {
        if (!next.has(id)) {
          // Service removed: its task is gone.
          const base = { id, service: before.service, release: before.release };
          if (before.running) emit(before.task, { ...base, action: 'die' });
          emit(before.task, { ...base, action: 'destroy' });
        }
      }
      known = next;
      first = false;
    } catch {
      /* manager unreachable: the next poll tries again */
    }
    if (!stopped) timer = setTimeout(() => void poll(), pollMs);
  };

  const stopFollowing = followEventLines(() => src.events(filters), onLine);
  void poll();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    stopFollowing();
  };
}
