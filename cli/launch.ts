/**
 * Starting a workflow from `seerflow run`, `eval` and `ingest`: start it or attach to the running one of the same
 * name (only when its config is the same, or with --attach), then make sure a worker takes it: local workers when
 * nobody does (unless --no-workers), or a message within seconds saying which queue has no worker.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { CONFIG_DIGEST_MEMO } from '../contracts/pipeline';
import type { ServiceSettings } from '../infra/settings';
import { orchestratorHasPollers, spawnLocalWorkers } from './common';
import { CliError, EXIT } from './exit-codes';
import { describeWaiting, watchPickup, workerCommand } from './waiting-work';

/** How long a task the CLI's workflow scheduled may wait for a worker before the CLI acts on it. */
export const PICKUP_GRACE_MS = 5000;

export interface StartOrAttachSpec {
  workflowId: string;
  /** configDigest (config/digest.ts) of what the workflow is started with. */
  digest: string;
  /** --attach: follow a running execution of this ID whatever config it runs with. */
  attach?: boolean;
}

/** The start options that {@link startOrAttach} relies on: fail on a running execution, record the digest. */
export interface LaunchStartOptions {
  taskQueue: string;
  workflowId: string;
  workflowIdConflictPolicy: 'FAIL';
  memo: Record<string, string>;
}

/**
 * Runs `start` (a `client.workflow.start` given these options). When an execution of the ID is running: attaches
 * if it records the same digest or `attach` is set, else refuses with both digests (a CliError), so reusing a run
 * name never silently follows a different run.
 */
export async function startOrAttach(
  client: Client,
  settings: ServiceSettings,
  spec: StartOrAttachSpec,
  start: (options: LaunchStartOptions) => Promise<unknown>,
): Promise<'started' | 'attached'> {
  const options: LaunchStartOptions = {
    taskQueue: settings.taskQueues.orchestrator,
    workflowId: spec.workflowId,
    workflowIdConflictPolicy: 'FAIL',
    memo: { [CONFIG_DIGEST_MEMO]: spec.digest },
  };
  for (let attempt = 0; ; attempt++) {
    try {
      await start(options);
      return 'started';
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    const desc = await client.workflow.getHandle(spec.workflowId).describe();
    if (desc.status.name !== 'RUNNING') {
      // It closed between the start and the describe: start again.
      if (attempt < 2) continue;
      throw new Error(`${spec.workflowId} was running at each start and closed before it could be described`);
    }
    const running = desc.memo?.[CONFIG_DIGEST_MEMO];
    const runningText = typeof running === 'string' ? `config ${running}` : 'no recorded config digest';
    if (running === spec.digest) {
      process.stderr.write(`attaching to the running ${spec.workflowId} (same config ${spec.digest})\n`);
      return 'attached';
    }
    if (spec.attach) {
      process.stderr.write(
        `attaching to the running ${spec.workflowId} (--attach; it runs with ${runningText}, this command's is ${spec.digest})\n`,
      );
      return 'attached';
    }
    throw new CliError(
      `${spec.workflowId} is already running with ${runningText}, and this command's config is ${spec.digest}: ` +
        `choose another --name, follow the running one with --attach, or stop it first (\`seerflow cancel ${spec.workflowId}\`)`,
      EXIT.usage,
    );
  }
}

/**
 * Makes sure a worker takes `workflowId`. With `spawn`, starts local workers right away when nothing polls the
 * orchestrator queue; otherwise (pollers can be workers that stopped less than a minute ago) watches for
 * {@link PICKUP_GRACE_MS} whether what the workflow scheduled is picked up, and when it is not, starts local
 * workers (`spawn`) or says which queues have no worker and how to start one. Returns the local workers, if any.
 */
export async function ensureWorkers(
  client: Client,
  settings: ServiceSettings,
  workflowId: string,
  spawn: boolean,
): Promise<ChildProcess | undefined> {
  const log = path.join(settings.stateDir, 'logs', 'workers.log');
  const startLocal = (why: string) => {
    process.stderr.write(`${why}; starting local workers (log: ${log})\n`);
    return spawnLocalWorkers(log);
  };
  if (spawn && !(await orchestratorHasPollers(client, settings))) return startLocal('no workers polling');
  const waiting = await watchPickup(client, workflowId, PICKUP_GRACE_MS);
  if (waiting.length === 0) return undefined;
  const within = `within ${PICKUP_GRACE_MS / 1000} s`;
  if (spawn) return startLocal(`no worker took ${workflowId} ${within} (${describeWaiting(waiting)})`);
  process.stderr.write(
    `no worker has taken ${workflowId} ${within}: ${describeWaiting(waiting)}.\n` +
      `No worker serves task queue ${waiting.map((w) => w.queue).join(', ')}; start one with ` +
      `\`${workerCommand(waiting, settings.taskQueues)}\` (the workflow goes on once a worker polls).\n`,
  );
  return undefined;
}
