/**
 * Evaluation activities. `runClassification` (GPU queue) trains in an engine process (classify-process.ts)
 * through the training kit's relay (activities/training-kit/relay.ts): a heartbeat per committed epoch carries
 * the pointer to that epoch's checkpoint, so a retry resumes after the last committed epoch; cancellation asks the
 * child to stop after its current epoch, and so does a worker shutdown (shutdown.ts), which ends the attempt with
 * the retryable `WorkerShutdown`. The others (I/O queue) prepare the labelled data, draw class-balanced subsets
 * and write the summary.
 */
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { heartbeat } from '@temporalio/activity';
import {
  classifierRunDir,
  evaluateKeys,
  type ClassificationJob,
  type ClassificationRun,
  type ClassifierPointer,
  type DetectionRun,
  type EvalDataRef,
  type EvaluationResult,
} from '../../contracts/evaluate';
import { SEED_LAYOUT } from '../../datasets/corpus/seed';
import { getJson, putJson } from '../../infra/s3';
import { PROJECT_ROOT } from '../../infra/settings';
import { summarizeClassification, summarizeDetection } from '../../ml/stats';
import { withFailureConversion } from '../shared/failure';
import { attemptOptions, previousBeat, relayTraining, type TrainingDeps } from '../training-kit/relay';
import { nodeEngine } from '../training-kit/supervisor';
import { buildEvalData, readLabels } from './eval-data';
import { classificationFingerprint } from './fingerprint';
import { classBalancedSubset, type LabelSubset } from './subsets';

export interface EvaluateDeps extends TrainingDeps {
  s3: S3Client;
  /** Path of the compiled classifier script; defaults to dist/activities/evaluate/classify-process.js. */
  classifierScript?: string;
}

/** Heartbeat details of runClassification. */
export interface ClassificationHeartbeat {
  epochsDone: number;
  pointer?: ClassifierPointer;
  loss?: number;
  top1?: number;
}

export interface SummarizeInput {
  runName: string;
  bucket: string;
  checkpointKey: string;
  runs: ClassificationRun[];
  /** detection runs (pretrained and scratch, every seed); absent or empty when detection did not run */
  detection?: DetectionRun[];
}

export function createEvaluateActivities(deps: EvaluateDeps) {
  const script =
    deps.classifierScript ?? path.join(PROJECT_ROOT, 'dist', 'activities', 'evaluate', 'classify-process.js');

  return withFailureConversion({
    /** Canonical packs of the labelled train and test splits (cached by labels and canonical settings). */
    async prepareEvalData(input: { bucket: string; shortSide: number; jpegQuality: number }): Promise<EvalDataRef> {
      const beat = setInterval(() => heartbeat(), 5000);
      try {
        return await buildEvalData(deps.s3, { ...input, onProgress: (done, total) => heartbeat({ done, total }) });
      } finally {
        clearInterval(beat);
      }
    },

    /** Draw (or find) the class-balanced subset of `fraction` of the train labels for `seed`; stored as a key list. */
    async buildLabelSubset(input: {
      bucket: string;
      fraction: number;
      seed: number;
    }): Promise<{ key: string; images: number; perClass: number }> {
      const key = evaluateKeys.subset(input.fraction, input.seed);
      const { lines, sha256 } = await readLabels(deps.s3, input.bucket, SEED_LAYOUT.trainLabelsKey);
      const existing = await getJson<LabelSubset>(deps.s3, input.bucket, key);
      // Same labels, fraction and seed draw the same keys: an existing subset is reused, never resampled.
      if (
        existing &&
        existing.labelsSha256 === sha256 &&
        existing.fraction === input.fraction &&
        existing.seed === input.seed
      ) {
        return { key, images: existing.keys.length, perClass: existing.perClass };
      }
      const subset = classBalancedSubset(lines, input.fraction, input.seed, sha256);
      await putJson(deps.s3, input.bucket, key, subset);
      return { key, images: subset.keys.length, perClass: subset.perClass };
    },

    /** Train and test one classifier (protocol x init x seed) in a child process; resumes after the last epoch. */
    async runClassification(job: ClassificationJob): Promise<ClassificationRun> {
      // A finished run is a cache hit; checked here so it costs no child process.
      const fingerprint = classificationFingerprint(job);
      const done = await getJson<ClassificationRun & { fingerprint: string; losses?: number[] }>(
        deps.s3,
        job.bucket,
        `${classifierRunDir(job, fingerprint)}result.json`,
      );
      if (done?.fingerprint === fingerprint) {
        const { fingerprint: _f, losses: _l, ...run } = done;
        return run;
      }
      const last = previousBeat<ClassificationHeartbeat>();
      // A stop request lets the child finish and commit its current epoch (it checks after each epoch).
      return relayTraining<ClassificationJob, ClassifierPointer, ClassificationRun, ClassificationHeartbeat>({
        ...attemptOptions(deps, job, last?.pointer),
        engine: nodeEngine(script),
        label: 'classifier',
        beat: { epochsDone: last?.pointer?.epochsDone ?? 0, ...(last?.pointer ? { pointer: last.pointer } : {}) },
        nextBeat: (event) =>
          event.type === 'checkpoint'
            ? {
                epochsDone: event.pointer.epochsDone,
                pointer: event.pointer,
                ...(event.metrics?.loss !== undefined ? { loss: event.metrics.loss } : {}),
                ...(event.metrics?.top1 !== undefined ? { top1: event.metrics.top1 } : {}),
              }
            : undefined,
        stoppedMessage: (reason, pointer, beat) => {
          const epochs = pointer?.epochsDone ?? beat.epochsDone;
          return reason === 'cancel'
            ? `classification stopped after epoch ${epochs}`
            : `worker shutting down: classification committed epoch ${epochs}; the retry resumes after it`;
        },
      });
    },

    /** Mean ± std over seeds per protocol and initialisation (and per detector init); writes `evaluateKeys.result(runName)`. */
    async summarizeEvaluation(input: SummarizeInput): Promise<EvaluationResult> {
      const order = (r: ClassificationRun) => `${r.protocol}/${r.init}/${String(r.seed).padStart(6, '0')}`;
      const classification = [...input.runs].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
      const detection = [...(input.detection ?? [])].sort((a, b) => a.init.localeCompare(b.init) || a.seed - b.seed);
      const result: EvaluationResult = {
        runName: input.runName,
        checkpointKey: input.checkpointKey,
        classification,
        summary: summarizeClassification(classification),
        detection,
        ...(detection.length ? { detectionSummary: summarizeDetection(detection) } : {}),
        resultKey: evaluateKeys.result(input.runName),
      };
      await putJson(deps.s3, input.bucket, result.resultKey, result);
      return result;
    },
  });
}

export type EvaluateActivities = ReturnType<typeof createEvaluateActivities>;
