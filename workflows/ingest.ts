/**
 * Ingest orchestration: plan partitions, fan out one child workflow per partition through a bounded sliding
 * window, continue-as-new before history grows large, then reconcile. No per-object events anywhere: objects
 * are handled inside partition activities and results travel as S3 keys.
 */
import {
  continueAsNew,
  executeChild,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { IoActivities } from '../activities';
import { NON_RETRYABLE_ERROR_TYPES } from '../contracts/errors';
import { addCounts, emptyCounts, ingestProgressQuery } from '../contracts/ingest';
import type {
  IngestCoordinatorState,
  IngestInput,
  IngestResult,
  KeyRange,
  PartitionInput,
  PartitionResult,
} from '../contracts/ingest';
import { siblingQueues } from '../contracts/task-queues';

const ioActivities = (heartbeatTimeoutSeconds: number) =>
  proxyActivities<IoActivities>({
    taskQueue: siblingQueues(workflowInfo().taskQueue).io,
    startToCloseTimeout: '6h',
    heartbeatTimeout: `${heartbeatTimeoutSeconds}s`,
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 30,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  });

/** One partition: a child workflow so each partition is visible (and retryable) on its own in the UI. */
export async function ingestPartitionWorkflow(input: PartitionInput): Promise<PartitionResult> {
  return ioActivities(input.config.heartbeatTimeoutSeconds).ingestPartition(input);
}

export async function ingestWorkflow(input: IngestInput): Promise<IngestResult> {
  const cfg = input.config;
  const io = ioActivities(cfg.heartbeatTimeoutSeconds);
  const outputRoot = `${cfg.outputPrefix === '' || cfg.outputPrefix.endsWith('/') ? cfg.outputPrefix : `${cfg.outputPrefix}/`}${input.runName}/ingest/`;
  const state: IngestCoordinatorState = input.resume ?? {
    plan: await io.planIngestPartitions({ runName: input.runName, config: cfg }),
    nextPartition: 0,
    totals: emptyCounts(),
    cachedPartitions: 0,
    runsSoFar: 0,
  };
  const inFlight = new Map<number, Promise<{ index: number; result: PartitionResult }>>();
  let finished = false;
  setHandler(ingestProgressQuery, () => ({
    partitions: state.plan.partitions,
    partitionsDone: state.nextPartition - inFlight.size,
    partitionsInFlight: inFlight.size,
    cachedPartitions: state.cachedPartitions,
    coordinatorRun: state.runsSoFar + 1,
    totals: state.totals,
    finished,
  }));

  const total = state.plan.partitions;
  let rangeBuffer: KeyRange[] = [];
  let bufferStart = state.nextPartition;
  let startedThisRun = 0;
  const parentId = workflowInfo().workflowId;

  while (state.nextPartition < total || inFlight.size > 0) {
    const mayStart = () =>
      inFlight.size < cfg.maxParallelPartitions &&
      state.nextPartition < total &&
      startedThisRun < cfg.partitionsPerRun &&
      !workflowInfo().continueAsNewSuggested;
    while (mayStart()) {
      const index = state.nextPartition;
      if (index - bufferStart >= rangeBuffer.length) {
        // Ranges come from the plan in S3 a window at a time: a billion-object plan never enters history whole.
        bufferStart = index;
        rangeBuffer = await io.readPlanSlice({
          bucket: cfg.bucket,
          planKey: state.plan.planKey,
          from: index,
          count: cfg.maxParallelPartitions * 4,
        });
      }
      const range = rangeBuffer[index - bufferStart] as KeyRange;
      const childInput: PartitionInput = {
        bucket: cfg.bucket,
        runName: input.runName,
        outputRoot,
        partition: index,
        range,
        fingerprint: state.plan.fingerprint,
        config: cfg,
        ...(cfg.previousManifest ? { previousSummaryKey: cfg.previousManifest } : {}),
      };
      inFlight.set(
        index,
        executeChild(ingestPartitionWorkflow, {
          workflowId: `${parentId}/partition-${String(index).padStart(5, '0')}`,
          args: [childInput],
          parentClosePolicy: ParentClosePolicy.TERMINATE,
        }).then((result) => ({ index, result })),
      );
      state.nextPartition++;
      startedThisRun++;
    }
    if (inFlight.size === 0) break; // history budget for this run is spent: continue as new below
    const { index, result } = await Promise.race(inFlight.values());
    inFlight.delete(index);
    state.totals = addCounts(state.totals, result);
    if (result.cached) state.cachedPartitions++;
  }

  if (state.nextPartition < total) {
    // Children do not survive continue-as-new, so the window is drained above before handing over.
    await continueAsNew<typeof ingestWorkflow>({ ...input, resume: { ...state, runsSoFar: state.runsSoFar + 1 } });
  }

  const result = await io.finalizeIngest({ runName: input.runName, config: cfg, plan: state.plan });
  finished = true;
  return { ...result, cachedPartitions: state.cachedPartitions, coordinatorRuns: state.runsSoFar + 1 };
}
