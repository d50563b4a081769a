/** Writes a built run report to `reports/<run>/` (local, gitignored) and to `runs/<run>/report/` in S3. */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { evaluateKeys } from '../contracts/evaluate';
import { putText } from '../infra/s3';
import { PROJECT_ROOT } from '../infra/settings';

export const REPORT_HTML = 'index.html';
export const REPORT_JSON = 'report.json';

/** Where a report lands. */
export interface ReportLocations {
  local: { dir: string; html: string; json: string };
  s3: { bucket: string; htmlKey: string; jsonKey: string };
}

/** `reports/<run>/` under the project root (or under `root`). */
export function localReportDir(runName: string, root: string = path.join(PROJECT_ROOT, 'reports')): string {
  return path.join(root, runName);
}

/** The S3 keys of a run's report. */
export function reportKeys(runName: string): { htmlKey: string; jsonKey: string } {
  const prefix = evaluateKeys.report(runName);
  return { htmlKey: `${prefix}${REPORT_HTML}`, jsonKey: `${prefix}${REPORT_JSON}` };
}

async function writeAtomic(file: string, body: string): Promise<void> {
  // Write-then-rename: a browser open on the old report never sees a half-written file.
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, body, 'utf8');
  await rename(tmp, file);
}

/**
 * Writes the report locally first (so it exists even when S3 is unreachable), then to S3. Rejects when either
 * write fails; the local files are then still in place at {@link localReportDir}.
 */
export async function writeReport(opts: {
  s3: S3Client;
  bucket: string;
  runName: string;
  html: string;
  json: unknown;
  /** folder holding `<run>/` (default `<project>/reports`) */
  localRoot?: string;
}): Promise<ReportLocations> {
  const dir = localReportDir(opts.runName, opts.localRoot);
  const local = { dir, html: path.join(dir, REPORT_HTML), json: path.join(dir, REPORT_JSON) };
  const jsonText = `${JSON.stringify(opts.json, null, 2)}\n`;
  await mkdir(dir, { recursive: true });
  await writeAtomic(local.html, opts.html);
  await writeAtomic(local.json, jsonText);
  const keys = reportKeys(opts.runName);
  await putText(opts.s3, opts.bucket, keys.htmlKey, opts.html, 'text/html; charset=utf-8');
  await putText(opts.s3, opts.bucket, keys.jsonKey, jsonText, 'application/json');
  return { local, s3: { bucket: opts.bucket, ...keys } };
}
