/**
 * `seerflow schedule ...`: scheduled retraining over Temporal Schedules. Each fire starts
 * `scheduledPipelineWorkflow`, which runs the pipeline incrementally on top of the schedule's last successful run
 * and records the lineage in `s3://<bucket>/schedules/<id>/runs.json`.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleSpec,
  type ScheduleSpecDescription,
  type ScheduleSummary,
} from '@temporalio/client';
import type { Command } from 'commander';
import { readScheduleRegistry } from '../../activities/schedule/activities';
import type { SeerConfig } from '../../config/schema';
import {
  SCHEDULE_ID_PATTERN,
  SCHEDULE_ID_RULE,
  SCHEDULE_WORKFLOW_TYPE,
  scheduleKeys,
  scheduleWorkflowId,
  type ScheduledPipelineInput,
  type ScheduledRunRecord,
} from '../../contracts/schedule';
import { createS3Client } from '../../infra/s3';
import { loadServiceSettings, type ServiceSettings } from '../../infra/settings';
import { scheduledPipelineWorkflow } from '../../workflows';
import { addConfigOptions, configFromOptions, connectClient, printJson, type ConfigCliOptions } from '../common';
import { CliError, EXIT } from '../exit-codes';
import { workflowUiUrl } from '../summary';

/** Policies of every schedule this command creates (the README shows the same for the Temporal CLI). */
export const SCHEDULE_POLICIES = {
  overlap: ScheduleOverlapPolicy.SKIP,
  pauseOnFailure: true,
  catchupWindow: '1 day',
} as const;

/** Memo key holding the spec as the user wrote it (the server turns cron strings into calendars). */
const SPEC_MEMO = 'seerflowSpec';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `--every 6h` -> milliseconds; undefined when it is not `<positive integer><s|m|h|d>`. */
export function parseEvery(text: string): number | undefined {
  const m = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms > 0 ? ms : undefined;
}

function formatMs(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}

function checkScheduleId(id: string): void {
  if (!SCHEDULE_ID_PATTERN.test(id)) throw new CliError(`invalid schedule ID "${id}": ${SCHEDULE_ID_RULE}`, EXIT.usage);
}

/** One line for a schedule's spec: the memo written at creation, else a rendering of what the server holds. */
function describeSpec(spec: ScheduleSpecDescription | undefined, memo: Record<string, unknown> | undefined): string {
  const written = memo?.[SPEC_MEMO];
  if (typeof written === 'string') return written;
  if (!spec) return '?';
  const parts: string[] = [];
  for (const i of spec.intervals ?? []) parts.push(`every ${formatMs(i.every)}`);
  // Cron strings come back as calendars: render them cron-style (minute hour day-of-month month day-of-week).
  const field = <U extends string | number>(rs: { start: U; end?: U; step?: number }[], all: [U, U]): string =>
    rs
      .map((r) => {
        const end = r.end ?? r.start;
        if (r.start === all[0] && end === all[1] && (r.step ?? 1) <= 1) return '*';
        const short = (v: U) => (typeof v === 'string' ? v.slice(0, 3).toLowerCase() : String(v));
        return end === r.start
          ? short(r.start)
          : `${short(r.start)}-${short(end)}${r.step && r.step > 1 ? `/${r.step}` : ''}`;
      })
      .join(',') || '*';
  for (const c of spec.calendars ?? []) {
    parts.push(
      `calendar ${field(c.minute, [0, 59])} ${field(c.hour, [0, 23])} ${field(c.dayOfMonth, [1, 31])} ${field(c.month, ['JANUARY', 'DECEMBER'])} ${field(c.dayOfWeek, ['SUNDAY', 'SATURDAY'])}`,
    );
  }
  return parts.join('; ') || 'no spec';
}

/** Maps "no such schedule" to a clear CLI error. */
async function onSchedule<T>(id: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw new CliError(`no schedule "${id}" (see \`seerflow schedule list\`)`, EXIT.failure);
    throw err;
  }
}

async function withClient<T>(fn: (client: Client, settings: ServiceSettings) => Promise<T>): Promise<T> {
  const settings = loadServiceSettings();
  const { client, connection } = await connectClient(settings);
  try {
    return await fn(client, settings);
  } finally {
    await connection.close();
  }
}

