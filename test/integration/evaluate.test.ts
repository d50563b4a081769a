/**
 * The evaluation stage on the real stack with a tiny labelled set: every protocol for a pretrained (an untrained
 * engine state, enough for the plumbing) and a scratch trunk, one seed, one epoch, then a one-epoch detector per
 * initialisation on a 32-image detection set. Checks the class-balanced, reproducible subsets, the detection stats
 * and their summary, the result JSON, the progress query and that a re-run is all cache hits.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { readLabels } from '../../activities/evaluate/eval-data';
import { classBalancedSubset, type LabelSubset } from '../../activities/evaluate/subsets';
import { loadConfig } from '../../config/load';
import {
  evaluateKeys,
  evaluateProgressQuery,
  evaluationInputFor,
  type EvaluationInput,
  type EvaluationResult,
} from '../../contracts/evaluate';
import { createSwavEngine } from '../../engine';
import { SEED_LAYOUT, seedCorpus } from '../../datasets/corpus/seed';
import { getJson } from '../../infra/s3';
import { connectStack, dropBucket, freshBucket, withWorkers, type Stack } from './harness';
import { evaluateWorkflow } from '../../workflows';

let stack: Stack;
let bucket: string;
let input: EvaluationInput;
const TRAIN = 200;

beforeAll(async () => {
  stack = await connectStack();
  bucket = await freshBucket(stack.s3, 'evaluate');
  await seedCorpus(stack.s3, { bucket, count: TRAIN, testCount: 40, photos: false, bad: false });
  // The tiny preset at one seed, one epoch, and a 32-image detection set: built as the pipeline builds it.
  const cfg = loadConfig({
    preset: 'tiny',
    set: [
      `ingest.bucket=${bucket}`,
      'eval.seeds=[0]',
      'eval.epochs=1',
      'eval.batchSize=32',
      'eval.detection.images=32',
      'eval.detection.testImages=8',
      'eval.detection.size=32',
      'eval.detection.epochs=1',
      'eval.detection.photos=2',
    ],
  });
  // An engine state of the tiny architecture stands in for a pretraining checkpoint.
  const engine = createSwavEngine({ regnet: cfg.model.regnet, swav: cfg.swav, optim: cfg.optim });
  engine.init(3);
  const state = engine.saveState();
  engine.dispose();
  const key = 'runs/src/pretrain/checkpoints/step-00000000-a1.state';
  await stack.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: state, ContentLength: state.length }));
  input = evaluationInputFor(cfg, 'ev', {
    key,
    step: 0,
    cursor: { epoch: 0, position: 0 },
    sha256: createHash('sha256').update(state).digest('hex'),
    bytes: state.length,
    loss: 0,
    backend: 'test',
  });
  expect(input).toMatchObject({ bucket, seeds: [0], labelFractions: [0.01, 0.1], epochs: 1, batchSize: 32 });
  expect(input.detection).toMatchObject({ images: 32, testImages: 8, size: 32, seed: 0, epochs: 1, photos: 2 });
}, 300_000);

afterAll(async () => {
  if (bucket) await dropBucket(stack.s3, bucket);
  await stack?.connection.close();
});

it('runs every protocol x init, writes the result, draws balanced reproducible subsets; a re-run is cached', async () => {
  const run = (id: string) =>
    stack.client.workflow.start(evaluateWorkflow, {
      taskQueue: stack.settings.taskQueues.orchestrator,
      workflowId: `test-evaluate/${bucket}/${id}`,
      args: [input],
    });
  const { first, progress, second, secondMs } = await withWorkers(stack, ['orchestrator', 'io', 'gpu'], async () => {
    const h = await run('first');
    const first = (await h.result()) as EvaluationResult;
    const progress = await h.query(evaluateProgressQuery);
    const t0 = Date.now();
    const second = (await (await run('second')).result()) as EvaluationResult;
    return { first, progress, second, secondMs: Date.now() - t0 };
  });

  // 8 classification runs + 2 detection runs (pretrained, scratch; seed 0).
  expect(progress).toMatchObject({ done: 10, total: 10 });
  expect(progress.current).toBeUndefined();
  expect(progress.finishedDetection.map((d) => `${d.init}/${d.seed}`)).toEqual(['pretrained/0', 'scratch/0']);
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

  // Detection: one run per init x seed on the configured dataset, 12 COCO stats each (a fraction, or -1 where
  // pycocotools has nothing to average), and a summary that is exactly those runs' AP / AP50 / AP75.
  expect(first.detection.map((d) => `${d.init}/${d.seed}`)).toEqual(['pretrained/0', 'scratch/0']);
  for (const d of first.detection) {
    expect(d).toMatchObject({ trainImages: 32, testImages: 8, epochs: 1 });
    expect(d.stats).toHaveLength(12);
    for (const v of d.stats) expect(v === -1 || (v >= 0 && v <= 1)).toBe(true);
    expect(d.datasetPrefix).toMatch(/^detection\/.+-n32-t8-/);
    expect(await getJson(stack.s3, bucket, d.resultKey ?? '')).toMatchObject({
      init: d.init,
      seed: d.seed,
      stats: d.stats,
    });
    const s = first.detectionSummary?.[d.init];
    expect([s?.AP.values, s?.AP50.values, s?.AP75.values]).toEqual([[d.stats[0]], [d.stats[1]], [d.stats[2]]]);
  }
  expect(progress.finishedDetection.map((d) => d.ap)).toEqual(first.detection.map((d) => d.stats[0]));

  // Subsets: the same count per class, drawn from the labelled train keys, equal to a fresh draw.
  const labels = await readLabels(stack.s3, bucket, SEED_LAYOUT.trainLabelsKey);
  for (const [fraction, perClass] of [
    [0.01, 1],
    [0.1, 2],
  ] as const) {
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
