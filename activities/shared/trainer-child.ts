/**
 * Supervision of one training child process (pretraining, classification, detection): TensorFlow runs in the child
 * so the worker's event loop keeps heartbeating and hears cancellation. The child gets one `run` message, reports
 * progress messages of its own, and ends with `done`, `stopped` or `error`. A stop request (activity cancellation:
 * user cancel or pause) and a worker shutdown both ask the child to commit and stop; a child that does not stop
 * within the grace period is killed.
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/activity';
import type { ShutdownRegistry } from './shutdown';

/** The messages that end a child's run (besides its own progress messages). */
export type TrainerChildEnd<R> =
  | { type: 'done'; result: R }
  | { type: 'stopped' }
  | { type: 'error'; message: string; errorType?: string; nonRetryable?: boolean; details?: unknown };

export interface SuperviseTrainerOptions<M extends { type: string }> {
  /** Compiled child script. */
  script: string;
  /** Name in error messages, e.g. 'trainer', 'classifier'. */
  label: string;
  /** The message that starts the run. */
  run: object;
  /** Settles (either way) when the run must stop: the child is asked to commit and stop. */
  cancelled?: Promise<unknown>;
  /** Milliseconds the child gets to stop before it is killed. */
  stopGraceMs: number;
  /** The worker's shutdown registry the child joins while it runs. */
  shutdown: ShutdownRegistry;
  /** What the child is sent on worker shutdown. @default { type: 'stop' } */
  shutdownMessage?: object;
  /** Every message of the child, in order, before the end messages are handled. */
  onMessage?: (msg: M) => void;
  /**
   * The failure of a stopped run: `byCancel` when the stop came from `cancelled` (a CancelledFailure, usually),
   * else it was a worker shutdown (the retryable WorkerShutdown). `msg` is the child's `stopped` message, absent
   * when the child exited without one.
   */
  stoppedFailure: (byCancel: boolean, msg: M | undefined) => Error;
}

/**
 * Fork `script`, send it `run`, and resolve with the `result` of its `done` message. An `error` message with an
 * `errorType` becomes an ApplicationFailure of that type (non-retryable when the child says so); other errors and
 * an unexpected exit are plain (retryable) errors.
 */
export function superviseTrainerChild<R, M extends { type: string }>(opts: SuperviseTrainerOptions<M>): Promise<R> {
  if (!existsSync(opts.script)) {
    return Promise.reject(
      new Error(`${opts.label} script ${opts.script} is missing; build with \`npx tsc -p tsconfig.json\``),
    );
  }
  const child = fork(opts.script, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: {
      ...process.env,
      TF_NUM_INTRAOP_THREADS: process.env.TF_NUM_INTRAOP_THREADS ?? '1',
      TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2',
    },
  });
  let shuttingDown = false;
  const untrack = opts.shutdown.track(() => {
    shuttingDown = true;
    if (child.connected) child.send(opts.shutdownMessage ?? { type: 'stop' });
  });
  return new Promise<R>((resolve, reject) => {
    let stopping = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (stopping || !child.connected) return;
      stopping = true;
      child.send({ type: 'stop' });
      killTimer = setTimeout(() => child.kill('SIGKILL'), opts.stopGraceMs);
    };
    opts.cancelled?.then(stop, stop);
    child.on('message', (raw: M) => {
      opts.onMessage?.(raw);
      const msg = raw as unknown as TrainerChildEnd<R>;
      switch (msg.type) {
        case 'done':
          resolve(msg.result);
          break;
        case 'stopped':
          if (killTimer) clearTimeout(killTimer);
          reject(opts.stoppedFailure(stopping, raw));
          break;
        case 'error':
          reject(
            msg.errorType
              ? ApplicationFailure.create({
                  type: msg.errorType,
                  message: msg.message,
                  nonRetryable: msg.nonRetryable ?? false,
                  details: msg.details !== undefined ? [msg.details] : [],
                })
              : new Error(`${opts.label} failed: ${msg.message}`),
          );
          break;
        default:
          break;
      }
    });
    child.on('exit', (code, signal) => {
      if (killTimer) clearTimeout(killTimer);
      // No-ops when a message already settled the promise.
      if (stopping || shuttingDown) reject(opts.stoppedFailure(stopping, undefined));
      else reject(new Error(`${opts.label} exited unexpectedly (code ${code}, signal ${signal})`));
    });
    child.send(opts.run);
  }).finally(() => {
    untrack();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}
