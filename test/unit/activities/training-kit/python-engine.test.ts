/**
 * The engine boundary is language-neutral: a plain-Python engine process (test/fixtures/kit/echo_trainer.py,
 * stdlib only) driven by the real supervisor and relay speaks the protocol: hello, progress, checkpoint, done;
 * stop on cancel and on worker shutdown; typed errors become typed ApplicationFailures; a crash or an engine that
 * ignores a stop request is handled.
 */
import path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { toApplicationFailure } from '../../../../activities/shared/failure';
import { ShutdownRegistry } from '../../../../activities/shared/shutdown';
import type { EngineEvent } from '../../../../activities/training-kit/protocol';
import { relayTraining } from '../../../../activities/training-kit/relay';
import { superviseTrainer, type EngineCommand } from '../../../../activities/training-kit/supervisor';

const python: EngineCommand = {
  command: 'python3',
  args: [path.resolve(__dirname, '../../../fixtures/kit/echo_trainer.py')],
};

interface EchoJob {
  steps: number;
  checkpointEvery?: number;
  stepSeconds?: number;
  mode?: 'train' | 'error' | 'crash' | 'ignore-stop';
  errorType?: string;
  message?: string;
}
interface EchoPointer {
  key: string;
  step: number;
}
interface EchoResult {
  steps: number;
  engine: string;
  attempt: number;
  settings: unknown;
}
type Event = EngineEvent<EchoPointer, EchoResult>;

function supervise(job: EchoJob, more: { shutdown?: ShutdownRegistry; onEvent?: (e: Event) => void } = {}) {
  return superviseTrainer<EchoJob, EchoPointer, EchoResult>({
    engine: python,
    label: 'echo',
    run: {
      job,
      attempt: 3,
      settings: { s3: { endpoint: 'http://s3.test', region: 'r', forcePathStyle: true, credentials: undefined } },
    },
    stopGraceMs: 2000,
    shutdown: more.shutdown ?? new ShutdownRegistry(),
    ...(more.onEvent ? { onEvent: more.onEvent } : {}),
  });
}

interface Beat {
  step: number;
  pointer?: EchoPointer;
}

