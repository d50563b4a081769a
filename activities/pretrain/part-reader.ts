/**
 * Reads one canonical tar part from S3 as a stream: the body is parsed as it arrives (activities/shared/tar-stream),
 * hashed on the way, and checked against the dataset index's SHA-256 before any of its samples is handed out.
 * Transient read errors (network, 5xx, throttling, a 404 that may be eventual consistency) are retried with
 * exponential backoff; a part that still cannot be read fails the training segment (retryable: the activity's
 * retry resumes from the newest checkpoint). Nothing is skipped silently.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client, type S3ServiceException } from '@aws-sdk/client-s3';
import { ErrorType, SeerflowError } from '../../contracts/errors';
import { classifyS3Error } from '../shared/failure';
import { TarStreamParser } from '../shared/tar-stream';

/** One sample of a part: its `<id>.jpg` bytes and the source key from its `<id>.json` sidecar. */
export interface PartSample {
  id: string;
  bytes: Uint8Array;
  /** Source object key (for error reports); '' when the sidecar has none. */
  sourceKey: string;
}

export interface PartRef {
  key: string;
  count: number;
  /** SHA-256 of the whole tar object; checked when present. */
  sha256?: string;
}

export interface ReadRetryPolicy {
  /** Attempts per part before the segment fails. @default 6 */
  attempts: number;
  /** First backoff in ms, doubled per attempt up to maxBackoffMs. @default 1000 */
  backoffMs: number;
  /** @default 16000 */
  maxBackoffMs: number;
}

export const DEFAULT_READ_RETRY: ReadRetryPolicy = { attempts: 6, backoffMs: 1000, maxBackoffMs: 16_000 };

/** What reading a part cost, for the loader's read-amplification numbers. */
export interface PartReadStats {
  bytesRead: number;
  attempts: number;
}

/** The part's content hash differs from the index: the stored dataset changed or is damaged. */
export class PartCorruptError extends SeerflowError {
  constructor(key: string, want: string, got: string) {
    super(
      ErrorType.DatasetMissing,
      `tar part ${key}: SHA-256 ${got} does not match the dataset index (${want}); re-run preprocess`,
      {
        key,
      },
    );
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function transient(err: unknown): boolean {
  if (classifyS3Error(err)) return false; // access denied, missing bucket, ...: no retry can help
  return true;
}

/** Read a whole part; `sleepFn` is injectable so tests need not wait for real backoffs. */
export async function readPart(
  s3: S3Client,
  bucket: string,
  part: PartRef,
  retry: ReadRetryPolicy = DEFAULT_READ_RETRY,
  sleepFn: (ms: number) => Promise<unknown> = sleep,
): Promise<{ samples: PartSample[]; stats: PartReadStats }> {
  let bytesRead = 0;
  let lastError: unknown;
  for (let attempt = 1; attempt <= retry.attempts; attempt++) {
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: part.key }));
      const { samples, bytes, sha256 } = await parseBody(res.Body as Readable, part.key);
      bytesRead += bytes;
      if (part.sha256 && sha256 !== part.sha256) throw new PartCorruptError(part.key, part.sha256, sha256);
      if (samples.length !== part.count) {
        throw new SeerflowError(
          ErrorType.DatasetMissing,
          `tar part ${part.key} holds ${samples.length} samples, the dataset index says ${part.count}`,
          { key: part.key },
        );
      }
      return { samples, stats: { bytesRead, attempts: attempt } };
    } catch (err) {
      if (err instanceof SeerflowError) throw err;
      const typed = classifyS3Error(err, { bucket, key: part.key });
      if (typed) throw typed;
      lastError = err;
      bytesRead += (err as { bytesSoFar?: number }).bytesSoFar ?? 0;
      if (!transient(err) || attempt === retry.attempts) break;
      await sleepFn(Math.min(retry.maxBackoffMs, retry.backoffMs * 2 ** (attempt - 1)));
    }
  }
  const status = (lastError as Partial<S3ServiceException>).$metadata?.httpStatusCode;
  throw new Error(
    `tar part s3://${bucket}/${part.key} unreadable after ${retry.attempts} attempts` +
      `${status ? ` (HTTP ${status})` : ''}: ${(lastError as Error)?.message ?? String(lastError)}`,
  );
}

async function parseBody(
  body: Readable,
  key: string,
): Promise<{ samples: PartSample[]; bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  const parser = new TarStreamParser();
  const jpg = new Map<string, Uint8Array>();
  const order: string[] = [];
  const source = new Map<string, string>();
  let bytes = 0;
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      hash.update(chunk);
      for (const m of parser.push(chunk)) {
        const dot = m.name.indexOf('.');
        const id = dot < 0 ? m.name : m.name.slice(0, dot);
        const ext = dot < 0 ? '' : m.name.slice(dot + 1);
        if (!jpg.has(id) && !source.has(id)) order.push(id);
        if (ext === 'jpg') jpg.set(id, m.data);
        else if (ext === 'json') source.set(id, sourceKeyOf(m.data));
      }
    }
    parser.end();
  } catch (err) {
    (err as { bytesSoFar?: number }).bytesSoFar = bytes;
    if (err instanceof Error && err.name === 'TarStreamError') err.message = `tar part ${key}: ${err.message}`;
    throw err;
  }
  const samples = order.map((id) => ({ id, bytes: jpg.get(id) ?? new Uint8Array(), sourceKey: source.get(id) ?? '' }));
  return { samples, bytes, sha256: hash.digest('hex') };
}

function sourceKeyOf(json: Uint8Array): string {
  try {
    const meta = JSON.parse(Buffer.from(json).toString('utf8')) as { key?: unknown; source?: { key?: unknown } };
    const k = meta.key ?? meta.source?.key;
    return typeof k === 'string' ? k : '';
  } catch {
    return '';
  }
}
