/**
 * Types and S3 layout shared by the evaluation activities, the classifier child process and (as types) the
 * evaluation workflow.
 */
import { createHash } from 'node:crypto';
import {
  evaluateKeys,
  type ClassificationProtocol,
  type EvaluationInput,
  type Initialisation,
} from '../../contracts/evaluate';
import type { EvalDataRef } from './eval-data';

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

/** S3 folder of one run; the fingerprint in the name keeps runs with other inputs apart. */
export function classifierRunDir(
  job: Pick<ClassificationJob, 'runName' | 'protocol' | 'init' | 'seed'>,
  fingerprint: string,
): string {
  return `${evaluateKeys.root(job.runName)}classification/${job.protocol}-${job.init}-seed${job.seed}-${fingerprint.slice(0, 10)}/`;
}
