/**
 * Durable pretraining on the real stack. The GPU-queue worker runs in its own process and is killed with SIGKILL
 * twice mid-epoch; the newest checkpoint is corrupted while the worker is down; the Temporal dev server is
 * restarted mid-run. The run must finish by itself with the planned step count, every image of every epoch
 * consumed exactly once in the committed history, at most one checkpoint interval lost per kill, and final
 * weights equal to an uninterrupted run's.
 */
import type { ChildProcess } from 'node:child_process';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { loadConfig } from '../../config/load';
import { IngestSchema } from '../../config/schema';
import type { IngestInput, IngestResult } from '../../contracts/ingest';
import type { DatasetIndex, PreprocessInput, PreprocessResult } from '../../contracts/preprocess';
import {
  pauseSignal,
  pretrainKeys,
  pretrainProgressQuery,
  resumeSignal,
  type PretrainInput,
  type PretrainResult,
} from '../../contracts/pretrain';
import { readStateHeader } from '../../engine/state';
import { RankEpochOrder } from '../../ml/data-order';
import type { LatestFile } from '../../activities/pretrain/checkpoints';
import type { CursorLogEntry } from '../../activities/pretrain/trainer-process';
import { seedCorpus } from '../../datasets/corpus/seed';
import { getBytes, getJson } from '../../infra/s3';
import { stackDown, stackUp } from '../../infra/stack';
import {
  connectStack,
  dropBucket,
  freshBucket,
  listAll,
  s3Outage,
  spawnWorkerProcess,
  waitUntil,
  withWorkers,
  type Stack,
} from './harness';
import { ingestWorkflow, preprocessWorkflow, pretrainWorkflow } from '../../workflows';

let stack: Stack;
let bucket: string;
let datasetKey: string;
let images: number;
/** Final weights of the uninterrupted run of the first test, for the later tests to compare with. */
let referenceWeights: Float32Array | undefined;

const cfg = loadConfig({
  preset: 'tiny',
  set: [
    'train.epochs=2',
    'train.batchSize=16',
    'train.checkpointEverySteps=4',
    'train.segmentSteps=1000',
    'train.heartbeatTimeoutSeconds=8',
    'train.shuffleWindow=32', // parts are read throughout an epoch, not all at its start
  ],
});
const INTERVAL = cfg.train.checkpointEverySteps;

function job(runName: string, epochs = cfg.train.epochs): PretrainInput['job'] {
  return {
    runName,
    bucket,
    datasetKey,
    seed: 7,
    regnet: cfg.model.regnet,
    swav: cfg.swav,
    optim: cfg.optim,
    train: { ...cfg.train, epochs },
  };
}

function startPretrain(runName: string, epochs?: number) {
  return stack.client.workflow.start(pretrainWorkflow, {
    taskQueue: stack.settings.taskQueues.orchestrator,
    workflowId: `test-pretrain/${bucket}/${runName}`,
    args: [{ job: job(runName, epochs) } satisfies PretrainInput],
  });
}

async function committedStep(runName: string): Promise<number> {
  const latest = await getJson<LatestFile>(stack.s3, bucket, pretrainKeys.latest(runName));
  return latest?.history[0]?.step ?? 0;
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function finalWeights(result: PretrainResult): Promise<Float32Array> {
  const bytes = await getBytes(stack.s3, bucket, result.checkpoint.key);
  if (!bytes) throw new Error(`missing ${result.checkpoint.key}`);
  return readStateHeader(bytes).data;
}

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'pretrain');
  await seedCorpus(stack.s3, { bucket, count: 150, testCount: 0, photos: false, bad: false });
  await withWorkers(stack, ['orchestrator', 'io', 'cpu'], async () => {
    const ingest = (await stack.client.workflow.execute(ingestWorkflow, {
      taskQueue: stack.settings.taskQueues.orchestrator,
      workflowId: `test-pretrain/${bucket}/ingest`,
      args: [{ runName: 'data', config: IngestSchema.parse({ bucket, partitionTarget: 2 }) } satisfies IngestInput],
    })) as IngestResult;
    const preprocess = (await stack.client.workflow.execute(preprocessWorkflow, {
      taskQueue: stack.settings.taskQueues.orchestrator,
      workflowId: `test-pretrain/${bucket}/preprocess`,
      args: [
        {
          runName: 'data',
          bucket,
          ingestSummaryKey: ingest.summaryKey,
          config: cfg.preprocess,
          maxPixels: 40_000_000,
          maxParallelShards: 2,
          shardsPerRun: 100,
        } satisfies PreprocessInput,
      ],
    })) as PreprocessResult;
    datasetKey = preprocess.datasetKey;
    images = preprocess.images;
  });
}, 600_000);

