/**
 * Scheduled retraining's durable interface: the workflow type a Temporal Schedule starts, its input, the run
 * registry (lineage) kept in S3, and the pure naming rules. Safe to import from workflows.
 */
import { defineQuery } from '@temporalio/workflow';
import type { SeerConfig } from '../config/schema';

/** Workflow type name the schedules start. Durable: never rename. */
export const SCHEDULE_WORKFLOW_TYPE = 'scheduledPipelineWorkflow';

/** Length of the UTC timestamp suffix (`yyyymmddhhmmss`) plus its dash in every scheduled run name. */
const RUN_NAME_SUFFIX = 15;

/** Schedule IDs: run names `<id>-<yyyymmddhhmmss>` must still satisfy the run-name rule (at most 63 characters). */
export const SCHEDULE_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,47}$/;
export const SCHEDULE_ID_RULE = `lower-case letters, digits and dashes, starting with a letter or digit, at most ${63 - RUN_NAME_SUFFIX} characters`;

/** What every scheduled start receives: the schedule's ID and the base config (validated when the schedule was made). */
export interface ScheduledPipelineInput {
  scheduleId: string;
  config: SeerConfig;
}

/** One successful scheduled run: which model came from which manifest, on top of which earlier run. */
export interface ScheduledRunRecord {
  scheduleId: string;
  runName: string;
  /** ID of the schedule-started workflow (`seerflow-schedule/<id>-<RFC 3339 time>`). */
  workflowId: string;
  /** ID of its pipeline child (`seerflow/<runName>`). */
  pipelineWorkflowId: string;
  /** The time the schedule fired for (from the workflow ID), ISO 8601. */
  scheduledAt: string;
  startedAt: string;
  finishedAt: string;
  /** This run's ingest summary: the next run ingests incrementally against it. */
  ingestSummaryKey: string;
  /** Ingest summary this run was incremental against (the previous run's, or the base config's). */
  previousIngestSummaryKey?: string;
  datasetKey: string;
  checkpointKey: string;
  checkpointStep: number;
  finalLoss: number;
  /** Checkpoint the pretraining warm-started from (the previous run's model). */
  warmStartFrom?: string;
  /** Run name of the previous successful run this one built on. */
  previousRun?: string;
  /** Objects accepted by this run's ingest: new or changed since the previous run. */
  newObjects: number;
  listed: number;
  unchanged: number;
  quarantined: number;
  /** Images the model was trained on (the whole incremental lineage). */
  datasetImages: number;
}

/** `schedules/<id>/runs.json`: every successful run, oldest first (rebuilt from the per-run records). */
export interface ScheduleRegistry {
  schema: 'seerflow.schedule-runs/1';
  scheduleId: string;
  runs: ScheduledRunRecord[];
}

/** Progress of a scheduled run, for `seerflow status` style queries. */
export interface ScheduledRunProgress {
  runName: string;
  phase: 'lookup' | 'pipeline' | 'record' | 'done' | 'failed';
  pipelineWorkflowId: string;
  previousRun?: string;
}

export const scheduleKeys = {
  root: (scheduleId: string) => `schedules/${scheduleId}/`,
  /** the lineage index */
  registry: (scheduleId: string) => `schedules/${scheduleId}/runs.json`,
  /** one record per successful run: written once, so concurrent runs never overwrite each other */
  runsPrefix: (scheduleId: string) => `schedules/${scheduleId}/runs/`,
  run: (scheduleId: string, runName: string) => `schedules/${scheduleId}/runs/${runName}.json`,
};

/** The workflow ID a schedule is created with; the server appends `-<scheduled time>` to each start. */
export function scheduleWorkflowId(scheduleId: string): string {
  return `seerflow-schedule/${scheduleId}`;
}

/** `<scheduleId>-<yyyymmddhhmmss>` in UTC: sortable by time, unique per fire, a valid run name. */
export function scheduledRunName(scheduleId: string, at: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp = `${p(at.getUTCFullYear(), 4)}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())}${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}`;
  return `${scheduleId}-${stamp}`;
}

/** The scheduled time Temporal appended to a schedule-started workflow ID, or undefined for other IDs. */
export function scheduledTimeFromWorkflowId(workflowId: string): Date | undefined {
  const m = /-(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?Z$/.exec(workflowId);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

/** Progress of one scheduled retraining run. */
export const scheduledProgressQuery = defineQuery<ScheduledRunProgress>('scheduledProgress');
