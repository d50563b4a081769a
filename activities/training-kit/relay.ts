/**
 * The one relay between a supervised engine process and Temporal, used by trainSegment, runClassification and
 * runDetection: events become heartbeats (small, constant-size details: a pointer and a few numbers, never data;
 * at least every {@link KEEP_ALIVE_MS}, so a checkpoint upload or a long epoch does not look like a dead worker),
 * committed checkpoints go to `onCheckpoint` (pretraining signals its workflow), cancellation and worker shutdown
 * stop the engine, and a stopped run ends as a CancelledFailure (cancel) or the retryable `WorkerShutdown`.
 */
import { activityInfo, Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { ErrorType, SeerflowError } from '../../contracts/errors';
import { workerShutdown, type ShutdownRegistry } from '../shared/shutdown';
import type { CheckpointEvent, ProgressEvent, RunCommand, StopReason, TrainerSettings } from './protocol';
import { DEFAULT_STOP_GRACE_SECONDS, superviseTrainer, type SuperviseOptions } from './supervisor';

/** Longest time without a heartbeat: the last details are sent again when nothing else was reported. */
export const KEEP_ALIVE_MS = 5000;

export interface RelayOptions<J, P, R, B> extends Omit<SuperviseOptions<J, P, R>, 'cancelled' | 'onEvent'> {
  /** The first heartbeat: what this attempt starts from. */
  beat: B;
  /** The heartbeat after a progress or checkpoint event; undefined for none. */
  nextBeat(event: ProgressEvent | CheckpointEvent<P>, beat: B): B | undefined;
  /** After the heartbeat of each committed checkpoint. */
  onCheckpoint?(pointer: P): void;
  /** Words for the failure of a stopped attempt: what was committed. */
  stoppedMessage(reason: StopReason, pointer: P | undefined, beat: B): string;
}

/** What the training activities take from the worker (`ActivityDeps`) for their engine processes. */
export interface TrainingDeps {
  /** Seconds the engine gets after a stop request before it is killed. @default 60 */
  stopGraceSeconds?: number;
  /** S3 settings sent in `run`; without them the engine reads its environment. */
  trainerSettings?: TrainerSettings;
  /** Worker shutdown registry the engine joins. @default the process's */
  shutdown?: ShutdownRegistry;
}

/** The heartbeat details of the previous attempt (Temporal passes them to a retry). */
export function previousBeat<B>(): B | undefined {
  return activityInfo().heartbeatDetails as B | undefined;
}

/** The relay options that come from the deps and the current attempt: the run command, grace and registry. */
export function attemptOptions<J, P>(
  deps: TrainingDeps,
  job: J,
  resume: P | undefined,
): { run: Omit<RunCommand<J, P>, 'type'>; stopGraceMs: number; shutdown: ShutdownRegistry } {
  return {
    run: {
      job,
      attempt: activityInfo().attempt,
      ...(resume !== undefined ? { resume } : {}),
      ...(deps.trainerSettings ? { settings: deps.trainerSettings } : {}),
    },
    stopGraceMs: (deps.stopGraceSeconds ?? DEFAULT_STOP_GRACE_SECONDS) * 1000,
    shutdown: deps.shutdown ?? workerShutdown,
  };
}

/** The failure of an attempt stopped for `reason`. */
export function stoppedFailure(reason: StopReason, message: string): Error {
  return reason === 'cancel' ? new CancelledFailure(message) : new SeerflowError(ErrorType.WorkerShutdown, message);
}

/** Run the engine for the current activity and return its result; see the module comment. */
export async function relayTraining<J, P, R, B>(opts: RelayOptions<J, P, R, B>): Promise<R> {
  const { beat: first, nextBeat, onCheckpoint, stoppedMessage, ...supervise } = opts;
  // Socket events run outside the activity's async context: keep hold of the context itself.
  const activity = Context.current();
  let beat = first;
  let beatAt = 0;
  const send = () => {
    beatAt = Date.now();
    activity.heartbeat(beat);
  };
  send();
  // Only when nothing was reported for a while: the same details again add nothing but liveness.
  const keepAlive = setInterval(() => {
    if (Date.now() - beatAt >= KEEP_ALIVE_MS) send();
  }, KEEP_ALIVE_MS / 5);
  try {
    const end = await superviseTrainer<J, P, R>({
      ...supervise,
      cancelled: activity.cancelled,
      onEvent: (event) => {
        if (event.type !== 'progress' && event.type !== 'checkpoint') return;
        const next = nextBeat(event, beat);
        if (next !== undefined) {
          beat = next;
          send();
        }
        if (event.type === 'checkpoint') onCheckpoint?.(event.pointer);
      },
    });
    if (end.type === 'done') return end.result;
    throw stoppedFailure(end.reason, stoppedMessage(end.reason, end.pointer, beat));
  } finally {
    clearInterval(keepAlive);
  }
}
