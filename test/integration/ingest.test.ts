/**
 * Ingest end to end on the real local stack: the seeded corpus (real Fashion-MNIST images, real photos, planted
 * bad objects) is listed, validated and manifested; counts reconcile exactly; every planted bad object is
 * quarantined with its reason; re-runs are cache hits with identical bytes; incremental runs see only new objects.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { IngestSchema, type IngestConfig } from '../../config/schema';
import type { IngestInput, IngestResult, ManifestEntry, QuarantineEntry } from '../../contracts/ingest';
import { parseJsonl } from '../../activities/ingest/layout';
import { compareKeys } from '../../activities/ingest/key-order';
import { getJson, getText } from '../../infra/s3';
import { seedCorpus, SEED_LAYOUT, type SeedReport } from '../../datasets/corpus/seed';
import { connectStack, dropBucket, freshBucket, listAll, readTree, withWorkers, type Stack } from './harness';
import { ingestWorkflow } from '../../workflows';

let stack: Stack;
let bucket: string;
let report: SeedReport;

function ingestConfig(over: Partial<IngestConfig> = {}): IngestConfig {
  return IngestSchema.parse({
    bucket,
    prefixes: ['corpus/'],
    partitionTarget: 6,
    maxParallelPartitions: 3,
    manifestShardSize: 40,
    ...over,
  });
}

async function runIngest(runName: string, config: IngestConfig): Promise<IngestResult> {
  const input: IngestInput = { runName, config };
  return stack.client.workflow.execute(ingestWorkflow, {
    taskQueue: stack.settings.taskQueues.orchestrator,
    workflowId: `test-ingest/${bucket}/${runName}`,
    args: [input],
  });
}

async function manifestOf(summaryKey: string): Promise<{ accepted: ManifestEntry[]; quarantined: QuarantineEntry[] }> {
  const summary = await getJson<{ manifestKeys: string[]; quarantineKeys: string[] }>(stack.s3, bucket, summaryKey);
  if (!summary) throw new Error(`no summary at ${summaryKey}`);
  const accepted: ManifestEntry[] = [];
  const quarantined: QuarantineEntry[] = [];
  for (const k of summary.manifestKeys)
    accepted.push(...parseJsonl<ManifestEntry>((await getText(stack.s3, bucket, k)) ?? ''));
  for (const k of summary.quarantineKeys)
    quarantined.push(...parseJsonl<QuarantineEntry>((await getText(stack.s3, bucket, k)) ?? ''));
  return { accepted, quarantined };
}

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'ingest');
  await seedCorpus(stack.s3, { bucket, count: 240, testCount: 20 });
  report = (await getJson<SeedReport>(stack.s3, bucket, SEED_LAYOUT.reportKey)) as SeedReport;
}, 300_000);

afterAll(async () => {
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

describe('ingest workflow on the real stack', () => {
  let first: IngestResult;

  it('reconciles exactly and quarantines every planted bad object with the right reason', async () => {
    first = await withWorkers(stack, ['orchestrator', 'io'], () => runIngest('full', ingestConfig()));
    const corpus = await listAll(stack.s3, bucket, 'corpus/');
    expect(first.reconciled).toBe(true);
    expect(first.listed).toBe(corpus.length);
    expect(first.listed).toBe(report.counts.corpusObjects);
    expect(first.accepted + first.quarantined + first.unchanged).toBe(first.listed);
    expect(first.unchanged).toBe(0);
    expect(first.partitions).toBeGreaterThan(1);

    const { accepted, quarantined } = await manifestOf(first.summaryKey);
    // every listed object is in exactly one of the two lists
    const seen = [...accepted.map((e) => e.key), ...quarantined.map((e) => e.key)].sort(compareKeys);
    expect(seen).toEqual(corpus.map((o) => o.key).sort(compareKeys));
    expect(new Set(seen).size).toBe(seen.length);

    const expectedBad = new Map(report.bad.map((b) => [b.key, b.expectedReason]));
    expect(new Map(quarantined.map((q) => [q.key, q.reason]))).toEqual(expectedBad);
    expect(first.quarantineByReason).toEqual(report.expectedQuarantineByReason);
    for (const q of quarantined) expect(q.detail.length).toBeGreaterThan(0);

    // the odd key (spaces, unicode) is a valid image and is accepted with its dimensions
    const odd = accepted.find((e) => e.key === report.oddKey?.key);
    expect(odd).toMatchObject({ width: report.oddKey?.width, height: report.oddKey?.height });
    // real photos keep their native sizes
    for (const p of report.photos)
      expect(accepted.find((e) => e.key === p.key)).toMatchObject({ width: p.width, height: p.height });
    // etags in the manifest are the objects' ETags
    const etags = new Map(corpus.map((o) => [o.key, o.etag]));
    for (const e of accepted) expect(e.etag).toBe(etags.get(e.key));
  });

  it('re-running the same run reuses every partition and leaves the bytes identical', async () => {
    const before = await readTree(stack.s3, bucket, 'runs/full/ingest/');
    const again = await withWorkers(stack, ['orchestrator', 'io'], async () => {
      const input: IngestInput = { runName: 'full', config: ingestConfig() };
      return stack.client.workflow.execute(ingestWorkflow, {
        taskQueue: stack.settings.taskQueues.orchestrator,
        workflowId: `test-ingest/${bucket}/full-again`,
        args: [input],
      }) as Promise<IngestResult>;
    });
    expect(again.cachedPartitions).toBe(again.partitions);
    expect({ ...again, cachedPartitions: 0, coordinatorRuns: 0 }).toEqual({
      ...first,
      cachedPartitions: 0,
      coordinatorRuns: 0,
    });
    expect(await readTree(stack.s3, bucket, 'runs/full/ingest/')).toEqual(before);
  });

  it('continues as new when a coordinator run has handled its share of partitions, with the same result', async () => {
    const r = await withWorkers(stack, ['orchestrator', 'io'], () =>
      runIngest('can', ingestConfig({ partitionsPerRun: 2, maxParallelPartitions: 2 })),
    );
    expect(r.coordinatorRuns).toBeGreaterThan(1);
    expect(r.listed).toBe(first.listed);
    const a = await readTree(stack.s3, bucket, 'runs/full/ingest/manifest/');
    const b = await readTree(stack.s3, bucket, 'runs/can/ingest/manifest/');
    expect(b).toEqual(a);
  });

  it('incremental mode validates only new or changed objects', async () => {
    const added = await seedCorpus(stack.s3, {
      bucket,
      start: 5000,
      count: 30,
      photos: false,
      bad: false,
      testCount: 0,
    });
    expect(added.uploaded).toBeGreaterThanOrEqual(30);
    const inc = await withWorkers(stack, ['orchestrator', 'io'], () =>
      runIngest('incremental', ingestConfig({ previousManifest: first.summaryKey })),
    );
    expect(inc.reconciled).toBe(true);
    expect(inc.unchanged).toBe(first.listed);
    expect(inc.accepted).toBe(30);
    expect(inc.quarantined).toBe(0);
    const { accepted } = await manifestOf(inc.summaryKey);
    const previous = new Set((await manifestOf(first.summaryKey)).accepted.map((e) => e.key));
    expect(accepted).toHaveLength(30);
    for (const e of accepted) expect(previous.has(e.key)).toBe(false);

    // A third run with nothing new compares against everything seen so far, not only one run back.
    const third = await withWorkers(stack, ['orchestrator', 'io'], () =>
      runIngest('incremental-2', ingestConfig({ previousManifest: inc.summaryKey })),
    );
    expect(third.accepted).toBe(0);
    expect(third.quarantined).toBe(0);
    expect(third.unchanged).toBe(third.listed);
    expect(third.listed).toBe(first.listed + 30);
  });

  it('fails fast with typed, non-retryable errors on bad input', async () => {
    const failure = async (cfg: IngestConfig, name: string) => {
      try {
        await withWorkers(stack, ['orchestrator', 'io'], () => runIngest(name, cfg));
      } catch (err) {
        expect(err).toBeInstanceOf(WorkflowFailedError);
        let cause: unknown = (err as WorkflowFailedError).cause;
        while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as { cause?: unknown }).cause;
        return cause as ApplicationFailure;
      }
      throw new Error('expected the workflow to fail');
    };
    const missing = await failure({ ...ingestConfig(), bucket: `${bucket}-does-not-exist` }, 'missing-bucket');
    expect(missing.type).toBe('BucketMissing');
    expect(missing.nonRetryable).toBe(true);
    const nested = await failure(ingestConfig({ prefixes: ['corpus/', 'corpus/zz/'] }), 'nested');
    expect(nested.type).toBe('InvalidConfig');
    expect(nested.message).toMatch(/inside prefix/);
  });
});
