/**
 * The detection benchmark's durable interface: the job of `runDetection`, its heartbeat, checkpoint pointer and
 * result, and the S3 keys of a run. Safe to import from workflows (pure, no Node built-ins).
 */
import type { RegNetConfig } from '../config/schema';
import type { DetectionRun, Initialisation } from './evaluate';
import type { CheckpointPointer } from './pretrain';

/** Training settings of a detection run (defaults in {@link resolveDetectionSettings}). */
export interface DetectionTrainSettings {
  /** Images per step (the last partial batch of an epoch is dropped). @default 16 */
  batchSize: number;
  /** AdamW peak learning rate. @default 0.002 */
  lr: number;
  /** Learning rate at the end of the cosine. @default 0.00002 */
  finalLr: number;
  /** Linear warmup epochs (0 when the run has a single epoch). @default 1 */
  warmupEpochs: number;
  /** AdamW decoupled weight decay (conv/linear weights only). @default 0.0001 */
  weightDecay: number;
  /** Channels of the fused map and head towers. @default 32 */
  headWidth: number;
  /** Random horizontal flips of training images. @default true */
  flip: boolean;
  /** Detections below this score are not reported. @default 0.01 */
  scoreThreshold: number;
}

/** Input of `runDetection`. */
export interface DetectionJob {
  bucket: string;
  /** SwAV checkpoint whose trunk initialises the detector; required for init 'pretrained'. */
  checkpoint?: CheckpointPointer;
  /** Must be the config the checkpoint was trained with. */
  regnet: RegNetConfig;
  init: Initialisation;
  seed: number;
  epochs: number;
  /** `detection/<version>/` as written by `seerflow detection build`. */
  datasetPrefix: string;
  train?: Partial<DetectionTrainSettings>;
}

/** One committed per-epoch checkpoint of a detection run. */
export interface DetectionCheckpointPointer {
  key: string;
  /** Completed epochs. */
  epoch: number;
  step: number;
  sha256: string;
  bytes: number;
  loss: number;
}

/** Heartbeat details of `runDetection` (small: a pointer, never weights). */
export interface DetectionHeartbeat {
  phase: 'starting' | 'training' | 'evaluating';
  epoch: number;
  step: number;
  loss?: number;
  lr?: number;
  imagesPerSec?: number;
  pointer?: DetectionCheckpointPointer;
}

/** `runDetection`'s result: the contract's {@link DetectionRun} plus lineage and resume facts. */
export interface DetectionRunResult extends DetectionRun {
  datasetPrefix: string;
  /** S3 key of this result (claim check) and of the test-split detections (COCO results format). */
  resultKey: string;
  detectionsKey: string;
  /** SwAV checkpoint key for 'pretrained'. */
  checkpointKey?: string;
  /** Epoch the training resumed after (0 = from the start). */
  resumedFromEpoch: number;
  /** Mean training loss of each epoch trained in this or earlier attempts. */
  epochLoss: number[];
  backend: string;
  /** true when the run had already finished: nothing was trained. */
  cached: boolean;
}

/** `latest.json` of a detection run's checkpoints. */
export interface DetectionLatestFile {
  fingerprint: string;
  /** newest first */
  history: DetectionCheckpointPointer[];
}

/** Defaults filled in. */
export function resolveDetectionSettings(job: Pick<DetectionJob, 'epochs' | 'train'>): DetectionTrainSettings {
  const t = job.train ?? {};
  return {
    batchSize: t.batchSize ?? 16,
    lr: t.lr ?? 0.002,
    finalLr: t.finalLr ?? 0.00002,
    warmupEpochs: Math.min(t.warmupEpochs ?? 1, job.epochs > 1 ? job.epochs - 1 : 0),
    weightDecay: t.weightDecay ?? 1e-4,
    headWidth: t.headWidth ?? 32,
    flip: t.flip ?? true,
    scoreThreshold: t.scoreThreshold ?? 0.01,
  };
}

/** S3 keys of a detection run, under its dataset: `<datasetPrefix>runs/<init>-seed<seed>-<fingerprint>/`. */
export const detectionRunKeys = {
  root: (datasetPrefix: string, init: Initialisation, seed: number, fingerprint: string) =>
    `${datasetPrefix}runs/${init}-seed${seed}-${fingerprint}/`,
  latest: (root: string) => `${root}checkpoints/latest.json`,
  checkpoint: (root: string, epoch: number, attempt: number) =>
    `${root}checkpoints/epoch-${String(epoch).padStart(4, '0')}-a${attempt}.state`,
  result: (root: string) => `${root}result.json`,
  detections: (root: string) => `${root}detections_test.json`,
};
