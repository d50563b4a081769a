/**
 * Ingest scale benchmark on the local stack: seeds >= 200k tiny PNGs, then measures
 *   - a plain ListObjectsV2 loop (the listing floor),
 *   - one full ingest (list + validate + manifest),
 *   - incremental ingests against the full run's summary (every object unchanged, so nothing is fetched:
 *     listing + orchestration + manifest writing), alternated with the plain listing for >= 3 rounds, once with
 *     the configured partitioning and once with fewer, larger partitions (--coarse-partition-target, 0 = off),
 * plus history events per workflow run, coordinator runs and worker peak RSS. Workers run as child processes
 * in a dedicated Temporal namespace so other engineers' workers cannot pick up (or add load to) this run.
 *
 *   npx tsc && node dist/bench/ingest-scale.js [--objects 200000] [--bucket bench-ingest-scale] [--keep]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { msToTs, tsToMs } from '@temporalio/common/lib/time';
import sharp from 'sharp';
import { IngestSchema, type IngestConfig } from '../config/schema';
import type { IngestInput, IngestResult } from '../contracts/ingest';
import { createS3Client, ensureBucket, getJson, getText, putJson } from '../infra/s3';
import { loadServiceSettings, PROJECT_ROOT, type ServiceSettings } from '../infra/settings';
import { stackPaths, stackStatus } from '../infra/stack';
import { ingestWorkflow } from '../workflows';

const CORPUS_PREFIX = 'corpus/';
const MARKER_KEY = 'bench-marker/corpus.json';
const LAYOUT = 'sha1(id) -> corpus/<2 hex>/<1 hex>/<9-digit id>.png, 8 distinct 16x16 RGB PNGs';

interface Options {
  objects: number;
  bucket: string;
  keep: boolean;
  rounds: number;
  namespace: string;
  uploadConcurrency: number;
  partitionTarget: number;
  maxParallelPartitions: number;
  partitionsPerRun: number;
  coarsePartitionTarget: number;
  heartbeatTimeoutSeconds: number | undefined;
  runTimeoutSeconds: number;
  out: string | undefined;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      objects: { type: 'string', default: '200000' },
      bucket: { type: 'string', default: 'bench-ingest-scale' },
      keep: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '3' },
      namespace: { type: 'string', default: 'seerflow-bench' },
      'upload-concurrency': { type: 'string', default: '128' },
      'partition-target': { type: 'string', default: '64' },
      'max-parallel-partitions': { type: 'string', default: '8' },
      'partitions-per-run': { type: 'string', default: '16' },
      'coarse-partition-target': { type: 'string', default: '8' },
      'heartbeat-timeout': { type: 'string' },
      'run-timeout': { type: 'string', default: '3600' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const int = (name: string, raw: string | undefined, min: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${raw}"`);
    return n;
  };
  return {
    objects: int('objects', values.objects, 1),
    bucket: values.bucket as string,
    keep: values.keep === true,
    rounds: int('rounds', values.rounds, 1),
    namespace: values.namespace as string,
    uploadConcurrency: int('upload-concurrency', values['upload-concurrency'], 1),
    partitionTarget: int('partition-target', values['partition-target'], 1),
    maxParallelPartitions: int('max-parallel-partitions', values['max-parallel-partitions'], 1),
    partitionsPerRun: int('partitions-per-run', values['partitions-per-run'], 1),
    coarsePartitionTarget: int('coarse-partition-target', values['coarse-partition-target'], 0),
    heartbeatTimeoutSeconds:
      values['heartbeat-timeout'] === undefined ? undefined : int('heartbeat-timeout', values['heartbeat-timeout'], 5),
    runTimeoutSeconds: int('run-timeout', values['run-timeout'], 10),
    out: values.out,
  };
}

const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round1 = (x: number) => Math.round(x * 10) / 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function stats(xs: number[]): { median: number; min: number; max: number } {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/** Runs fn over items with at most `limit` in flight. */
async function forEachLimited<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let n = it.next(); !n.done; n = it.next()) await fn(n.value);
    }),
  );
}

// ---------------------------------------------------------------- corpus

function keyFor(i: number): string {
  const id = String(i).padStart(9, '0');
  const h = createHash('sha1').update(id).digest('hex');
  // Hex-hash sharding spreads keys evenly over 256 x 16 "directories", like a real content-addressed corpus.
  return `${CORPUS_PREFIX}${h.slice(0, 2)}/${h.slice(2, 3)}/${id}.png`;
}

