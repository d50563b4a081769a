/**
 * The protocol between a training activity (parent) and its engine process (child), in any language: types and
 * constants only. Specified for implementers in docs/training-kit.md.
 *
 * Transport: newline-delimited JSON (one UTF-8 JSON object per line) over a Unix domain socket. The parent listens
 * on a fresh socket and starts the engine process with `SEERFLOW_TRAINER_SOCKET=<path>` in its environment; the
 * engine connects once (in a multi-rank run, rank 0 does), sends `hello`, receives `run`, and ends with exactly one
 * of `done`, `stopped` or `error`. It exits when the socket closes: a dead parent leaves no orphan engine.
 */
import type { ServiceSettings } from '../../infra/settings';

export const PROTOCOL_VERSION = 1;

/** Environment variable that carries the socket path to the engine process (and through torchrun to its ranks). */
export const TRAINER_SOCKET_ENV = 'SEERFLOW_TRAINER_SOCKET';

/** Why the parent asks the engine to stop: activity cancellation (cancel, pause) or a worker shutdown. */
export type StopReason = 'cancel' | 'shutdown';

/** Exit codes of an engine process. */
export const ENGINE_EXIT = {
  /** `done` or `stopped` was sent. */
  ok: 0,
  /** `error` was sent. */
  error: 1,
  /** The protocol was broken (no socket in the environment, an unparseable or unexpected command). */
  protocol: 2,
  /** The socket closed before the run ended: the parent is gone. */
  parentGone: 3,
} as const;

/** Where the engine process finds S3: sent in `run` when the parent has them, else read from the environment. */
export interface TrainerSettings {
  s3: ServiceSettings['s3'];
}

// ---------------------------------------------------------------------------------------------------------------
// Engine -> parent.

/** First message of the engine, right after it connected. */
export interface HelloEvent {
  type: 'hello';
  protocol: number;
  /** What the engine is, for logs (`seerflow-pretrain`, `torch-swav`, ...). */
  engine: string;
  pid: number;
}

/** Training progress, at most about once a second; every field but `step` is optional. */
export interface ProgressEvent {
  type: 'progress';
  /** Completed steps. */
  step: number;
  /** Current epoch (0-based). */
  epoch?: number;
  /** Samples of the current epoch consumed (pretraining's data cursor is `{epoch, position}`). */
  position?: number;
  /** What the engine is doing, e.g. `training`, `evaluating`. */
  phase?: string;
  loss?: number;
  lr?: number;
  imagesPerSec?: number;
}

/** A checkpoint was committed (state object, then the run's latest.json); `pointer` names it. */
export interface CheckpointEvent<P> {
  type: 'checkpoint';
  pointer: P;
  /** A few numbers measured with the commit (classification: `loss`, `top1`; pretraining: `skippedSamples`). */
  metrics?: Record<string, number>;
}

/** The run finished; `result` is the activity's result. */
export interface DoneEvent<R> {
  type: 'done';
  result: R;
}

/** The run stopped on request after committing what the engine commits on a stop; `pointer`: its newest. */
export interface StoppedEvent<P> {
  type: 'stopped';
  pointer?: P;
}

/**
 * The run failed. `errorType` is a name of contracts/errors.ts `ErrorType` (its retryability decides whether
 * Temporal retries); absent for an unexpected error, which is retried.
 */
export interface ErrorEvent {
  type: 'error';
  errorType?: string;
  message: string;
  /** Small JSON facts (keys, steps), never data. */
  details?: unknown;
}

export type EngineEvent<P, R> =
  HelloEvent | ProgressEvent | CheckpointEvent<P> | DoneEvent<R> | StoppedEvent<P> | ErrorEvent;

// ---------------------------------------------------------------------------------------------------------------
// Parent -> engine.

/** Sent once, after `hello`. */
export interface RunCommand<J, P> {
  type: 'run';
  job: J;
  /** Temporal's attempt number: goes into checkpoint keys, so attempts never overwrite each other's objects. */
  attempt: number;
  /** The newest checkpoint the parent knows of (its previous attempt's heartbeat, the workflow's pointer). */
  resume?: P;
  settings?: TrainerSettings;
}

/**
 * Stop soon. What is committed first is the engine's decision (pretraining: a checkpoint at the current step;
 * classification: the current epoch; detection: nothing on `cancel` (it stops at the next step), the current epoch
 * on `shutdown`). May arrive more than once, also before the run started.
 */
export interface StopCommand {
  type: 'stop';
  reason: StopReason;
}

export type ParentCommand<J, P> = RunCommand<J, P> | StopCommand;
