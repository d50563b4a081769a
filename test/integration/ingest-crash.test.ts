/**
 * Crash recovery: the I/O worker runs in its own process and is SIGKILLed mid-ingest. After a new worker
 * process starts, the same workflow finishes by itself and its manifests are byte-identical to those of an
 * uninterrupted run.
 */
import type { ChildProcess } from 'node:child_process';
import { IngestSchema, type IngestConfig } from '../../config/schema';
import type { IngestInput, IngestResult } from '../../contracts/ingest';
import { seedCorpus } from '../../datasets/corpus/seed';
import {
  connectStack,
  dropBucket,
  freshBucket,
  listAll,
  readTree,
  spawnWorkerProcess,
  waitUntil,
  withWorkers,
  type Stack,
} from './harness';
import { ingestWorkflow } from '../../workflows';

let stack: Stack;
let bucket: string;
const workerLog: string[] = [];

function config(): IngestConfig {
  // Small chunks and low concurrency stretch the run so the kill lands mid-partition.
  return IngestSchema.parse({
    bucket,
    prefixes: ['corpus/'],
    partitionTarget: 4,
    maxParallelPartitions: 2,
    manifestShardSize: 25,
    validateConcurrency: 2,
    heartbeatTimeoutSeconds: 5,
  });
}

function start(runName: string) {
  const input: IngestInput = { runName, config: config() };
  return stack.client.workflow.start(ingestWorkflow, {
    taskQueue: stack.settings.taskQueues.orchestrator,
    workflowId: `test-crash/${bucket}/${runName}`,
    args: [input],
  });
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'crash');
  await seedCorpus(stack.s3, { bucket, count: 600, testCount: 0, photos: true, bad: true });
}, 300_000);

afterAll(async () => {
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

it('a SIGKILLed I/O worker loses nothing: the run completes with manifests identical to an uninterrupted run', async () => {
  // Reference run, uninterrupted, in-process workers.
  const reference = await withWorkers(
    stack,
    ['orchestrator', 'io'],
    async () => (await start('reference')).result() as Promise<IngestResult>,
  );

  // Crash run: orchestrator in this process, I/O work in a child process we kill twice.
  const result = await withWorkers(stack, ['orchestrator'], async () => {
    const handle = await start('crashed');
    const shardsWritten = async (n: number) =>
      (await listAll(stack.s3, bucket, 'runs/crashed/ingest/manifest/')).length >= n;
    let io = spawnWorkerProcess('io', (l) => workerLog.push(l));
    await waitUntil(() => shardsWritten(3), 120_000, 'the first manifest shards');
    await kill(io);
    io = spawnWorkerProcess('io', (l) => workerLog.push(l));
    await waitUntil(() => shardsWritten(12), 180_000, 'more manifest shards after the restart');
    await kill(io);
    io = spawnWorkerProcess('io', (l) => workerLog.push(l));
    try {
      return (await handle.result()) as IngestResult;
    } finally {
      await kill(io);
    }
  });

  expect(result.reconciled).toBe(true);
  expect({ ...result, runName: '', summaryKey: '' }).toEqual({ ...reference, runName: '', summaryKey: '' });
  const a = await readTree(stack.s3, bucket, 'runs/reference/ingest/manifest/');
  const b = await readTree(stack.s3, bucket, 'runs/crashed/ingest/manifest/');
  expect(b.size).toBe(a.size);
  expect(b).toEqual(a);
  const qa = await readTree(stack.s3, bucket, 'runs/reference/ingest/quarantine/');
  expect(await readTree(stack.s3, bucket, 'runs/crashed/ingest/quarantine/')).toEqual(qa);
});
