/**
 * The parent side of the training protocol (protocol.ts): start an engine process (any command: a compiled Node
 * trainer, a Python engine, torchrun), serve it one socket, send `run`, pass its events on, ask it to stop on
 * cancellation or worker shutdown, and kill it when it does not stop within the grace period. Training runs in
 * the child so the worker's event loop keeps heartbeating and hears cancellation.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ErrorType, SeerflowError } from '../../contracts/errors';
import { failureFromChild } from '../shared/failure';
import type { ShutdownRegistry } from '../shared/shutdown';
import { encodeLine, LineDecoder } from './ndjson';
import {
  PROTOCOL_VERSION,
  TRAINER_SOCKET_ENV,
  type EngineEvent,
  type ParentCommand,
  type RunCommand,
  type StopReason,
} from './protocol';

/** Seconds an engine gets to commit and stop after a stop request (`ActivityDeps.stopGraceSeconds`). */
export const DEFAULT_STOP_GRACE_SECONDS = 60;
/** Milliseconds an engine gets from its start to its `hello` (loading TensorFlow or PyTorch included). */
export const DEFAULT_HELLO_TIMEOUT_MS = 120_000;

/** How to start an engine process; its stdout and stderr are the worker's (logs only). */
export interface EngineCommand {
  command: string;
  args: readonly string[];
  /** Added to the worker's environment. */
  env?: Record<string, string>;
}

/** A compiled Node trainer script as an engine command (`node <script>`), with TensorFlow's quiet defaults. */
export function nodeEngine(script: string): EngineCommand {
  if (!existsSync(script))
    throw new Error(`trainer script ${script} is missing; build with \`npx tsc -p tsconfig.json\``);
  return {
    command: process.execPath,
    args: [script],
    env: {
      TF_NUM_INTRAOP_THREADS: process.env.TF_NUM_INTRAOP_THREADS ?? '1',
      TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2',
    },
  };
}

export interface SuperviseOptions<J, P, R> {
  engine: EngineCommand;
  /** Name in messages: 'trainer', 'classifier', 'detection trainer'. */
  label: string;
  run: Omit<RunCommand<J, P>, 'type'>;
  /** Settles (either way) when the run must stop: the engine is sent `stop {reason: 'cancel'}`. */
  cancelled?: Promise<unknown>;
  /** Milliseconds the engine gets after a stop request before it is killed. */
  stopGraceMs: number;
  /** The worker's shutdown registry, which the engine joins while it runs (`stop {reason: 'shutdown'}`). */
  shutdown: ShutdownRegistry;
  /** Every event of the engine, in order; a throw fails the run. */
  onEvent?: (event: EngineEvent<P, R>) => void;
  helloTimeoutMs?: number;
}

/** How a supervised run ended, unless it failed. */
export type SupervisedEnd<P, R> = { type: 'done'; result: R } | { type: 'stopped'; reason: StopReason; pointer?: P };

/**
 * Run one engine process to its end. Resolves with `done` or `stopped` (also when a stopping engine exited or was
 * killed without saying so); rejects with `failureFromChild` of an `error` event, or a plain (retryable) error when
 * the engine exits unexpectedly or breaks the protocol.
 */
