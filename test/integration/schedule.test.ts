/**
 * Scheduled retraining on the real stack: a schedule made with `seerflow schedule create` is triggered twice;
 * the second run ingests exactly the objects added in between, warm-starts from the first run's checkpoint and
 * the registry in S3 holds the lineage of both. A failing run records nothing and pauses the schedule. A schedule
 * made with the Temporal CLI from `seerflow schedule input` is listed and deleted by seerflow.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { Command } from 'commander';
import { parseJsonl } from '../../activities/ingest/layout';
import { register } from '../../cli/commands/schedule';
import { CliError, EXIT } from '../../cli/exit-codes';
import type { ManifestEntry } from '../../contracts/ingest';
import type { PipelineInput } from '../../contracts/pipeline';
import {
  SCHEDULE_WORKFLOW_TYPE,
  scheduleKeys,
  type ScheduledRunRecord,
  type ScheduleRegistry,
} from '../../contracts/schedule';
import { seedCorpus, SEED_LAYOUT, type SeedReport } from '../../datasets/corpus/seed';
import { getJson, getText } from '../../infra/s3';
import { stackPaths } from '../../infra/stack';
import { connectStack, dropBucket, freshBucket, listAll, waitUntil, withWorkers, type Stack } from './harness';

let stack: Stack;
let bucket: string;
let report: SeedReport;
const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
const created: string[] = [];

/** Runs `seerflow <args>` in this process (schedule commands only) and captures what it prints. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = jest
    .spyOn(process.stderr, 'write')
    .mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  const program = new Command('seerflow')
    .exitOverride()
    .configureOutput({ writeErr: (s) => (stderr += s), writeOut: (s) => (stdout += s) });
  register(program);
  try {
    await program.parseAsync(['node', 'seerflow', ...args]);
    return { code: EXIT.ok, stdout, stderr };
  } catch (e) {
    if (e instanceof CliError) return { code: e.exitCode, stdout, stderr: stderr + e.message };
    if ((e as { code?: string }).code?.startsWith('commander.')) return { code: EXIT.usage, stdout, stderr };
    throw e;
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const smallTraining = [
  '--set',
  'train.epochs=1',
  '--set',
  'train.batchSize=16',
  '--set',
  'train.checkpointEverySteps=2',
  '--set',
  'train.segmentSteps=50',
  '--set',
  'eval.enabled=false',
];

/** Triggers the schedule through the CLI and waits for the run it started. */
async function triggerAndWait(id: string): Promise<{ workflowId: string; record: ScheduledRunRecord }> {
  const r = await cli('schedule', 'trigger', id, '--json');
  expect(r).toMatchObject({ code: 0 });
  const { workflowId } = JSON.parse(r.stdout) as { workflowId: string | null };
  if (!workflowId) throw new Error(`trigger of ${id} started nothing: ${r.stdout}${r.stderr}`);
  const record = (await stack.client.workflow.getHandle(workflowId).result()) as ScheduledRunRecord;
  return { workflowId, record };
}

async function manifestKeysOf(summaryKey: string): Promise<string[]> {
  const summary = await getJson<{ manifestKeys: string[] }>(stack.s3, bucket, summaryKey);
  if (!summary) throw new Error(`no ingest summary at ${summaryKey}`);
  const keys: string[] = [];
  for (const k of summary.manifestKeys)
    keys.push(...parseJsonl<ManifestEntry>((await getText(stack.s3, bucket, k)) ?? '').map((e) => e.key));
  return keys.sort();
}

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'schedule');
  await seedCorpus(stack.s3, { bucket, count: 64, testCount: 0, photos: false, bad: true });
  report = (await getJson<SeedReport>(stack.s3, bucket, SEED_LAYOUT.reportKey)) as SeedReport;
}, 300_000);

