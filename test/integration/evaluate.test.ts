/**
 * The evaluation stage on the real stack with a tiny labelled set: every protocol for a pretrained (an untrained
 * engine state, enough for the plumbing) and a scratch trunk, one seed, one epoch. Checks the class-balanced,
 * reproducible subsets, the result JSON, the progress query and that a re-run is all cache hits.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { readLabels } from '../../activities/evaluate/eval-data';
import { classBalancedSubset, type LabelSubset } from '../../activities/evaluate/subsets';
import { loadConfig } from '../../config/load';
import { evaluateKeys, type EvaluationInput, type EvaluationResult } from '../../contracts/evaluate';
import { createSwavEngine } from '../../engine';
import { SEED_LAYOUT, seedCorpus } from '../../infra/corpus/seed';
import { getJson } from '../../infra/s3';
import type { EvaluateProgress } from '../../workflows/evaluate';
import { connectStack, dropBucket, freshBucket, withWorkers, type Stack } from './harness';

let stack: Stack;
let bucket: string;
let input: EvaluationInput;
const TRAIN = 200;

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'evaluate');
  await seedCorpus(stack.s3, { bucket, count: TRAIN, testCount: 40, photos: false, bad: false });
  const cfg = loadConfig({ preset: 'tiny' });
  // An engine state of the tiny architecture stands in for a pretraining checkpoint.
  const engine = createSwavEngine({ regnet: cfg.model.regnet, swav: cfg.swav, optim: cfg.optim });
  engine.init(3);
  const state = engine.saveState();
  engine.dispose();
  const key = 'runs/src/pretrain/checkpoints/step-00000000-a1.state';
  await stack.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: state, ContentLength: state.length }));
  input = {
    runName: 'ev',
    bucket,
    checkpoint: { key, step: 0, cursor: { epoch: 0, position: 0 }, sha256: createHash('sha256').update(state).digest('hex'), bytes: state.length, loss: 0, backend: 'test' },
    regnet: cfg.model.regnet,
    swav: cfg.swav,
    optim: cfg.optim,
    seeds: [0],
    labelFractions: [0.01, 0.1],
    epochs: 1,
    shortSide: cfg.preprocess.shortSide,
    jpegQuality: cfg.preprocess.jpegQuality,
    batchSize: 32,
  };
}, 300_000);

afterAll(async () => {
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

it('runs every protocol x init, writes the result, draws balanced reproducible subsets; a re-run is cached', async () => {
  const run = (id: string) =>
    stack.client.workflow.start('evaluateWorkflow', { taskQueue: stack.settings.taskQueues.orchestrator, workflowId: `test-evaluate/${bucket}/${id}`, args: [input] });
  const { first, progress, second, secondMs } = await withWorkers(stack, ['orchestrator', 'io', 'gpu'], async () => {
    const h = await run('first');
    const first = (await h.result()) as EvaluationResult;
    const progress = (await h.query('evaluateProgress')) as EvaluateProgress;
    const t0 = Date.now();
    const second = (await (await run('second')).result()) as EvaluationResult;
    return { first, progress, second, secondMs: Date.now() - t0 };
  });

  expect(progress).toMatchObject({ done: 8, total: 8 });
  expect(first.classification).toHaveLength(8);
  for (const protocol of ['linear', 'finetune', 'lowshot-1', 'lowshot-10'] as const) {
    for (const init of ['pretrained', 'scratch'] as const) {
      const s = first.summary[protocol]?.[init];
      expect(s?.values).toHaveLength(1);
      expect(s?.std).toBe(0);
      expect(s?.mean).toBeGreaterThanOrEqual(0);
    }
  }
  for (const r of first.classification) {
    expect(r.curve).toHaveLength(1);
    expect(r.testImages).toBe(40);
    expect(r.trainImages).toBe(r.protocol === 'lowshot-1' ? 10 : r.protocol === 'lowshot-10' ? 20 : TRAIN);
  }
  expect(await getJson<EvaluationResult>(stack.s3, bucket, evaluateKeys.result('ev'))).toEqual(first);

  // Subsets: the same count per class, drawn from the labelled train keys, equal to a fresh draw.
  const labels = await readLabels(stack.s3, bucket, SEED_LAYOUT.trainLabelsKey);
  for (const [fraction, perClass] of [[0.01, 1], [0.1, 2]] as const) {
    const subset = await getJson<LabelSubset>(stack.s3, bucket, evaluateKeys.subset(fraction, 0));
    expect(subset?.perClass).toBe(perClass);
    expect(Object.values(subset?.counts ?? {})).toEqual(Array(10).fill(perClass));
    expect(subset).toEqual(classBalancedSubset(labels.lines, fraction, 0, labels.sha256));
    const known = new Set(labels.lines.map((l) => l.key));
    expect(subset?.keys.every((k) => known.has(k))).toBe(true);
  }

  // Same inputs again: every run is a cache hit.
  expect(second).toEqual(first);
  expect(secondMs).toBeLessThan(30_000);
}, 600_000);
