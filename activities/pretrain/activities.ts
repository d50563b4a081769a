/**
 * Pretraining activities. `trainSegment` runs the training loop in a child process (trainer-process.ts) and
 * relays it: heartbeats carry `{step, cursor, checkpoint pointer}` (small pointers only), each committed
 * checkpoint is also signalled to the workflow, and cancellation (user cancel, pause, worker shutdown) asks the
 * trainer to checkpoint and stop before the activity ends.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { activityInfo, ApplicationFailure, CancelledFailure, Context, heartbeat } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ErrorType } from '../../contracts/errors';
import type { DatasetIndex } from '../../contracts/prepare';
import { stepsPerEpoch, type CheckpointPointer, type DataCursor, type PretrainJob, type SegmentResult } from '../../contracts/pretrain';
import { getJson } from '../../infra/s3';
import { PROJECT_ROOT } from '../../infra/settings';
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
}

export interface SegmentHeartbeat {
  step: number;
  cursor?: DataCursor;
  pointer?: CheckpointPointer;
  loss?: number;
  lr?: number;
  imagesPerSec?: number;
}

export const checkpointSignalName = 'checkpointCommitted';

/** Trainer processes of this worker, so a shutdown can ask each to checkpoint and stop at once. */
const liveTrainers = new Set<ChildProcess>();
let shuttingDown = false;

/**
 * Called by the worker on SIGTERM/SIGINT: every running trainer commits a checkpoint at its current step and stops;
 * the attempt then fails with a retryable `WorkerShutdown`, and the retry (on any worker) resumes from that
 * checkpoint. Without this the trainer would keep computing through the shutdown grace period only to be cancelled.
 */
export function stopAllTrainers(): number {
  shuttingDown = true;
  for (const child of liveTrainers) child.send?.({ type: 'stop' });
  return liveTrainers.size;
}

export function createPretrainActivities(deps: PretrainDeps) {
  const script = deps.trainerScript ?? path.join(PROJECT_ROOT, 'dist', 'activities', 'pretrain', 'trainer-process.js');
  const grace = (deps.stopGraceSeconds ?? 60) * 1000;

  return {
    /**
     * What the workflow needs to plan a run: dataset size, steps per epoch, and the newest checkpoint this run
     * already has (a finished run is then a cache hit). Refuses a run name reused with another dataset or config.
     */
    async inspectPretrain(job: Omit<PretrainJob, 'targetSteps' | 'resumeFrom'>): Promise<{ images: number; stepsPerEpoch: number; newest?: CheckpointPointer }> {
      const d = await getJson<DatasetIndex>(deps.s3, job.bucket, job.datasetKey);
      if (!d) throw ApplicationFailure.create({ type: ErrorType.DatasetMissing, message: `dataset ${job.datasetKey} not found`, nonRetryable: true });
      const images = d.parts.reduce((n, p) => n + p.count, 0);
      const spe = stepsPerEpoch(images, job.train.batchSize);
      if (spe === 0) throw ApplicationFailure.create({ type: ErrorType.DatasetMissing, message: `${images} images is less than one batch of ${job.train.batchSize}`, nonRetryable: true });
      const fingerprint = pretrainFingerprint(job, sha256Hex(Buffer.from(JSON.stringify(d.parts.map((p) => p.key)))));
      const store = new CheckpointStore(deps.s3, job.bucket, job.runName, job.train.keepCheckpoints, fingerprint);
      let history: CheckpointPointer[];
      try {
        history = await store.history();
      } catch (err) {
        if (err instanceof IncompatibleRunError) throw ApplicationFailure.create({ type: ErrorType.IncompatibleCheckpoint, message: err.message, nonRetryable: true });
        throw err;
      }
      return { images, stepsPerEpoch: spe, ...(history[0] ? { newest: history[0] } : {}) };
    },

    async trainSegment(job: PretrainJob): Promise<SegmentResult> {
      if (!existsSync(script)) throw new Error(`trainer script ${script} is missing; build with \`npx tsc\``);
      const info = activityInfo();
      const ctx = Context.current();
      const last = info.heartbeatDetails as SegmentHeartbeat | undefined;
      // A retry knows a pointer from its previous attempt's heartbeat; the workflow's may be older.
      const candidates = [last?.pointer, job.resumeFrom].filter((p): p is CheckpointPointer => Boolean(p));
      const resumeFrom = candidates.sort((a, b) => b.step - a.step)[0];
      const workflowId = info.workflowExecution?.workflowId;

      const child: ChildProcess = fork(script, [], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, TF_NUM_INTRAOP_THREADS: process.env.TF_NUM_INTRAOP_THREADS ?? '1', TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
      });
      liveTrainers.add(child);
      if (shuttingDown) child.send({ type: 'stop' });
      let beat: SegmentHeartbeat = { step: resumeFrom?.step ?? 0, ...(resumeFrom ? { pointer: resumeFrom, cursor: resumeFrom.cursor } : {}) };
      heartbeat(beat);
      const keepAlive = setInterval(() => heartbeat(beat), 5000); // liveness while a checkpoint uploads

      try {
        return await new Promise<SegmentResult>((resolve, reject) => {
          let stopping = false;
          let killTimer: NodeJS.Timeout | undefined;
          ctx.cancelled.catch(() => {
            // Cancel, pause or worker shutdown: let the trainer commit a checkpoint, then stop.
            stopping = true;
            child.send?.({ type: 'stop' });
            killTimer = setTimeout(() => child.kill('SIGKILL'), grace);
          });
          child.on('message', (msg: TrainerMessage) => {
            switch (msg.type) {
              case 'progress':
                beat = { ...beat, step: msg.step, cursor: msg.cursor, loss: msg.loss, lr: msg.lr, imagesPerSec: msg.imagesPerSec };
                heartbeat(beat);
                break;
              case 'checkpoint':
                beat = { ...beat, step: msg.pointer.step, cursor: msg.pointer.cursor, pointer: msg.pointer };
                heartbeat(beat);
                if (workflowId) deps.client?.workflow
                  .getHandle(workflowId)
                  .signal(checkpointSignalName, msg.pointer)
                  .catch(() => undefined); // best effort: the next segment also reads latest.json
                break;
              case 'done':
                resolve(msg.result);
                break;
              case 'stopped':
                if (killTimer) clearTimeout(killTimer);
                if (stopping) reject(new CancelledFailure(`training stopped at step ${msg.pointer?.step ?? beat.step} after checkpointing`));
                else {
                  reject(
                    ApplicationFailure.retryable(
                      `worker shutting down: checkpoint committed at step ${msg.pointer?.step ?? beat.step}; the retry resumes from it`,
                      'WorkerShutdown'
                    )
                  );
                }
                break;
              case 'error':
                reject(
                  msg.errorType
                    ? ApplicationFailure.create({ type: msg.errorType, message: msg.message, nonRetryable: msg.nonRetryable, details: msg.details ? [msg.details] : [] })
                    : new Error(`trainer failed: ${msg.message}`)
                );
                break;
            }
          });
          child.on('exit', (code, signal) => {
            if (killTimer) clearTimeout(killTimer);
            if (stopping) reject(new CancelledFailure(`training stopped (trainer exit ${code ?? signal})`));
            else reject(new Error(`trainer exited unexpectedly (code ${code}, signal ${signal})`)); // no-op if settled
          });
          child.send({ type: 'run', job: { ...job, ...(resumeFrom ? { resumeFrom } : {}) }, attempt: info.attempt });
        });
      } finally {
        liveTrainers.delete(child);
        clearInterval(keepAlive);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    },
  };
}

export type PretrainActivities = ReturnType<typeof createPretrainActivities>;