/** A few distinct, valid 16x16 PNGs (deterministic noise so they differ in bytes and ETag). */
async function tinyPngs(count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let k = 0; k < count; k++) {
    const px = Buffer.alloc(16 * 16 * 3);
    let s = 0x9e3779b9 ^ (k * 7919);
    for (let j = 0; j < px.length; j++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      px[j] = s >>> 24;
    }
    out.push(
      await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
        .png()
        .toBuffer(),
    );
  }
  return out;
}

/** An S3 client like the workers' one, but with a connection pool sized for the upload concurrency. */
function uploadClient(settings: ServiceSettings['s3'], sockets: number): S3Client {
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    retryMode: 'adaptive',
    maxAttempts: 8,
    requestHandler: { httpAgent: { keepAlive: true, maxSockets: sockets } },
  });
}

interface UploadReport {
  skipped: boolean;
  alreadyPresent: number;
  uploaded: number;
  bytes: number;
  seconds: number;
  objectsPerSecond: number | null;
  concurrency: number;
  distinctImages: number;
  imageBytes: number[];
}

async function seedCorpus(s3: S3Client, bucket: string, n: number, concurrency: number): Promise<UploadReport> {
  await ensureBucket(s3, bucket);
  const marker = await getJson<{ count: number; layout: string }>(s3, bucket, MARKER_KEY);
  const have = marker && marker.layout === LAYOUT ? marker.count : 0;
  if (have > n)
    throw new Error(`bucket ${bucket} already holds ${have} bench objects (> --objects ${n}); use another --bucket`);
  const images = await tinyPngs(8);
  const base = {
    concurrency,
    distinctImages: images.length,
    imageBytes: images.map((b) => b.length),
    alreadyPresent: have,
  };
  if (have === n) {
    log(`corpus: ${n} objects already present (marker ${MARKER_KEY}); upload skipped`);
    return { ...base, skipped: true, uploaded: 0, bytes: 0, seconds: 0, objectsPerSecond: null };
  }
  log(`corpus: uploading objects ${have}..${n - 1} with concurrency ${concurrency}`);
  let done = 0;
  let bytes = 0;
  const t0 = performance.now();
  const ticker = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    log(`  uploaded ${done}/${n - have} (${Math.round(done / s)} obj/s)`);
  }, 15_000);
  try {
    const indices = (function* () {
      for (let i = have; i < n; i++) yield i;
    })();
    await forEachLimited(indices, concurrency, async (i) => {
      const body = images[i % images.length] as Buffer;
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: keyFor(i),
          Body: body,
          ContentLength: body.length,
          ContentType: 'image/png',
        }),
      );
      done++;
      bytes += body.length;
    });
  } finally {
    clearInterval(ticker);
  }
  const seconds = (performance.now() - t0) / 1000;
  // Written last: a marker means every object below `count` is in place.
  await putJson(s3, bucket, MARKER_KEY, { count: n, layout: LAYOUT, writtenAt: new Date().toISOString() });
  return { ...base, skipped: false, uploaded: done, bytes, seconds, objectsPerSecond: done / seconds };
}

async function dropBucket(s3: S3Client, bucket: string): Promise<number> {
  let deleted = 0;
  for (;;) {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000, ...(token ? { ContinuationToken: token } : {}) }),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (keys.length === 0) break;
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += 1000) batches.push(keys.slice(i, i + 1000));
    await forEachLimited(batches, 8, async (b) => {
      await s3.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: b.map((Key) => ({ Key })), Quiet: true } }),
      );
      deleted += b.length;
    });
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  return deleted;
}

// ---------------------------------------------------------------- measurements

interface ListReport {
  objects: number;
  requests: number;
  seconds: number;
  objectsPerSecond: number;
}

/** The floor: one sequential paginated ListObjectsV2 loop, as any S3 client would do it. */
async function plainList(s3: S3Client, bucket: string, prefix: string): Promise<ListReport> {
  const t0 = performance.now();
  let objects = 0;
  let requests = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        MaxKeys: 1000,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    requests++;
    objects += page.Contents?.length ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const seconds = (performance.now() - t0) / 1000;
  return { objects, requests, seconds, objectsPerSecond: objects / seconds };
}

interface ProcCpu {
  [name: string]: number;
}

type CpuSnapshot = Record<string, { pid: number; seconds: number }>;

