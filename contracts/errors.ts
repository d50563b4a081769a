/**
 * `ApplicationFailure.type` values. Workflows list the non-retryable ones at each call site; activities throw
 * them with `nonRetryable: true` when retrying cannot help.
 */
export const ErrorType = {
  InvalidConfig: 'InvalidConfig',
  InvalidInput: 'InvalidInput',
  BucketMissing: 'BucketMissing',
  AccessDenied: 'AccessDenied',
  DatasetMissing: 'DatasetMissing',
  ManifestMissing: 'ManifestMissing',
  NonFiniteLoss: 'NonFiniteLoss',
  IncompatibleCheckpoint: 'IncompatibleCheckpoint',
  CheckpointMissing: 'CheckpointMissing',
} as const;
export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];

/** The error types no retry can fix, as a list for `retry.nonRetryableErrorTypes`. */
export const NON_RETRYABLE_ERROR_TYPES: string[] = Object.values(ErrorType);
