/**
 * The training kit end to end: an engine process whose parent dies exits by itself (no orphans), and a training
 * activity's engine process takes its S3 settings from the activity's deps (here: the test's) rather than from
 * the environment it inherits. Needs the compiled dist/ (the parent and the detection trainer run from it).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDetectionActivities } from '../../activities/detection/activities';
import type { DetectionJob, DetectionRunResult } from '../../contracts/detection';
import { loadConfig } from '../../config/load';
import { DetectionTrainSchema } from '../../config/schema';
import type { DetectionManifest } from '../../datasets/detection/build-dataset';
import { PROJECT_ROOT } from '../../infra/settings';
import { connectStack, dropBucket, freshBucket, waitUntil, type Stack } from './harness';

let stack: Stack;
let bucket: string;
const tiny = loadConfig({ preset: 'tiny' });

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'kit');
}, 60_000);

afterAll(async () => {
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

/** Gone, or a zombie nobody reaped yet (it no longer runs). */
function exited(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

it('an engine process exits when its parent dies', async () => {
  const supervisor = path.join(PROJECT_ROOT, 'dist', 'activities', 'training-kit', 'supervisor.js');
  const shutdown = path.join(PROJECT_ROOT, 'dist', 'activities', 'shared', 'shutdown.js');
  const fixture = path.join(PROJECT_ROOT, 'test', 'fixtures', 'kit', 'echo_trainer.py');
  // A parent that supervises a Python engine training "forever" and prints the engine's pid from its hello.
  const parentScript = `
    const { superviseTrainer } = require(${JSON.stringify(supervisor)});
    const { ShutdownRegistry } = require(${JSON.stringify(shutdown)});
    superviseTrainer({
      engine: { command: 'python3', args: [${JSON.stringify(fixture)}] },
      label: 'echo', run: { job: { steps: 1e9, stepSeconds: 0.05 }, attempt: 1 },
      stopGraceMs: 60000, shutdown: new ShutdownRegistry(),
      onEvent: (e) => { if (e.type === 'hello') process.stdout.write(JSON.stringify({ pid: e.pid }) + '\\n'); },
    });`;
  const parent = spawn(process.execPath, ['-e', parentScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolve, reject) => {
    parent.stdout.on('data', (d: Buffer) => resolve((JSON.parse(d.toString()) as { pid: number }).pid));
    parent.on('exit', (code) => reject(new Error(`parent exited early (${code})`)));
  });
  expect(exited(pid)).toBe(false);
  await new Promise((r) => setTimeout(r, 300));
  expect(exited(pid)).toBe(false); // still training while its parent lives
  parent.kill('SIGKILL');
  await waitUntil(async () => exited(pid), 10_000, `engine ${pid} to exit after its parent died`);
});

describe('a training activity hands its engine the S3 settings it was given', () => {
  let datasetPrefix: string;
  const job = (seed: number): DetectionJob => ({
    bucket,
    regnet: tiny.model.regnet,
    init: 'scratch',
    seed,
    epochs: 1,
    datasetPrefix,
    train: DetectionTrainSchema.parse({ batchSize: 8 }),
  });
  const saved = process.env.SEERFLOW_S3_ENDPOINT;

  beforeAll(async () => {
    const manifest = (await new MockActivityEnvironment().run(
      createDetectionActivities({ s3: stack.s3 }).buildDetectionDataset,
      { bucket, images: 16, testImages: 8, seed: 2, size: 32, photos: 1 },
    )) as DetectionManifest;
    datasetPrefix = manifest.prefix;
    // From here on, an engine that reads S3 from its environment finds nothing listening.
    process.env.SEERFLOW_S3_ENDPOINT = 'http://127.0.0.1:9';
  }, 120_000);

  afterAll(() => {
    if (saved === undefined) delete process.env.SEERFLOW_S3_ENDPOINT;
    else process.env.SEERFLOW_S3_ENDPOINT = saved;
  });

  it('trains with the settings from its deps', async () => {
    const acts = createDetectionActivities({ s3: stack.s3, trainerSettings: { s3: stack.settings.s3 } });
    const r = (await new MockActivityEnvironment().run(acts.runDetection, job(1))) as DetectionRunResult;
    expect(r).toMatchObject({ init: 'scratch', seed: 1, epochs: 1, trainImages: 16, testImages: 8, cached: false });
    expect(r.stats).toHaveLength(12);
  });

  it('without them, it reads the environment (here: a dead endpoint) and the attempt fails, retryably', async () => {
    const acts = createDetectionActivities({ s3: stack.s3 });
    const err = await new MockActivityEnvironment().run(acts.runDetection, job(2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err instanceof ApplicationFailure && err.nonRetryable).toBe(false);
    // Another endpoint than the local stack's: no local credentials either, so the child fails on its first S3 call.
    expect((err as Error).message).toMatch(/^detection trainer failed: /);
  });
});