/** CPU seconds (user + system) of the given processes, from /proc/<pid>/stat. */
function cpuSeconds(pids: Record<string, number | undefined>): CpuSnapshot {
  const out: CpuSnapshot = {};
  for (const [name, pid] of Object.entries(pids)) {
    if (!pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[11], fields[12] are utime, stime (fields 14 and 15 of proc(5), counted after the comm field)
      out[name] = { pid, seconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK };
    } catch {
      /* process gone */
    }
  }
  return out;
}

/** Per-process CPU seconds between two snapshots; a process restarted in between (new pid) is left out. */
function cpuDelta(a: CpuSnapshot, b: CpuSnapshot): ProcCpu {
  const out: ProcCpu = {};
  for (const [k, v] of Object.entries(b)) {
    const before = a[k];
    if (before && before.pid === v.pid) out[k] = round1(v.seconds - before.seconds);
  }
  return out;
}

let CLK_TCK = 100;

interface MemReport {
  vmHWMKiB: number | null;
  vmRSSKiB: number | null;
}

function memOf(pid: number | undefined): MemReport {
  if (!pid) return { vmHWMKiB: null, vmRSSKiB: null };
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) : null;
    };
    return { vmHWMKiB: field('VmHWM'), vmRSSKiB: field('VmRSS') };
  } catch {
    return { vmHWMKiB: null, vmRSSKiB: null };
  }
}

interface RunHistory {
  workflowId: string;
  coordinatorRuns: {
    runId: string;
    events: number;
    historyBytes: number | null;
    continuedAsNew: boolean;
    seconds: number;
  }[];
  children: {
    count: number;
    events: { min: number; median: number; max: number };
    historyBytes: { min: number; max: number };
  };
  maxEventsAnyRun: number;
  /** Where the wall time went, from event timestamps (server clock). */
  timing: {
    planSeconds: number | null;
    finalizeSeconds: number | null;
    /** ingestPartition activity, started -> completed: the listing (and validation) work itself. */
    partitionActivitySeconds: { sum: number; median: number; max: number };
    /** Child workflow wall time minus its activity: child start, task dispatch and completion latency. */
    childOverheadSeconds: { median: number; max: number };
  };
  /** Partitions whose activity needed more than one attempt, and why the earlier attempt failed. */
  retriedPartitions: { partition: number; attempt: number; lastFailure: string }[];
}

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];
const eventMs = (e: HistoryEvent | undefined) => (e ? tsToMs(e.eventTime) : 0);

/** Durations (s) of activities of one history, by activity type, scheduled -> completed. */
function activitySeconds(events: HistoryEvent[]): Map<string, number> {
  const scheduled = new Map<string, { type: string; at: number }>();
  const out = new Map<string, number>();
  for (const e of events) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a) scheduled.set(String(e.eventId), { type: a.activityType?.name ?? '?', at: eventMs(e) });
    const c = e.activityTaskCompletedEventAttributes;
    const s = c ? scheduled.get(String(c.scheduledEventId)) : undefined;
    if (s) out.set(s.type, (out.get(s.type) ?? 0) + (eventMs(e) - s.at) / 1000);
  }
  return out;
}

