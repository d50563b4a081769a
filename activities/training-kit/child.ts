/**
 * The engine-process side of the training protocol (protocol.ts) for the Node trainers (pretraining,
 * classification, detection): connect, `hello`, wait for `run`, hand the trainer a {@link TrainingContext}, send
 * its outcome, exit. A Python engine implements the same loop (docs/training-kit.md).
 */
import net from 'node:net';
import { SeerflowError } from '../../contracts/errors';
import { classifyS3Error } from '../shared/failure';
import { childEnv, trainerSocketPath, type ChildEnv } from './child-env';
import { encodeLine, LineDecoder } from './ndjson';
import {
  ENGINE_EXIT,
  PROTOCOL_VERSION,
  type CheckpointEvent,
  type EngineEvent,
  type ErrorEvent,
  type ParentCommand,
  type ProgressEvent,
  type RunCommand,
  type StopReason,
} from './protocol';

/** What a trainer gets for one run. */
export interface TrainingContext<J, P> {
  job: J;
  attempt: number;
  /** The newest checkpoint the parent knows of; the trainer's checkpoint store may find a newer one. */
  resume?: P;
  env: ChildEnv;
  /** Send a progress or checkpoint event to the parent. */
  emit(event: ProgressEvent | CheckpointEvent<P>): void;
  /** Whether (and why) the parent asked to stop: a cancel outranks a shutdown. */
  stopRequested(): StopReason | undefined;
}

/** How a run ended, when it did not throw. */
export type TrainingOutcome<P, R> = { type: 'done'; result: R } | { type: 'stopped'; pointer?: P };

export interface TrainingHandler<J, P, R> {
  /** Engine name sent in `hello`. */
  engine: string;
  train(ctx: TrainingContext<J, P>): Promise<TrainingOutcome<P, R>>;
}

/**
 * The error event of a failure: a SeerflowError keeps its type (and an S3 error no retry can fix gets one); any
 * other error has no type, so the parent's retry policy applies.
 */
export function errorEvent(err: unknown): ErrorEvent {
  const typed = err instanceof SeerflowError ? err : classifyS3Error(err);
  if (typed)
    return {
      type: 'error',
      errorType: typed.type,
      message: typed.message,
      ...(typed.details !== undefined ? { details: typed.details } : {}),
    };
  return { type: 'error', message: err instanceof Error ? err.message : String(err) };
}

/** The main loop of a Node training child. Call it when the module is the process's entry point. */
export function runTrainingChild<J, P, R>(handler: TrainingHandler<J, P, R>): void {
  const socketPath = trainerSocketPath();
  if (!socketPath) {
    process.stderr.write(`${handler.engine}: no parent (start it through the training supervisor)\n`);
    process.exit(ENGINE_EXIT.protocol);
  }
  const socket = net.connect(socketPath);
  const decoder = new LineDecoder();
  let stop: StopReason | undefined;
  let started = false;
  let exiting = false;

  const send = (event: EngineEvent<P, R>) => {
    if (!exiting) socket.write(encodeLine(event));
  };
  /** Send the last event, then exit once it is flushed (or after a second at the latest). */
  const finish = (last: EngineEvent<P, R> | undefined, code: number) => {
    if (exiting) return;
    if (last) send(last);
    exiting = true;
    setTimeout(() => process.exit(code), 1000).unref();
    socket.end(() => process.exit(code));
  };

  socket.on('connect', () =>
    send({ type: 'hello', protocol: PROTOCOL_VERSION, engine: handler.engine, pid: process.pid }),
  );
  // The parent is gone (or never was): do not keep training as an orphan.
  socket.on('close', () => {
    if (!exiting) process.exit(ENGINE_EXIT.parentGone);
  });
  socket.on('error', (err) => {
    process.stderr.write(`${handler.engine}: trainer socket: ${err.message}\n`);
    if (!exiting) process.exit(ENGINE_EXIT.parentGone);
  });
  socket.on('data', (chunk) => {
    let commands: ParentCommand<J, P>[];
    try {
      commands = decoder.push(chunk) as ParentCommand<J, P>[];
    } catch (err) {
      finish(errorEvent(err), ENGINE_EXIT.protocol);
      return;
    }
    for (const cmd of commands) {
      if (cmd.type === 'stop') stop = stop === 'cancel' || cmd.reason === 'cancel' ? 'cancel' : 'shutdown';
      else if (cmd.type === 'run' && !started) {
        started = true;
        start(cmd);
      } else
        finish(
          { type: 'error', message: `unexpected command ${JSON.stringify(cmd).slice(0, 80)}` },
          ENGINE_EXIT.protocol,
        );
    }
  });

  const start = (run: RunCommand<J, P>) => {
    let ctx: TrainingContext<J, P>;
    try {
      ctx = {
        job: run.job,
        attempt: run.attempt,
        ...(run.resume !== undefined ? { resume: run.resume } : {}),
        env: childEnv(run.settings),
        emit: send,
        stopRequested: () => stop,
      };
    } catch (err) {
      finish(errorEvent(err), ENGINE_EXIT.error);
      return;
    }
    handler.train(ctx).then(
      (outcome) => finish(outcome, ENGINE_EXIT.ok),
      (err: unknown) => {
        if (!(err instanceof SeerflowError))
          process.stderr.write(`${handler.engine}: ${(err as Error)?.stack ?? err}\n`);
        finish(errorEvent(err), ENGINE_EXIT.error);
      },
    );
  };
}
