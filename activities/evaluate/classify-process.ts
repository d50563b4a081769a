/**
 * The classification training loop in its own process (forked by the runClassification activity), so TensorFlow
 * never blocks the worker's event loop: heartbeats and cancellation keep flowing. IPC:
 *   in:  {type:'run', job, resume?} | {type:'stop'}
 *   out: {type:'epoch'|'done'|'stopped'|'error', ...}
 * It exits when the parent disappears, so a killed worker leaves no orphan behind.
 */
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ErrorType } from '../../contracts/errors';
import type { ClassificationRun } from '../../contracts/evaluate';
import { NonFiniteClassifierLossError } from '../../engine/classifier';
import { createS3Client, getBytes, getJson, putJson } from '../../infra/s3';
import { loadServiceSettings } from '../../infra/settings';
import { ClassifyInputError, ClassifyStopped, runClassificationJob, type ClassifyIo } from './classify-run';
import type { ClassificationJob, ClassifierPointer } from '../../contracts/evaluate';

export type ClassifierMessage =
  | { type: 'epoch'; pointer: ClassifierPointer; loss: number; top1: number }
  | { type: 'done'; result: ClassificationRun }
  | { type: 'stopped'; pointer?: ClassifierPointer }
  | { type: 'error'; message: string; errorType?: string; nonRetryable: boolean };

let stopRequested = false;

function send(msg: ClassifierMessage): void {
  process.send?.(msg);
}

async function run(job: ClassificationJob, resume?: ClassifierPointer): Promise<void> {
  const s3 = createS3Client(loadServiceSettings().s3);
  const b = job.bucket;
  const io: ClassifyIo = {
    getBytes: (key) => getBytes(s3, b, key),
    putBytes: async (key, bytes) => {
      await s3.send(
        new PutObjectCommand({
          Bucket: b,
          Key: key,
          Body: bytes,
          ContentLength: bytes.length,
          ContentType: 'application/octet-stream',
        }),
      );
    },
    getJson: (key) => getJson(s3, b, key),
    putJson: (key, value) => putJson(s3, b, key, value),
    deleteKey: async (key) => {
      await s3.send(new DeleteObjectCommand({ Bucket: b, Key: key }));
    },
    onEpoch: (pointer, info) => send({ type: 'epoch', pointer, ...info }),
    stopRequested: () => stopRequested,
  };
  try {
    send({ type: 'done', result: await runClassificationJob(job, io, resume) });
  } catch (err) {
    if (err instanceof ClassifyStopped) {
      send({ type: 'stopped', ...(err.pointer ? { pointer: err.pointer } : {}) });
      return;
    }
    throw err;
  }
}

if (require.main === module) {
  process.on('disconnect', () => process.exit(3)); // the worker died: do not keep training as an orphan
  process.on('message', (msg: { type: string; job?: ClassificationJob; resume?: ClassifierPointer }) => {
    if (msg.type === 'stop') stopRequested = true;
    if (msg.type === 'run' && msg.job) {
      run(msg.job, msg.resume).then(
        () => setTimeout(() => process.exit(0), 50),
        (err: unknown) => {
          const e = err as Error;
          // Missing inputs and a NaN loss (deterministic: it would recur) are not worth a retry.
          const errorType =
            err instanceof ClassifyInputError
              ? ErrorType.InvalidInput
              : err instanceof NonFiniteClassifierLossError
                ? ErrorType.NonFiniteLoss
                : undefined;
          send({
            type: 'error',
            message: e.message ?? String(err),
            ...(errorType ? { errorType } : {}),
            nonRetryable: errorType !== undefined,
          });
          setTimeout(() => process.exit(1), 50);
        },
      );
    }
  });
}
