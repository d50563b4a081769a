/**
 * The training loop in its own process (forked by the trainSegment activity), so TensorFlow and multi-crop work
 * never block the worker's event loop: heartbeats and cancellation keep flowing. Talks to its parent over IPC:
 *   in:  {type:'run', job, attempt} | {type:'stop'}
 *   out: {type:'progress'|'checkpoint'|'done'|'stopped'|'error', ...}
 * It exits when the parent disappears, so a killed worker never leaves an orphan trainer behind.
 */
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../contracts/errors';
import type { DatasetIndex } from '../../contracts/preprocess';
import {
  pretrainKeys,
  stepsPerEpoch,
  type CheckpointPointer,
  type DataCursor,
  type PretrainJob,
  type SegmentResult,
} from '../../contracts/pretrain';
import { createSwavEngine, NonFiniteLossError, type SwavEngine } from '../../engine';
import { lrAt } from '../../ml/schedules';
import { MulticropBatcher } from '../../multicrop/batcher';
import { createS3Client, getBytes, getJson, putJson } from '../../infra/s3';
import { loadServiceSettings } from '../../infra/settings';
import {
  CheckpointStore,
  IncompatibleRunError,
  NoUsableCheckpointError,
  pretrainFingerprint,
  sha256Hex,
} from './checkpoints';
import { SampleStream } from './sample-stream';

export type TrainerMessage =
  | { type: 'progress'; step: number; cursor: DataCursor; loss: number; lr: number; imagesPerSec: number }
  | { type: 'checkpoint'; pointer: CheckpointPointer; skippedSamples: number }
  | { type: 'done'; result: SegmentResult }
  | { type: 'stopped'; pointer?: CheckpointPointer }
  | { type: 'error'; errorType?: string; message: string; nonRetryable: boolean; details?: unknown };

export interface CursorLogEntry {
  step: number;
  epoch: number;
  position: number;
  indices: number[];
  skipped: number[];
}

let stopRequested = false;
/** SEERFLOW_TRAINER_VERBOSE=1 prints one line per step (debugging, crash tests). */
const verbose = process.env.SEERFLOW_TRAINER_VERBOSE === '1';

function send(msg: TrainerMessage): void {
  process.send?.(msg);
}

