/**
 * Pretraining activities. `trainSegment` runs the training loop in an engine process (trainer-process.ts) through
 * the training kit's relay (activities/training-kit/relay.ts): heartbeats carry `{step, cursor, checkpoint
 * pointer}` (small pointers only), each committed checkpoint is also signalled to the workflow, and cancellation
 * (user cancel, pause) or a worker shutdown asks the trainer to checkpoint and stop before the activity ends.
 */
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { activityInfo } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { newestPointer } from '../../contracts/checkpoints';
import { ErrorType, SeerflowError } from '../../contracts/errors';
import type { DatasetIndex } from '../../contracts/preprocess';
import {
  checkpointCommittedSignal,
  stepsPerEpoch,
  type CheckpointPointer,
  type DataCursor,
  type PretrainJob,
  type SegmentResult,
} from '../../contracts/pretrain';
import { getJson } from '../../infra/s3';
import { PROJECT_ROOT } from '../../infra/settings';
import { withFailureConversion } from '../shared/failure';
import { s3ObjectStorage } from '../training-kit/object-storage';
import { attemptOptions, previousBeat, relayTraining, type TrainingDeps } from '../training-kit/relay';
import { nodeEngine } from '../training-kit/supervisor';
import { pretrainCheckpointStore } from './checkpoints';

export interface PretrainDeps extends TrainingDeps {
  s3: S3Client;
  /** Used to signal committed checkpoints to the workflow; optional (tests without a server). */
  client?: Client;
  /** Path of the compiled trainer script; defaults to dist/activities/pretrain/trainer-process.js. */
  trainerScript?: string;
}

export interface SegmentHeartbeat {
  step: number;
  cursor?: DataCursor;
  pointer?: CheckpointPointer;
  loss?: number;
  lr?: number;
  imagesPerSec?: number;
}

const byStep = (p: CheckpointPointer) => p.step;

export function createPretrainActivities(deps: PretrainDeps) {
  const script = deps.trainerScript ?? path.join(PROJECT_ROOT, 'dist', 'activities', 'pretrain', 'trainer-process.js');

  /** The dataset index and its steps per epoch; a missing or too small dataset is refused. */
  async function planDataset(job: Pick<PretrainJob, 'bucket' | 'datasetKey' | 'train'>) {
    const dataset = await getJson<DatasetIndex>(deps.s3, job.bucket, job.datasetKey);
    if (!dataset) throw new SeerflowError(ErrorType.DatasetMissing, `dataset ${job.datasetKey} not found`);
    const images = dataset.parts.reduce((n, p) => n + p.count, 0);
    const spe = stepsPerEpoch(images, job.train.batchSize);
    if (spe === 0)
      throw new SeerflowError(
        ErrorType.DatasetMissing,
        `${images} images is less than one batch of ${job.train.batchSize}`,
      );
    return { dataset, images, stepsPerEpoch: spe };
  }

  return withFailureConversion({
    /**
     * What the workflow needs to plan a run: dataset size, steps per epoch, and the newest checkpoint this run
     * already has (a finished run is then a cache hit). Refuses a run name reused with another dataset or config.
     */
    async inspectPretrain(
      job: Omit<PretrainJob, 'targetSteps' | 'resumeFrom'>,
    ): Promise<{ images: number; stepsPerEpoch: number; newest?: CheckpointPointer }> {
      const { dataset, images, stepsPerEpoch: spe } = await planDataset(job);
      const history = await pretrainCheckpointStore(s3ObjectStorage(deps.s3, job.bucket), job, dataset).history();
      const newest = newestPointer(history, byStep);
      return { images, stepsPerEpoch: spe, ...(newest ? { newest } : {}) };
    },

    async trainSegment(job: PretrainJob): Promise<SegmentResult> {
      // A retry knows a pointer from its previous attempt's heartbeat; the workflow's may be older.
      const resumeFrom = newestPointer([previousBeat<SegmentHeartbeat>()?.pointer, job.resumeFrom], byStep);
      const workflowId = activityInfo().workflowExecution?.workflowId;
      return relayTraining<PretrainJob, CheckpointPointer, SegmentResult, SegmentHeartbeat>({
        ...attemptOptions(deps, { ...job, ...(resumeFrom ? { resumeFrom } : {}) }, resumeFrom),
        engine: nodeEngine(script),
        label: 'trainer',
        beat: {
          step: resumeFrom?.step ?? 0,
          ...(resumeFrom ? { pointer: resumeFrom, cursor: resumeFrom.cursor } : {}),
        },
        nextBeat: (event, beat) =>
          event.type === 'progress'
            ? {
                ...beat,
                step: event.step,
                cursor: { epoch: event.epoch ?? 0, position: event.position ?? 0 },
                ...(event.loss !== undefined ? { loss: event.loss } : {}),
                ...(event.lr !== undefined ? { lr: event.lr } : {}),
                ...(event.imagesPerSec !== undefined ? { imagesPerSec: event.imagesPerSec } : {}),
              }
            : { ...beat, step: event.pointer.step, cursor: event.pointer.cursor, pointer: event.pointer },
        onCheckpoint: (pointer) => {
          if (workflowId)
            deps.client?.workflow
              .getHandle(workflowId)
              .signal(checkpointCommittedSignal, pointer)
              .catch(() => undefined); // best effort: the next segment also reads latest.json
        },
        // Cancel, pause or worker shutdown: the trainer committed a checkpoint at its current step, then stopped.
        stoppedMessage: (reason, pointer, beat) => {
          const step = pointer?.step ?? beat.step;
          return reason === 'cancel'
            ? `training stopped at step ${step} after checkpointing`
            : `worker shutting down: checkpoint committed at step ${step}; the retry resumes from it`;
        },
      });
    },
  });
}

export type PretrainActivities = ReturnType<typeof createPretrainActivities>;
