/**
 * Composition root for workers: one process can serve one or several task queues (the demo runs them all;
 * production runs one queue per host class). Shutdown on SIGINT/SIGTERM waits a grace period so long
 * activities can commit a checkpoint.
 */
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type LogLevel,
  type WorkerOptions,
} from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createActivities, stopTrainingChildren } from '../activities';
import type { TaskQueueName } from '../contracts/task-queues';
import { createS3Client } from '../infra/s3';
import { loadServiceSettings, type ServiceSettings } from '../infra/settings';

export const ALL_QUEUES: TaskQueueName[] = ['orchestrator', 'io', 'cpu', 'gpu'];

export interface WorkerSetOptions {
  queues: TaskQueueName[];
  settings?: ServiceSettings;
  /** Seconds in-flight activities get to finish or checkpoint after a shutdown signal. */
  shutdownGraceSeconds?: number;
  log?: (line: string) => void;
}

let runtimeInstalled = false;

export async function createWorkers(
  opts: WorkerSetOptions,
): Promise<{ workers: Worker[]; connection: NativeConnection; clientConnection: Connection }> {
  const settings = opts.settings ?? loadServiceSettings();
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    try {
      const level = (process.env.SEERFLOW_LOG_LEVEL ?? 'WARN').toUpperCase() as LogLevel;
      Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'], logger: new DefaultLogger(level) });
    } catch {
      /* already installed by the embedding process (tests) */
    }
  }
  const connection = await NativeConnection.connect({ address: settings.temporal.address });
  const s3 = createS3Client(settings.s3);
  const clientConnection = await Connection.connect({ address: settings.temporal.address });
  const client = new Client({ connection: clientConnection, namespace: settings.temporal.namespace });
  // Training engine processes get the worker's own S3 settings in their run command.
  const activities = createActivities({ s3, client, trainerSettings: { s3: settings.s3 } });
  const grace = `${opts.shutdownGraceSeconds ?? 30}s` as const;
  const workers: Worker[] = [];
  for (const queue of opts.queues) {
    const base: WorkerOptions = {
      connection,
      namespace: settings.temporal.namespace,
      taskQueue: settings.taskQueues[queue],
      shutdownGraceTime: grace,
    };
    if (queue === 'orchestrator') {
      workers.push(await Worker.create({ ...base, workflowsPath: require.resolve('../workflows') }));
      continue;
    }
    const acts = activities[queue];
    if (Object.keys(acts).length === 0) {
      opts.log?.(`queue ${queue}: no activities registered yet, not polling`);
      continue;
    }
    // One training segment per GPU worker; a few decode activities per CPU worker; many I/O activities.
    const slots = queue === 'io' ? 16 : queue === 'cpu' ? 2 : 1;
    workers.push(await Worker.create({ ...base, activities: acts, maxConcurrentActivityTaskExecutions: slots }));
  }
  return { workers, connection, clientConnection };
}

/** Runs until a shutdown signal; resolves after every worker drained. */
export async function runWorkers(opts: WorkerSetOptions): Promise<void> {
  const { workers, connection, clientConnection } = await createWorkers(opts);
  opts.log?.(`workers polling: ${workers.map((w) => w.options.taskQueue).join(', ')}`);
  // Temporal's runtime starts draining on these signals; training checkpoints and stops right away as well.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      const n = stopTrainingChildren();
      if (n > 0) opts.log?.(`${sig}: asked ${n} trainer(s) to checkpoint and stop`);
    });
  }
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await connection.close();
    await clientConnection.close();
  }
}