afterAll(async () => {
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

it('survives two SIGKILLs, a corrupt checkpoint and a Temporal restart, and ends where an uninterrupted run ends', async () => {
  const stepsPerEpoch = Math.floor(images / cfg.train.batchSize);
  const planned = stepsPerEpoch * cfg.train.epochs;

  // Reference: uninterrupted, in-process GPU worker.
  const reference = await withWorkers(
    stack,
    ['orchestrator', 'io', 'gpu'],
    async () => (await startPretrain('reference')).result() as Promise<PretrainResult>,
  );
  expect(reference.steps).toBe(planned);
  referenceWeights = await finalWeights(reference);

  const lost: number[] = [];
  let fellBack = false;
  const result = await withWorkers(stack, ['orchestrator', 'io'], async () => {
    const handle = await startPretrain('crashed');
    let liveStep = 0;
    const log = (chunk: string) => {
      for (const m of chunk.matchAll(/trainer: step (\d+)/g)) liveStep = Number(m[1]);
      if (chunk.includes('fell back past')) fellBack = true;
    };
    process.env.SEERFLOW_TRAINER_VERBOSE = '1';
    let gpu = spawnWorkerProcess('gpu', log);
    // Kill 1: mid-epoch 1, at a step that is not a checkpoint boundary.
    const kill1 = Math.floor(stepsPerEpoch / 2) + 1;
    await waitUntil(async () => liveStep >= kill1, 300_000, `step ${kill1}`);
    await kill(gpu);
    lost.push(liveStep - (await committedStep('crashed')));
    gpu = spawnWorkerProcess('gpu', log);

    // Kill 2: mid-epoch 2; then corrupt the newest checkpoint while no worker runs.
    const kill2 = stepsPerEpoch + Math.floor(stepsPerEpoch / 2) + 2;
    await waitUntil(async () => liveStep >= kill2, 300_000, `step ${kill2}`);
    await kill(gpu);
    lost.push(liveStep - (await committedStep('crashed')));
    const latest = (await getJson<LatestFile>(stack.s3, bucket, pretrainKeys.latest('crashed'))) as LatestFile;
    const newest = latest.history[0];
    expect(latest.history.length).toBeGreaterThan(1);
    await stack.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: newest!.key, Body: Buffer.from('not a checkpoint any more') }),
    );

    // Restart Temporal (SQLite-persisted) while the run is in flight, then bring the worker back.
    await stackDown(stack.settings, undefined, ['temporal']);
    await stackUp(stack.settings);
    gpu = spawnWorkerProcess('gpu', log);
    try {
      return (await handle.result()) as PretrainResult;
    } finally {
      delete process.env.SEERFLOW_TRAINER_VERBOSE;
      await kill(gpu);
    }
  });

  expect(result.steps).toBe(planned);
  expect(fellBack).toBe(true);
  for (const l of lost) expect(l).toBeLessThanOrEqual(INTERVAL);

  // Every image of every epoch consumed exactly once, from the cursor logs of the committed history.
  const logs = await listAll(stack.s3, bucket, `${pretrainKeys.root('crashed')}cursor-log/`);
  const entries: CursorLogEntry[] = [];
  for (const o of logs)
    entries.push(...((await getJson<{ entries: CursorLogEntry[] }>(stack.s3, bucket, o.key))?.entries ?? []));
  entries.sort((a, b) => a.step - b.step);
  expect(entries.map((e) => e.step)).toEqual(Array.from({ length: planned }, (_, i) => i));
  const index = await getJson<DatasetIndex>(stack.s3, bucket, datasetKey);
  const partCounts = index!.parts.map((p) => p.count);
  const window = cfg.train.shuffleWindow;
  for (let epoch = 0; epoch < cfg.train.epochs; epoch++) {
    const consumed = entries.filter((e) => e.epoch === epoch).flatMap((e) => e.indices);
    const order = new RankEpochOrder(
      { partCounts, seed: 7, world: 1, rank: 0, batchSize: cfg.train.batchSize, window },
      epoch,
    );
    const usable = stepsPerEpoch * cfg.train.batchSize;
    expect(consumed).toEqual(Array.from({ length: usable }, (_, p) => order.indexAt(p)));
    expect(new Set(consumed).size).toBe(consumed.length);
    // The epoch reconciles: trained + undecodable + the dropped tail of the order = every image.
    const undecodable = entries.filter((e) => e.epoch === epoch).flatMap((e) => e.skipped);
    expect(consumed.length + undecodable.length + (order.plan.sliceLength - usable)).toBe(images);
  }

  // Same weights as the uninterrupted run (deterministic data order, crops and kernels).
  const a = await finalWeights(reference);
  const b = await finalWeights(result);
  expect(b.length).toBe(a.length);
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
  process.stdout.write(
    `pretrain crash test: lost steps per kill ${JSON.stringify(lost)}, max |weight diff| ${maxDiff}\n`,
  );
  expect(maxDiff).toBeLessThanOrEqual(1e-5);
});

