/**
 * `seerflow seed`: puts the sample corpus (Fashion-MNIST, real photos, planted bad objects) into S3, with labels
 * and an evaluation test set kept outside `corpus/`. Safe to rerun; a new --start adds new objects.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { ErrorType, SeerflowError } from '../../contracts/errors';
import {
  SEED_DEFAULTS,
  SEED_LAYOUT,
  type SeedProgress,
  type SeedSummary,
  seedCorpus,
} from '../../datasets/corpus/seed';
import { createS3Client, ensureBucket } from '../../infra/s3';
import { loadServiceSettings } from '../../infra/settings';
import { CliError, EXIT } from '../exit-codes';

const TRAIN_TOTAL = 60_000;

interface SeedCliOptions {
  bucket: string;
  count: number;
  start: number;
  full?: boolean;
  testCount: number;
  jpegFraction: number;
  photos: boolean;
  bad: boolean;
  concurrency: number;
  json?: boolean;
}

function intArg(min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    }
    return n;
  };
}

function fractionArg(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a number in [0, 1]');
  return n;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'ETIMEDOUT']);

/** True for "nothing answers at the endpoint" (as opposed to an S3 error response). */
export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: string; name?: string; errors?: unknown[]; $metadata?: { httpStatusCode?: number } };
  if (e?.$metadata?.httpStatusCode) return false;
  if ((e?.code && NETWORK_CODES.has(e.code)) || e?.name === 'TimeoutError') return true;
  return Array.isArray(e?.errors) && e.errors.some(isUnreachable);
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function formatSummary(s: SeedSummary): string {
  const c = s.counts;
  const reasons = Object.entries(s.expectedQuarantineByReason)
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
  return [
    `seeded s3://${s.bucket}/ (batch ${s.batchKey})`,
    `  this call: ${s.objects} objects, ${s.uploaded} uploaded (${mb(s.uploadedBytes)}), ${s.skipped} unchanged, ` +
      `${(s.durationMs / 1000).toFixed(1)} s`,
    `  corpus:    ${c.trainImages} Fashion-MNIST train (${c.trainPng} PNG, ${c.trainJpeg} JPEG), ${c.photos} photos, ` +
      `${c.bad} bad, ${c.oddKey} odd-key = ${c.corpusObjects} objects under ${SEED_LAYOUT.corpusPrefix}`,
    `  expected:  ${c.expectedAccepted} accepted, ${c.expectedQuarantined} quarantined` +
      (reasons ? ` (${reasons})` : ''),
    `  eval:      ${c.testImages} test images under ${SEED_LAYOUT.evalTestPrefix}`,
    `  labels:    ${SEED_LAYOUT.trainLabelsKey}, ${SEED_LAYOUT.testLabelsKey}, ${SEED_LAYOUT.classesKey}`,
    `  report:    ${s.reportKey}`,
  ].join('\n');
}

/** A bar on a TTY; otherwise one line per phase and about every 10% of the objects. */
function progressPrinter(json: boolean): { onProgress: (p: SeedProgress) => void; stop: () => void } {
  if (json) return { onProgress: () => undefined, stop: () => undefined };
  if (process.stderr.isTTY) {
    const bar = new SingleBar({
      format: 'seed {phase} [{bar}] {value}/{total} | {uploaded} uploaded, {skipped} unchanged',
      stream: process.stderr,
      hideCursor: true,
    });
    let started = false;
    return {
      onProgress: (p) => {
        const payload = { phase: p.phase.padEnd(7), uploaded: p.uploaded, skipped: p.skipped };
        if (!started && p.total > 0) {
          bar.start(p.total, p.done, payload);
          started = true;
        } else if (started) {
          bar.update(p.done, payload);
        }
      },
      stop: () => started && bar.stop(),
    };
  }
  let lastPhase = '';
  let nextMark = 0;
  return {
    onProgress: (p) => {
      if (p.phase !== lastPhase || (p.total > 0 && p.done >= nextMark)) {
        const counts = `${p.uploaded} uploaded, ${p.skipped} unchanged`;
        process.stderr.write(`seed: ${p.phase} ${p.done}/${p.total} (${counts})\n`);
        lastPhase = p.phase;
        nextMark = p.done + Math.max(1, Math.ceil(p.total / 10));
      }
    },
    stop: () => undefined,
  };
}

export async function runSeed(opts: SeedCliOptions): Promise<SeedSummary> {
  const settings = loadServiceSettings();
  const where = settings.s3.endpoint ?? 'AWS S3 (SDK default endpoint)';
  // One attempt only, so a stopped stack fails in a second instead of after the client's retries.
  const probe = createS3Client(settings.s3, 1);
  try {
    await ensureBucket(probe, opts.bucket);
  } catch (err) {
    if (isUnreachable(err)) {
      const hint = settings.s3.endpoint ? "; start the local stack with 'seerflow stack up'" : '';
      throw new CliError(`S3 is not reachable at ${where}${hint}`, EXIT.stackDown);
    }
    throw err;
  } finally {
    probe.destroy();
  }
  const s3 = createS3Client(settings.s3);
  const progress = progressPrinter(opts.json === true);
  try {
    return await seedCorpus(s3, {
      bucket: opts.bucket,
      start: opts.start,
      count: opts.full ? TRAIN_TOTAL - opts.start : opts.count,
      testCount: opts.testCount,
      jpegFraction: opts.jpegFraction,
      photos: opts.photos,
      bad: opts.bad,
      concurrency: opts.concurrency,
      onProgress: progress.onProgress,
    });
  } catch (err) {
    // Bad options are a usage error; missing or damaged Debian data packages (DatasetMissing) a failure.
    if (err instanceof SeerflowError) {
      throw new CliError(err.message, err.type === ErrorType.InvalidInput ? EXIT.usage : EXIT.failure);
    }
    if (isUnreachable(err)) {
      throw new CliError(`S3 at ${where} stopped answering: ${(err as Error).message}`, EXIT.stackDown);
    }
    throw err;
  } finally {
    progress.stop();
    s3.destroy();
  }
}

export function register(program: Command): void {
  program
    .command('seed')
    .description(
      'put the sample corpus into S3: Fashion-MNIST train images (labels kept apart), real photos and planted bad ' +
        'objects under corpus/, a labelled test set under eval/; idempotent',
    )
    .option('--bucket <name>', 'target bucket (created when missing)', 'seerflow')
    .option('--count <n>', 'Fashion-MNIST train images to seed', intArg(0, TRAIN_TOTAL), SEED_DEFAULTS.count)
    .option('--start <n>', 'first train index (a new start adds objects)', intArg(0, TRAIN_TOTAL), SEED_DEFAULTS.start)
    .addOption(new Option('--full', `all ${TRAIN_TOTAL} train images from --start`).conflicts('count'))
    .option('--test-count <n>', 'class-balanced test images (eval/)', intArg(0, 10_000), SEED_DEFAULTS.testCount)
    .option('--jpeg-fraction <f>', 'share of train images stored as JPEG q90', fractionArg, SEED_DEFAULTS.jpegFraction)
    .option('--no-photos', 'leave out the real colour photos')
    .option('--no-bad', 'leave out the planted bad objects and the odd-key image')
    .option('--concurrency <n>', 'objects encoded/uploaded at once', intArg(1, 256), SEED_DEFAULTS.concurrency)
    .option('--json', 'print the summary as JSON only')
    .action(async (opts: SeedCliOptions) => {
      const summary = await runSeed(opts);
      process.stdout.write(opts.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`);
    });
}
