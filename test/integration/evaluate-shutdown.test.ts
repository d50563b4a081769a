/**
 * Worker shutdown during evaluation, on the real S3 with the real child processes (MockActivityEnvironment): when
 * the worker's shutdown registry fires mid-run, a classification run and a detection run each commit the epoch
 * they are in, stop, and fail with the retryable `WorkerShutdown`; the retry (attempt 2, with the last heartbeat's
 * details, as Temporal passes them) resumes after that epoch and ends exactly where an uninterrupted run ends.
 * Needs the compiled dist/ (the trainers are child processes).
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDetectionActivities } from '../../activities/detection/activities';
import type { DetectionHeartbeat, DetectionJob, DetectionRunResult } from '../../contracts/detection';
import { createEvaluateActivities, type ClassificationHeartbeat } from '../../activities/evaluate/activities';
import { ShutdownRegistry } from '../../activities/shared/shutdown';
import { loadConfig } from '../../config/load';
import type { ClassificationJob, ClassificationRun, EvalDataRef } from '../../contracts/evaluate';
import type { DetectionManifest } from '../../datasets/detection/build-dataset';
import { seedCorpus } from '../../datasets/corpus/seed';
import { connectStack, dropBucket, freshBucket, listAll, type Stack } from './harness';

let stack: Stack;
let bucket: string;
let data: EvalDataRef;
let datasetPrefix: string;
const tiny = loadConfig({ preset: 'tiny' });

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'eval-shutdown');
  await seedCorpus(stack.s3, { bucket, count: 100, testCount: 20, photos: false, bad: false });
  const acts = createEvaluateActivities({ s3: stack.s3 });
  data = (await new MockActivityEnvironment().run(acts.prepareEvalData, {
    bucket,
    shortSide: tiny.preprocess.shortSide,
    jpegQuality: tiny.preprocess.jpegQuality,
  })) as EvalDataRef;
  const det = createDetectionActivities({ s3: stack.s3 });
  const manifest = (await new MockActivityEnvironment().run(det.buildDetectionDataset, {
    bucket,
    images: 48,
    testImages: 16,
    seed: 5,
    size: 32,
    photos: 2,
  })) as DetectionManifest;
  datasetPrefix = manifest.prefix;
}, 300_000);

afterAll(async () => {
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

/** Runs `fn` and returns what it threw. */
async function failure(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the attempt to fail');
}

function expectWorkerShutdown(err: unknown): void {
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect((err as ApplicationFailure).type).toBe('WorkerShutdown');
  expect((err as ApplicationFailure).nonRetryable).toBe(false);
}

it('a classification run commits its current epoch on worker shutdown and the retry resumes after it', async () => {
  const job = (runName: string): ClassificationJob => ({
    runName,
    bucket,
    checkpoint: {
      key: 'unused-for-scratch',
      step: 0,
      cursor: { epoch: 0, position: 0 },
      sha256: '',
      bytes: 0,
      loss: 0,
      backend: 'test',
    },
    regnet: tiny.model.regnet,
    swav: tiny.swav,
    epochs: 4,
    protocol: 'finetune',
    init: 'scratch',
    seed: 1,
    fraction: 1,
    batchSize: 32,
    data,
  });
  const reference = (await new MockActivityEnvironment().run(
    createEvaluateActivities({ s3: stack.s3 }).runClassification,
    job('ref'),
  )) as ClassificationRun;
  expect(reference.curve).toHaveLength(4);

  // Attempt 1: the worker shuts down while epoch 2 trains (signalled as epoch 1 is committed).
  const shutdown = new ShutdownRegistry();
  const acts = createEvaluateActivities({ s3: stack.s3, shutdown });
  const env = new MockActivityEnvironment();
  const beats: ClassificationHeartbeat[] = [];
  env.on('heartbeat', (d: unknown) => {
    const b = structuredClone(d as ClassificationHeartbeat);
    beats.push(b);
    if (b.epochsDone === 1 && shutdown.stopAll() !== 1) throw new Error('the running child was not registered');
  });
  expectWorkerShutdown(await failure(() => env.run(acts.runClassification, job('sd'))));
  const last = beats.at(-1);
  expect(last?.pointer?.epochsDone).toBe(2); // the epoch in progress was finished and committed, not dropped

  // Attempt 2 on a fresh worker (its own registry) resumes after epoch 2 and ends as the uninterrupted run.
  const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: last });
  const resumedBeats: ClassificationHeartbeat[] = [];
  retry.on('heartbeat', (d: unknown) => resumedBeats.push(structuredClone(d as ClassificationHeartbeat)));
  const resumed = (await retry.run(
    createEvaluateActivities({ s3: stack.s3 }).runClassification,
    job('sd'),
  )) as ClassificationRun;
  expect(resumedBeats[0]?.epochsDone).toBe(2);
  expect(resumedBeats.map((b) => b.pointer?.epochsDone).filter((e) => e !== undefined && e > 2)).toEqual([3, 4]);
  expect(resumed.curve).toEqual(reference.curve);
  expect(resumed.top1).toBe(reference.top1);
}, 300_000);

it('a detection run commits its current epoch on worker shutdown and the retry resumes after it', async () => {
  const job: DetectionJob = {
    bucket,
    regnet: tiny.model.regnet,
    init: 'scratch',
    seed: 3,
    epochs: 4,
    datasetPrefix,
    train: tiny.eval.detection.train, // batch 16, the schema defaults
  };
  const reference = (await new MockActivityEnvironment().run(
    createDetectionActivities({ s3: stack.s3 }).runDetection,
    job,
  )) as DetectionRunResult;
  // Forget the finished run (result and checkpoints) so the same job trains again.
  const root = reference.resultKey.replace(/result\.json$/, '');
  for (const o of await listAll(stack.s3, bucket, root))
    await stack.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.key }));

  // Attempt 1: the worker shuts down while epoch 2 trains (signalled as epoch 1 is committed).
  const shutdown = new ShutdownRegistry();
  const acts = createDetectionActivities({ s3: stack.s3, shutdown });
  const env = new MockActivityEnvironment();
  const beats: DetectionHeartbeat[] = [];
  let signalled = false;
  env.on('heartbeat', (d: unknown) => {
    const b = structuredClone(d as DetectionHeartbeat);
    beats.push(b);
    if (b.pointer?.epoch === 1 && !signalled) {
      signalled = true;
      if (shutdown.stopAll() !== 1) throw new Error('the running trainer was not registered');
    }
  });
  expectWorkerShutdown(await failure(() => env.run(acts.runDetection, job)));
  const last = beats.at(-1);
  expect(last?.pointer?.epoch).toBe(2); // the epoch in progress was finished and committed, not dropped
  expect(last?.pointer?.key).toMatch(/epoch-0002-a1\.state$/);

  // Attempt 2 on a fresh worker resumes after epoch 2 and ends exactly as the uninterrupted run.
  const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: last });
  const resumed = (await retry.run(
    createDetectionActivities({ s3: stack.s3 }).runDetection,
    job,
  )) as DetectionRunResult;
  expect(resumed.resumedFromEpoch).toBe(2);
  expect(resumed.epochLoss).toEqual(reference.epochLoss);
  expect(resumed.stats).toEqual(reference.stats);
}, 300_000);
