/**
 * Canonicalisation orchestration: one CPU activity per ingest manifest shard through a bounded window,
 * continue-as-new every `shardsPerRun` shards, then the dataset index.
 */
import { continueAsNew, proxyActivities, setHandler, workflowInfo, type RetryPolicy } from '@temporalio/workflow';
import type { CpuActivities, IoActivities } from '../activities';
import { NON_RETRYABLE_ERROR_TYPES } from '../contracts/errors';
import {
  preprocessProgressQuery,
  type CanonicalShardResult,
  type PreprocessInput,
  type PreprocessResult,
  type PreprocessState,
} from '../contracts/preprocess';
import { siblingQueues } from '../contracts/task-queues';

const retry: RetryPolicy = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 20,
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
};
function activities() {
  const q = siblingQueues(workflowInfo().taskQueue);
  return {
    io: proxyActivities<IoActivities>({
      taskQueue: q.io,
      startToCloseTimeout: '1h',
      heartbeatTimeout: '2m',
      retry,
    }),
    cpu: proxyActivities<CpuActivities>({
      taskQueue: q.cpu,
      startToCloseTimeout: '4h',
      heartbeatTimeout: '2m',
      retry,
    }),
  };
}

export async function preprocessWorkflow(input: PreprocessInput): Promise<PreprocessResult> {
  const { io, cpu } = activities();
  const state: PreprocessState = input.resume ?? {
    plan: await io.planPreprocess({
      bucket: input.bucket,
      runName: input.runName,
      ingestSummaryKey: input.ingestSummaryKey,
      config: input.config,
      maxPixels: input.maxPixels,
    }),
    next: 0,
    totals: { entries: 0, images: 0, quarantined: 0, bytes: 0, cached: 0 },
    runsSoFar: 0,
  };
  const inFlight = new Map<number, Promise<{ i: number; r: CanonicalShardResult }>>();
  let finished = false;
  setHandler(preprocessProgressQuery, () => ({
    shards: state.plan.shards,
    shardsDone: state.next - inFlight.size,
    images: state.totals.images,
    quarantined: state.totals.quarantined,
    cachedShards: state.totals.cached,
    finished,
  }));

  let buffer: { manifestKey: string }[] = [];
  let bufferStart = state.next;
  let startedThisRun = 0;
  while (state.next < state.plan.shards || inFlight.size > 0) {
    while (
      inFlight.size < input.maxParallelShards &&
      state.next < state.plan.shards &&
      startedThisRun < input.shardsPerRun
    ) {
      const i = state.next;
      if (i - bufferStart >= buffer.length) {
        bufferStart = i;
        buffer = await io.readPreprocessSlice({
          bucket: input.bucket,
          planKey: state.plan.planKey,
          from: i,
          count: input.maxParallelShards * 4,
        });
      }
      const item = buffer[i - bufferStart] as { manifestKey: string };
      inFlight.set(
        i,
        cpu
          .canonicalizeShard({
            bucket: input.bucket,
            manifestKey: item.manifestKey,
            fingerprint: state.plan.fingerprint,
            config: input.config,
            maxPixels: input.maxPixels,
          })
          .then((r) => ({ i, r })),
      );
      state.next++;
      startedThisRun++;
    }
    if (inFlight.size === 0) break;
    const { i, r } = await Promise.race(inFlight.values());
    inFlight.delete(i);
    state.totals.entries += r.entries;
    state.totals.images += r.images;
    state.totals.quarantined += r.quarantined;
    state.totals.bytes += r.bytes;
    if (r.cached) state.totals.cached++;
  }
  if (state.next < state.plan.shards) {
    await continueAsNew<typeof preprocessWorkflow>({ ...input, resume: { ...state, runsSoFar: state.runsSoFar + 1 } });
  }
  const result = await io.finalizePreprocess({ bucket: input.bucket, runName: input.runName, plan: state.plan });
  finished = true;
  return { ...result, cachedShards: state.totals.cached, coordinatorRuns: state.runsSoFar + 1 };
}
