/**
 * The evaluation stage's durable interface (issue #6): classification protocols, detection, and the report.
 * Safe to import from workflows. Every number is reported per seed and as mean ± std over seeds.
 */
import { defineQuery } from '@temporalio/workflow';
import type { RegNetConfig, SeerConfig, SwavConfig } from '../config/schema';
import type { DetectionSpec } from './detection';
import type { CheckpointPointer } from './pretrain';

export type ClassificationProtocol = 'linear' | 'finetune' | 'lowshot-1' | 'lowshot-10';
export type Initialisation = 'pretrained' | 'scratch';

/** Mean and sample standard deviation over seeds, plus the per-seed values. */
export interface SeedStat {
  mean: number;
  std: number;
  values: number[];
}

export interface ClassificationRun {
  protocol: ClassificationProtocol;
  init: Initialisation;
  seed: number;
  /** fraction of the training labels used (1 for linear/finetune) */
  labelFraction: number;
  trainImages: number;
  testImages: number;
  epochs: number;
  /** best test top-1 over epochs, in percent (SwAV's eval protocol reports the best epoch) */
  top1: number;
  /** test top-1 after the last epoch, in percent */
  finalTop1: number;
  /** per-epoch test top-1, for curves */
  curve: number[];
  /** S3 key of the class-balanced subset (key list) when labelFraction < 1 */
  subsetKey?: string;
  computeSeconds: number;
}

export interface DetectionRun {
  init: Initialisation;
  seed: number;
  trainImages: number;
  testImages: number;
  epochs: number;
  /** pycocotools order: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl */
  stats: number[];
  computeSeconds: number;
  /** `detection/<version>/` the run trained and was scored on */
  datasetPrefix?: string;
  /** S3 key of the run's own result.json */
  resultKey?: string;
}

/** The evaluation stage's input: complete, every default resolved by the schema; built by {@link evaluationInputFor}. */
export interface EvaluationInput {
  runName: string;
  bucket: string;
  checkpoint: CheckpointPointer;
  regnet: RegNetConfig;
  swav: SwavConfig;
  /** classifier and detector seeds */
  seeds: number[];
  labelFractions: number[];
  /** classification epochs */
  epochs: number;
  /** canonical shorter side of the pretraining data (preprocess.shortSide); the labelled images get the same */
  shortSide: number;
  /** canonical JPEG quality (preprocess.jpegQuality) */
  jpegQuality: number;
  /** classification batch size (eval.batchSize) */
  batchSize: number;
  /** the detection benchmark; null: no detection runs (eval.detection.enabled false) */
  detection: DetectionSpec | null;
}

export interface EvaluationResult {
  runName: string;
  checkpointKey: string;
  classification: ClassificationRun[];
  /** protocol -> init -> top-1 over seeds */
  summary: Partial<Record<ClassificationProtocol, Partial<Record<Initialisation, SeedStat>>>>;
  detection: DetectionRun[];
  detectionSummary?: Partial<Record<Initialisation, { AP: SeedStat; AP50: SeedStat; AP75: SeedStat }>>;
  /** S3 key of the evaluation JSON (claim check) */
  resultKey: string;
}

/** The detection spec of a resolved config: `eval.detection` with `run.seed` as the dataset seed; null when disabled. */
export function detectionSpecFor(cfg: SeerConfig): DetectionSpec | null {
  const { enabled, ...spec } = cfg.eval.detection;
  return enabled ? { ...spec, seed: cfg.run.seed } : null;
}

/** The evaluation stage's input for a resolved config: one mapping shared by the pipeline and `seerflow eval`. */
export function evaluationInputFor(cfg: SeerConfig, runName: string, checkpoint: CheckpointPointer): EvaluationInput {
  return {
    runName,
    bucket: cfg.ingest.bucket,
    checkpoint,
    regnet: cfg.model.regnet,
    swav: cfg.swav,
    seeds: cfg.eval.seeds,
    labelFractions: cfg.eval.labelFractions,
    epochs: cfg.eval.epochs,
    shortSide: cfg.preprocess.shortSide,
    jpegQuality: cfg.preprocess.jpegQuality,
    batchSize: cfg.eval.batchSize,
    detection: detectionSpecFor(cfg),
  };
}

/** Where the packed canonical labelled splits are and what they hold (`prepareEvalData`'s result). */
export interface EvalDataRef {
  trainKey: string;
  testKey: string;
  trainImages: number;
  testImages: number;
  numClasses: number;
  shortSide: number;
  jpegQuality: number;
  /** SHA-256 of the train labels file (subsets record it too) */
  trainLabelsSha256: string;
  /** labelled keys that were missing from the bucket or failed to decode (left out) */
  skipped: { key: string; reason: string }[];
}

/** Input of `runClassification`: a slice of the evaluation input plus what this run is. */
export interface ClassificationJob extends Pick<
  EvaluationInput,
  'runName' | 'bucket' | 'checkpoint' | 'regnet' | 'swav' | 'epochs'
> {
  protocol: ClassificationProtocol;
  init: Initialisation;
  seed: number;
  /** label fraction (1 for linear and finetune) */
  fraction: number;
  batchSize: number;
  data: EvalDataRef;
  /** key list of the class-balanced subset when fraction < 1 */
  subsetKey?: string;
}

/** The newest committed epoch of a classification run (heartbeat details and latest.json). */
export interface ClassifierPointer {
  fingerprint: string;
  epochsDone: number;
  key: string;
  sha256: string;
  /** test top-1 after each committed epoch */
  curve: number[];
  /** mean train loss of each committed epoch */
  losses: number[];
  computeSeconds: number;
}

/** What the report is built from; written by the pipeline at its end. */
export interface ReportInput {
  runName: string;
  bucket: string;
  /** S3 keys of the stage outputs (lineage) */
  ingestSummaryKey: string;
  datasetKey: string;
  checkpointKey: string;
  evaluationKey?: string;
  configHash: string;
  backend: string;
}

export const evaluateKeys = {
  root: (runName: string) => `runs/${runName}/evaluate/`,
  result: (runName: string) => `runs/${runName}/evaluate/evaluation.json`,
  subset: (fraction: number, seed: number) =>
    `labels/fashion-mnist/subsets/train-${Math.round(fraction * 1000) / 10}pct-seed${seed}.json`,
  report: (runName: string) => `runs/${runName}/report/`,
};

/**
 * S3 folder of one classification run; the fingerprint of its inputs (`classificationFingerprint`, computed in
 * the activities) in the name keeps runs with other inputs apart.
 */
export function classifierRunDir(
  job: Pick<ClassificationJob, 'runName' | 'protocol' | 'init' | 'seed'>,
  fingerprint: string,
): string {
  return `${evaluateKeys.root(job.runName)}classification/${job.protocol}-${job.init}-seed${job.seed}-${fingerprint.slice(0, 10)}/`;
}

/** What `evaluateProgress` answers. */
export interface EvaluateProgress {
  runName: string;
  /** classification and detection runs finished */
  done: number;
  /** classification runs plus detection runs */
  total: number;
  /** the run in progress, e.g. `lowshot-1/pretrained/seed1` or `detection/scratch/seed0` */
  current?: string;
  /** finished classification runs' best top-1, for live tables */
  finished: { protocol: ClassificationProtocol; init: Initialisation; seed: number; top1: number }[];
  /** finished detection runs' COCO AP (0..1) */
  finishedDetection: { init: Initialisation; seed: number; ap: number }[];
}

export const evaluateProgressQuery = defineQuery<EvaluateProgress>('evaluateProgress');
