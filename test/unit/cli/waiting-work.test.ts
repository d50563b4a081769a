/** What of a workflow tree waits for a worker, and how the CLI says so. */
import { taskQueues } from '../../../contracts/task-queues';
import {
  scanWaiting,
  UNKNOWN_QUEUE,
  waitingNotice,
  workerCommand,
  type WorkflowTasksView,
} from '../../../cli/waiting-work';

const NOW = 1_800_000_000_000;
const Q = taskQueues('t');
const ts = (msAgo: number) => ({ seconds: Math.floor((NOW - msAgo) / 1000), nanos: ((NOW - msAgo) % 1000) * 1e6 });
const activity = (name: string, queue: string, state: number, msAgo: number, extra = {}) => ({
  activityType: { name },
  state,
  scheduledTime: ts(msAgo),
  activityOptions: { taskQueue: { name: queue } },
  ...extra,
});

describe('scanWaiting', () => {
  it('reports a workflow task nobody started within the grace period, on the execution task queue', () => {
    const fresh: WorkflowTasksView = {
      workflowId: 'seerflow/a',
      taskQueue: Q.orchestrator,
      pendingWorkflowTask: { state: 1, scheduledTime: ts(2000) },
    };
    expect(scanWaiting([fresh], NOW, 5000)).toEqual({ unstarted: 1, waiting: [] });
    const stale = { ...fresh, pendingWorkflowTask: { state: 1, scheduledTime: ts(6500) } };
    expect(scanWaiting([stale], NOW, 5000)).toEqual({
      unstarted: 1,
      waiting: [{ queue: Q.orchestrator, tasks: 1, waitedMs: 6500, example: 'workflow task of seerflow/a' }],
    });
    const started = { ...fresh, pendingWorkflowTask: { state: 2, scheduledTime: ts(6500) } };
    expect(scanWaiting([started], NOW, 5000)).toEqual({ unstarted: 0, waiting: [] });
  });

  it('groups waiting activities by their queue, the longest wait first, across the tree', () => {
    const views: WorkflowTasksView[] = [
      { workflowId: 'seerflow/a', taskQueue: Q.orchestrator, pendingChildren: [{ workflowId: 'seerflow/a/pretrain' }] },
      {
        workflowId: 'seerflow/a/pretrain',
        taskQueue: Q.orchestrator,
        pendingActivities: [
          activity('trainSegment', Q.gpu, 1, 40_000),
          activity('writeLatest', Q.io, 1, 20_000),
          activity('trainSegment', Q.gpu, 1, 30_000),
        ],
      },
    ];
    const { waiting } = scanWaiting(views, NOW, 15_000);
    expect(waiting).toEqual([
      { queue: Q.gpu, tasks: 2, waitedMs: 40_000, example: 'activity trainSegment of seerflow/a/pretrain' },
      { queue: Q.io, tasks: 1, waitedMs: 20_000, example: 'activity writeLatest of seerflow/a/pretrain' },
    ]);
  });

  it('does not report a queue one of whose tasks runs (a busy worker), a retry in backoff, or a paused activity', () => {
    const views: WorkflowTasksView[] = [
      {
        workflowId: 'seerflow/a/preprocess',
        taskQueue: Q.orchestrator,
        pendingActivities: [
          activity('buildShard', Q.cpu, 2, 60_000),
          activity('buildShard', Q.cpu, 1, 50_000),
          activity('writeIndex', Q.io, 1, 50_000, { nextAttemptScheduleTime: ts(-10_000) }),
          activity('listRange', Q.io, 4, 50_000),
        ],
      },
    ];
    expect(scanWaiting(views, NOW, 15_000)).toEqual({ unstarted: 1, waiting: [] });
  });

  it('names the queue of an activity unknown when the server does not say it', () => {
    const views: WorkflowTasksView[] = [
      {
        workflowId: 'w',
        taskQueue: Q.orchestrator,
        pendingActivities: [{ activityType: { name: 'x' }, state: 1, scheduledTime: ts(20_000) }],
      },
    ];
    expect(scanWaiting(views, NOW, 15_000).waiting.map((w) => w.queue)).toEqual([UNKNOWN_QUEUE]);
  });
});

describe('waiting messages', () => {
  const wait = (queue: string, waitedMs = 20_000) => ({ queue, tasks: 1, waitedMs, example: `activity x on ${queue}` });

  it('says which worker to start: the roles of the waiting queues, all four when workflows wait', () => {
    expect(workerCommand([wait(Q.gpu), wait(Q.io)], Q)).toBe('seerflow worker --queues gpu,io');
    expect(workerCommand([wait(Q.orchestrator)], Q)).toBe('seerflow worker --queues orchestrator,io,cpu,gpu');
    expect(workerCommand([wait('elsewhere-gpu')], Q)).toBe('a worker for elsewhere-gpu');
    expect(workerCommand([wait(Q.cpu), wait('elsewhere-gpu')], Q)).toBe(
      'seerflow worker --queues cpu, and a worker for elsewhere-gpu',
    );
  });

  it('the live-progress notice names the queue, the wait and the command', () => {
    expect(waitingNotice([], Q)).toBe('');
    expect(waitingNotice([wait(Q.gpu, 42_300)], Q)).toBe(
      'waiting for a worker: 1 task on t-gpu waited 42 s (activity x on t-gpu). No worker polls t-gpu, ' +
        'or every one is busy with other work; start one with `seerflow worker --queues gpu`',
    );
  });
});
