/**
 * The project's one error vocabulary: every `ApplicationFailure.type` it throws, and whether a retry can help.
 * Safe to import from workflows (no Node, no Temporal imports). Code below the activity boundary (engine, ml,
 * multicrop, datasets, children) throws {@link SeerflowError}s; the one conversion to Temporal's
 * `ApplicationFailure` is `activities/shared/failure.ts`. Workflows take their retry policies' non-retryable lists
 * from {@link NON_RETRYABLE_ERROR_TYPES}.
 */
export const ErrorType = {
  /** The run config is invalid (schema, overlapping prefixes, unsupported option). */
  InvalidConfig: 'InvalidConfig',
  /** An input object or job is malformed (missing labels, bad subset, impossible sizes). */
  InvalidInput: 'InvalidInput',
  /** The bucket does not exist. */
  BucketMissing: 'BucketMissing',
  /** S3 refused the credentials or the operation (403). */
  AccessDenied: 'AccessDenied',
  /** A dataset index, its parts or a data package the stage needs is missing. */
  DatasetMissing: 'DatasetMissing',
  /** An ingest manifest or summary named by the input is missing. */
  ManifestMissing: 'ManifestMissing',
  /** Training produced a NaN or infinite loss; deterministic, so a retry would reproduce it. */
  NonFiniteLoss: 'NonFiniteLoss',
  /** A checkpoint or state does not fit the model/config, or the run name was reused with another config. */
  IncompatibleCheckpoint: 'IncompatibleCheckpoint',
  /** A checkpoint named explicitly (warm start, evaluation input) does not exist. */
  CheckpointMissing: 'CheckpointMissing',
  /** A stage's counts do not add up (listed != accepted + quarantined + unchanged): a bug, never retried. */
  CountsDoNotReconcile: 'CountsDoNotReconcile',
  /** The worker is shutting down; its training child committed a checkpoint. The retry resumes from it. */
  WorkerShutdown: 'WorkerShutdown',
  /** An invariant of the orchestration itself broke (e.g. a finished stage without its output). */
  InternalInvariant: 'InternalInvariant',
  /** The device a training run requires (CUDA) is not usable in the process; engines never fall back silently. */
  DeviceUnavailable: 'DeviceUnavailable',
} as const;
export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];

/** Whether a retry can help, per type: the one place this is decided. */
export const ERROR_RETRYABLE: Readonly<Record<ErrorTypeName, boolean>> = {
  InvalidConfig: false,
  InvalidInput: false,
  BucketMissing: false,
  AccessDenied: false,
  DatasetMissing: false,
  ManifestMissing: false,
  NonFiniteLoss: false,
  IncompatibleCheckpoint: false,
  CheckpointMissing: false,
  CountsDoNotReconcile: false,
  WorkerShutdown: true,
  InternalInvariant: false,
  DeviceUnavailable: false,
};

/** The error types no retry can fix, for `retry.nonRetryableErrorTypes` of every activity and child. */
export const NON_RETRYABLE_ERROR_TYPES: string[] = Object.values(ErrorType).filter((t) => !ERROR_RETRYABLE[t]);

export function isErrorTypeName(value: unknown): value is ErrorTypeName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_RETRYABLE, value);
}

/**
 * An error of a known type, thrown below the activity boundary. It carries no Temporal types: the activity layer
 * turns it into an `ApplicationFailure` of the same `type`, retryable as {@link ERROR_RETRYABLE} says.
 */
export class SeerflowError extends Error {
  constructor(
    readonly type: ErrorTypeName,
    message: string,
    /** Small JSON-serialisable facts for the failure's details (keys, steps), never data. */
    readonly details?: unknown,
  ) {
    super(message);
    this.name = `${type}Error`;
  }

  get retryable(): boolean {
    return ERROR_RETRYABLE[this.type];
  }
}

/** A training loss was NaN or infinite (pretraining, classification or detection); nothing was updated. */
export class NonFiniteLossError extends SeerflowError {
  constructor(
    readonly step: number,
    readonly loss: number,
    what = 'loss',
  ) {
    super(ErrorType.NonFiniteLoss, `non-finite ${what} ${loss} at step ${step}`, { step, loss });
  }
}
