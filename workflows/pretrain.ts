/**
 * SwAV pretraining as a sequence of training segments on the GPU queue. The workflow holds only the newest
 * checkpoint pointer; every segment (a retry or a fresh activity) resumes from the newest committed checkpoint.
 * Pause takes effect at once by stopping the running segment, which checkpoints first; cancellation does the same
 * and then ends the run. Continue-as-new keeps history bounded on long runs.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { GpuActivities, IoActivities } from '../activities';
import { newestPointer } from '../contracts/checkpoints';
import { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../contracts/errors';
import {
  checkpointCommittedSignal,
  pauseSignal,
  pretrainProgressQuery,
  resumeSignal,
  type CheckpointPointer,
  type PretrainInput,
  type PretrainResult,
  type SegmentResult,
} from '../contracts/pretrain';
import { SEER_EPOCH } from '../contracts/search-attributes';
import { siblingQueues } from '../contracts/task-queues';

function ioActivities() {
  return proxyActivities<IoActivities>({
    taskQueue: siblingQueues(workflowInfo().taskQueue).io,
    startToCloseTimeout: '5m',
    retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
  });
}

function gpuActivities(heartbeatTimeoutSeconds: number) {
  return proxyActivities<GpuActivities>({
    taskQueue: siblingQueues(workflowInfo().taskQueue).gpu,
    startToCloseTimeout: '24h',
    heartbeatTimeout: `${heartbeatTimeoutSeconds}s`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, // the trainer checkpoints first
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 20,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  });
}

const byStep = (p: CheckpointPointer) => p.step;

/** Segments per workflow run before continuing as new (each segment adds about 6 history events, plus signals). */
const SEGMENTS_PER_RUN = 200;

export async function pretrainWorkflow(input: PretrainInput): Promise<PretrainResult> {
  const job = input.job;
  const gpu = gpuActivities(job.train.heartbeatTimeoutSeconds);
  const io = ioActivities();
  const inspected = await io.inspectPretrain(job);
  const totalSteps = inspected.stepsPerEpoch * job.train.epochs;
  let pointer = newestPointer([input.resume?.pointer, inspected.newest], byStep);
  const cached = !input.resume && (inspected.newest?.step ?? 0) >= totalSteps;
  let segments = input.resume?.segments ?? 0;
  const history = input.resume?.history ?? [];
  let paused = false;
  let last: SegmentResult | undefined;
  let computeSeconds = input.resume?.computeSeconds ?? 0;
  let running: CancellationScope | undefined;
  const startedAt = Date.now();
  const startStep = pointer?.step ?? 0;

  setHandler(pauseSignal, () => {
    paused = true;
    running?.cancel();
  });
  setHandler(resumeSignal, () => {
    paused = false;
  });
  setHandler(checkpointCommittedSignal, (p) => {
    pointer = newestPointer([pointer, p], byStep);
  });
  setHandler(pretrainProgressQuery, () => {
    const step = pointer?.step ?? 0;
    const elapsed = (Date.now() - startedAt) / 1000;
    const rate = step > startStep && elapsed > 0 ? (step - startStep) / elapsed : undefined;
    return {
      runName: job.runName,
      step,
      totalSteps,
      epoch: pointer?.cursor.epoch ?? 0,
      epochs: job.train.epochs,
      ...(pointer ? { loss: pointer.loss, checkpointKey: pointer.key, backend: pointer.backend } : {}),
      ...(last ? { lr: last.lr, imagesPerSec: last.imagesPerSec } : {}),
      ...(rate ? { etaSeconds: (totalSteps - step) / rate } : {}),
      paused,
      segments,
    };
  });

  let segmentsThisRun = 0;
  while ((pointer?.step ?? 0) < totalSteps) {
    await condition(() => !paused);
    if (segmentsThisRun >= SEGMENTS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof pretrainWorkflow>({
        job,
        resume: { ...(pointer ? { pointer } : {}), segments, computeSeconds, history },
      });
    }
    const target = Math.min(totalSteps, (pointer?.step ?? 0) + job.train.segmentSteps);
    try {
      const segment = await CancellationScope.cancellable(async () => {
        running = CancellationScope.current();
        return gpu.trainSegment({ ...job, targetSteps: target, ...(pointer ? { resumeFrom: pointer } : {}) });
      });
      last = segment;
      pointer = newestPointer([segment.pointer, pointer], byStep) ?? segment.pointer;
      computeSeconds += segment.computeSeconds;
      history.push({ step: segment.steps, loss: segment.loss, lr: segment.lr });
      segments++;
      segmentsThisRun++;
      upsertSearchAttributes([{ key: SEER_EPOCH, value: pointer.cursor.epoch }]);
    } catch (err) {
      // A pause cancels only the segment scope; the trainer has checkpointed. Anything else propagates.
      if (isCancellation(err) && paused && !CancellationScope.current().consideredCancelled) continue;
      throw err;
    } finally {
      running = undefined;
    }
  }
  if (!pointer) {
    throw ApplicationFailure.nonRetryable('pretraining ended without a checkpoint', ErrorType.InternalInvariant);
  }
  return {
    runName: job.runName,
    checkpoint: pointer,
    steps: pointer.step,
    epochs: job.train.epochs,
    finalLoss: pointer.loss,
    backend: pointer.backend,
    computeSeconds,
    history,
    cached,
  };
}
