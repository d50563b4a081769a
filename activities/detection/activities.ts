/**
 * Detection benchmark activity. `runDetection` trains a detector (pretrained or scratch trunk) on the detection
 * dataset and scores the test split with COCO AP, in a child process (trainer-process.ts) it relays: heartbeats
 * carry `{phase, epoch, step, pointer}` (the newest per-epoch checkpoint), a retry resumes from the pointer in its
 * heartbeat details (or the run's latest.json), cancellation stops the trainer at the next step, and a worker
 * shutdown lets it commit the current epoch first.
 */
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { activityInfo, ApplicationFailure, CancelledFailure, Context, heartbeat } from '@temporalio/activity';
import { ErrorType } from '../../contracts/errors';
import { detectionKeys, writeDetectionDataset, type DetectionManifest } from '../../datasets/detection/build-dataset';
import { getJson } from '../../infra/s3';
import { PROJECT_ROOT } from '../../infra/settings';
import { workerShutdown, WORKER_SHUTDOWN, type ShutdownRegistry } from '../shared/shutdown';
import { superviseTrainerChild } from '../shared/trainer-child';
import type { DetectionTrainerCommand, DetectionTrainerMessage } from './trainer-process';
import type {
  DetectionCheckpointPointer,
  DetectionDatasetSpec,
  DetectionHeartbeat,
  DetectionJob,
  DetectionRunResult,
} from '../../contracts/detection';

/** Dependencies of {@link createDetectionActivities}. */
export interface DetectionDeps {
  s3: S3Client;
  /** Compiled trainer script; defaults to dist/activities/detection/trainer-process.js. */
  trainerScript?: string;
  /** Worker shutdown registry; defaults to the process's (tests pass their own). */
  shutdown?: ShutdownRegistry;
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
  /** Milliseconds the trainer gets to stop before it is killed. @default 30000 */
  stopGraceMs?: number;
  /** Worker shutdown registry the trainer joins. @default the process's */
  shutdown?: ShutdownRegistry;
}

/**
 * Fork the trainer for `job` and resolve with its result. Failures the trainer marks non-retryable come back as
 * ApplicationFailures of their type; a stop request ends in a CancelledFailure, a worker shutdown
 * (`stopTrainingChildren`) in the retryable `WorkerShutdown` after the current epoch is committed.
 */
export function runDetectionProcess(
  job: DetectionJob,
  opts: RunDetectionProcessOptions = {},
): Promise<DetectionRunResult> {
  let committedEpoch = opts.resumeFrom?.epoch ?? 0;
  return superviseTrainerChild<DetectionRunResult, DetectionTrainerMessage>({
    script: opts.script ?? DETECTION_TRAINER_SCRIPT,
    label: 'detection trainer',
    run: {
      type: 'run',
      job,
      attempt: opts.attempt ?? 1,
      ...(opts.resumeFrom ? { resumeFrom: opts.resumeFrom } : {}),
    } satisfies DetectionTrainerCommand,
    ...(opts.cancelled ? { cancelled: opts.cancelled } : {}),
    stopGraceMs: opts.stopGraceMs ?? 30_000,
    shutdown: opts.shutdown ?? workerShutdown,
    // Worker shutdown: commit the current epoch, then stop (the retry resumes after it).
    shutdownMessage: { type: 'stop', atEpochEnd: true } satisfies DetectionTrainerCommand,
    onMessage: (msg) => {
      if (msg.type === 'checkpoint') committedEpoch = msg.pointer.epoch;
      opts.onMessage?.(msg);
    },
    stoppedFailure: (byCancel, msg) => {
      const epoch = (msg?.type === 'stopped' ? msg.pointer?.epoch : undefined) ?? committedEpoch;
      return byCancel
        ? new CancelledFailure(`detection training stopped after epoch ${epoch}`)
        : ApplicationFailure.retryable(
            `worker shutting down: detection committed epoch ${epoch}; the retry resumes after it`,
            WORKER_SHUTDOWN,
          );
    },
  });
}

/**
 * The detection activities: `buildDetectionDataset` (I/O: run it on the `io` queue) and `runDetection` (training:
 * the `gpu` queue).
 */
export function createDetectionActivities(deps: DetectionDeps) {
  return {
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
        throw ApplicationFailure.create({
          type: ErrorType.DatasetMissing,
          message: `detection dataset s3://${job.bucket}/${detectionKeys.manifest(prefix)} not found; build it with \`seerflow detection build\``,
          nonRetryable: true,
        });
      }
      const info = activityInfo();
      const ctx = Context.current();
      const last = info.heartbeatDetails as DetectionHeartbeat | undefined;
      let beat: DetectionHeartbeat = {
        phase: 'starting',
        epoch: last?.pointer?.epoch ?? 0,
        step: last?.pointer?.step ?? 0,
        ...(last?.pointer ? { pointer: last.pointer } : {}),
      };
      heartbeat(beat);
      const keepAlive = setInterval(() => heartbeat(beat), 5000); // liveness while data loads or a checkpoint uploads
      try {
        return await runDetectionProcess(job, {
          ...(deps.trainerScript ? { script: deps.trainerScript } : {}),
          ...(deps.shutdown ? { shutdown: deps.shutdown } : {}),
          ...(last?.pointer ? { resumeFrom: last.pointer } : {}),
          attempt: info.attempt,
          cancelled: ctx.cancelled,
          onMessage: (msg) => {
            if (msg.type === 'progress') {
              beat = {
                ...beat,
                phase: msg.phase,
                epoch: msg.epoch,
                step: msg.step,
                loss: msg.loss,
                lr: msg.lr,
                imagesPerSec: msg.imagesPerSec,
              };
              heartbeat(beat);
            } else if (msg.type === 'checkpoint') {
              beat = {
                ...beat,
                phase: 'training',
                epoch: msg.pointer.epoch,
                step: msg.pointer.step,
                pointer: msg.pointer,
              };
              heartbeat(beat);
            }
          },
        });
      } finally {
        clearInterval(keepAlive);
      }
    },
  };
}

/** The activity functions, for `proxyActivities<DetectionActivities>()`. */
export type DetectionActivities = ReturnType<typeof createDetectionActivities>;
