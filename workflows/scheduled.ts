/**
 * One scheduled retraining run, started by a Temporal Schedule. It names the run after the scheduled time, makes
 * the run incremental against the schedule's last successful run (ingest only new or changed objects, pretraining
 * warm-started from that run's checkpoint), runs the pipeline as a child and records the lineage. A failed run
 * records nothing, so the next one builds on the last good run; the failure is rethrown so that a schedule with
 * pauseOnFailure pauses.
 */
import { ApplicationFailure, executeChild, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { IoActivities } from '../activities';
import { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../contracts/errors';
import { workflowIds, type PipelineInput } from '../contracts/pipeline';
import {
  SCHEDULE_ID_PATTERN,
  scheduledProgressQuery,
  scheduledRunName,
  scheduledTimeFromWorkflowId,
  type ScheduledPipelineInput,
  type ScheduledRunProgress,
  type ScheduledRunRecord,
} from '../contracts/schedule';
import { siblingQueues } from '../contracts/task-queues';
import { seerPipelineWorkflow } from './pipeline';

function registryActivities() {
  return proxyActivities<IoActivities>({
    taskQueue: siblingQueues(workflowInfo().taskQueue).io,
    startToCloseTimeout: '2m',
    retry: {
      initialInterval: '2s',
      maximumInterval: '1m',
      maximumAttempts: 20,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  });
}

/** Same rule as `run.name` in config/schema.ts (the schema itself is not imported into the sandbox). */
const RUN_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export async function scheduledPipelineWorkflow(input: ScheduledPipelineInput): Promise<ScheduledRunRecord> {
  const info = workflowInfo();
  const registry = registryActivities();
  if (!SCHEDULE_ID_PATTERN.test(input.scheduleId)) {
    throw ApplicationFailure.create({
      type: ErrorType.InvalidInput,
      message: `invalid schedule ID "${input.scheduleId}"`,
      nonRetryable: true,
    });
  }
  // Schedule-started IDs end in the scheduled time; a manual start (no suffix) falls back to its start time.
  const scheduledAt = scheduledTimeFromWorkflowId(info.workflowId) ?? info.startTime;
  const runName = scheduledRunName(input.scheduleId, scheduledAt);
  if (!RUN_NAME.test(runName)) {
    throw ApplicationFailure.create({
      type: ErrorType.InvalidInput,
      message: `derived run name "${runName}" is not a valid run name`,
      nonRetryable: true,
    });
  }
  const bucket = input.config.ingest.bucket;
  const progress: ScheduledRunProgress = {
    runName,
    phase: 'lookup',
    pipelineWorkflowId: workflowIds.pipeline(runName),
  };
  setHandler(scheduledProgressQuery, () => progress);

  try {
    const previous = await registry.lastSuccessfulRun({ bucket, scheduleId: input.scheduleId });
    if (previous) progress.previousRun = previous.runName;
    const previousManifest = previous?.ingestSummaryKey ?? input.config.ingest.previousManifest;
    const pipelineInput: PipelineInput = {
      config: {
        ...input.config,
        run: { ...input.config.run, name: runName },
        ingest: { ...input.config.ingest, ...(previousManifest ? { previousManifest } : {}) },
      },
      ...(previous ? { warmStartFrom: previous.checkpointKey } : {}),
    };

    progress.phase = 'pipeline';
    const result = await executeChild(seerPipelineWorkflow, {
      workflowId: progress.pipelineWorkflowId,
      args: [pipelineInput],
    });

    progress.phase = 'record';
    const record: ScheduledRunRecord = {
      scheduleId: input.scheduleId,
      runName,
      workflowId: info.workflowId,
      pipelineWorkflowId: progress.pipelineWorkflowId,
      scheduledAt: scheduledAt.toISOString(),
      startedAt: info.startTime.toISOString(),
      finishedAt: new Date().toISOString(), // workflow time: deterministic on replay
      ingestSummaryKey: result.ingest.summaryKey,
      ...(previousManifest ? { previousIngestSummaryKey: previousManifest } : {}),
      datasetKey: result.preprocess.datasetKey,
      checkpointKey: result.pretrain.checkpoint.key,
      checkpointStep: result.pretrain.checkpoint.step,
      finalLoss: result.pretrain.finalLoss,
      ...(pipelineInput.warmStartFrom ? { warmStartFrom: pipelineInput.warmStartFrom } : {}),
      ...(previous ? { previousRun: previous.runName } : {}),
      newObjects: result.ingest.accepted,
      listed: result.ingest.listed,
      unchanged: result.ingest.unchanged,
      quarantined: result.ingest.quarantined,
      datasetImages: result.preprocess.images,
    };
    await registry.recordScheduledRun({ bucket, record });
    progress.phase = 'done';
    return record;
  } catch (err) {
    progress.phase = 'failed';
    throw err;
  }
}