export async function superviseTrainer<J, P, R>(opts: SuperviseOptions<J, P, R>): Promise<SupervisedEnd<P, R>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seerflow-trainer-')); // mode 0700: only this user connects
  const socketPath = path.join(dir, 'socket');
  const server = net.createServer();
  const timers = new Set<NodeJS.Timeout>();
  let untrack: (() => void) | undefined;
  let finished: (() => void) | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return await new Promise<SupervisedEnd<P, R>>((resolve, reject) => {
      const child = spawn(opts.engine.command, [...opts.engine.args], {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, ...opts.engine.env, [TRAINER_SOCKET_ENV]: socketPath },
      });
      const later = (ms: number, fn: () => void) => {
        const t = setTimeout(fn, ms);
        timers.add(t);
        return t;
      };
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        fn();
      };
      const fail = (err: Error) => settle(() => reject(err));
      const breach = (what: string) => {
        fail(new Error(`${opts.label}: protocol error: ${what}`));
        child.kill('SIGKILL');
      };
      // After the end, let the engine exit by itself (it sees its socket close), then make sure.
      finished = () => {
        conn?.destroy();
        if (child.exitCode === null && child.signalCode === null) setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      };

      let conn: net.Socket | undefined;
      let connOpen = false;
      let ready = false;
      let stop: StopReason | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      let exit: string | undefined;
      const send = (cmd: ParentCommand<J, P>) => {
        if (conn && !conn.destroyed) conn.write(encodeLine(cmd));
      };
      const requestStop = (reason: StopReason) => {
        const next = stop === 'cancel' || reason === 'cancel' ? 'cancel' : 'shutdown';
        if (next === stop) return;
        stop = next;
        if (ready) send({ type: 'stop', reason: next });
        killTimer ??= later(opts.stopGraceMs, () => child.kill('SIGKILL'));
      };
      const helloTimer = later(opts.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS, () =>
        breach(`no hello within ${opts.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS} ms`),
      );
      const conclude = () => {
        if (stop) settle(() => resolve({ type: 'stopped', reason: stop as StopReason }));
        else fail(new Error(`${opts.label} exited unexpectedly (${exit})`));
      };
      const afterExit = () => {
        if (!exit) return;
        // The last events may still be in the socket: conclude once it closed (or soon, if a grandchild holds it).
        if (connOpen) later(2000, conclude);
        else conclude();
      };

      const onEvent = (event: EngineEvent<P, R>) => {
        if (!ready) {
          if (event.type !== 'hello') return breach(`first message is ${event.type}, not hello`);
          if (event.protocol !== PROTOCOL_VERSION) {
            child.kill('SIGKILL');
            return fail(
              new SeerflowError(
                ErrorType.InvalidConfig,
                `${opts.label}: engine ${event.engine} speaks protocol ${event.protocol}, this worker ${PROTOCOL_VERSION}`,
              ),
            );
          }
          ready = true;
          clearTimeout(helloTimer);
          send({ type: 'run', ...opts.run });
          if (stop) send({ type: 'stop', reason: stop });
        }
        try {
          opts.onEvent?.(event);
        } catch (err) {
          child.kill('SIGKILL');
          return fail(err as Error);
        }
        if (event.type === 'done') settle(() => resolve({ type: 'done', result: event.result }));
        else if (event.type === 'stopped')
          settle(() =>
            resolve({
              type: 'stopped',
              reason: stop ?? 'shutdown',
              ...(event.pointer ? { pointer: event.pointer } : {}),
            }),
          );
        else if (event.type === 'error') fail(failureFromChild(opts.label, event));
      };

      server.on('connection', (socket) => {
        if (conn) {
          socket.destroy(); // exactly one connection per run
          return;
        }
        conn = socket;
        connOpen = true;
        const decoder = new LineDecoder();
        socket.on('data', (chunk) => {
          try {
            for (const event of decoder.push(chunk)) onEvent(event as EngineEvent<P, R>);
          } catch (err) {
            breach((err as Error).message);
          }
        });
        socket.on('error', () => undefined); // 'close' follows
        socket.on('close', () => {
          connOpen = false;
          afterExit();
        });
      });
      child.on('error', (err) => fail(new Error(`${opts.label}: cannot start ${opts.engine.command}: ${err.message}`)));
      child.on('exit', (code, signal) => {
        exit = `code ${code}, signal ${signal}`;
        if (killTimer) clearTimeout(killTimer);
        afterExit();
      });
      untrack = opts.shutdown.track(() => requestStop('shutdown'));
      opts.cancelled?.then(
        () => requestStop('cancel'),
        () => requestStop('cancel'),
      );
    });
  } finally {
    untrack?.();
    for (const t of timers) clearTimeout(t);
    server.close();
    finished?.();
    await rm(dir, { recursive: true, force: true });
  }
}
