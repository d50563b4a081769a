/**
 * The pretraining loop in its own process, started by the trainSegment activity through the training kit's
 * supervisor (activities/training-kit/), so TensorFlow and multi-crop work never block the worker's event loop:
 * heartbeats and cancellation keep flowing. It speaks the kit's protocol: progress about once a second, a
 * `checkpoint` event per committed checkpoint, and on a stop request (cancel or shutdown) a checkpoint at the
 * current step, then `stopped`. It exits when the parent disappears, so a killed worker leaves no orphan behind.
 */
import { ErrorType, NonFiniteLossError, SeerflowError } from '../../contracts/errors';
import type { DatasetIndex } from '../../contracts/preprocess';
import {
  pretrainKeys,
  stepsPerEpoch,
  type CheckpointPointer,
  type DataCursor,
  type PretrainJob,
  type SegmentResult,
} from '../../contracts/pretrain';
import { createSwavEngine, type SwavEngine } from '../../engine';
import { lrAt } from '../../ml/schedules';
import { MulticropBatcher } from '../../multicrop/batcher';
import { getBytes, getJson, putJson } from '../../infra/s3';
import { runTrainingChild, type TrainingContext, type TrainingOutcome } from '../training-kit/child';
import { s3ObjectStorage } from '../training-kit/object-storage';
import { pretrainCheckpointStore } from './checkpoints';
import { SampleStream } from './sample-stream';

/**
 * One step of the cursor log (`runs/<run>/pretrain/cursor-log/`, written before the checkpoint that commits it):
 * which samples the step trained on and which it left out because they do not decode, with their source keys.
 * Per epoch, trained + undecodable samples of the log plus the epoch's dropped tail (docs/data-order.md) = N.
 */
export interface CursorLogEntry {
  step: number;
  epoch: number;
  position: number;
  indices: number[];
  skipped: { index: number; sourceKey: string; reason: string }[];
}

const log = (line: string) => process.stderr.write(`trainer: ${line}\n`);

async function train(
  ctx: TrainingContext<PretrainJob, CheckpointPointer>,
): Promise<TrainingOutcome<CheckpointPointer, SegmentResult>> {
  const { job, attempt } = ctx;
  const started = Date.now();
  const s3 = ctx.env.s3;
  const dataset = await getJson<DatasetIndex>(s3, job.bucket, job.datasetKey);
  if (!dataset)
    throw new SeerflowError(ErrorType.DatasetMissing, `dataset index s3://${job.bucket}/${job.datasetKey} not found`);
  const images = dataset.parts.reduce((n, p) => n + p.count, 0);
  const source = new SampleStream(s3, dataset, {
    order: { seed: job.seed, world: 1, rank: 0, batchSize: job.train.batchSize, window: job.train.shuffleWindow },
    partsInFlight: job.train.partsInFlight,
  });
  const spe = stepsPerEpoch(images, job.train.batchSize);
  if (spe === 0) {
    throw new SeerflowError(
      ErrorType.DatasetMissing,
      `${images} images is less than one batch of ${job.train.batchSize}`,
    );
  }
  const totalSteps = spe * job.train.epochs;
  const engine: SwavEngine = createSwavEngine({ regnet: job.regnet, swav: job.swav, optim: job.optim });
  const backend = `${engine.info.name}${engine.info.device ? `:${engine.info.device}` : ''}`;
  const store = pretrainCheckpointStore(s3ObjectStorage(s3, job.bucket), job, dataset, log);
  const loaded = await store.loadNewest((bytes) => engine.loadState(bytes), {
    ...(ctx.resume ? { hint: ctx.resume } : {}),
    required: true,
  });
  let pointer = loaded.pointer;
  if (!pointer && job.warmStartFrom) {
    const bytes = await getBytes(s3, job.bucket, job.warmStartFrom);
    if (!bytes)
      throw new SeerflowError(ErrorType.CheckpointMissing, `warm-start checkpoint ${job.warmStartFrom} not found`);
    try {
      engine.warmStart(bytes);
    } catch (err) {
      throw new SeerflowError(
        ErrorType.IncompatibleCheckpoint,
        `warm start from ${job.warmStartFrom}: ${(err as Error).message}`,
      );
    }
    log(`warm start from ${job.warmStartFrom}`);
  } else if (!pointer) engine.init(job.seed);
  const cursor: DataCursor = pointer?.cursor ?? { epoch: 0, position: 0 };
  if (engine.stepCount !== cursor.epoch * spe + cursor.position / job.train.batchSize) {
    throw new SeerflowError(
      ErrorType.IncompatibleCheckpoint,
      `checkpoint step ${engine.stepCount} does not match its data cursor ${JSON.stringify(cursor)} (${spe} steps/epoch)`,
    );
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

  let cursorLog: CursorLogEntry[] = [];
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
      entries: cursorLog,
    });
    pointer = await store.commit(
      { step: engine.stepCount, cursor: next, loss: lastLoss, backend },
      attempt,
      (checkpoint) => engine.saveState({ backend, cursor: next, runName: job.runName, checkpoint }),
    );
    lastCheckpointStep = engine.stepCount;
    cursorLog = [];
    ctx.emit({ type: 'checkpoint', pointer, metrics: { skippedSamples: skippedTotal } });
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
        if (ctx.env.verbose) log(`step ${engine.stepCount} loss ${lastLoss.toFixed(5)}`);
        skippedTotal += batch.skipped.length;
        cursorLog.push({
          step,
          epoch: batch.epoch,
          position: batch.start.position,
          indices: Array.from(batch.indices),
          skipped: batch.skipped.map((s) => ({ index: s.index, sourceKey: s.sourceKey, reason: s.reason })),
        });
        imagesSinceReport += batch.indices.length;
        const now = Date.now();
        if (now - reportAt >= 1000) {
          imagesPerSec = (imagesSinceReport * 1000) / (now - reportAt);
          imagesSinceReport = 0;
          reportAt = now;
          ctx.emit({
            type: 'progress',
            step: engine.stepCount,
            epoch: batch.next.epoch,
            position: batch.next.position,
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
          ctx.stopRequested()
        ) {
          await checkpoint(batch.next);
        }
        // Cancel and shutdown alike: the checkpoint at this step is committed, then the run stops.
        if (ctx.stopRequested()) return { type: 'stopped', ...(pointer ? { pointer } : {}) };
        if (engine.stepCount >= target) break;
      }
    }
  } catch (err) {
    if (err instanceof NonFiniteLossError) {
      throw new SeerflowError(
        ErrorType.NonFiniteLoss,
        `${err.message}; the newest good checkpoint is ${pointer?.key ?? 'none'}`,
        { step: engine.stepCount, checkpoint: pointer?.key ?? null },
      );
    }
    throw err;
  } finally {
    await batcher.close();
  }
  if (!pointer) await checkpoint(cursor);
  const elapsed = (Date.now() - stepStart) / 1000;
  const final = pointer as CheckpointPointer;
  const result: SegmentResult = {
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
  };
  engine.dispose();
  return { type: 'done', result };
}

if (require.main === module) runTrainingChild({ engine: 'seerflow-pretrain', train });
