/**
 * Work that waits for a worker. The server keeps listing a worker as a poller of its task queues for about a
 * minute after the worker stopped, so "the queue has pollers" does not mean "a worker will take the task"; a task
 * a workflow tree scheduled and nobody started does. The CLI uses this to start local workers when nobody takes a
 * run it started, and to say in the live progress which queue has no worker instead of looking stuck.
 */
import type { Client } from '@temporalio/client';
import type { TaskQueueName, TaskQueues } from '../contracts/task-queues';

// Numeric enums of temporal.api.enums.v1 (PendingWorkflowTaskState, PendingActivityState).
const WORKFLOW_TASK_SCHEDULED = 1;
const WORKFLOW_TASK_STARTED = 2;
const ACTIVITY_SCHEDULED = 1;
const ACTIVITY_STARTED = 2;
const ACTIVITY_CANCEL_REQUESTED = 3; // still running in its worker until it acknowledges the cancellation

/** Queue of an activity whose description does not say (servers before 1.27 leave activity options out). */
export const UNKNOWN_QUEUE = '(unknown task queue)';

interface Timestamp {
  seconds?: unknown;
  nanos?: number | null;
}

/** The parts of a workflow description this module reads (DescribeWorkflowExecutionResponse, flattened). */
export interface WorkflowTasksView {
  workflowId: string;
  /** The execution's task queue (where its workflow tasks go once a sticky queue times out). */
  taskQueue: string;
  pendingWorkflowTask?: { state?: number | null; scheduledTime?: Timestamp | null } | null;
  pendingActivities?:
    | {
        activityType?: { name?: string | null } | null;
        state?: number | null;
        scheduledTime?: Timestamp | null;
        nextAttemptScheduleTime?: Timestamp | null;
        activityOptions?: { taskQueue?: { name?: string | null } | null } | null;
      }[]
    | null;
  pendingChildren?: { workflowId?: string | null }[] | null;
}

/** Tasks on one queue that have waited for a worker. */
export interface WaitingQueue {
  queue: string;
  /** Tasks on it that waited at least the grace period. */
  tasks: number;
  /** The longest wait, ms. */
  waitedMs: number;
  /** The longest-waiting task, e.g. `workflow task of seerflow/demo`. */
  example: string;
}

export interface WaitingScan {
  /** Tasks scheduled and not started, of any age. */
  unstarted: number;
  /** Queues with a task that waited at least the grace period while no task of the tree ran on them. */
  waiting: WaitingQueue[];
}