function scheduleUiUrl(settings: ServiceSettings, id: string): string {
  return `${settings.temporal.uiUrl}/namespaces/${encodeURIComponent(settings.temporal.namespace)}/schedules/${encodeURIComponent(id)}`;
}

function scheduleInput(id: string, cfg: SeerConfig): ScheduledPipelineInput {
  return { scheduleId: id, config: cfg };
}

interface CreateOptions extends ConfigCliOptions {
  cron?: string;
  every?: string;
  timezone?: string;
  paused?: boolean;
  trigger?: boolean;
  note?: string;
  json?: boolean;
}

async function create(id: string, opts: CreateOptions): Promise<void> {
  checkScheduleId(id);
  if (Boolean(opts.cron) === Boolean(opts.every))
    throw new CliError('give exactly one of --cron "<expr>" or --every <duration>', EXIT.usage);
  let spec: ScheduleSpec;
  let specText: string;
  if (opts.every) {
    const ms = parseEvery(opts.every);
    if (ms === undefined)
      throw new CliError(
        `--every expects a positive integer with s, m, h or d (e.g. 6h, 5m), got "${opts.every}"`,
        EXIT.usage,
      );
    spec = { intervals: [{ every: ms }] };
    specText = `every ${formatMs(ms)}`;
  } else {
    const cron = (opts.cron as string).trim();
    if (cron.split(/\s+/).length < 5 && !cron.startsWith('@'))
      throw new CliError(
        `--cron expects 5 fields (minute hour day-of-month month day-of-week), got "${cron}"`,
        EXIT.usage,
      );
    spec = { cronExpressions: [cron] };
    specText = `cron ${cron}`;
  }
  if (opts.timezone) {
    spec.timezone = opts.timezone;
    specText += ` (${opts.timezone})`;
  }
  if (opts.name)
    process.stderr.write(`note: --name is ignored: scheduled runs are named ${id}-<yyyymmddhhmmss> (UTC)\n`);
  const cfg = configFromOptions(opts);

  await withClient(async (client, settings) => {
    let handle: ScheduleHandle;
    try {
      handle = await client.schedule.create({
        scheduleId: id,
        spec,
        action: {
          type: 'startWorkflow',
          workflowType: scheduledPipelineWorkflow,
          taskQueue: loadServiceSettings().taskQueues.orchestrator,
          workflowId: scheduleWorkflowId(id),
          args: [scheduleInput(id, cfg)],
        },
        policies: { ...SCHEDULE_POLICIES },
        memo: { [SPEC_MEMO]: specText },
        state: {
          paused: Boolean(opts.paused),
          ...(opts.note || opts.paused ? { note: opts.note ?? 'created paused' } : {}),
        },
      });
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) {
        throw new CliError(
          `schedule "${id}" already exists; delete it first (\`seerflow schedule delete ${id}\`)`,
          EXIT.failure,
        );
      }
      // The client turns the server's "Invalid schedule spec" (bad cron field, unknown time zone) into a TypeError.
      if (err instanceof TypeError) throw new CliError(`invalid schedule spec: ${err.message}`, EXIT.usage);
      throw err;
    }
    // Not `triggerImmediately`: the client sends that with ALLOW_ALL, whose runs the server does not watch, so a
    // failure would not pause the schedule. A trigger with SKIP is watched like a scheduled fire.
    if (opts.trigger) await handle.trigger(ScheduleOverlapPolicy.SKIP);
    const desc = await handle.describe();
    const next = desc.info.nextActionTimes.map((d) => d.toISOString());
    if (opts.json) {
      printJson({
        scheduleId: id,
        workflowId: scheduleWorkflowId(id),
        spec: specText,
        paused: desc.state.paused,
        nextActionTimes: next,
        url: scheduleUiUrl(settings, id),
      });
      return;
    }
    process.stdout.write(
      `schedule ${id} created: ${specText}${desc.state.paused ? ', PAUSED' : ''}${opts.trigger ? ', first run triggered now' : ''}\n` +
        `  preset ${cfg.preset}, bucket ${cfg.ingest.bucket}; runs are named ${id}-<yyyymmddhhmmss>, lineage in s3://${cfg.ingest.bucket}/${scheduleKeys.registry(id)}\n` +
        `  next runs: ${next.slice(0, 3).join(', ') || 'none'}\n` +
        `  Temporal UI: ${scheduleUiUrl(settings, id)}\n`,
    );
  });
}

