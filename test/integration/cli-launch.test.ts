/**
 * How `seerflow run` and `seerflow ingest` (the compiled CLI, as a user runs it) start work on the real stack: a run
 * started right after another run's local workers stopped still gets workers; with --no-workers the CLI says
 * within seconds which queue has no worker; a queue without workers shows in the live progress; reusing a running
 * run's name with another config is refused; the standalone ingest has its own workflow ID and `seerflow status`
 * reads it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configDigest } from '../../config/digest';
import { loadConfig } from '../../config/load';
import { CONFIG_DIGEST_MEMO, workflowIds, type PipelineResult } from '../../contracts/pipeline';
import type { IngestResult } from '../../contracts/ingest';
import { taskQueues } from '../../contracts/task-queues';
import { seedCorpus } from '../../datasets/corpus/seed';
import { PROJECT_ROOT } from '../../infra/settings';
import { connectStack, dropBucket, freshBucket, waitUntil, withWorkers, type Stack } from './harness';

const CLI = path.join(PROJECT_ROOT, 'dist', 'cli', 'index.js');
/** A queue base nothing polls: work started there waits for a worker. */
const IDLE_BASE = `${process.env.SEERFLOW_TASK_QUEUE_BASE}-idle`;

let stack: Stack;
let bucket: string;
let stateDir: string;
const tag = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const started: string[] = [];

interface CliRun {
  stdout: string;
  stderr: string;
  /** exit code (null when killed) */
  exited: Promise<number | null>;
  kill: () => void;
}

/** Runs `seerflow <args>` in its own process (the test's queues unless `env` says otherwise). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc\` (npm test builds it)`);
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SEERFLOW_STATE_DIR: stateDir, TF_CPP_MIN_LOG_LEVEL: '2', ...env },
  });
  const run: CliRun = {
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    kill: () => child.kill('SIGKILL'),
  };
  child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
  return run;
}

/** Runs the CLI to its end; returns its exit code and output. */
async function cliDone(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null } & CliRun> {
  const run = cli(args, env);
  return { ...run, code: await run.exited, stdout: run.stdout, stderr: run.stderr };
}

/** A config small enough to train in a minute: 120 images, one epoch, no evaluation (as `--set` values). */
function configSets(...extra: string[]): string[] {
  return [
    `ingest.bucket=${bucket}`,
    'train.epochs=1',
    'train.batchSize=16',
    'train.checkpointEverySteps=3',
    'eval.enabled=false',
    ...extra,
  ];
}

function configArgs(runName: string, ...extra: string[]): string[] {
  return ['--preset', 'tiny', '--name', runName, ...configSets(...extra).flatMap((s) => ['--set', s])];
}

/** The digest the CLI records for `configArgs(runName, ...extra)`. */
function digestOf(runName: string, ...extra: string[]): string {
  return configDigest(loadConfig({ preset: 'tiny', set: [...configSets(...extra), `run.name=${runName}`] }));
}

const runName = (label: string) => `cli-${tag}-${label}`;

async function terminateIfRunning(workflowId: string): Promise<void> {
  await stack.client.workflow
    .getHandle(workflowId)
    .terminate('test cleanup')
    .catch(() => undefined);
}

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'cli');
  stateDir = mkdtempSync(path.join(os.tmpdir(), 'seerflow-cli-'));
  await seedCorpus(stack.s3, { bucket, count: 120, testCount: 0, photos: false, bad: true });
}, 300_000);

afterAll(async () => {
  for (const id of started) await terminateIfRunning(id);
  if (bucket) await dropBucket(stack.s3, bucket);
  for (const label of ['twice'])
    rmSync(path.join(PROJECT_ROOT, 'reports', runName(label)), { recursive: true, force: true });
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  await stack?.connection.close();
});

it('a run started right after the previous run stopped its local workers gets workers and completes', async () => {
  const name = runName('twice');
  const args = ['run', ...configArgs(name), '--json'];
  const first = await cliDone(args);
  expect({ code: first.code, stderr: first.code === 0 ? '' : first.stderr }).toEqual({ code: 0, stderr: '' });
  expect(first.stderr).toContain('starting local workers');
  // The first run's workers stopped a moment ago, yet the server still lists them as pollers of the queue.
  const second = await cliDone(args);
  const log = () =>
    `${second.stderr}\nworkers log:\n${readFileSync(path.join(stateDir, 'logs', 'workers.log'), 'utf8')}`;
  expect({ code: second.code, log: second.code === 0 ? '' : log() }).toEqual({ code: 0, log: '' });
  expect(second.stderr).toMatch(
    new RegExp(`no worker took ${workflowIds.pipeline(name)} within 5 s .*; starting local workers`),
  );
  const result = JSON.parse(second.stdout) as PipelineResult;
  expect(result.runName).toBe(name);
  expect(result.pretrain.cached).toBe(true); // the same config again: every stage is a cache hit
  expect(result.pretrain.checkpoint.key).toBe((JSON.parse(first.stdout) as PipelineResult).pretrain.checkpoint.key);
}, 1_200_000);

