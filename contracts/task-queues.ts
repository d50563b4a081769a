/**
 * Task queues by resource class. Workflows run on the orchestrator queue; activities route by what they use.
 * All four names share a base (default `seerflow`), so several deployments — or a test run next to a developer's
 * own workers — can share one Temporal namespace without taking each other's tasks. Workflows find their sibling
 * activity queues from their own task queue; processes take the base from SEERFLOW_TASK_QUEUE_BASE.
 */
export type TaskQueueName = 'orchestrator' | 'io' | 'cpu' | 'gpu';
export type TaskQueues = Record<TaskQueueName, string>;

export const DEFAULT_TASK_QUEUE_BASE = 'seerflow';
const ORCHESTRATOR_SUFFIX = '-orchestrator';

export function taskQueues(base: string = DEFAULT_TASK_QUEUE_BASE): TaskQueues {
  return { orchestrator: `${base}${ORCHESTRATOR_SUFFIX}`, io: `${base}-io`, cpu: `${base}-cpu`, gpu: `${base}-gpu` };
}

/** The queues of the deployment whose orchestrator queue is `orchestratorQueue` (a workflow's own queue). */
export function siblingQueues(orchestratorQueue: string): TaskQueues {
  return taskQueues(
    orchestratorQueue.endsWith(ORCHESTRATOR_SUFFIX)
      ? orchestratorQueue.slice(0, -ORCHESTRATOR_SUFFIX.length)
      : DEFAULT_TASK_QUEUE_BASE,
  );
}

/** The default deployment's queues (documentation, the Temporal CLI examples). */
export const TASK_QUEUES: TaskQueues = taskQueues();