it('S3 unreachable for 60 s mid-epoch: the run waits it out and ends with the weights of the uninterrupted run', async () => {
  expect(referenceWeights).toBeDefined();
  const proxy = await s3Outage(stack.settings.s3.endpoint as string);
  const viaProxy = { ...stack.settings, s3: { ...stack.settings.s3, endpoint: proxy.url } };
  try {
    const result = await withWorkers(stack, ['orchestrator', 'io'], () =>
      withWorkers(
        stack,
        ['gpu'],
        async () => {
          const handle = await startPretrain('outage');
          const stepsPerEpoch = Math.floor(images / cfg.train.batchSize);
          // Mid-epoch 1: after a checkpoint, not at an epoch boundary.
          await waitUntil(async () => (await committedStep('outage')) >= stepsPerEpoch / 2, 300_000, 'mid-epoch 1');
          proxy.down();
          await new Promise((r) => setTimeout(r, 60_000));
          proxy.up();
          const done = (await handle.result()) as PretrainResult;
          // The outage was felt: some training segment needed more than one attempt.
          const history = await handle.fetchHistory();
          const attempts = (history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
          expect(Math.max(...attempts)).toBeGreaterThan(1);
          return done;
        },
        viaProxy,
      ),
    );
    expect(result.steps).toBe(Math.floor(images / cfg.train.batchSize) * cfg.train.epochs);
    const weights = await finalWeights(result);
    let maxDiff = 0;
    for (let i = 0; i < weights.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs((weights[i] as number) - (referenceWeights![i] as number)));
    process.stdout.write(`pretrain outage test: max |weight diff| ${maxDiff}\n`);
    expect(maxDiff).toBe(0);
  } finally {
    await proxy.close();
  }
}, 900_000);

it('pause stops training after a checkpoint, resume continues, cancel checkpoints before it ends', async () => {
  await withWorkers(stack, ['orchestrator', 'io', 'gpu'], async () => {
    // Long enough that pause and cancel land mid-run (cancellation reaches an activity with its next heartbeat).
    const EPOCHS = 12;
    const handle = await startPretrain('controlled', EPOCHS);
    await waitUntil(async () => (await committedStep('controlled')) >= INTERVAL, 300_000, 'the first checkpoint');
    await handle.signal(pauseSignal);
    await waitUntil(async () => (await handle.query(pretrainProgressQuery)).paused, 30_000, 'paused');
    // Paused: the segment checkpointed and stopped; nothing moves any more.
    await waitUntil(
      async () => (await handle.describe()).raw.pendingActivities?.length === 0,
      120_000,
      'the segment to stop',
    );
    const atPause = await committedStep('controlled');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await committedStep('controlled')).toBe(atPause);
    await handle.signal(resumeSignal);
    const done = (await handle.result()) as PretrainResult;
    expect(done.steps).toBe(Math.floor(images / cfg.train.batchSize) * EPOCHS);
    expect(atPause).toBeLessThan(done.steps);

    const cancelled = await startPretrain('cancelled', EPOCHS);
    await waitUntil(async () => (await committedStep('cancelled')) >= INTERVAL, 300_000, 'the first checkpoint');
    await cancelled.cancel();
    await expect(cancelled.result()).rejects.toThrow();
    expect((await cancelled.describe()).status.name).toBe('CANCELLED');
    // The activity was allowed to finish its cancellation: the trainer wrote a checkpoint on the way out.
    const latest = (await getJson<LatestFile>(stack.s3, bucket, pretrainKeys.latest('cancelled'))) as LatestFile;
    expect(latest.history[0]!.step).toBeGreaterThanOrEqual(INTERVAL);
  });
});
