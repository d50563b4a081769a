/**
 * The one conversion from anything an activity throws to what Temporal records. `createActivities` wraps every
 * activity with {@link withFailureConversion}, so activity bodies and everything below them throw plain
 * `SeerflowError`s (or let S3 errors through) and never build `ApplicationFailure`s by hand:
 *
 * - `ApplicationFailure` and cancellation: unchanged;
 * - `SeerflowError`: an `ApplicationFailure` of its `type`, non-retryable unless `ERROR_RETRYABLE` says otherwise;
 * - S3 errors no retry can fix (missing bucket, access denied, object or key too large): typed and non-retryable;
 * - anything else: unchanged, so Temporal records it as a retryable failure and the retry policy applies.
 */
import type { S3ServiceException } from '@aws-sdk/client-s3';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ERROR_RETRYABLE, ErrorType, isErrorTypeName, SeerflowError, type ErrorTypeName } from '../../contracts/errors';

/** What the failure was about, for the message of a classified S3 error. */
export interface S3ErrorContext {
  bucket?: string;
  key?: string;
}

/** The typed error of an S3 failure no retry can fix; undefined for transient or unknown ones. */
export function classifyS3Error(err: unknown, ctx: S3ErrorContext = {}): SeerflowError | undefined {
  if (!(err instanceof Error)) return undefined;
  const name = err.name;
  const status = (err as Partial<S3ServiceException>).$metadata?.httpStatusCode;
  const where = ctx.key ? `s3://${ctx.bucket ?? '?'}/${ctx.key}` : ctx.bucket ? `bucket "${ctx.bucket}"` : 'S3';
  if (name === 'NoSuchBucket') {
    return new SeerflowError(ErrorType.BucketMissing, `bucket "${ctx.bucket ?? bucketOf(err) ?? '?'}" does not exist`);
  }
  if (name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || status === 403) {
    return new SeerflowError(ErrorType.AccessDenied, `access to ${where} denied: ${err.message}`);
  }
  if (name === 'EntityTooLarge') {
    return new SeerflowError(ErrorType.InvalidInput, `${where}: object too large for one S3 request (${err.message})`);
  }
  if (name === 'KeyTooLongError' || name === 'KeyTooLong') {
    return new SeerflowError(ErrorType.InvalidInput, `${where}: key longer than S3 allows (${err.message})`);
  }
  return undefined;
}

function bucketOf(err: Error): string | undefined {
  const b = (err as { BucketName?: unknown }).BucketName;
  return typeof b === 'string' ? b : undefined;
}

/** Throws the classified S3 error when there is one, else rethrows `err` (for `.catch` chains). */
export function rethrowS3(err: unknown, ctx: S3ErrorContext = {}): never {
  throw classifyS3Error(err, ctx) ?? err;
}

/** An `ApplicationFailure` of a known type, retryable as the vocabulary says. */
export function typedFailure(type: ErrorTypeName, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: !ERROR_RETRYABLE[type],
    details: details === undefined ? [] : [details],
  });
}

/** See the module comment. */
export function toApplicationFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  if (err instanceof SeerflowError) {
    const failure = typedFailure(err.type, err.message, err.details);
    failure.stack = err.stack;
    return failure;
  }
  return classifyS3Error(err) ? toApplicationFailure(classifyS3Error(err)) : err;
}

/**
 * An error event of a training child (any language): `errorType` from the vocabulary, or none for an unexpected
 * error, which stays retryable.
 */
export function failureFromChild(label: string, e: { errorType?: string; message: string; details?: unknown }): Error {
  if (e.errorType && isErrorTypeName(e.errorType)) return typedFailure(e.errorType, e.message, e.details);
  if (e.errorType) return ApplicationFailure.retryable(`${label}: ${e.message}`, e.errorType);
  return new Error(`${label} failed: ${e.message}`);
}

type AsyncFn = (...args: never[]) => Promise<unknown>;

/** Wrap every function of an activity object so whatever it throws goes through {@link toApplicationFailure}. */
export function withFailureConversion<T extends Record<string, AsyncFn>>(activities: T): T {
  const out: Record<string, AsyncFn> = {};
  for (const [name, fn] of Object.entries(activities)) {
    const wrapped = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toApplicationFailure(err);
      }
    };
    Object.defineProperty(wrapped, 'name', { value: name }); // Temporal registers activities by key; keep names for logs
    out[name] = wrapped;
  }
  return out as T;
}
