/**
 * The classification training loop in its own process, started by the runClassification activity through the
 * training kit's supervisor (activities/training-kit/), so TensorFlow never blocks the worker's event loop:
 * heartbeats and cancellation keep flowing. It sends a `checkpoint` event (with the epoch's loss and top-1) per
 * committed epoch; on a stop request (cancel or shutdown) it finishes and commits the epoch it is in, then stops.
 * It exits when the parent disappears, so a killed worker leaves no orphan behind.
 */
import type { ClassificationRun } from '../../contracts/evaluate';
import { getJson, putJson } from '../../infra/s3';
import { runTrainingChild, type TrainingContext, type TrainingOutcome } from '../training-kit/child';
import { s3ObjectStorage } from '../training-kit/object-storage';
import { ClassifyStopped, runClassificationJob, type ClassifyIo } from './classify-run';
import type { ClassificationJob, ClassifierPointer } from '../../contracts/evaluate';

async function train(
  ctx: TrainingContext<ClassificationJob, ClassifierPointer>,
): Promise<TrainingOutcome<ClassifierPointer, ClassificationRun>> {
  const { job } = ctx;
  const s3 = ctx.env.s3;
  const io: ClassifyIo = {
    ...s3ObjectStorage(s3, job.bucket),
    getJson: (key) => getJson(s3, job.bucket, key),
    putJson: (key, value) => putJson(s3, job.bucket, key, value),
    onEpoch: (pointer, metrics) => ctx.emit({ type: 'checkpoint', pointer, metrics }),
    stopRequested: () => ctx.stopRequested() !== undefined,
  };
  try {
    return { type: 'done', result: await runClassificationJob(job, io, ctx.resume, ctx.attempt) };
  } catch (err) {
    if (err instanceof ClassifyStopped) return { type: 'stopped', ...(err.pointer ? { pointer: err.pointer } : {}) };
    throw err;
  }
}

if (require.main === module) runTrainingChild({ engine: 'seerflow-classifier', train });
