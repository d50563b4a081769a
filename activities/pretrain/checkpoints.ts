/**
 * Pretraining's checkpoints: the training kit's store (activities/training-kit/checkpoint-store.ts) under
 * `runs/<run>/pretrain/checkpoints/`, ordered by step, keyed `step-<step>-a<attempt>.state`, fingerprinted by the
 * dataset and every setting that changes the trained weights.
 */
import { createHash } from 'node:crypto';
import type { DatasetIndex } from '../../contracts/preprocess';
import { pretrainKeys, type CheckpointPointer, type PretrainJob } from '../../contracts/pretrain';
import { DATA_ORDER_VERSION } from '../../ml/data-order';
import { CheckpointStore, sha256Hex, type CheckpointsFile } from '../training-kit/checkpoint-store';
import type { ObjectStorage } from '../training-kit/object-storage';

/** `latest.json` of a pretraining run. */
export type LatestFile = CheckpointsFile<CheckpointPointer> & { runName: string };

/** Identity of a training run's inputs: the dataset and every setting that changes the trained weights. */
export function pretrainFingerprint(
  job: Pick<PretrainJob, 'datasetKey' | 'seed' | 'regnet' | 'swav' | 'optim' | 'train' | 'warmStartFrom'>,
  datasetFingerprint: string,
): string {
  const { segmentSteps: _s, heartbeatTimeoutSeconds: _h, keepCheckpoints: _k, partsInFlight: _p, ...train } = job.train;
  const relevant = {
    dataset: datasetFingerprint,
    order: DATA_ORDER_VERSION,
    seed: job.seed,
    regnet: job.regnet,
    swav: job.swav,
    optim: job.optim,
    train,
    warm: job.warmStartFrom ?? null,
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}

/** The dataset's content identity: its parts are content-addressed, so their keys identify the images. */
export function datasetFingerprint(dataset: DatasetIndex): string {
  return sha256Hex(Buffer.from(JSON.stringify(dataset.parts.map((p) => p.key))));
}

/** The checkpoint store of one pretraining run. */
export function pretrainCheckpointStore(
  storage: ObjectStorage,
  job: Pick<PretrainJob, 'runName' | 'datasetKey' | 'seed' | 'regnet' | 'swav' | 'optim' | 'train' | 'warmStartFrom'>,
  dataset: DatasetIndex,
  log?: (line: string) => void,
): CheckpointStore<CheckpointPointer> {
  return new CheckpointStore<CheckpointPointer>({
    storage,
    layout: {
      prefix: `${pretrainKeys.root(job.runName)}checkpoints/`,
      latestKey: pretrainKeys.latest(job.runName),
      stateKey: (step, attempt) => pretrainKeys.checkpoint(job.runName, step, attempt),
    },
    keep: job.train.keepCheckpoints,
    fingerprint: pretrainFingerprint(job, datasetFingerprint(dataset)),
    progress: (p) => p.step,
    owner: `run "${job.runName}"`,
    extra: { runName: job.runName },
    ...(log ? { log } : {}),
  });
}
