/**
 * Orchestration overhead of the `tiny` pipeline: how much of the wall time is spent with no activity running
 * (workflow tasks, scheduling, queue latency, child-workflow starts), measured from the workflow histories.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/orchestration-overhead.js [--runs 1] [--set key=value ...]
 *
 * Needs the local stack (`seerflow stack up`); seeds the demo corpus into bucket `seerflow` if it is missing.
 * Writes bench/results/orchestration-overhead-<date>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { loadConfig } from '../config/load';
import type { PipelineInput, PipelineResult } from '../contracts/pipeline';
import { seedCorpus } from '../datasets/corpus/seed';
import { createS3Client, ensureBucket } from '../infra/s3';
import { loadServiceSettings, PROJECT_ROOT } from '../infra/settings';
import { createWorkers } from '../workers/run-workers';
import { seerPipelineWorkflow } from '../workflows';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Interval = [number, number];

function ms(t: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!t) return 0;
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

/** Activity execution intervals of one history, and the IDs of the child workflows it started. */
function analyse(events: HistoryEvent[]): { intervals: Interval[]; children: string[]; start: number; end: number } {
  const started = new Map<string, number>(); // scheduled event id -> start time
  const intervals: Interval[] = [];
  const children: string[] = [];
  for (const e of events) {
    const t = ms(e.eventTime);
    if (e.activityTaskStartedEventAttributes)
      started.set(String(e.activityTaskStartedEventAttributes.scheduledEventId), t);
    const done =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes ??
      e.activityTaskCanceledEventAttributes;
    if (done) {
      const s = started.get(String(done.scheduledEventId));
      if (s !== undefined) intervals.push([s, t]);
    }
    const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
    if (child) children.push(child);
  }
  return { intervals, children, start: ms(events[0]?.eventTime), end: ms(events[events.length - 1]?.eventTime) };
}

function unionLength(intervals: Interval[]): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur: Interval | undefined;
  for (const iv of sorted) {
    if (!cur || iv[0] > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [iv[0], iv[1]];
    } else cur[1] = Math.max(cur[1], iv[1]);
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const runs = argv.includes('--runs') ? Number(argv[argv.indexOf('--runs') + 1]) || 1 : 1;
  const overrides = argv.flatMap((a, i) => (a === '--set' && argv[i + 1] ? [argv[i + 1] as string] : []));
  const settings = loadServiceSettings();
  const s3 = createS3Client(settings.s3);
  await ensureBucket(s3, 'seerflow');
  await seedCorpus(s3, { bucket: 'seerflow' });
  const connection = await Connection.connect({ address: settings.temporal.address });
  const client = new Client({ connection, namespace: settings.temporal.namespace });
  const {
    workers,
    connection: wc,
    clientConnection,
  } = await createWorkers({ queues: ['orchestrator', 'io', 'cpu', 'gpu'], settings });
  const running = workers.map((w) => w.run());
  const results: Record<string, unknown>[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const runName = `overhead-${Date.now().toString(36)}`;
      const config = loadConfig({ preset: 'tiny', set: [`run.name=${runName}`, ...overrides] });
      const id = `seerflow/${runName}`;
      const t0 = Date.now();
      const result = (await client.workflow.execute(seerPipelineWorkflow, {
        taskQueue: settings.taskQueues.orchestrator,
        workflowId: id,
        args: [{ config } satisfies PipelineInput],
      })) as PipelineResult;
      const clientWall = Date.now() - t0;
      // Walk the pipeline and every descendant workflow (stage children, partition children), all runs.
      const intervals: Interval[] = [];
      let workflowsSeen = 0;
      let pipelineStart = 0;
      let pipelineEnd = 0;
      let maxEvents = 0;
      const queue = [id];
      while (queue.length > 0) {
        const wfId = queue.shift() as string;
        for await (const exec of client.workflow.list({ query: `WorkflowId = '${wfId}'` })) {
          const history = await client.workflow.getHandle(wfId, exec.runId).fetchHistory();
          const events = history.events ?? [];
          maxEvents = Math.max(maxEvents, events.length);
          const a = analyse(events);
          intervals.push(...a.intervals);
          queue.push(...a.children);
          workflowsSeen++;
          if (wfId === id) {
            pipelineStart = a.start;
            pipelineEnd = a.end;
          }
        }
      }
      const wall = pipelineEnd - pipelineStart;
      const covered = unionLength(intervals);
      const activitySum = intervals.reduce((n, [a, b]) => n + (b - a), 0);
      const row = {
        runName,
        wallMs: wall,
        clientWallMs: clientWall,
        activityCoveredMs: covered,
        activitySumMs: activitySum,
        activities: intervals.length,
        workflows: workflowsSeen,
        maxHistoryEvents: maxEvents,
        overheadFraction: (wall - covered) / wall,
        stageSeconds: Object.fromEntries(
          Object.entries(result.stages).map(([k, v]) => [
            k,
            v.startedAt && v.finishedAt ? (v.finishedAt - v.startedAt) / 1000 : null,
          ]),
        ),
        pretrainComputeSeconds: result.pretrain.computeSeconds,
      };
      results.push(row);
      process.stdout.write(
        `run ${runName}: wall ${(wall / 1000).toFixed(1)} s, activities cover ${(covered / 1000).toFixed(1)} s ` +
          `(${intervals.length} activities in ${workflowsSeen} workflow runs, sum ${(activitySum / 1000).toFixed(1)} s), ` +
          `orchestration overhead ${(100 * row.overheadFraction).toFixed(2)} %\n`,
      );
    }
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await wc.close();
    await clientConnection.close();
    await connection.close();
  }
  const out = {
    bench: 'orchestration-overhead',
    command: `node dist/bench/orchestration-overhead.js ${argv.join(' ')}`.trim(),
    definition:
      'overhead = (pipeline wall time - time during which at least one activity was running) / pipeline wall time',
    goal: '<= 5 %',
    machine: { cpus: os.cpus().length, loadavg: os.loadavg(), node: process.version },
    date: new Date().toISOString(),
    runs: results,
  };
  const dir = path.join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `orchestration-overhead-${new Date().toISOString().slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`wrote ${path.relative(PROJECT_ROOT, file)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
