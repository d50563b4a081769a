/**
 * Evaluation stage (issue #6): the classification protocols of SwAV's evaluation scripts on the labelled data,
 * for the pretrained checkpoint and for a scratch initialisation, over every seed; then the detection benchmark
 * (same two initialisations, same seeds) when configured; then mean ± std per protocol and initialisation. Runs
 * are sequential on the GPU queue (one accelerator); each resumes after its last committed epoch on retry, and a
 * finished run is a cache hit, so re-running the stage redoes nothing.
 */
import { proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { GpuActivities, IoActivities } from '../activities';
import { detectionDatasetOf, type DetectionJob, type DetectionSpec } from '../contracts/detection';
import { NON_RETRYABLE_ERROR_TYPES } from '../contracts/errors';
import {
  evaluateProgressQuery,
  type ClassificationJob,
  type ClassificationProtocol,
  type ClassificationRun,
  type DetectionRun,
  type EvaluateProgress,
  type EvaluationInput,
  type EvaluationResult,
  type Initialisation,
} from '../contracts/evaluate';
import { siblingQueues } from '../contracts/task-queues';

function ioActivities() {
  return proxyActivities<IoActivities>({
    taskQueue: siblingQueues(workflowInfo().taskQueue).io,
    startToCloseTimeout: '30m',
    heartbeatTimeout: '2m',
    retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
  });
}

/** The training activities (classification, detection) for one run, with a deterministic activity ID. */
function gpuActivities(id: string) {
  return proxyActivities<GpuActivities>({
    taskQueue: siblingQueues(workflowInfo().taskQueue).gpu,
    activityId: id,
    startToCloseTimeout: '24h',
    heartbeatTimeout: '2m', // the parent process heartbeats every 5 s (and per epoch): a dead worker shows within 2 min
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 10,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  });
}

/**
 * The low-shot protocol each configured label fraction runs as: the nearer (log scale) of 1% and 10%; the first
 * fraction per protocol wins; fractions of 1 or more are no low-shot run.
 */
export function lowShotPlan(
  fractions: readonly number[],
): { protocol: 'lowshot-1' | 'lowshot-10'; fraction: number }[] {
  const out: { protocol: 'lowshot-1' | 'lowshot-10'; fraction: number }[] = [];
  for (const f of fractions) {
    if (!(f > 0 && f < 1)) continue;
    const protocol = Math.abs(Math.log(f / 0.01)) <= Math.abs(Math.log(f / 0.1)) ? 'lowshot-1' : 'lowshot-10';
    if (!out.some((p) => p.protocol === protocol)) out.push({ protocol, fraction: f });
  }
  return out.sort((a, b) => a.fraction - b.fraction);
}

/** Every (protocol, fraction) of an evaluation, in run order. */
export function classificationPlan(
  input: Pick<EvaluationInput, 'labelFractions'>,
): { protocol: ClassificationProtocol; fraction: number }[] {
  return [
    { protocol: 'linear', fraction: 1 },
    { protocol: 'finetune', fraction: 1 },
    ...lowShotPlan(input.labelFractions),
  ];
}

export const INITIALISATIONS: Initialisation[] = ['pretrained', 'scratch'];

export async function evaluateWorkflow(input: EvaluationInput): Promise<EvaluationResult> {
  const plan = classificationPlan(input);
  const detectionRuns = input.detection ? INITIALISATIONS.length * input.seeds.length : 0;
  const progress: EvaluateProgress = {
    runName: input.runName,
    done: 0,
    total: plan.length * INITIALISATIONS.length * input.seeds.length + detectionRuns,
    finished: [],
    finishedDetection: [],
  };
  setHandler(evaluateProgressQuery, () => progress);
  const io = ioActivities();

  const data = await io.prepareEvalData({
    bucket: input.bucket,
    shortSide: input.shortSide,
    jpegQuality: input.jpegQuality,
  });
  const subsets = new Map<string, string>();
  for (const { fraction } of plan.filter((p) => p.fraction < 1)) {
    for (const seed of input.seeds)
      subsets.set(`${fraction}/${seed}`, (await io.buildLabelSubset({ bucket: input.bucket, fraction, seed })).key);
  }

  const runs: ClassificationRun[] = [];
  for (const { protocol, fraction } of plan) {
    for (const init of INITIALISATIONS) {
      for (const seed of input.seeds) {
        const id = `classify/${protocol}/${init}/seed${seed}`;
        progress.current = `${protocol}/${init}/seed${seed}`;
        const subsetKey = subsets.get(`${fraction}/${seed}`);
        const job: ClassificationJob = {
          runName: input.runName,
          bucket: input.bucket,
          checkpoint: input.checkpoint,
          regnet: input.regnet,
          swav: input.swav,
          epochs: input.epochs,
          protocol,
          init,
          seed,
          fraction,
          batchSize: input.batchSize,
          data,
          ...(subsetKey ? { subsetKey } : {}),
        };
        const run = await gpuActivities(id).runClassification(job);
        runs.push(run);
        progress.done++;
        progress.finished.push({ protocol, init, seed, top1: run.top1 });
      }
    }
  }
  const detection = input.detection ? await runDetectionBenchmark(input, input.detection, progress) : [];
  delete progress.current;
  return io.summarizeEvaluation({
    runName: input.runName,
    bucket: input.bucket,
    checkpointKey: input.checkpoint.key,
    runs,
    detection,
  });
}

/**
 * The detection benchmark: build (or find) the dataset, then one detector per initialisation and seed. The
 * dataset's name is a hash of its options, so every evaluation with the same settings shares one copy.
 */
async function runDetectionBenchmark(
  input: EvaluationInput,
  spec: DetectionSpec,
  progress: EvaluateProgress,
): Promise<DetectionRun[]> {
  progress.current = 'detection/dataset';
  const manifest = await ioActivities().buildDetectionDataset({ bucket: input.bucket, ...detectionDatasetOf(spec) });
  const runs: DetectionRun[] = [];
  for (const init of INITIALISATIONS) {
    for (const seed of input.seeds) {
      progress.current = `detection/${init}/seed${seed}`;
      const job: DetectionJob = {
        bucket: input.bucket,
        regnet: input.regnet,
        init,
        seed,
        epochs: spec.epochs,
        train: spec.train,
        datasetPrefix: manifest.prefix,
        ...(init === 'pretrained' ? { checkpoint: input.checkpoint } : {}),
      };
      const r = await gpuActivities(`detect/${init}/seed${seed}`).runDetection(job);
      // Only the contract's fields go into the evaluation (no loss curves or resume facts).
      runs.push({
        init: r.init,
        seed: r.seed,
        trainImages: r.trainImages,
        testImages: r.testImages,
        epochs: r.epochs,
        stats: r.stats,
        computeSeconds: r.computeSeconds,
        datasetPrefix: r.datasetPrefix,
        resultKey: r.resultKey,
      });
      progress.done++;
      progress.finishedDetection.push({ init, seed, ap: r.stats[0] ?? -1 });
    }
  }
  return runs;
}