async function run(job: PretrainJob, attempt: number): Promise<void> {
  const started = Date.now();
  const s3 = createS3Client(loadServiceSettings().s3);
  const dataset = await getJson<DatasetIndex>(s3, job.bucket, job.datasetKey);
  if (!dataset)
    throw ApplicationFailure.create({
      type: ErrorType.DatasetMissing,
      message: `dataset index s3://${job.bucket}/${job.datasetKey} not found`,
      nonRetryable: true,
    });
  const images = dataset.parts.reduce((n, p) => n + p.count, 0);
  const source = new SampleStream(s3, dataset, {
    order: { seed: job.seed, world: 1, rank: 0, batchSize: job.train.batchSize, window: job.train.shuffleWindow },
    partsInFlight: job.train.partsInFlight,
  });
  const spe = stepsPerEpoch(images, job.train.batchSize);
  if (spe === 0) {
    throw ApplicationFailure.create({
      type: ErrorType.DatasetMissing,
      message: `${images} images is less than one batch of ${job.train.batchSize}`,
      nonRetryable: true,
    });
  }
  const totalSteps = spe * job.train.epochs;
  const engine: SwavEngine = createSwavEngine({ regnet: job.regnet, swav: job.swav, optim: job.optim });
  const backend = `${engine.info.name}${engine.info.device ? `:${engine.info.device}` : ''}`;
  // The dataset's content identity: its parts are content-addressed, so their keys identify the images.
  const datasetFingerprint = sha256Hex(Buffer.from(JSON.stringify(dataset.parts.map((p) => p.key))));
  const store = new CheckpointStore(
    s3,
    job.bucket,
    job.runName,
    job.train.keepCheckpoints,
    pretrainFingerprint(job, datasetFingerprint),
  );

  let loaded;
  try {
    loaded = await store.loadNewest((bytes) => engine.loadState(bytes), job.resumeFrom);
  } catch (err) {
    if (err instanceof NoUsableCheckpointError || err instanceof IncompatibleRunError) {
      throw ApplicationFailure.create({
        type: ErrorType.IncompatibleCheckpoint,
        message: err.message,
        nonRetryable: true,
      });
    }
    throw err;
  }
  if (loaded && loaded.skipped.length > 0)
    process.stderr.write(`trainer: fell back past ${loaded.skipped.map((s) => `${s.key} (${s.reason})`).join(', ')}\n`);
  let pointer = loaded?.pointer;
  if (!loaded && job.warmStartFrom) {
    const bytes = await getBytes(s3, job.bucket, job.warmStartFrom);
    if (!bytes)
      throw ApplicationFailure.create({
        type: ErrorType.CheckpointMissing,
        message: `warm-start checkpoint ${job.warmStartFrom} not found`,
        nonRetryable: true,
      });
    try {
      engine.warmStart(bytes);
    } catch (err) {
      throw ApplicationFailure.create({
        type: ErrorType.IncompatibleCheckpoint,
        message: `warm start from ${job.warmStartFrom}: ${(err as Error).message}`,
        nonRetryable: true,
      });
    }
    process.stderr.write(`trainer: warm start from ${job.warmStartFrom}\n`);
  } else if (!loaded) engine.init(job.seed);
  const cursor: DataCursor = pointer?.cursor ?? { epoch: 0, position: 0 };
  if (engine.stepCount !== cursor.epoch * spe + cursor.position / job.train.batchSize) {
    throw ApplicationFailure.create({
      type: ErrorType.IncompatibleCheckpoint,
      message: `checkpoint step ${engine.stepCount} does not match its data cursor ${JSON.stringify(cursor)} (${spe} steps/epoch)`,
      nonRetryable: true,
    });
  }
  const target = Math.min(job.targetSteps, totalSteps);
  const lrOpts = {
    baseLr: job.optim.baseLr,
    finalLr: job.optim.finalLr,
    startWarmupLr: job.optim.startWarmupLr,
    warmupEpochs: job.optim.warmupEpochs,
    epochs: job.train.epochs,
    itersPerEpoch: spe,
  };
  const batcher = new MulticropBatcher({
    source,
    batchSize: job.train.batchSize,
    seed: job.seed,
    multicrop: { specs: job.swav.crops },
    workers: 1,
    start: cursor,
    endEpoch: job.train.epochs,
  });

  let log: CursorLogEntry[] = [];
  let skippedTotal = 0;
  let lastLoss = pointer?.loss ?? Number.NaN;
  let lastLr = 0;
  let imagesSinceReport = 0;
  let reportAt = Date.now();
  let imagesPerSec = 0;
  let stepsThisSegment = 0;
  let lastCheckpointStep = engine.stepCount;
  const stepStart = Date.now();

  const checkpoint = async (next: DataCursor): Promise<void> => {
    if (engine.stepCount === lastCheckpointStep && pointer) return;
    // The cursor log of the steps since the previous checkpoint is written before the pointer commits them.
    await putJson(s3, job.bucket, pretrainKeys.cursorLog(job.runName, engine.stepCount), {
      step: engine.stepCount,
      entries: log,
    });
    const state = engine.saveState({ backend, cursor: next, runName: job.runName });
    pointer = await store.save(state, { step: engine.stepCount, cursor: next, loss: lastLoss, backend }, attempt);
    lastCheckpointStep = engine.stepCount;
    log = [];
    send({ type: 'checkpoint', pointer, skippedSamples: skippedTotal });
  };

  try {
    if (engine.stepCount < target) {
      for await (const batch of batcher) {
        const step = engine.stepCount;
        lastLr = lrAt(step, lrOpts);
        const result = engine.step(
          { crops: batch.groups.map((g) => g.data), batch: batch.indices.length, epoch: batch.epoch },
          lastLr,
        );
        lastLoss = result.loss;
        stepsThisSegment++;
        if (verbose) process.stderr.write(`trainer: step ${engine.stepCount} loss ${lastLoss.toFixed(5)}\n`);
        skippedTotal += batch.skipped.length;
        log.push({
          step,
          epoch: batch.epoch,
          position: batch.start.position,
          indices: Array.from(batch.indices),
          skipped: batch.skipped.map((s) => s.index),
        });
        imagesSinceReport += batch.indices.length;
        const now = Date.now();
        if (now - reportAt >= 1000) {
          imagesPerSec = (imagesSinceReport * 1000) / (now - reportAt);
          imagesSinceReport = 0;
          reportAt = now;
          send({
            type: 'progress',
            step: engine.stepCount,
            cursor: batch.next,
            loss: lastLoss,
            lr: lastLr,
            imagesPerSec,
          });
        }
        const epochEnd = batch.next.epoch !== batch.epoch;
        if (
          engine.stepCount % job.train.checkpointEverySteps === 0 ||
          epochEnd ||
          engine.stepCount >= target ||
          stopRequested
        ) {
          await checkpoint(batch.next);
        }
        if (stopRequested) {
          send({ type: 'stopped', ...(pointer ? { pointer } : {}) });
          return;
        }
        if (engine.stepCount >= target) break;
      }
    }
  } catch (err) {
    if (err instanceof NonFiniteLossError) {
      throw ApplicationFailure.create({
        type: ErrorType.NonFiniteLoss,
        message: `${err.message}; the newest good checkpoint is ${pointer?.key ?? 'none'}`,
        nonRetryable: true,
        details: [{ step: engine.stepCount, checkpoint: pointer?.key ?? null }],
      });
    }
    throw err;
  } finally {
    await batcher.close();
  }
  if (!pointer) await checkpoint(cursor);
  const elapsed = (Date.now() - stepStart) / 1000;
  const final = pointer as CheckpointPointer;
  send({
    type: 'done',
    result: {
      pointer: final,
      steps: engine.stepCount,
      stepsThisSegment,
      done: engine.stepCount >= totalSteps,
      loss: lastLoss,
      lr: lastLr,
      imagesPerSec: imagesPerSec || (stepsThisSegment * job.train.batchSize) / Math.max(elapsed, 1e-9),
      computeSeconds: (Date.now() - started) / 1000,
      skippedSamples: skippedTotal,
      backend,
      ...(engine.info.fallbackReason ? { backendWarning: engine.info.fallbackReason } : {}),
    },
  });
  engine.dispose();
}

if (require.main === module) {
  process.on('disconnect', () => process.exit(3)); // the worker died: do not keep training as an orphan
  process.on('message', (msg: { type: string; job?: PretrainJob; attempt?: number }) => {
    if (msg.type === 'stop') stopRequested = true;
    if (msg.type === 'run' && msg.job) {
      run(msg.job, msg.attempt ?? 1).then(
        () => process.exit(0),
        (err: unknown) => {
          const e = err as Error & { type?: string; nonRetryable?: boolean; details?: unknown };
          send({
            type: 'error',
            ...(e.type ? { errorType: e.type } : {}),
            message: e.message ?? String(err),
            nonRetryable: e.nonRetryable ?? false,
            details: e.details,
          });
          setTimeout(() => process.exit(1), 50);
        },
      );
    }
  });
}