/** Event counts of every coordinator run (following the continue-as-new chain) and of every partition child. */
async function historyOf(
  client: Client,
  workflowId: string,
  firstRunId: string,
  partitions: number,
): Promise<RunHistory> {
  const coordinatorRuns: RunHistory['coordinatorRuns'] = [];
  let planSeconds: number | null = null;
  let finalizeSeconds: number | null = null;
  let runId: string | undefined = firstRunId;
  while (runId) {
    const handle: WorkflowHandle = client.workflow.getHandle(workflowId, runId);
    const events = (await handle.fetchHistory()).events ?? [];
    const desc = await handle.describe();
    const next: string | undefined =
      events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId || undefined;
    const seconds = (eventMs(events[events.length - 1]) - eventMs(events[0])) / 1000;
    coordinatorRuns.push({
      runId,
      events: events.length,
      historyBytes: desc.historySize ?? null,
      continuedAsNew: next !== undefined,
      seconds,
    });
    const acts = activitySeconds(events);
    planSeconds = acts.get('planIngestPartitions') ?? planSeconds;
    finalizeSeconds = acts.get('finalizeIngest') ?? finalizeSeconds;
    runId = next;
  }
  const childEvents: number[] = [];
  const childBytes: number[] = [];
  const activity: number[] = [];
  const overhead: number[] = [];
  const retried: RunHistory['retriedPartitions'] = [];
  await forEachLimited(
    Array.from({ length: partitions }, (_, i) => i),
    8,
    async (i) => {
      // Same ID scheme as workflows/ingest.ts; the parent's workflow ID is stable across continue-as-new.
      const handle = client.workflow.getHandle(`${workflowId}/partition-${String(i).padStart(5, '0')}`);
      const events = (await handle.fetchHistory()).events ?? [];
      childEvents.push(events.length);
      const started = events.find((e) => e.activityTaskStartedEventAttributes);
      const completed = events.find((e) => e.activityTaskCompletedEventAttributes);
      const act = (eventMs(completed) - eventMs(started)) / 1000;
      const attempt = started?.activityTaskStartedEventAttributes?.attempt ?? 1;
      if (attempt > 1) {
        const lastFailure = started?.activityTaskStartedEventAttributes?.lastFailure?.message ?? '';
        retried.push({ partition: i, attempt, lastFailure });
      }
      activity.push(act);
      overhead.push((eventMs(events[events.length - 1]) - eventMs(events[0])) / 1000 - act);
      const desc = await handle.describe();
      if (desc.historySize !== undefined) childBytes.push(desc.historySize);
    },
  );
  const ev = stats(childEvents);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    workflowId,
    coordinatorRuns,
    children: {
      count: childEvents.length,
      events: ev,
      historyBytes: childBytes.length
        ? { min: Math.min(...childBytes), max: Math.max(...childBytes) }
        : { min: 0, max: 0 },
    },
    maxEventsAnyRun: Math.max(ev.max, ...coordinatorRuns.map((r) => r.events)),
    timing: {
      planSeconds,
      finalizeSeconds,
      partitionActivitySeconds: {
        sum: r3(activity.reduce((a, b) => a + b, 0)),
        median: r3(median(activity)),
        max: r3(Math.max(...activity)),
      },
      childOverheadSeconds: { median: r3(median(overhead)), max: r3(Math.max(...overhead)) },
    },
    retriedPartitions: retried.sort((a, b) => a.partition - b.partition),
  };
}

interface Round {
  round: number;
  baseline: ListReport;
  incremental: IngestRunReport;
  ratio: number;
  coarse?: { run: IngestRunReport; ratio: number };
}

interface IngestRunReport {
  runName: string;
  workflowId: string;
  seconds: number;
  objectsPerSecond: number;
  result: IngestResult;
  cpuSeconds: ProcCpu;
  history?: RunHistory;
}

// ---------------------------------------------------------------- workers and namespace

async function ensureNamespace(connection: Connection, namespace: string): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return false;
  } catch {
    /* not there yet */
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs('3 days'),
    });
  } catch (err) {
    if (!/already exists/i.test((err as Error).message)) throw err;
  }
  for (let i = 0; i < 60; i++) {
    try {
      await connection.workflowService.describeNamespace({ namespace });
      return true;
    } catch {
      await sleep(500);
    }
  }
  throw new Error(`namespace ${namespace} did not appear`);
}

interface WorkerProc {
  role: 'orchestrator' | 'io';
  child: ChildProcess;
  exited: boolean;
}

function spawnWorker(role: 'orchestrator' | 'io', namespace: string, logFile: string): WorkerProc {
  const script = path.join(PROJECT_ROOT, 'dist', 'workers', `${role}.js`);
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npx tsc\` first`);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [script], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, TEMPORAL_NAMESPACE: namespace, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  closeSync(fd);
  const w: WorkerProc = { role, child, exited: false };
  child.once('exit', () => {
    w.exited = true;
  });
  return w;
}

async function hasPollers(client: Client, namespace: string, queue: string, type: 1 | 2): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: queue },
    taskQueueType: type,
  });
  return (res.pollers ?? []).length > 0;
}

/** Starts a worker and waits for it to poll; retried because a just-registered namespace takes a moment to propagate. */
async function startWorker(
  client: Client,
  role: 'orchestrator' | 'io',
  queue: string,
  namespace: string,
  logFile: string,
): Promise<WorkerProc> {
  for (let attempt = 1; attempt <= 6; attempt++) {
    const w = spawnWorker(role, namespace, logFile);
    const deadline = Date.now() + 90_000;
    while (!w.exited && Date.now() < deadline) {
      if (await hasPollers(client, namespace, queue, role === 'orchestrator' ? 1 : 2)) return w;
      await sleep(500);
    }
    if (!w.exited) w.child.kill('SIGKILL');
    log(`worker ${role} did not come up (attempt ${attempt}); see ${logFile}`);
    await sleep(5000);
  }
  throw new Error(`worker ${role} failed to start; see ${logFile}`);
}