it('--no-workers: says within seconds that no worker has taken the run, which queue lacks one and how to start it', async () => {
  const name = runName('idle');
  const workflowId = workflowIds.pipeline(name);
  started.push(workflowId);
  const run = cli(['run', ...configArgs(name), '--no-workers'], { SEERFLOW_TASK_QUEUE_BASE: IDLE_BASE });
  try {
    await waitUntil(
      async () => run.stderr.includes('no worker has taken'),
      60_000,
      `the no-worker message:\n${run.stderr}`,
    );
    const orchestrator = taskQueues(IDLE_BASE).orchestrator;
    expect(run.stderr).toContain(`no worker has taken ${workflowId} within 5 s: 1 task on ${orchestrator} waited`);
    expect(run.stderr).toContain(`(workflow task of ${workflowId})`);
    expect(run.stderr).toContain(
      `No worker serves task queue ${orchestrator}; start one with \`seerflow worker --queues orchestrator,io,cpu,gpu\``,
    );
    expect(run.stderr).not.toContain('starting local workers');
    // It keeps following (the run goes on once a worker polls): the process has not exited.
    expect(await Promise.race([run.exited, new Promise((r) => setTimeout(() => r('running'), 1000))])).toBe('running');
  } finally {
    run.kill();
    await run.exited;
  }
  const status = await cliDone(['status', workflowId], { SEERFLOW_TASK_QUEUE_BASE: IDLE_BASE });
  expect(status.code).toBe(0);
  expect(status.stdout).toContain(`waiting for a worker: 1 task on ${taskQueues(IDLE_BASE).orchestrator} waited`);
});

it('reusing the name of a running run: refused with both digests when the config differs; attached when it is the same or with --attach', async () => {
  const name = runName('reuse');
  const workflowId = workflowIds.pipeline(name);
  started.push(workflowId);
  const idle = { SEERFLOW_TASK_QUEUE_BASE: IDLE_BASE };
  const digestA = digestOf(name);
  const digestB = digestOf(name, 'train.epochs=2');
  expect(digestA).not.toBe(digestB);

  const first = await cliDone(['run', ...configArgs(name), '--no-workers', '--detach'], idle);
  expect(first.code).toBe(0);
  expect(first.stdout.trim()).toBe(workflowId);
  expect(first.stderr).toContain('no worker has taken');
  expect((await stack.client.workflow.getHandle(workflowId).describe()).memo?.[CONFIG_DIGEST_MEMO]).toBe(digestA);

  const other = await cliDone(['run', ...configArgs(name, 'train.epochs=2'), '--no-workers', '--detach'], idle);
  expect(other.code).toBe(2);
  expect(other.stderr).toContain(
    `${workflowId} is already running with config ${digestA}, and this command's config is ${digestB}`,
  );
  expect(other.stderr).toContain('--attach');

  const same = await cliDone(['run', ...configArgs(name), '--no-workers', '--detach'], idle);
  expect(same.code).toBe(0);
  expect(same.stderr).toContain(`attaching to the running ${workflowId} (same config ${digestA})`);

  const forced = await cliDone(
    ['run', ...configArgs(name, 'train.epochs=2'), '--no-workers', '--detach', '--attach'],
    idle,
  );
  expect(forced.code).toBe(0);
  expect(forced.stderr).toContain(`attaching to the running ${workflowId} (--attach; it runs with config ${digestA}`);
  // Still the one execution, started once.
  const runs: string[] = [];
  for await (const w of stack.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(w.runId);
  expect(runs).toHaveLength(1);
});

it('a queue without workers shows in the live progress; the standalone ingest has its own workflow ID, which status reads', async () => {
  const name = runName('queues');
  const pipelineId = workflowIds.pipeline(name);
  started.push(pipelineId);
  const q = stack.settings.taskQueues;
  // An orchestrator and an I/O worker, no CPU worker: ingest runs, preprocess then waits for a CPU worker.
  await withWorkers(stack, ['orchestrator', 'io'], async () => {
    const run = cli(['run', ...configArgs(name), '--no-workers']);
    try {
      await waitUntil(
        async () => run.stderr.includes('waiting for a worker'),
        240_000,
        `the waiting notice:\n${run.stderr}`,
      );
      expect(run.stderr).not.toContain('no worker has taken'); // the orchestrator worker took the run at once
      expect(run.stderr).toMatch(
        new RegExp(
          `waiting for a worker: \\d+ tasks? on ${q.cpu} waited \\d+ s \\(activity \\w+ of ${pipelineId}/preprocess\\)`,
        ),
      );
      expect(run.stderr).toContain(`start one with \`seerflow worker --queues cpu\``);
      const status = await cliDone(['status', pipelineId, '--json']);
      const snap = JSON.parse(status.stdout) as { waitingForWorkers: { queue: string }[] };
      expect(snap.waitingForWorkers.map((w) => w.queue)).toEqual([q.cpu]);

      // The pipeline's ingest stage is done; `seerflow ingest` of the same name is a workflow of its own.
      const ingest = await cliDone(['ingest', ...configArgs(name), '--no-workers', '--json']);
      expect({ code: ingest.code, stderr: ingest.code === 0 ? '' : ingest.stderr }).toEqual({ code: 0, stderr: '' });
      expect(ingest.stderr).toContain(`ingest ${workflowIds.standaloneIngest(name)}`);
      const result = JSON.parse(ingest.stdout) as IngestResult;
      expect(result.reconciled).toBe(true);
      const stage = await stack.client.workflow.getHandle(workflowIds.stage(name, 'ingest')).describe();
      const alone = await stack.client.workflow.getHandle(workflowIds.standaloneIngest(name)).describe();
      expect(stage.parentExecution?.workflowId).toBe(pipelineId);
      expect(stage.runId).not.toBe(alone.runId);
      expect(alone.parentExecution).toBeUndefined();

      const status2 = await cliDone(['status', workflowIds.standaloneIngest(name)]);
      expect(status2.code).toBe(0);
      expect(status2.stdout).toMatch(
        new RegExp(
          `^${workflowIds.standaloneIngest(name)} \\(ingestWorkflow\\): status COMPLETED \\| ingest (\\d+)/\\1 partitions, listed ${result.listed},`,
        ),
      );
    } finally {
      run.kill();
      await run.exited;
    }
  });
});