function timestampMs(t: Timestamp | null | undefined): number {
  if (!t) return 0;
  // seconds is a Long on decoded responses; Number() reads it through its toString.
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

/**
 * What of a workflow tree waits for a worker at `now`. A started task on a queue proves a worker serves it, so
 * tasks queued behind it (a busy worker) are not reported. A retry whose backoff has not elapsed is not waiting.
 */
export function scanWaiting(views: WorkflowTasksView[], now: number, graceMs: number): WaitingScan {
  const served = new Set<string>();
  const byQueue = new Map<string, WaitingQueue>();
  let unstarted = 0;
  const note = (queue: string, since: number, what: string) => {
    const waited = now - since;
    if (waited < 0) return;
    unstarted++;
    if (waited < graceMs) return;
    const q = byQueue.get(queue) ?? { queue, tasks: 0, waitedMs: -1, example: what };
    q.tasks++;
    if (waited > q.waitedMs) Object.assign(q, { waitedMs: waited, example: what });
    byQueue.set(queue, q);
  };
  for (const v of views) {
    const task = v.pendingWorkflowTask;
    if (task?.state === WORKFLOW_TASK_STARTED) served.add(v.taskQueue);
    else if (task?.state === WORKFLOW_TASK_SCHEDULED)
      note(v.taskQueue, timestampMs(task.scheduledTime), `workflow task of ${v.workflowId}`);
    for (const a of v.pendingActivities ?? []) {
      const queue = a.activityOptions?.taskQueue?.name || UNKNOWN_QUEUE;
      if (a.state === ACTIVITY_STARTED || a.state === ACTIVITY_CANCEL_REQUESTED) served.add(queue);
      else if (a.state === ACTIVITY_SCHEDULED) {
        const since = Math.max(timestampMs(a.scheduledTime), timestampMs(a.nextAttemptScheduleTime));
        note(queue, since, `activity ${a.activityType?.name ?? '?'} of ${v.workflowId}`);
      }
    }
  }
  const waiting = [...byQueue.values()].filter((q) => !served.has(q.queue));
  return { unstarted, waiting: waiting.sort((a, b) => b.waitedMs - a.waitedMs) };
}

/** The running workflows of a tree (the root and its pending children, breadth first, at most `max`). */
export async function describeTree(client: Client, workflowId: string, max = 40): Promise<WorkflowTasksView[]> {
  const out: WorkflowTasksView[] = [];
  let level = [workflowId];
  while (level.length > 0 && out.length < max) {
    const descs = await Promise.all(
      level.slice(0, max - out.length).map(
        (id) =>
          client.workflow
            .getHandle(id)
            .describe()
            .then((d) => ({ id, d }))
            .catch(() => undefined), // a child not started yet, or closed meanwhile
      ),
    );
    level = [];
    for (const x of descs) {
      if (!x || x.d.status.name !== 'RUNNING') continue;
      const raw = x.d.raw;
      out.push({
        workflowId: x.id,
        taskQueue: x.d.taskQueue,
        pendingWorkflowTask: raw.pendingWorkflowTask,
        pendingActivities: raw.pendingActivities,
        pendingChildren: raw.pendingChildren,
      });
      for (const c of raw.pendingChildren ?? []) if (c.workflowId) level.push(c.workflowId);
    }
  }
  return out;
}

export async function waitingWork(client: Client, workflowId: string, graceMs: number): Promise<WaitingScan> {
  return scanWaiting(await describeTree(client, workflowId), Date.now(), graceMs);
}

/**
 * Watches a workflow the CLI just started or attached to until everything it scheduled was picked up (returns
 * []) or a task waited `graceMs` with nothing of the tree running on its queue (returns those queues).
 */
export async function watchPickup(client: Client, workflowId: string, graceMs: number): Promise<WaitingQueue[]> {
  const deadline = Date.now() + graceMs + 2000;
  for (;;) {
    const scan = await waitingWork(client, workflowId, graceMs);
    if (scan.waiting.length > 0 || scan.unstarted === 0 || Date.now() >= deadline) return scan.waiting;
    await new Promise((r) => setTimeout(r, 500));
  }
}

function roleOf(queue: string, queues: TaskQueues): TaskQueueName | undefined {
  return (Object.keys(queues) as TaskQueueName[]).find((r) => queues[r] === queue);
}

/** `1 task on seerflow-gpu waited 42 s (activity trainSegment of seerflow/demo/pretrain)`, `; `-joined. */
export function describeWaiting(waiting: WaitingQueue[]): string {
  return waiting
    .map(
      (w) =>
        `${w.tasks} task${w.tasks === 1 ? '' : 's'} on ${w.queue} waited ${Math.round(w.waitedMs / 1000)} s (${w.example})`,
    )
    .join('; ');
}

/** How to start workers for the waiting queues: `seerflow worker --queues gpu` (all four when the orchestrator waits). */
export function workerCommand(waiting: WaitingQueue[], queues: TaskQueues): string {
  const roles = waiting.map((w) => roleOf(w.queue, queues));
  // Workflows that wait on the orchestrator queue will next need the activity queues as well.
  if (roles.includes('orchestrator')) return `seerflow worker --queues ${Object.keys(queues).join(',')}`;
  const known = roles.filter((r): r is TaskQueueName => r !== undefined);
  const others = waiting.filter((w) => roleOf(w.queue, queues) === undefined).map((w) => w.queue);
  const cmd = known.length > 0 ? `seerflow worker --queues ${[...new Set(known)].join(',')}` : '';
  if (others.length === 0) return cmd;
  return `${cmd ? `${cmd}, and ` : ''}a worker for ${others.join(', ')}`;
}

/** The live-progress notice while work waits for a worker (empty when nothing does). */
export function waitingNotice(waiting: WaitingQueue[], queues: TaskQueues): string {
  if (waiting.length === 0) return '';
  return (
    `waiting for a worker: ${describeWaiting(waiting)}. No worker polls ${waiting.map((w) => w.queue).join(', ')}, ` +
    `or every one is busy with other work; start one with \`${workerCommand(waiting, queues)}\``
  );
}
