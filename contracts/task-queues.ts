/** Task queues by resource class. Workflows run on the orchestrator queue; activities route by what they use. */
export const TASK_QUEUES = {
  orchestrator: 'seerflow-orchestrator',
  io: 'seerflow-io',
  cpu: 'seerflow-cpu',
  gpu: 'seerflow-gpu',
} as const;
export type TaskQueueName = keyof typeof TASK_QUEUES;
