/**
 * `seerflow report <workflowId|runName>`: builds the run report of a completed pipeline (HTML + JSON) from the
 * workflow's result and history, writes it to `reports/<run>/` and to S3, and prints where it is.
 */
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { Command } from 'commander';
import type { SeerConfig } from '../../config/schema';
import type { EvaluationResult } from '../../contracts/evaluate';
import { workflowIds, type PipelineInput, type PipelineResult } from '../../contracts/pipeline';
import type { SegmentResult } from '../../contracts/pretrain';
import { createS3Client } from '../../infra/s3';
import { loadServiceSettings, type ServiceSettings } from '../../infra/settings';
// Types only: the builder (and vega with it) loads when a report is built, not with every CLI command.
import type { ReportData, TrainingPoint } from '../../report/build-report';
import { localReportDir, REPORT_HTML, writeReport, type ReportLocations } from '../../report/write-report';
import { connectClient, printJson } from '../common';
import { CliError, EXIT } from '../exit-codes';

/** A pipeline result, with the evaluation once that stage exists. */
export type PipelineResultWithEvaluation = PipelineResult & { evaluate?: EvaluationResult };

/** `seerflow/<run>` for a bare run name; a workflow ID (it has a slash) as given. */
export function pipelineWorkflowId(idOrRun: string): string {
  return idOrRun.includes('/') ? idOrRun : workflowIds.pipeline(idOrRun);
}

/** The run config the pipeline was started with (first history event's input). */
async function startedConfig(handle: WorkflowHandle): Promise<SeerConfig | undefined> {
  const history = await handle.fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload<PipelineInput>(payload as Payload).config : undefined;
}

/**
 * Per-segment loss, LR and throughput from the completed `trainSegment` activities in the pretrain workflow's
 * history, following continue-as-new back to the first run. Finer than `PretrainResult.history`, which lacks
 * throughput.
 */
export async function pretrainSegments(client: Client, workflowId: string, maxRuns = 100): Promise<TrainingPoint[]> {
  const points: TrainingPoint[] = [];
  let runId: string | undefined;
  for (let i = 0; i < maxRuns; i++) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    const activityType = new Map<string, string>();
    const runPoints: TrainingPoint[] = [];
    for (const ev of events) {
      const scheduled = ev.activityTaskScheduledEventAttributes;
      if (scheduled) activityType.set(String(ev.eventId), scheduled.activityType?.name ?? '');
      const done = ev.activityTaskCompletedEventAttributes;
      const payload = done?.result?.payloads?.[0];
      if (done && payload && activityType.get(String(done.scheduledEventId)) === 'trainSegment') {
        const s = defaultPayloadConverter.fromPayload<SegmentResult>(payload as Payload);
        runPoints.push({
          step: s.steps,
          loss: s.loss,
          lr: s.lr,
          imagesPerSec: s.imagesPerSec,
          computeSeconds: s.computeSeconds,
        });
      }
    }
    points.unshift(...runPoints);
    const previous = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!previous) break;
    runId = previous;
  }
  return points;
}

/**
 * Gathers everything the report needs for a pipeline workflow: its result (fetched unless given; the run must
 * have completed), config, timings and the pretraining segments.
 */
