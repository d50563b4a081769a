/**
 * The whole pipeline on the real stack (ingest -> preprocess -> pretrain; evaluation off to keep CI short), then the
 * same run again: every stage must be a cache hit, nothing recomputed. A worker that receives SIGTERM mid-training
 * checkpoints its current step before it exits.
 */
import type { ChildProcess } from 'node:child_process';
import { loadConfig } from '../../config/load';
import type { PipelineInput, PipelineResult } from '../../contracts/pipeline';
import { pretrainKeys } from '../../contracts/pretrain';
import type { LatestFile } from '../../activities/pretrain/checkpoints';
import { seedCorpus } from '../../datasets/corpus/seed';
import { getJson } from '../../infra/s3';
import {
  connectStack,
  dropBucket,
  freshBucket,
  spawnWorkerProcess,
  waitUntil,
  withWorkers,
  type Stack,
} from './harness';
import { seerPipelineWorkflow } from '../../workflows';

let stack: Stack;
let bucket: string;

function config(runName: string, epochs = 1) {
  return loadConfig({
    preset: 'tiny',
    set: [
      `run.name=${runName}`,
      `ingest.bucket=${bucket}`,
      `train.epochs=${epochs}`,
      'train.batchSize=16',
      'train.checkpointEverySteps=3',
      'eval.enabled=false',
    ],
  });
}

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'pipeline');
  await seedCorpus(stack.s3, { bucket, count: 120, testCount: 0, photos: false, bad: true });
}, 300_000);

afterAll(async () => {
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

it('runs ingest -> preprocess -> pretrain, and a re-run of the same pipeline recomputes nothing', async () => {
  const run = (id: string) =>
    stack.client.workflow.execute(seerPipelineWorkflow, {
      taskQueue: stack.settings.taskQueues.orchestrator,
      workflowId: id,
      args: [{ config: config('p1') } satisfies PipelineInput],
    }) as Promise<PipelineResult>;
  const [first, second] = await withWorkers(stack, ['orchestrator', 'io', 'cpu', 'gpu'], async () => [
    await run(`test-pipeline/${bucket}/first`),
    await run(`test-pipeline/${bucket}/again`),
  ]);
  expect(first.ingest.reconciled).toBe(true);
  expect(first.ingest.quarantined).toBeGreaterThan(0);
  expect(first.preprocess.images).toBe(first.ingest.accepted);
  expect(first.pretrain.steps).toBe(Math.floor(first.preprocess.images / 16));
  expect(first.pretrain.cached).toBe(false);
  expect(Object.values(first.stages).map((s) => s.status)).toEqual(['done', 'done', 'done', 'not-built']);

  expect(second.ingest.cachedPartitions).toBe(second.ingest.partitions);
  expect(second.preprocess.cachedShards).toBe(second.preprocess.shards);
  expect(second.pretrain.cached).toBe(true);
  expect(second.pretrain.checkpoint.key).toBe(first.pretrain.checkpoint.key);
  expect(second.ingest.summaryKey).toBe(first.ingest.summaryKey);
});

it('a worker that receives SIGTERM checkpoints its current step before exiting', async () => {
  const committed = async () =>
    (await getJson<LatestFile>(stack.s3, bucket, pretrainKeys.latest('p2')))?.history[0]?.step ?? 0;
  await withWorkers(stack, ['orchestrator', 'io', 'cpu'], async () => {
    const handle = await stack.client.workflow.start(seerPipelineWorkflow, {
      taskQueue: stack.settings.taskQueues.orchestrator,
      workflowId: `test-pipeline/${bucket}/sigterm`,
      args: [{ config: config('p2', 6) } satisfies PipelineInput],
    });
    let liveStep = 0;
    process.env.SEERFLOW_TRAINER_VERBOSE = '1';
    const log = (chunk: string) => {
      for (const m of chunk.matchAll(/trainer: step (\d+)/g)) liveStep = Number(m[1]);
    };
    let gpu: ChildProcess = spawnWorkerProcess('gpu', log);
    try {
      await waitUntil(async () => liveStep >= 5 && liveStep % 3 !== 0, 300_000, 'a step between checkpoints');
      const exited = new Promise<number | null>((resolve) => gpu.once('exit', (code) => resolve(code)));
      gpu.kill('SIGTERM');
      await exited;
      // Graceful shutdown: the trainer stopped at a step boundary and committed it, instead of losing it.
      expect(await committed()).toBe(liveStep);
      gpu = spawnWorkerProcess('gpu', log);
      const result = (await handle.result()) as PipelineResult;
      expect(result.pretrain.steps).toBe(Math.floor(result.preprocess.images / 16) * 6);
    } finally {
      delete process.env.SEERFLOW_TRAINER_VERBOSE;
      gpu.kill('SIGKILL');
    }
  });
});