/** JSON shape of one `schedule list` row. */
export interface ScheduleListRow {
  scheduleId: string;
  workflowType: string | undefined;
  spec: string;
  paused: boolean;
  note?: string;
  nextActionTimes: string[];
  recentActions: { scheduledAt: string; workflowId: string }[];
}

function listRow(s: ScheduleSummary): ScheduleListRow {
  return {
    scheduleId: s.scheduleId,
    workflowType: s.action?.workflowType,
    spec: describeSpec(s.spec, s.memo),
    paused: s.state.paused,
    ...(s.state.note ? { note: s.state.note } : {}),
    nextActionTimes: s.info.nextActionTimes.map((d) => d.toISOString()),
    recentActions: s.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
    })),
  };
}

async function list(opts: { json?: boolean; all?: boolean }): Promise<void> {
  await withClient(async (client) => {
    const rows: ScheduleListRow[] = [];
    for await (const s of client.schedule.list()) {
      if (opts.all || s.action?.workflowType === SCHEDULE_WORKFLOW_TYPE) rows.push(listRow(s));
    }
    rows.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
    if (opts.json) return printJson(rows);
    if (rows.length === 0) {
      process.stdout.write('no schedules (create one with `seerflow schedule create <id> --cron "0 2 * * *"`)\n');
      return;
    }
    for (const r of rows) {
      const last = r.recentActions.at(-1);
      process.stdout.write(
        `${r.scheduleId.padEnd(24)} ${r.paused ? 'PAUSED' : 'active'}  ${r.spec}  next ${r.nextActionTimes[0] ?? '-'}  last ${last?.workflowId ?? '-'}` +
          `${opts.all && r.workflowType !== SCHEDULE_WORKFLOW_TYPE ? `  (${r.workflowType ?? '?'})` : ''}${r.note ? `  note: ${r.note}` : ''}\n`,
      );
    }
  });
}

/** Everything `schedule describe --json` prints. */
export interface ScheduleDetails {
  scheduleId: string;
  workflowType: string;
  taskQueue: string;
  workflowId: string;
  spec: string;
  paused: boolean;
  note?: string;
  policies: ScheduleDescription['policies'];
  numActionsTaken: number;
  nextActionTimes: string[];
  recentActions: { scheduledAt: string; takenAt: string; workflowId: string; status: string }[];
  runningActions: string[];
  config?: { preset: string; bucket: string; prefixes: string[] };
  registry: { key: string; bucket: string; runs: ScheduledRunRecord[] } | { error: string };
}

async function details(client: Client, settings: ServiceSettings, id: string): Promise<ScheduleDetails> {
  const desc = await onSchedule(id, () => client.schedule.getHandle(id).describe());
  const input = desc.action.args?.[0] as Partial<ScheduledPipelineInput> | undefined;
  const cfg = input?.config;
  const recentActions = await Promise.all(
    desc.info.recentActions.map(async (a) => {
      const workflowId = a.action.workflow.workflowId;
      let status = 'UNKNOWN';
      try {
        status = (await client.workflow.getHandle(workflowId, a.action.workflow.firstExecutionRunId).describe()).status
          .name;
      } catch {
        /* closed and past retention */
      }
      return { scheduledAt: a.scheduledAt.toISOString(), takenAt: a.takenAt.toISOString(), workflowId, status };
    }),
  );
  let registry: ScheduleDetails['registry'];
  if (!cfg?.ingest?.bucket) registry = { error: 'the schedule input has no config.ingest.bucket' };
  else {
    try {
      const reg = await readScheduleRegistry(createS3Client(settings.s3, 2), cfg.ingest.bucket, id);
      registry = { key: scheduleKeys.registry(id), bucket: cfg.ingest.bucket, runs: reg.runs };
    } catch (err) {
      registry = {
        error: `cannot read s3://${cfg.ingest.bucket}/${scheduleKeys.registry(id)}: ${(err as Error).message}`,
      };
    }
  }
  return {
    scheduleId: id,
    workflowType: desc.action.workflowType,
    taskQueue: desc.action.taskQueue,
    workflowId: desc.action.workflowId,
    spec: describeSpec(desc.spec, desc.memo),
    paused: desc.state.paused,
    ...(desc.state.note ? { note: desc.state.note } : {}),
    policies: desc.policies,
    numActionsTaken: desc.info.numActionsTaken,
    nextActionTimes: desc.info.nextActionTimes.map((d) => d.toISOString()),
    recentActions,
    runningActions: desc.info.runningActions.map((a) => a.workflow.workflowId),
    ...(cfg?.ingest
      ? { config: { preset: cfg.preset ?? '?', bucket: cfg.ingest.bucket, prefixes: cfg.ingest.prefixes } }
      : {}),
    registry,
  };
}

