/** The identity of a classification run's inputs, which names its S3 folder (`classifierRunDir`). */
import { createHash } from 'node:crypto';
import type { ClassificationJob } from '../../contracts/evaluate';

/** Bump when a run's results change for the same inputs. */
const CLASSIFY_VERSION = 2;

/** Identity of a run's inputs: the weights it starts from, the data and every setting. */
export function classificationFingerprint(job: ClassificationJob): string {
  const crop = Math.max(...job.swav.crops.map((c) => c.size));
  const relevant = {
    v: CLASSIFY_VERSION,
    weights: job.init === 'pretrained' ? job.checkpoint.sha256 || job.checkpoint.key : null,
    regnet: job.regnet,
    crop,
    protocol: job.protocol,
    seed: job.seed,
    fraction: job.fraction,
    epochs: job.epochs,
    batch: job.batchSize,
    data: [job.data.trainKey, job.data.testKey],
    subset: job.subsetKey ?? null,
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}
