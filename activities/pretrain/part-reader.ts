/**
 * Reads one canonical tar part from S3 as a stream: the body is parsed as it arrives (activities/shared/tar-stream)
 * and its content is checked against the dataset index before any of its samples is handed out. The cheap check
 * comes first: when the index has the part's S3 CRC32 (recorded from the PutObject response), the GET asks for the
 * object's checksum, the SDK verifies the body against it on the way in, and the reader compares it with the
 * index; the ETag travels as If-Match. Without a CRC32 the reader hashes the body with SHA-256 itself.
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

/** One sample of a part: its `<id>.jpg` bytes and its `<id>.json` sidecar (parsed only when needed). */
export interface PartSample {
  id: string;
  bytes: Uint8Array;
  meta: Uint8Array;
}

export interface PartRef {
  key: string;
  count: number;
  /** SHA-256 of the whole tar object (hex); checked when there is no CRC32. */
  sha256?: string;
  /** The object's S3 CRC32 checksum (base64), as PutObject returned it. */
  crc32?: string;
  /** The object's ETag, sent as If-Match. */
  etag?: string;
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
  constructor(key: string, what: string) {
    super(ErrorType.DatasetMissing, `tar part ${key}: ${what} does not match the dataset index; re-run preprocess`, {
      key,
    });
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
      const res = await s3.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: part.key,
          ChecksumMode: 'ENABLED',
          ...(part.etag ? { IfMatch: part.etag } : {}),
        }),
      );
      const byCrc = part.crc32 !== undefined && res.ChecksumCRC32 !== undefined;
      if (byCrc && res.ChecksumCRC32 !== part.crc32) throw new PartCorruptError(part.key, `CRC32 ${res.ChecksumCRC32}`);
      const hashIt = !byCrc && part.sha256 !== undefined;
      const body = await parseBody(res.Body as Readable, part.key, hashIt);
      bytesRead += body.bytes;
      if (hashIt && body.sha256 !== part.sha256) throw new PartCorruptError(part.key, `SHA-256 ${body.sha256}`);
      const { samples } = body;
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
      if (
        (err as Error).name === 'PreconditionFailed' ||
        (err as Partial<S3ServiceException>).$metadata?.httpStatusCode === 412
      ) {
        throw new PartCorruptError(part.key, 'the ETag (the object was replaced)');
      }
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
  hashIt: boolean,
): Promise<{ samples: PartSample[]; bytes: number; sha256: string | undefined }> {
  const hash = hashIt ? createHash('sha256') : undefined;
  const parser = new TarStreamParser();
  const jpg = new Map<string, Uint8Array>();
  const order: string[] = [];
  const source = new Map<string, Uint8Array>();
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      hash?.update(chunk);
      for (const m of parser.push(chunk)) {
        const dot = m.name.indexOf('.');
        const id = dot < 0 ? m.name : m.name.slice(0, dot);
        const ext = dot < 0 ? '' : m.name.slice(dot + 1);
        if (!jpg.has(id) && !source.has(id)) order.push(id);
        if (ext === 'jpg') jpg.set(id, m.data);
        else if (ext === 'json') source.set(id, m.data);
      }
    }
    parser.end();
  } catch (err) {
    (err as { bytesSoFar?: number }).bytesSoFar = parser.bytes;
    if (err instanceof Error && err.name === 'TarStreamError') err.message = `tar part ${key}: ${err.message}`;
    throw err;
  }
  const samples = order.map((id) => ({
    id,
    bytes: jpg.get(id) ?? new Uint8Array(),
    meta: source.get(id) ?? new Uint8Array(),
  }));
  return { samples, bytes: parser.bytes, sha256: hash?.digest('hex') };
}

/** The source object key in a sample's JSON sidecar; '' when it has none. */
export function sourceKeyOf(json: Uint8Array): string {
  try {
    const meta = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8')) as {
      key?: unknown;
      source?: { key?: unknown };
    };
    const k = meta.key ?? meta.source?.key;
    return typeof k === 'string' ? k : '';
  } catch {
    return '';
  }
}