/** The relay inside a mock activity, as trainSegment runs it. */
function relay(env: MockActivityEnvironment, job: EchoJob, shutdown = new ShutdownRegistry(), resume?: EchoPointer) {
  return env.run(async () => {
    try {
      return await relayTraining<EchoJob, EchoPointer, EchoResult, Beat>({
        engine: python,
        label: 'echo',
        run: { job, attempt: 1, ...(resume ? { resume } : {}) },
        stopGraceMs: 2000,
        shutdown,
        beat: { step: resume?.step ?? 0, ...(resume ? { pointer: resume } : {}) },
        nextBeat: (e, beat) =>
          e.type === 'checkpoint' ? { step: e.pointer.step, pointer: e.pointer } : { ...beat, step: e.step },
        stoppedMessage: (reason, pointer) => `${reason} at ${pointer?.step ?? 'none'}`,
      });
    } catch (err) {
      throw toApplicationFailure(err); // what withFailureConversion does for a registered activity
    }
  });
}

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('a Python engine under the real supervisor', () => {
  it('says hello, reports progress and checkpoints, and ends with its result; the run command reached it', async () => {
    const events: Event[] = [];
    const end = await supervise({ steps: 5, checkpointEvery: 2 }, { onEvent: (e) => events.push(e) });
    expect(end).toEqual({
      type: 'done',
      result: {
        steps: 5,
        engine: 'python-echo',
        attempt: 3,
        settings: { s3: { endpoint: 'http://s3.test', region: 'r', forcePathStyle: true } },
      },
    });
    expect(events[0]).toMatchObject({ type: 'hello', protocol: 1, engine: 'python-echo' });
    expect(events.filter((e) => e.type === 'progress').map((e) => (e as { step: number }).step)).toEqual([
      1, 2, 3, 4, 5,
    ]);
    expect(
      events.filter((e) => e.type === 'checkpoint').map((e) => (e as { pointer: EchoPointer }).pointer.key),
    ).toEqual(['mem/step-00000002-a3.state', 'mem/step-00000004-a3.state']);
    expect(events.at(-1)?.type).toBe('done');
  });

  it('turns heartbeats out of events, and resumes from the pointer it is given', async () => {
    const env = new MockActivityEnvironment();
    const beats: Beat[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(structuredClone(d as Beat)));
    const r = (await relay(env, { steps: 6, checkpointEvery: 3 }, undefined, { key: 'mem/s3', step: 3 })) as EchoResult;
    expect(r.steps).toBe(6);
    expect(beats[0]).toEqual({ step: 3, pointer: { key: 'mem/s3', step: 3 } });
    expect(beats.at(-1)).toEqual({ step: 6, pointer: { key: 'mem/step-00000006-a1.state', step: 6 } });
  });

  it('cancel: stops with its newest checkpoint and the activity ends in a CancelledFailure', async () => {
    const env = new MockActivityEnvironment();
    env.on('heartbeat', (d: unknown) => {
      if ((d as Beat).step === 3) env.cancel('CANCELLED');
    });
    const err = await failureOf(relay(env, { steps: 1000, checkpointEvery: 2, stepSeconds: 0.02 }));
    expect(err).toBeInstanceOf(CancelledFailure);
    // Stopped at the next step (4) at the latest, with the newest checkpoint it had committed.
    expect((err as Error).message).toMatch(/^cancel at [24]$/);
  });

  it('worker shutdown: commits the current step, then the attempt fails with the retryable WorkerShutdown', async () => {
    const shutdown = new ShutdownRegistry();
    const env = new MockActivityEnvironment();
    env.on('heartbeat', (d: unknown) => {
      if ((d as Beat).step === 3) shutdown.stopAll();
    });
    const err = await failureOf(relay(env, { steps: 1000, checkpointEvery: 10, stepSeconds: 0.02 }, shutdown));
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('WorkerShutdown');
    expect((err as ApplicationFailure).nonRetryable).toBe(false);
    const at = Number(/shutdown at (\d+)/.exec((err as Error).message)?.[1]);
    expect(at).toBeGreaterThanOrEqual(3); // a checkpoint of its own step, not the last every-10 one
    expect(at).toBeLessThan(10);
  });

  it('an error event with a type becomes an ApplicationFailure of that type, retryable as the vocabulary says', async () => {
    const bad = await failureOf(
      relay(new MockActivityEnvironment(), {
        steps: 1,
        mode: 'error',
        errorType: 'InvalidInput',
        message: 'no labels',
      }),
    );
    expect(bad).toBeInstanceOf(ApplicationFailure);
    expect((bad as ApplicationFailure).type).toBe('InvalidInput');
    expect((bad as ApplicationFailure).nonRetryable).toBe(true);
    expect((bad as ApplicationFailure).message).toBe('no labels');
    expect((bad as ApplicationFailure).details).toEqual([{ step: 0 }]);
    const shut = await failureOf(supervise({ steps: 1, mode: 'error', errorType: 'WorkerShutdown', message: 'x' }));
    expect((shut as ApplicationFailure).nonRetryable).toBe(false);
  });

  it('an engine that dies without a word fails the attempt with a retryable error', async () => {
    const err = await failureOf(supervise({ steps: 1, mode: 'crash' }));
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect((err as Error).message).toMatch(/echo exited unexpectedly \(code 7/);
  });

  it('an engine that ignores a stop request is killed after the grace period; the stop still ends the run', async () => {
    const shutdown = new ShutdownRegistry();
    const started = Date.now();
    const run = supervise(
      { steps: 100_000, stepSeconds: 0.01, mode: 'ignore-stop' },
      { shutdown, onEvent: (e) => e.type === 'progress' && e.step === 2 && shutdown.stopAll() },
    );
    expect(await run).toEqual({ type: 'stopped', reason: 'shutdown' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
  });
});