function formatDetails(d: ScheduleDetails, settings: ServiceSettings): string {
  const lines = [
    `schedule ${d.scheduleId}: ${d.spec}, ${d.paused ? `PAUSED${d.note ? ` (${d.note})` : ''}` : 'active'}`,
    `  starts      ${d.workflowType} on ${d.taskQueue} as ${d.workflowId}-<time>`,
    `  policies    overlap ${d.policies.overlap}, ${d.policies.pauseOnFailure ? 'pause on failure' : 'keep going on failure'}, catch-up ${formatMs(d.policies.catchupWindow)}`,
  ];
  if (d.config)
    lines.push(`  config      preset ${d.config.preset}, s3://${d.config.bucket}/{${d.config.prefixes.join(',')}}`);
  lines.push(`  next        ${d.nextActionTimes.slice(0, 3).join(', ') || '-'}`);
  lines.push(
    `  actions     ${d.numActionsTaken} taken${d.runningActions.length ? `, running: ${d.runningActions.join(', ')}` : ''}`,
  );
  for (const a of d.recentActions) lines.push(`    ${a.scheduledAt}  ${a.status.padEnd(10)} ${a.workflowId}`);
  if ('error' in d.registry) lines.push(`  lineage     ${d.registry.error}`);
  else {
    lines.push(
      `  lineage     s3://${d.registry.bucket}/${d.registry.key} (${d.registry.runs.length} successful run${d.registry.runs.length === 1 ? '' : 's'})`,
    );
    for (const r of d.registry.runs) {
      lines.push(
        `    ${r.runName}  +${r.newObjects} new, ${r.unchanged} unchanged, ${r.datasetImages} images -> step ${r.checkpointStep}, loss ${r.finalLoss.toFixed(4)}` +
          `${r.previousRun ? `  (on ${r.previousRun})` : '  (first)'}`,
      );
      lines.push(`      manifest ${r.ingestSummaryKey}`);
      lines.push(`      model    ${r.checkpointKey}${r.warmStartFrom ? ` (warm start from ${r.warmStartFrom})` : ''}`);
    }
  }
  lines.push(`  Temporal UI ${scheduleUiUrl(settings, d.scheduleId)}`);
  return lines.join('\n');
}

/** Waits (briefly) for the action a trigger started and returns its workflow ID. */
async function triggeredWorkflow(
  handle: ScheduleHandle,
  before: Set<string>,
  timeoutMs = 15_000,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const desc = await handle.describe();
    const fresh = desc.info.recentActions.map((a) => a.action.workflow.workflowId).find((w) => !before.has(w));
    if (fresh) return fresh;
    await new Promise((r) => setTimeout(r, 300));
  }
  return undefined;
}

