/**
 * The detection benchmark's durable interface: its spec (one shape from `eval.detection` through the evaluation
 * input and the dataset activity to the trainer's job), the job of `runDetection`, its heartbeat, checkpoint
 * pointer and result, and the S3 keys of a run. Safe to import from workflows (pure, no Node built-ins).
 */
import type { DetectionSpec, DetectionTrainSettings, RegNetConfig } from '../config/schema';
import type { DetectionRun, Initialisation } from './evaluate';
import type { CheckpointPointer } from './pretrain';

/**
 * The detection benchmark: its dataset (`images`, `testImages`, `size`, `photos`, and `seed`, the dataset's seed)
 * and how its detectors train (`epochs`, `train`). Every field resolved by the schema (config/schema.ts:
 * `eval.detection` plus `run.seed` in the pipeline, `DetectionSpecSchema` for `seerflow detection`).
 */
export type { DetectionSpec, DetectionTrainSettings };

/** The part of a {@link DetectionSpec} that names the dataset: the input of `buildDetectionDataset`. */
export type DetectionDatasetSpec = Pick<DetectionSpec, 'images' | 'testImages' | 'size' | 'seed' | 'photos'>;

/** The dataset part of a spec (the training fields stay out of the dataset activity's input). */
export function detectionDatasetOf(spec: DetectionDatasetSpec): DetectionDatasetSpec {
  return {
    images: spec.images,
    testImages: spec.testImages,
    size: spec.size,
    seed: spec.seed,
    ...(spec.photos !== undefined ? { photos: spec.photos } : {}),
  };
}

/** Input of `runDetection`: one detector (init, seed) trained as the spec's `epochs` and `train` say. */
export interface DetectionJob extends Pick<DetectionSpec, 'epochs' | 'train'> {
  bucket: string;
  /** SwAV checkpoint whose trunk initialises the detector; required for init 'pretrained'. */
  checkpoint?: CheckpointPointer;
  /** Must be the config the checkpoint was trained with. */
  regnet: RegNetConfig;
  init: Initialisation;
  /** the detector's seed (one of the evaluation seeds); the dataset's seed is in its prefix */
  seed: number;
  /** `detection/<version>/` as written by `seerflow detection build`. */
  datasetPrefix: string;
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

/**
 * The settings a run trains with: the job's, with the warmup capped at `epochs - 1` (none for a single-epoch run).
 * Part of the run's fingerprint, so the key order is fixed here.
 */
export function resolveDetectionSettings(job: Pick<DetectionJob, 'epochs' | 'train'>): DetectionTrainSettings {
  const t = job.train;
  return {
    batchSize: t.batchSize,
    lr: t.lr,
    finalLr: t.finalLr,
    warmupEpochs: Math.min(t.warmupEpochs, job.epochs > 1 ? job.epochs - 1 : 0),
    weightDecay: t.weightDecay,
    headWidth: t.headWidth,
    flip: t.flip,
    scoreThreshold: t.scoreThreshold,
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