afterAll(async () => {
  for (const id of created) {
    try {
      await stack.client.schedule.getHandle(id).delete();
    } catch {
      /* deleted by the test */
    }
  }
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

describe('scheduled retraining on the real stack', () => {
  it('the second scheduled run ingests only the new objects, warm-starts from the first and the lineage holds both', async () => {
    const id = `t-retrain-${suffix}`;
    created.push(id);
    // Paused with a long interval: only the triggers below start runs, so the test is deterministic.
    const made = await cli(
      'schedule',
      'create',
      id,
      '--every',
      '10m',
      '--paused',
      '--preset',
      'tiny',
      '--set',
      `ingest.bucket=${bucket}`,
      ...smallTraining,
    );
    expect(made).toMatchObject({ code: 0 });

    const corpusBefore = new Set((await listAll(stack.s3, bucket, 'corpus/')).map((o) => o.key));
    const { first, second, added } = await withWorkers(stack, ['orchestrator', 'io', 'cpu', 'gpu'], async () => {
      const first = await triggerAndWait(id);
      await seedCorpus(stack.s3, { bucket, start: 5000, count: 20, photos: false, bad: false, testCount: 0 });
      const added = (await listAll(stack.s3, bucket, 'corpus/')).map((o) => o.key).filter((k) => !corpusBefore.has(k));
      const second = await triggerAndWait(id);
      return { first, second, added };
    });

    // run names derive from the scheduled time the server appended to the workflow ID
    for (const run of [first, second]) {
      expect(run.workflowId.startsWith(`seerflow-schedule/${id}-`)).toBe(true);
      expect(run.record.runName).toMatch(new RegExp(`^${id}-\\d{14}$`));
      expect(run.record.pipelineWorkflowId).toBe(`seerflow/${run.record.runName}`);
    }
    expect(second.record.runName > first.record.runName).toBe(true);

    // first run: full ingest, cold start
    expect(first.record.previousRun).toBeUndefined();
    expect(first.record.warmStartFrom).toBeUndefined();
    expect(first.record.unchanged).toBe(0);
    expect(first.record.listed).toBe(report.counts.corpusObjects);
    expect(first.record.newObjects).toBe(report.counts.expectedAccepted);

    // second run: incremental against the first; its manifest holds exactly the 20 new objects
    expect(added).toHaveLength(20);
    expect(second.record.previousRun).toBe(first.record.runName);
    expect(second.record.previousIngestSummaryKey).toBe(first.record.ingestSummaryKey);
    expect(second.record.newObjects).toBe(20);
    expect(second.record.quarantined).toBe(0);
    expect(second.record.unchanged).toBe(first.record.listed);
    expect(await manifestKeysOf(second.record.ingestSummaryKey)).toEqual([...added].sort());
    // the model is trained on the whole lineage: first run's images plus the new ones
    expect(second.record.datasetImages).toBe(first.record.datasetImages + 20);

    // warm start from the first run's checkpoint: recorded, and what the pipeline actually received
    expect(second.record.warmStartFrom).toBe(first.record.checkpointKey);
    const history = await stack.client.workflow.getHandle(second.record.pipelineWorkflowId).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    const pipelineInput = defaultPayloadConverter.fromPayload<PipelineInput>(payload as never);
    expect(pipelineInput.warmStartFrom).toBe(first.record.checkpointKey);
    expect(pipelineInput.config.ingest.previousManifest).toBe(first.record.ingestSummaryKey);
    expect(pipelineInput.config.run.name).toBe(second.record.runName);

    // the registry in S3 holds the lineage of both runs
    const registry = await getJson<ScheduleRegistry>(stack.s3, bucket, scheduleKeys.registry(id));
    expect(registry?.runs.map((r) => r.runName)).toEqual([first.record.runName, second.record.runName]);
    expect(registry?.runs[1]).toEqual(second.record);

    const described = await cli('schedule', 'describe', id, '--json');
    expect(described).toMatchObject({ code: 0 });
    const d = JSON.parse(described.stdout) as {
      registry: { runs: ScheduledRunRecord[] };
      recentActions: { workflowId: string; status: string }[];
    };
    expect(d.registry.runs.map((r) => r.runName)).toEqual([first.record.runName, second.record.runName]);
    expect(d.recentActions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ workflowId: first.workflowId, status: 'COMPLETED' }),
        expect.objectContaining({ workflowId: second.workflowId, status: 'COMPLETED' }),
      ]),
    );
    const text = await cli('schedule', 'describe', id);
    expect(text.stdout).toContain(`(on ${first.record.runName})`);

    expect(await cli('schedule', 'delete', id)).toMatchObject({ code: 0 });
    expect(await cli('schedule', 'describe', id)).toMatchObject({ code: EXIT.failure });
  }, 900_000);

  it('a failed run records nothing and pauses the schedule (pause on failure)', async () => {
    const id = `t-failing-${suffix}`;
    created.push(id);
    // Nested prefixes pass the config schema but the ingest rejects them (non-retryable InvalidConfig).
    const made = await cli(
      'schedule',
      'create',
      id,
      '--every',
      '10m',
      '--preset',
      'tiny',
      '--set',
      `ingest.bucket=${bucket}`,
      '--set',
      'ingest.prefixes=["corpus/","corpus/zz/"]',
      '--trigger',
    );
    expect(made).toMatchObject({ code: 0 });
    const handle = stack.client.schedule.getHandle(id);
    await withWorkers(stack, ['orchestrator', 'io'], async () => {
      await waitUntil(async () => (await handle.describe()).info.recentActions.length > 0, 30_000, 'the triggered run');
      const workflowId = (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId as string;
      await expect(stack.client.workflow.getHandle(workflowId).result()).rejects.toThrow();
    });
    await waitUntil(async () => (await handle.describe()).state.paused, 30_000, 'the schedule to pause');
    expect(await getJson(stack.s3, bucket, scheduleKeys.registry(id))).toBeUndefined();
    expect(await listAll(stack.s3, bucket, scheduleKeys.root(id))).toEqual([]);
    expect(await cli('schedule', 'delete', id)).toMatchObject({ code: 0 });
  }, 300_000);

  it('a schedule made with the Temporal CLI is listed and deleted by seerflow', async () => {
    const id = `t-temporal-cli-${suffix}`;
    created.push(id);
    const input = await cli('schedule', 'input', id, '--preset', 'tiny', '--set', `ingest.bucket=${bucket}`);
    expect(input).toMatchObject({ code: 0 });
    expect(JSON.parse(input.stdout)).toMatchObject({ scheduleId: id, config: { preset: 'tiny', ingest: { bucket } } });
    const dir = mkdtempSync(path.join(tmpdir(), 'seerflow-schedule-'));
    try {
      const file = path.join(dir, 'input.json');
      writeFileSync(file, input.stdout);
      const temporal = spawnSync(
        stackPaths(stack.settings).temporalBin,
        [
          'schedule',
          'create',
          '--address',
          stack.settings.temporal.address,
          '--namespace',
          stack.settings.temporal.namespace,
          '--schedule-id',
          id,
          '--cron',
          '0 2 * * *',
          '--workflow-id',
          `seerflow-schedule/${id}`,
          '--task-queue',
          'seerflow-orchestrator',
          '--type',
          SCHEDULE_WORKFLOW_TYPE,
          '--overlap-policy',
          'Skip',
          '--pause-on-failure',
          '--catchup-window',
          '24h',
          '--paused',
          '--input-file',
          file,
        ],
        { encoding: 'utf8' },
      );
      expect({ status: temporal.status, stderr: temporal.stderr }).toEqual({ status: 0, stderr: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    type Row = { scheduleId: string; workflowType: string; paused: boolean; spec: string };
    const listed = async (): Promise<Row | undefined> => {
      const r = await cli('schedule', 'list', '--json');
      expect(r.code).toBe(0);
      return (JSON.parse(r.stdout) as Row[]).find((s) => s.scheduleId === id);
    };
    // Listing is eventually consistent (visibility store).
    await waitUntil(async () => (await listed()) !== undefined, 30_000, `${id} in seerflow schedule list`);
    expect(await listed()).toMatchObject({
      workflowType: SCHEDULE_WORKFLOW_TYPE,
      paused: true,
      spec: 'calendar 0 2 * * *',
    });

    const described = JSON.parse((await cli('schedule', 'describe', id, '--json')).stdout) as {
      config: { bucket: string };
      registry: { runs: unknown[] };
    };
    expect(described.config.bucket).toBe(bucket);
    expect(described.registry.runs).toEqual([]);

    expect(await cli('schedule', 'delete', id)).toMatchObject({ code: 0 });
    await waitUntil(async () => (await listed()) === undefined, 30_000, `${id} to leave the list`);
  }, 120_000);

  it('rejects bad usage with exit code 2', async () => {
    expect(await cli('schedule', 'create', 'Bad_Id', '--every', '5m')).toMatchObject({ code: EXIT.usage });
    expect(await cli('schedule', 'create', 'ok-id', '--every', '5m', '--cron', '0 2 * * *')).toMatchObject({
      code: EXIT.usage,
    });
    expect(await cli('schedule', 'create', 'ok-id', '--every', 'soon')).toMatchObject({ code: EXIT.usage });
    expect(await cli('schedule', 'create', 'ok-id', '--cron', '0 99 * * *')).toMatchObject({ code: EXIT.usage });
    expect(await cli('schedule', 'create', 'ok-id', '--every', '5m', '--set', 'train.epochs=0')).toMatchObject({
      code: EXIT.usage,
    });
    expect(await cli('schedule', 'trigger', `t-missing-${suffix}`)).toMatchObject({ code: EXIT.failure });
  });
});