export function register(program: Command): void {
  const cmd = program
    .command('schedule')
    .description(
      'scheduled retraining on Temporal Schedules: each run ingests only new objects and warm-starts from the last good model',
    );

  addConfigOptions(
    cmd
      .command('create <id>')
      .description('create a schedule (the config is validated now and stored in the schedule)')
      .option('--cron <expr>', 'cron expression, UTC unless --timezone, e.g. "0 2 * * *"')
      .option('--every <duration>', 'fixed interval: <n>s|m|h|d, e.g. 6h')
      .option('--timezone <tz>', 'IANA time zone for --cron, e.g. Europe/Berlin')
      .option('--paused', 'create paused (start with `schedule unpause` or `schedule trigger`)')
      .option('--trigger', 'also start one run right away')
      .option('--note <text>', 'note shown with the schedule')
      .option('--json', 'print the result as JSON'),
  ).action((id: string, opts: CreateOptions) => create(id, opts));

  cmd
    .command('list')
    .description('list seerflow schedules')
    .option('--all', 'include schedules of other workflow types')
    .option('--json', 'print as JSON')
    .action((opts: { json?: boolean; all?: boolean }) => list(opts));

  cmd
    .command('describe <id>')
    .description('spec, state, recent runs and the run lineage (which run produced which model from which manifest)')
    .option('--json', 'print as JSON')
    .action((id: string, opts: { json?: boolean }) =>
      withClient(async (client, settings) => {
        const d = await details(client, settings, id);
        if (opts.json) printJson(d);
        else process.stdout.write(`${formatDetails(d, settings)}\n`);
      }),
    );

  // pause and unpause differ only in the verb.
  for (const [verb, description, noteHelp] of [
    ['pause', 'pause: no new runs start (a running one continues)', 'why it is paused'],
    ['unpause', 'resume firing (also after a pause on failure)', 'note to record'],
  ] as const) {
    cmd
      .command(`${verb} <id>`)
      .description(description)
      .option('--note <text>', noteHelp)
      .action((id: string, opts: { note?: string }) =>
        withClient(async (client) => {
          const note = opts.note ?? `${verb}d with seerflow schedule ${verb}`;
          await onSchedule(id, () => client.schedule.getHandle(id)[verb](note));
          process.stdout.write(`schedule ${id} ${verb}d\n`);
        }),
      );
  }

  cmd
    .command('trigger <id>')
    .description('start one run now (works while paused; refused while a run is in progress)')
    .option('--json', 'print the started workflow ID as JSON')
    .action((id: string, opts: { json?: boolean }) =>
      withClient(async (client, settings) => {
        const handle = client.schedule.getHandle(id);
        const desc = await onSchedule(id, () => handle.describe());
        const running = desc.info.runningActions.map((a) => a.workflow.workflowId);
        if (running.length > 0)
          throw new CliError(
            `schedule ${id} has a run in progress (${running.join(', ')}); not triggered`,
            EXIT.failure,
          );
        const before = new Set(desc.info.recentActions.map((a) => a.action.workflow.workflowId));
        // SKIP as the schedule itself: a run started in the meantime is not doubled.
        await handle.trigger(ScheduleOverlapPolicy.SKIP);
        const workflowId = await triggeredWorkflow(handle, before);
        if (opts.json) return printJson({ scheduleId: id, workflowId: workflowId ?? null });
        process.stdout.write(
          workflowId
            ? `triggered ${id}: ${workflowId}\nTemporal UI: ${workflowUiUrl(settings.temporal.uiUrl, settings.temporal.namespace, workflowId)}\n`
            : `trigger sent to ${id}; the run has not shown up yet (see \`seerflow schedule describe ${id}\`)\n`,
        );
      }),
    );

  cmd
    .command('delete <id>')
    .description('delete the schedule (a run in progress keeps running; the lineage in S3 stays)')
    .action((id: string) =>
      withClient(async (client) => {
        const handle = client.schedule.getHandle(id);
        const desc = await onSchedule(id, () => handle.describe());
        await onSchedule(id, () => handle.delete());
        process.stdout.write(`schedule ${id} deleted\n`);
        for (const w of desc.info.runningActions)
          process.stderr.write(
            `note: ${w.workflow.workflowId} is still running (stop it with \`seerflow cancel ${w.workflow.workflowId}\`)\n`,
          );
      }),
    );

  addConfigOptions(
    cmd
      .command('input <id>')
      .description(
        'print the schedule workflow input {"scheduleId", "config"} for `temporal schedule create --input-file`',
      ),
  ).action((id: string, opts: ConfigCliOptions) => {
    checkScheduleId(id);
    printJson(scheduleInput(id, configFromOptions(opts)));
  });
}