async function stopWorker(w: WorkerProc): Promise<void> {
  if (w.exited) return;
  w.child.kill('SIGTERM');
  const deadline = Date.now() + 40_000;
  while (!w.exited && Date.now() < deadline) await sleep(200);
  if (!w.exited) w.child.kill('SIGKILL');
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const command = ['node', path.relative(PROJECT_ROOT, process.argv[1] ?? ''), ...process.argv.slice(2)].join(' ');
  try {
    CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    /* keep 100 */
  }
  // The checkout is shared and changes under a long bench: record what the workers were built from.
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: PROJECT_ROOT, encoding: 'utf8' }).trimEnd();
    } catch {
      return 'unknown';
    }
  };
  const source = {
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirtyIngestFiles: git([
      'status',
      '--porcelain',
      '--',
      'activities',
      'workflows',
      'workers',
      'infra',
      'contracts',
      'config',
    ])
      .split('\n')
      .filter((l) => l.length > 0),
  };
  const mallocEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => /^MALLOC_|^UV_THREADPOOL_SIZE$|^NODE_OPTIONS$/.test(k)),
  );
  const loadStart = os.loadavg();
  const base = loadServiceSettings();
  const settings: ServiceSettings = { ...base, temporal: { ...base.temporal, namespace: opts.namespace } };
  const stack = await stackStatus(settings);
  const down = stack.filter((s) => !s.healthy);
  if (down.length)
    throw new Error(`local stack down (${down.map((s) => s.name).join(', ')}): run ./bin/seerflow stack up`);

  const s3 = createS3Client(settings.s3);
  const connection = await Connection.connect({ address: settings.temporal.address });
  const client = new Client({ connection, namespace: opts.namespace });
  const created = await ensureNamespace(connection, opts.namespace);
  log(`namespace ${opts.namespace}${created ? ' registered' : ' exists'}; bucket ${opts.bucket}`);

  const up = uploadClient(settings.s3, opts.uploadConcurrency);
  const upload = await seedCorpus(up, opts.bucket, opts.objects, opts.uploadConcurrency);
  up.destroy();
  if (!upload.skipped)
    log(
      `upload: ${upload.uploaded} objects in ${round1(upload.seconds)} s = ${Math.round(upload.objectsPerSecond ?? 0)} obj/s`,
    );

  const logDir = path.join(settings.stateDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const workerLog = path.join(logDir, 'bench-ingest-workers.log');
  const workers: WorkerProc[] = [];
  const killAll = () => {
    for (const w of workers) if (!w.exited) w.child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  // Worker processes inherit SEERFLOW_TASK_QUEUE_BASE, so settings.taskQueues names the queues they poll.
  workers.push(await startWorker(client, 'orchestrator', settings.taskQueues.orchestrator, opts.namespace, workerLog));
  workers.push(await startWorker(client, 'io', settings.taskQueues.io, opts.namespace, workerLog));
  const pidOf = (role: string) => workers.find((w) => w.role === role)?.child.pid;
  // Stack pids are re-read each time: another engineer may restart the shared stack during the bench.
  const runDir = stackPaths(settings).runDir;
  const stackPid = (name: string) => {
    try {
      return Number(readFileSync(path.join(runDir, `${name}.pid`), 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  };
  const allPids = () => ({
    ioWorker: pidOf('io'),
    orchestratorWorker: pidOf('orchestrator'),
    temporalServer: stackPid('temporal'),
    s3Server: stackPid('s3'),
  });
  log(`workers up: orchestrator pid ${pidOf('orchestrator')}, io pid ${pidOf('io')} (log ${workerLog})`);

  const config: IngestConfig = IngestSchema.parse({
    bucket: opts.bucket,
    prefixes: [CORPUS_PREFIX],
    outputPrefix: 'runs/',
    partitionTarget: opts.partitionTarget,
    maxParallelPartitions: opts.maxParallelPartitions,
    partitionsPerRun: opts.partitionsPerRun,
    // Default (60 s) unless given: a chunk's validation sends no heartbeat, so slow validation can time out.
    ...(opts.heartbeatTimeoutSeconds !== undefined ? { heartbeatTimeoutSeconds: opts.heartbeatTimeoutSeconds } : {}),
  });
  const stamp = Date.now().toString(36);

  const runIngest = async (runName: string, cfg: IngestConfig, withHistory: boolean): Promise<IngestRunReport> => {
    const workflowId = `bench-ingest/${opts.bucket}/${runName}`;
    const input: IngestInput = { runName, config: cfg };
    const cpu0 = cpuSeconds(allPids());
    const t0 = performance.now();
    const handle = await client.workflow.start(ingestWorkflow, {
      taskQueue: settings.taskQueues.orchestrator,
      workflowId,
      args: [input],
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${workflowId} did not finish within ${opts.runTimeoutSeconds} s`)),
        opts.runTimeoutSeconds * 1000,
      );
    });
    let result: IngestResult;
    try {
      result = (await Promise.race([handle.result(), timeout])) as IngestResult;
    } catch (err) {
      await handle.terminate('bench timeout or failure').catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    const seconds = (performance.now() - t0) / 1000;
    const report: IngestRunReport = {
      runName,
      workflowId,
      seconds,
      objectsPerSecond: result.listed / seconds,
      result,
      cpuSeconds: cpuDelta(cpu0, cpuSeconds(allPids())),
    };
    if (withHistory)
      report.history = await historyOf(client, workflowId, handle.firstExecutionRunId, result.partitions);
    return report;
  };

  // (a) full validation
  log('full ingest (list + validate + manifest) ...');
  const full = await runIngest(`full-${stamp}`, config, true);
  log(
    `full: ${full.result.listed} objects in ${round1(full.seconds)} s = ${Math.round(full.objectsPerSecond)} obj/s, ` +
      `${full.result.partitions} partitions, ${full.result.coordinatorRuns} coordinator runs`,
  );
  if (full.result.accepted !== opts.objects)
    log(`WARNING: accepted ${full.result.accepted} != ${opts.objects} objects`);
  const memAfterFull = { io: memOf(pidOf('io')), orchestrator: memOf(pidOf('orchestrator')) };

  // (b) listing + orchestration: incremental against the full run, alternated with the plain listing. The coarse
  // variant changes only partitionTarget, to show how per-partition overhead amortises over bigger partitions.
  const incConfig: IngestConfig = { ...config, previousManifest: full.result.summaryKey };
  const coarseConfig: IngestConfig | undefined =
    opts.coarsePartitionTarget > 0 ? { ...incConfig, partitionTarget: opts.coarsePartitionTarget } : undefined;
  const rounds: Round[] = [];
  const describe = (label: string, r: number, x: IngestRunReport, ratio: number) =>
    log(
      `round ${r} ${label}: ${x.result.listed} objects (${x.result.unchanged} unchanged, ${x.result.partitions} partitions) in ` +
        `${round1(x.seconds)} s = ${Math.round(x.objectsPerSecond)} obj/s; ratio ${ratio.toFixed(3)}`,
    );
  for (let r = 1; r <= opts.rounds; r++) {
    const baseline = await plainList(s3, opts.bucket, CORPUS_PREFIX);
    log(
      `round ${r} baseline: ${baseline.objects} objects in ${round1(baseline.seconds)} s = ${Math.round(baseline.objectsPerSecond)} obj/s`,
    );
    const incremental = await runIngest(`inc-${r}-${stamp}`, incConfig, true);
    const round: Round = {
      round: r,
      baseline,
      incremental,
      ratio: baseline.objectsPerSecond / incremental.objectsPerSecond,
    };
    describe('incremental', r, incremental, round.ratio);
    if (coarseConfig) {
      const coarse = await runIngest(`coarse-${r}-${stamp}`, coarseConfig, true);
      round.coarse = { run: coarse, ratio: baseline.objectsPerSecond / coarse.objectsPerSecond };
      describe('incremental coarse', r, coarse, round.coarse.ratio);
    }
    rounds.push(round);
  }

  // Output sizes of the full run: what the doc extrapolates to 1e9 objects.
  const root = `runs/full-${stamp}/ingest/`;
  const sizeUnder = async (prefix: string) => {
    let bytes = 0;
    let count = 0;
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: opts.bucket,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const o of page.Contents ?? []) {
        bytes += o.Size ?? 0;
        count++;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return { count, bytes };
  };
  const outputs = {
    manifest: await sizeUnder(`${root}manifest/`),
    partitionSummaries: await sizeUnder(`${root}partitions/`),
    summaryBytes: Buffer.byteLength((await getText(s3, opts.bucket, `${root}summary.json`)) ?? '', 'utf8'),
    planBytes: Buffer.byteLength((await getText(s3, opts.bucket, `${root}plan.json`)) ?? '', 'utf8'),
  };

  const memEnd = { io: memOf(pidOf('io')), orchestrator: memOf(pidOf('orchestrator')) };
  for (const w of workers) await stopWorker(w);
  const loadEnd = os.loadavg();

  const histories = [full.history, ...rounds.flatMap((r) => [r.incremental.history, r.coarse?.run.history])].filter(
    (h): h is RunHistory => h !== undefined,
  );
  const baselineStats = stats(rounds.map((r) => r.baseline.objectsPerSecond));
  const incStats = stats(rounds.map((r) => r.incremental.objectsPerSecond));
  const ratioStats = stats(rounds.map((r) => r.ratio));
  const coarseRounds = rounds.flatMap((r) => (r.coarse ? [r.coarse] : []));
  const coarseStats = coarseRounds.length ? stats(coarseRounds.map((c) => c.run.objectsPerSecond)) : undefined;
  const coarseRatioStats = coarseRounds.length ? stats(coarseRounds.map((c) => c.ratio)) : undefined;
  const results = {
    benchmark: 'ingest-scale',
    date: new Date().toISOString(),
    command,
    source,
    machine: {
      nproc: os.availableParallelism(),
      cpu: os.cpus()[0]?.model ?? 'unknown',
      memTotalMiB: Math.round(os.totalmem() / 2 ** 20),
      node: process.version,
      loadAverageStart: loadStart.map((x) => Math.round(x * 100) / 100),
      loadAverageEnd: loadEnd.map((x) => Math.round(x * 100) / 100),
      mallocEnv,
      note: 'shared 2-core machine: other engineers run builds and tests concurrently; compare ratios within this run',
    },
    stack: {
      temporal: settings.temporal.address,
      namespace: opts.namespace,
      s3: settings.s3.endpoint ?? 'aws',
      server: 'SeaweedFS (local)',
      taskQueues: settings.taskQueues,
    },
    bucket: opts.bucket,
    objects: opts.objects,
    layout: LAYOUT,
    config,
    coarseConfig: coarseConfig ?? null,
    workers: {
      processes: ['dist/workers/orchestrator.js', 'dist/workers/io.js'],
      ioMaxConcurrentActivities: 16,
      memAfterFullIngest: memAfterFull,
      memEnd,
    },
    upload,
    full: { ...full, history: undefined },
    incrementalRounds: rounds.map((r) => ({
      round: r.round,
      baseline: r.baseline,
      incremental: { ...r.incremental, history: undefined },
      ratio: r.ratio,
      ...(r.coarse ? { coarse: { ...r.coarse.run, history: undefined }, coarseRatio: r.coarse.ratio } : {}),
    })),
    summary: {
      fullObjectsPerSecond: full.objectsPerSecond,
      baselineListObjectsPerSecond: baselineStats,
      incrementalObjectsPerSecond: incStats,
      ratioBaselineOverIncremental: ratioStats,
      goalRatio: 1.1,
      goalMet: ratioStats.median <= 1.1,
      coarseIncrementalObjectsPerSecond: coarseStats ?? null,
      coarseRatioBaselineOverIncremental: coarseRatioStats ?? null,
      maxHistoryEventsAnyRun: Math.max(...histories.map((h) => h.maxEventsAnyRun)),
      coordinatorRunsFull: full.result.coordinatorRuns,
      partitions: full.result.partitions,
      ioWorkerPeakRssMiB: memEnd.io.vmHWMKiB !== null ? round1(memEnd.io.vmHWMKiB / 1024) : null,
      orchestratorWorkerPeakRssMiB:
        memEnd.orchestrator.vmHWMKiB !== null ? round1(memEnd.orchestrator.vmHWMKiB / 1024) : null,
    },
    histories,
    outputs,
  };

  const date = new Date().toISOString().slice(0, 10);
  const outFile = opts.out ?? path.join(PROJECT_ROOT, 'bench', 'results', `ingest-scale-${date}.json`);
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);

  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const rng = (s: { median: number; min: number; max: number }, f: (x: number) => string) =>
    `${f(s.median)} (${f(s.min)}..${f(s.max)})`;
  const lines = [
    `ingest scale bench: ${n(opts.objects)} objects in s3://${opts.bucket}/${CORPUS_PREFIX}, namespace ${opts.namespace}`,
    `command: ${command}`,
    `machine: ${results.machine.nproc} cores, load ${loadStart.map((x) => x.toFixed(2)).join(' ')} -> ${loadEnd.map((x) => x.toFixed(2)).join(' ')}, malloc env ${JSON.stringify(mallocEnv)}`,
    `config: partitionTarget ${config.partitionTarget}, maxParallelPartitions ${config.maxParallelPartitions}, partitionsPerRun ${config.partitionsPerRun}, ` +
      `validateConcurrency ${config.validateConcurrency}, manifestShardSize ${config.manifestShardSize}, headerBytes ${config.headerBytes}, ` +
      `heartbeatTimeoutSeconds ${config.heartbeatTimeoutSeconds}`,
    '',
    upload.skipped
      ? `upload                      skipped (${n(upload.alreadyPresent)} already present)`
      : `upload                      ${n(upload.uploaded)} objects in ${upload.seconds.toFixed(1)} s = ${n(upload.objectsPerSecond ?? 0)} obj/s (concurrency ${upload.concurrency})`,
    `full ingest (validate)      ${n(full.result.listed)} objects in ${full.seconds.toFixed(1)} s = ${n(full.objectsPerSecond)} obj/s; accepted ${n(full.result.accepted)}, quarantined ${full.result.quarantined}`,
    '',
    `${'round'.padEnd(8)}${'plain LIST obj/s'.padEnd(26)}${`incremental obj/s (${full.result.partitions} p)`.padEnd(26)}${'ratio'.padEnd(26)}` +
      (coarseConfig ? `${`coarse obj/s (target ${coarseConfig.partitionTarget})`.padEnd(26)}ratio` : ''),
    ...rounds.map(
      (r) =>
        `${String(r.round).padEnd(8)}${n(r.baseline.objectsPerSecond).padEnd(26)}${n(r.incremental.objectsPerSecond).padEnd(26)}${r.ratio.toFixed(3).padEnd(26)}` +
        (r.coarse ? `${n(r.coarse.run.objectsPerSecond).padEnd(26)}${r.coarse.ratio.toFixed(3)}` : ''),
    ),
    `${'median'.padEnd(8)}${rng(baselineStats, n).padEnd(26)}${rng(incStats, n).padEnd(26)}${rng(ratioStats, (x) => x.toFixed(3)).padEnd(26)}` +
      (coarseStats && coarseRatioStats
        ? `${rng(coarseStats, n).padEnd(26)}${rng(coarseRatioStats, (x) => x.toFixed(3))}`
        : ''),
    `goal ratio <= 1.10 (${full.result.partitions} partitions): ${ratioStats.median <= 1.1 ? 'met' : 'NOT met'} (median)`,
    '',
    `partitions ${full.result.partitions}; coordinator runs ${full.result.coordinatorRuns} (full), ${rounds.map((r) => r.incremental.result.coordinatorRuns).join('/')} (incremental)`,
    ...histories.map(
      (h) =>
        `history ${h.workflowId.split('/').pop()}: coordinator runs ${h.coordinatorRuns.map((r) => r.events).join('/')} events; ` +
        `${h.children.count} children ${h.children.events.min}..${h.children.events.max} events; ` +
        `plan ${h.timing.planSeconds?.toFixed(2)} s, finalize ${h.timing.finalizeSeconds?.toFixed(2)} s, partition activity ` +
        `median ${h.timing.partitionActivitySeconds.median.toFixed(2)} s (sum ${h.timing.partitionActivitySeconds.sum.toFixed(1)} s), ` +
        `child overhead median ${h.timing.childOverheadSeconds.median.toFixed(2)} s` +
        (h.retriedPartitions.length
          ? `; ${h.retriedPartitions.length} partitions retried (${h.retriedPartitions[0]?.lastFailure})`
          : ''),
    ),
    `max history events of any run: ${results.summary.maxHistoryEventsAnyRun}`,
    `worker peak RSS (VmHWM): io ${results.summary.ioWorkerPeakRssMiB} MiB, orchestrator ${results.summary.orchestratorWorkerPeakRssMiB} MiB`,
    `cpu s (full): ${JSON.stringify(full.cpuSeconds)}`,
    `outputs (full): ${outputs.manifest.count} manifest shards ${n(outputs.manifest.bytes)} B, summary ${n(outputs.summaryBytes)} B, plan ${n(outputs.planBytes)} B`,
    `results: ${path.relative(PROJECT_ROOT, outFile)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  if (!opts.keep) {
    log(`dropping bucket ${opts.bucket} ...`);
    const deleted = await dropBucket(s3, opts.bucket);
    log(`dropped ${opts.bucket} (${n(deleted)} objects)`);
  } else {
    log(`kept bucket ${opts.bucket} (--keep)`);
  }
  await connection.close();
  s3.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(`ingest-scale failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
