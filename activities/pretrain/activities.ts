/**
 * Pretraining activities. `trainSegment` runs the training loop in a child process (trainer-process.ts) and
 * relays it: heartbeats carry `{step, cursor, checkpoint pointer}` (small pointers only), each committed
 * checkpoint is also signalled to the workflow, and cancellation (user cancel, pause, worker shutdown) asks the
 * trainer to checkpoint and stop before the activity ends.
 */
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { activityInfo, ApplicationFailure, CancelledFailure, Context, heartbeat } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ErrorType } from '../../contracts/errors';
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
import { workerShutdown, WORKER_SHUTDOWN, type ShutdownRegistry } from '../shared/shutdown';
import { superviseTrainerChild } from '../shared/trainer-child';
import type { TrainerMessage } from './trainer-process';
import { CheckpointStore, IncompatibleRunError, pretrainFingerprint, sha256Hex } from './checkpoints';

export interface PretrainDeps {
  s3: S3Client;
  /** Used to signal committed checkpoints to the workflow; optional (tests without a server). */
  client?: Client;
  /** Path of the compiled trainer script; defaults to dist/activities/pretrain/trainer-process.js. */
  trainerScript?: string;
  /** Seconds the trainer gets to checkpoint after a stop request before it is killed. */
  stopGraceSeconds?: number;
  /** Worker shutdown registry the trainer joins. @default the process's */
  shutdown?: ShutdownRegistry;
}

export interface SegmentHeartbeat {
  step: number;
  cursor?: DataCursor;
  pointer?: CheckpointPointer;
  loss?: number;
  lr?: number;
  imagesPerSec?: number;
}

export function createPretrainActivities(deps: PretrainDeps) {
  const script = deps.trainerScript ?? path.join(PROJECT_ROOT, 'dist', 'activities', 'pretrain', 'trainer-process.js');
  const grace = (deps.stopGraceSeconds ?? 60) * 1000;

  return {
    /**
     * What the workflow needs to plan a run: dataset size, steps per epoch, and the newest checkpoint this run
     * already has (a finished run is then a cache hit). Refuses a run name reused with another dataset or config.
     */
    async inspectPretrain(
      job: Omit<PretrainJob, 'targetSteps' | 'resumeFrom'>,
    ): Promise<{ images: number; stepsPerEpoch: number; newest?: CheckpointPointer }> {
      const d = await getJson<DatasetIndex>(deps.s3, job.bucket, job.datasetKey);
      if (!d)
        throw ApplicationFailure.create({
          type: ErrorType.DatasetMissing,
          message: `dataset ${job.datasetKey} not found`,
          nonRetryable: true,
        });
      const images = d.parts.reduce((n, p) => n + p.count, 0);
      const spe = stepsPerEpoch(images, job.train.batchSize);
      if (spe === 0)
        throw ApplicationFailure.create({
          type: ErrorType.DatasetMissing,
          message: `${images} images is less than one batch of ${job.train.batchSize}`,
          nonRetryable: true,
        });
      const fingerprint = pretrainFingerprint(job, sha256Hex(Buffer.from(JSON.stringify(d.parts.map((p) => p.key)))));
      const store = new CheckpointStore(deps.s3, job.bucket, job.runName, job.train.keepCheckpoints, fingerprint);
      let history: CheckpointPointer[];
      try {
        history = await store.history();
      } catch (err) {
        if (err instanceof IncompatibleRunError)
          throw ApplicationFailure.create({
            type: ErrorType.IncompatibleCheckpoint,
            message: err.message,
            nonRetryable: true,
          });
        throw err;
      }
      return { images, stepsPerEpoch: spe, ...(history[0] ? { newest: history[0] } : {}) };
    },

    async trainSegment(job: PretrainJob): Promise<SegmentResult> {
      const info = activityInfo();
      const last = info.heartbeatDetails as SegmentHeartbeat | undefined;
      // A retry knows a pointer from its previous attempt's heartbeat; the workflow's may be older.
      const candidates = [last?.pointer, job.resumeFrom].filter((p): p is CheckpointPointer => Boolean(p));
      const resumeFrom = candidates.sort((a, b) => b.step - a.step)[0];
      const workflowId = info.workflowExecution?.workflowId;
      let beat: SegmentHeartbeat = {
        step: resumeFrom?.step ?? 0,
        ...(resumeFrom ? { pointer: resumeFrom, cursor: resumeFrom.cursor } : {}),
      };
      heartbeat(beat);
      const keepAlive = setInterval(() => heartbeat(beat), 5000); // liveness while a checkpoint uploads
      try {
        return await superviseTrainerChild<SegmentResult, TrainerMessage>({
          script,
          label: 'trainer',
          run: { type: 'run', job: { ...job, ...(resumeFrom ? { resumeFrom } : {}) }, attempt: info.attempt },
          // Cancel, pause or worker shutdown: the trainer commits a checkpoint at its current step, then stops.
          cancelled: Context.current().cancelled,
          stopGraceMs: grace,
          shutdown: deps.shutdown ?? workerShutdown,
          onMessage: (msg) => {
            if (msg.type === 'progress') {
              beat = {
                ...beat,
                step: msg.step,
                cursor: msg.cursor,
                loss: msg.loss,
                lr: msg.lr,
                imagesPerSec: msg.imagesPerSec,
              };
              heartbeat(beat);
            } else if (msg.type === 'checkpoint') {
              beat = { ...beat, step: msg.pointer.step, cursor: msg.pointer.cursor, pointer: msg.pointer };
              heartbeat(beat);
              if (workflowId)
                deps.client?.workflow
                  .getHandle(workflowId)
                  .signal(checkpointCommittedSignal, msg.pointer)
                  .catch(() => undefined); // best effort: the next segment also reads latest.json
            }
          },
          stoppedFailure: (byCancel, msg) => {
            const step = (msg?.type === 'stopped' ? msg.pointer?.step : undefined) ?? beat.step;
            return byCancel
              ? new CancelledFailure(`training stopped at step ${step} after checkpointing`)
              : ApplicationFailure.retryable(
                  `worker shutting down: checkpoint committed at step ${step}; the retry resumes from it`,
                  WORKER_SHUTDOWN,
                );
          },
        });
      } finally {
        clearInterval(keepAlive);
      }
    },
  };
}

export type PretrainActivities = ReturnType<typeof createPretrainActivities>;
