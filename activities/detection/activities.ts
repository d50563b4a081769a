/**
 * Detection benchmark activity. `runDetection` trains a detector (pretrained or scratch trunk) on the detection
 * dataset and scores the test split with COCO AP, in an engine process (trainer-process.ts) it relays through the
 * training kit (activities/training-kit/relay.ts): heartbeats
 * carry `{phase, epoch, step, pointer}` (the newest per-epoch checkpoint), a retry resumes from the pointer in its
 * heartbeat details (or the run's latest.json), cancellation stops the trainer at the next step, and a worker
 * shutdown lets it commit the current epoch first.
 */
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { heartbeat } from '@temporalio/activity';
import { ErrorType, SeerflowError } from '../../contracts/errors';
import { detectionKeys, writeDetectionDataset, type DetectionManifest } from '../../datasets/detection/build-dataset';
import { getJson } from '../../infra/s3';
import { PROJECT_ROOT } from '../../infra/settings';
import { toApplicationFailure, withFailureConversion } from '../shared/failure';
import { workerShutdown, type ShutdownRegistry } from '../shared/shutdown';
import type { StopReason, TrainerSettings } from '../training-kit/protocol';
import { attemptOptions, previousBeat, relayTraining, stoppedFailure, type TrainingDeps } from '../training-kit/relay';
import { DEFAULT_STOP_GRACE_SECONDS, nodeEngine, superviseTrainer } from '../training-kit/supervisor';
import type { DetectionTrainerMessage } from './trainer-process';
import type {
  DetectionCheckpointPointer,
  DetectionDatasetSpec,
  DetectionHeartbeat,
  DetectionJob,
  DetectionRunResult,
} from '../../contracts/detection';

/** Dependencies of {@link createDetectionActivities}. */
export interface DetectionDeps extends TrainingDeps {
  s3: S3Client;
  /** Compiled trainer script; defaults to dist/activities/detection/trainer-process.js. */
  trainerScript?: string;
}

/** Default location of the compiled trainer. */
export const DETECTION_TRAINER_SCRIPT = path.join(
  PROJECT_ROOT,
  'dist',
  'activities',
  'detection',
  'trainer-process.js',
);

/** Options of {@link runDetectionProcess}. */
export interface RunDetectionProcessOptions {
  script?: string;
  /** Checkpoint a previous attempt committed (its heartbeat). */
  resumeFrom?: DetectionCheckpointPointer;
  attempt?: number;
  /** Every message of the trainer, in order. */
  onMessage?: (msg: DetectionTrainerMessage) => void;
  /** Settles (either way) when the run must stop; the trainer stops at its next step. */
  cancelled?: Promise<unknown>;
  /** Milliseconds the trainer gets to stop before it is killed. @default 60000 */
  stopGraceMs?: number;
  /** S3 settings sent to the trainer; without them it reads its environment. */
  settings?: TrainerSettings;
  /** Worker shutdown registry the trainer joins. @default the process's */
  shutdown?: ShutdownRegistry;
}

/** What a stopped detection run committed, in the words of its failure. */
function stoppedMessage(reason: StopReason, epoch: number): string {
  return reason === 'cancel'
    ? `detection training stopped after epoch ${epoch}`
    : `worker shutting down: detection committed epoch ${epoch}; the retry resumes after it`;
}

/**
 * Run the trainer for `job` outside an activity (the CLI) and resolve with its result. Failures the trainer
 * types come back as ApplicationFailures of their type; a stop request ends in a CancelledFailure, a worker
 * shutdown (`stopTrainingChildren`) in the retryable `WorkerShutdown` after the current epoch is committed.
 */