export async function collectReportData(
  client: Client,
  workflowId: string,
  known: { result?: PipelineResultWithEvaluation; config?: SeerConfig } = {},
): Promise<ReportData> {
  const handle = client.workflow.getHandle(workflowId);
  let desc;
  try {
    desc = await handle.describe();
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') throw new CliError(`no workflow ${workflowId}`, EXIT.failure);
    throw err;
  }
  if (desc.type !== 'seerPipelineWorkflow') {
    throw new CliError(
      `${workflowId} is a ${desc.type}, not a pipeline; pass the run name or seerflow/<run>`,
      EXIT.usage,
    );
  }
  if (!known.result && desc.status.name !== 'COMPLETED') {
    throw new CliError(
      `${workflowId} is ${desc.status.name}: a report needs a completed run (see \`seerflow status ${workflowId}\`)`,
      EXIT.failure,
    );
  }
  const result = known.result ?? ((await handle.result()) as PipelineResultWithEvaluation);
  const config = known.config ?? (await startedConfig(handle).catch(() => undefined));
  // Best effort: without the segments the report falls back to the per-segment history in the result.
  const pretrainId = result.stages.pretrain?.workflowId ?? workflowIds.stage(result.runName, 'pretrain');
  const training = await pretrainSegments(client, pretrainId).catch(() => []);
  const { reportDataFrom } = await import('../../report/build-report');
  return reportDataFrom(result, {
    ...(config ? { config } : {}),
    ...(training.length ? { training } : {}),
    run: {
      workflowId,
      status: desc.status.name,
      startedAt: desc.startTime.getTime(),
      ...(desc.closeTime ? { closedAt: desc.closeTime.getTime() } : {}),
    },
  });
}

/** Collects, builds and writes a pipeline's report; returns where it went. */
export async function buildAndWriteReport(
  client: Client,
  workflowId: string,
  known: { result?: PipelineResultWithEvaluation; config?: SeerConfig } = {},
  settings: ServiceSettings = loadServiceSettings(),
): Promise<ReportLocations> {
  const data = await collectReportData(client, workflowId, known);
  const { buildReport } = await import('../../report/build-report');
  const { html, json } = await buildReport(data);
  const bucket = data.config?.ingest.bucket ?? data.bucket;
  const s3 = createS3Client(settings.s3);
  try {
    return await writeReport({ s3, bucket, runName: data.pipeline.runName, html, json });
  } catch (err) {
    // The local copy is written first, so say where it is.
    const local = path.join(localReportDir(data.pipeline.runName), REPORT_HTML);
    throw new CliError(
      `report written to ${displayPath(local)} but not to s3://${bucket}: ${(err as Error).message}`,
      EXIT.failure,
    );
  } finally {
    s3.destroy();
  }
}

/**
 * The end of `seerflow run`: builds and writes the report and prints `report: <path>` (to stderr with `--json`,
 * so stdout stays one JSON document). A report failure is a warning: the run itself succeeded.
 */
export async function reportAfterRun(
  client: Client,
  workflowId: string,
  known: { result: PipelineResultWithEvaluation; config: SeerConfig },
  settings: ServiceSettings,
  json = false,
): Promise<void> {
  try {
    const loc = await buildAndWriteReport(client, workflowId, known, settings);
    (json ? process.stderr : process.stdout).write(`report: ${displayPath(loc.local.html)}\n`);
  } catch (err) {
    process.stderr.write(
      `report: not written (${(err as Error).message}); retry with \`seerflow report ${known.result.runName}\`\n`,
    );
  }
}

/** A path relative to the working directory when it is below it (shorter to read and click), else absolute. */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

export function register(program: Command): void {
  program
    .command('report <workflowIdOrRun>')
    .description('build the HTML + JSON report of a completed pipeline run, into reports/<run>/ and S3')
    .option('--open-path', 'print only the absolute path of the HTML file (e.g. for xdg-open)')
    .option('--json', 'print the locations as JSON')
    .action(async (idOrRun: string, opts: { openPath?: boolean; json?: boolean }) => {
      const settings = loadServiceSettings();
      const { client, connection } = await connectClient(settings);
      try {
        const loc = await buildAndWriteReport(client, pipelineWorkflowId(idOrRun), {}, settings);
        if (opts.json) printJson(loc);
        else if (opts.openPath) process.stdout.write(`${loc.local.html}\n`);
        else
          process.stdout.write(
            `report: ${displayPath(loc.local.html)}\ns3:     s3://${loc.s3.bucket}/${loc.s3.htmlKey}\n`,
          );
      } finally {
        await connection.close();
      }
    });
}
