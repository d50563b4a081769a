/**
 * All activities, built from injected dependencies (S3 client, ...) so tests can pass their own.
 * Grouped by the task queue that runs them.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { withFailureConversion } from './shared/failure';
import type { TrainerSettings } from './training-kit/protocol';
import { DEFAULT_STOP_GRACE_SECONDS } from './training-kit/supervisor';
import { createDetectionActivities } from './detection/activities';
import { createIngestActivities } from './ingest/activities';
import { createEvaluateActivities } from './evaluate/activities';
import { createPreprocessActivities } from './preprocess/activities';
import { createPretrainActivities } from './pretrain/activities';
import { createScheduleActivities } from './schedule/activities';

export interface ActivityDeps {
  s3: S3Client;
  /** Lets long activities signal their workflow (committed checkpoints). */
  client?: Client;
  /**
   * Seconds a training engine process (pretraining, classification, detection) gets after a stop request (cancel,
   * pause, worker shutdown) to commit what it commits on a stop and exit before it is killed. @default 60
   */
  stopGraceSeconds?: number;
  /** S3 settings sent to every training engine process; without them each reads its own environment. */
  trainerSettings?: TrainerSettings;
}

export function createActivities(deps: ActivityDeps) {
  const preprocess = createPreprocessActivities({ s3: deps.s3 });
  const training = {
    s3: deps.s3,
    stopGraceSeconds: deps.stopGraceSeconds ?? DEFAULT_STOP_GRACE_SECONDS,
    ...(deps.trainerSettings ? { trainerSettings: deps.trainerSettings } : {}),
  };
  const pretrain = createPretrainActivities({ ...training, ...(deps.client ? { client: deps.client } : {}) });
  const evaluate = createEvaluateActivities(training);
  const detection = createDetectionActivities(training);
  return {
    io: withFailureConversion({
      ...createIngestActivities({ s3: deps.s3 }),
      ...createScheduleActivities({ s3: deps.s3 }),
      planPreprocess: preprocess.planPreprocess,
      readPreprocessSlice: preprocess.readPreprocessSlice,
      finalizePreprocess: preprocess.finalizePreprocess,
      inspectPretrain: pretrain.inspectPretrain,
      prepareEvalData: evaluate.prepareEvalData,
      buildLabelSubset: evaluate.buildLabelSubset,
      summarizeEvaluation: evaluate.summarizeEvaluation,
      buildDetectionDataset: detection.buildDetectionDataset,
    }),
    cpu: withFailureConversion({ canonicalizeShard: preprocess.canonicalizeShard }),
    gpu: withFailureConversion({
      trainSegment: pretrain.trainSegment,
      runClassification: evaluate.runClassification,
      runDetection: detection.runDetection,
    }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
/** What the I/O-queue worker registers: workflows proxy exactly this type for their `io` activities. */
export type IoActivities = Activities['io'];
/** What the CPU-queue worker registers. */
export type CpuActivities = Activities['cpu'];
/** What the GPU-queue worker registers (one training activity at a time per accelerator). */
export type GpuActivities = Activities['gpu'];

/**
 * For the worker's SIGTERM/SIGINT handler: every training child of this process commits a checkpoint (pretraining
 * at its current step, classification and detection at the end of their current epoch) and stops; each attempt
 * fails with the retryable `WorkerShutdown` and resumes on the next worker. Returns how many were running.
 */
export { stopTrainingChildren } from './shared/shutdown';