export async function runDetectionProcess(
  job: DetectionJob,
  opts: RunDetectionProcessOptions = {},
): Promise<DetectionRunResult> {
  let committedEpoch = opts.resumeFrom?.epoch ?? 0;
  const end = await superviseTrainer<DetectionJob, DetectionCheckpointPointer, DetectionRunResult>({
    engine: nodeEngine(opts.script ?? DETECTION_TRAINER_SCRIPT),
    label: 'detection trainer',
    run: {
      job,
      attempt: opts.attempt ?? 1,
      ...(opts.resumeFrom ? { resume: opts.resumeFrom } : {}),
      ...(opts.settings ? { settings: opts.settings } : {}),
    },
    ...(opts.cancelled ? { cancelled: opts.cancelled } : {}),
    stopGraceMs: opts.stopGraceMs ?? DEFAULT_STOP_GRACE_SECONDS * 1000,
    shutdown: opts.shutdown ?? workerShutdown,
    onEvent: (msg) => {
      if (msg.type === 'checkpoint') committedEpoch = msg.pointer.epoch;
      opts.onMessage?.(msg);
    },
  });
  if (end.type === 'done') return end.result;
  throw toApplicationFailure(
    stoppedFailure(end.reason, stoppedMessage(end.reason, end.pointer?.epoch ?? committedEpoch)),
  );
}

/**
 * The detection activities: `buildDetectionDataset` (I/O: run it on the `io` queue) and `runDetection` (training:
 * the `gpu` queue).
 */
export function createDetectionActivities(deps: DetectionDeps) {
  const script = deps.trainerScript ?? DETECTION_TRAINER_SCRIPT;
  return withFailureConversion({
    /**
     * Write the detection dataset to `s3://bucket/detection/<version>/` unless it is already complete
     * (idempotent; same options, same bytes) and return its manifest (`manifest.prefix` is the `datasetPrefix`).
     */
    async buildDetectionDataset(input: { bucket: string } & DetectionDatasetSpec): Promise<DetectionManifest> {
      const { bucket, ...opts } = input;
      heartbeat({ done: 0 });
      // Bad options (InvalidInput) and missing Debian data packages (DatasetMissing) are typed where they arise.
      const r = await writeDetectionDataset(deps.s3, bucket, opts, {
        onProgress: (done, total) => heartbeat({ done, total }),
      });
      return r.manifest;
    },

    /**
     * Train and evaluate one detector (one init, one seed). Heartbeats every 5 s at least; resumes from the
     * checkpoint named in its heartbeat details. Give it a heartbeat timeout of a minute or more.
     */
    async runDetection(job: DetectionJob): Promise<DetectionRunResult> {
      const prefix = job.datasetPrefix.endsWith('/') ? job.datasetPrefix : `${job.datasetPrefix}/`;
      // Fail fast (non-retryable) before forking when the dataset is absent.
      if (!(await getJson(deps.s3, job.bucket, detectionKeys.manifest(prefix)))) {
        throw new SeerflowError(
          ErrorType.DatasetMissing,
          `detection dataset s3://${job.bucket}/${detectionKeys.manifest(prefix)} not found; build it with \`seerflow detection build\``,
        );
      }
      const last = previousBeat<DetectionHeartbeat>();
      return relayTraining<DetectionJob, DetectionCheckpointPointer, DetectionRunResult, DetectionHeartbeat>({
        ...attemptOptions(deps, job, last?.pointer),
        engine: nodeEngine(script),
        label: 'detection trainer',
        beat: {
          phase: 'starting',
          epoch: last?.pointer?.epoch ?? 0,
          step: last?.pointer?.step ?? 0,
          ...(last?.pointer ? { pointer: last.pointer } : {}),
        },
        nextBeat: (event, beat) =>
          event.type === 'progress'
            ? {
                ...beat,
                phase: event.phase === 'evaluating' ? 'evaluating' : 'training',
                epoch: event.epoch ?? beat.epoch,
                step: event.step,
                ...(event.loss !== undefined ? { loss: event.loss } : {}),
                ...(event.lr !== undefined ? { lr: event.lr } : {}),
                ...(event.imagesPerSec !== undefined ? { imagesPerSec: event.imagesPerSec } : {}),
              }
            : {
                ...beat,
                phase: 'training',
                epoch: event.pointer.epoch,
                step: event.pointer.step,
                pointer: event.pointer,
              },
        stoppedMessage: (reason, pointer, beat) => stoppedMessage(reason, pointer?.epoch ?? beat.pointer?.epoch ?? 0),
      });
    },
  });
}

/** The activity functions, for `proxyActivities<DetectionActivities>()`. */
export type DetectionActivities = ReturnType<typeof createDetectionActivities>;
