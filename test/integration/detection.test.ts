/**
 * The detection benchmark on the real stack, tiny: a small copy-paste dataset in a fresh bucket, the runDetection
 * activity (forked trainer, native TF) under MockActivityEnvironment: scratch and pretrained runs give the 12
 * COCO stats, a cancelled run resumes from the checkpoint in its heartbeat details and ends where an
 * uninterrupted run ends. Needs the compiled dist/ (the trainer is a child process).
 */
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDetectionActivities } from '../../activities/detection/activities';
import type { DetectionHeartbeat, DetectionJob, DetectionRunResult } from '../../contracts/detection';
import { loadConfig } from '../../config/load';
import type { CheckpointPointer } from '../../contracts/pretrain';
import { createSwavEngine } from '../../engine';
import { writeDetectionDataset, type DetectionManifest } from '../../datasets/detection/build-dataset';
import { getJson } from '../../infra/s3';
import { connectStack, dropBucket, freshBucket, listAll, type Stack } from './harness';

let stack: Stack;
let bucket: string;
let prefix: string;
const tiny = loadConfig({ preset: 'tiny' });

function job(over: Partial<DetectionJob> = {}): DetectionJob {
  return {
    bucket,
    regnet: tiny.model.regnet,
    init: 'scratch',
    seed: 0,
    epochs: 1,
    datasetPrefix: prefix,
    train: tiny.eval.detection.train, // batch 16, the schema defaults
    ...over,
  };
}

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'detection');
  const opts = { images: 48, testImages: 16, seed: 3, size: 32, photos: 2 };
  const manifest = (await new MockActivityEnvironment().run(
    createDetectionActivities({ s3: stack.s3 }).buildDetectionDataset,
    { bucket, ...opts },
  )) as DetectionManifest;
  prefix = manifest.prefix;
  expect(manifest.train.images).toBe(48);
  expect(manifest.test.images).toBe(16);
  expect((await listAll(stack.s3, bucket, `${prefix}images/`)).length).toBe(64);
  // Idempotent: a complete dataset is not rewritten.
  const again = await writeDetectionDataset(stack.s3, bucket, opts);
  expect(again.cached).toBe(true);
  expect(again.manifest).toEqual(manifest);
}, 120_000);

afterAll(async () => {
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

function expectStats(r: DetectionRunResult): void {
  expect(r.stats).toHaveLength(12);
  for (const s of r.stats) expect(Number.isFinite(s)).toBe(true);
  expect(r.stats[0]).toBeGreaterThanOrEqual(0); // AP is defined: the test split has boxes
}

describe('runDetection activity', () => {
  it('trains 1 epoch from scratch and returns the 12 COCO stats; a rerun is a cache hit', async () => {
    const acts = createDetectionActivities({ s3: stack.s3 });
    const beats: DetectionHeartbeat[] = [];
    const env = new MockActivityEnvironment();
    env.on('heartbeat', (d: unknown) => beats.push(d as DetectionHeartbeat));
    const r = (await env.run(acts.runDetection, job())) as DetectionRunResult;
    expectStats(r);
    expect(r).toMatchObject({
      init: 'scratch',
      seed: 0,
      epochs: 1,
      trainImages: 48,
      testImages: 16,
      resumedFromEpoch: 0,
      cached: false,
    });
    expect(r.epochLoss).toHaveLength(1);
    expect(beats.some((b) => b.pointer?.epoch === 1)).toBe(true);
    expect(await getJson(stack.s3, bucket, r.resultKey)).toEqual(r);
    expect(Array.isArray(await getJson(stack.s3, bucket, r.detectionsKey))).toBe(true);
    const again = (await new MockActivityEnvironment().run(acts.runDetection, job())) as DetectionRunResult;
    expect({ ...again, cached: false }).toEqual(r);
    expect(again.cached).toBe(true);
  });

  it('initialises the trunk from a SwAV checkpoint (pretrained)', async () => {
    const engine = createSwavEngine({ regnet: tiny.model.regnet, swav: tiny.swav, optim: tiny.optim });
    engine.init(11);
    const state = engine.saveState();
    engine.dispose();
    const key = 'runs/fake-swav/pretrain/checkpoints/step-00000001-a1.state';
    await stack.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: state, ContentLength: state.length }));
    const checkpoint: CheckpointPointer = {
      key,
      step: 1,
      cursor: { epoch: 0, position: 0 },
      sha256: createHash('sha256').update(state).digest('hex'),
      bytes: state.length,
      loss: 0,
      backend: 'tensorflow:cpu',
    };
    const r = (await new MockActivityEnvironment().run(
      createDetectionActivities({ s3: stack.s3 }).runDetection,
      job({ init: 'pretrained', checkpoint }),
    )) as DetectionRunResult;
    expectStats(r);
    expect(r).toMatchObject({ init: 'pretrained', checkpointKey: key });
    // A checkpoint of another architecture is refused, not retried.
    const other = { ...tiny.model.regnet, w0: 24 };
    const err = await new MockActivityEnvironment()
      .run(
        createDetectionActivities({ s3: stack.s3 }).runDetection,
        job({ init: 'pretrained', checkpoint, regnet: other }),
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('IncompatibleCheckpoint');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
  });

  it('resumes from the checkpoint in its heartbeat details and ends where an uninterrupted run ends', async () => {
    const acts = createDetectionActivities({ s3: stack.s3 });
    const j = job({ seed: 4, epochs: 2 });
    const reference = (await new MockActivityEnvironment().run(acts.runDetection, j)) as DetectionRunResult;
    expectStats(reference);
    // Forget the finished run (result and checkpoints) so the same job trains again.
    const root = reference.resultKey.replace(/result\.json$/, '');
    for (const o of await listAll(stack.s3, bucket, root))
      await stack.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.key }));

    // Attempt 1: cancelled right after epoch 1 was committed.
    const first = new MockActivityEnvironment();
    let committed: DetectionHeartbeat | undefined;
    first.on('heartbeat', (d: unknown) => {
      const b = d as DetectionHeartbeat;
      if (b.pointer?.epoch === 1 && !committed) {
        committed = structuredClone(b);
        first.cancel('CANCELLED');
      }
    });
    await expect(first.run(acts.runDetection, j)).rejects.toBeInstanceOf(CancelledFailure);
    expect(committed?.pointer?.key).toMatch(/epoch-0001-a1\.state$/);
    // Only the heartbeat names the checkpoint now: latest.json is gone.
    await stack.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `${root}checkpoints/latest.json` }));

    // Attempt 2 sees the heartbeat details, as Temporal passes them on retry.
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: committed });
    const epochs: number[] = [];
    retry.on('heartbeat', (d: unknown) => {
      const b = d as DetectionHeartbeat;
      if (b.pointer) epochs.push(b.pointer.epoch);
    });
    const resumed = (await retry.run(acts.runDetection, j)) as DetectionRunResult;
    expect(resumed.resumedFromEpoch).toBe(1);
    expect(epochs.filter((e) => e === 2).length).toBeGreaterThan(0);
    expect(resumed.epochLoss).toEqual(reference.epochLoss);
    expect(resumed.stats).toEqual(reference.stats);
  });

  it('fails fast and non-retryably on a missing dataset', async () => {
    const err = await new MockActivityEnvironment()
      .run(createDetectionActivities({ s3: stack.s3 }).runDetection, job({ datasetPrefix: 'detection/nope/' }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('DatasetMissing');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
  });
});
