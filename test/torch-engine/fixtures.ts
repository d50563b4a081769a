/**
 * Golden fixtures the PyTorch engine's tests (torch-engine/tests) read, computed by the TypeScript side so the two
 * engines cannot drift: `seerflow plan --json` results with the RegNet spec they come from, the state tensor lists
 * of the tfjs engine, and a few tfjs training steps of a micro workload from known weights. The unit test
 * test/unit/torch-engine/fixtures.test.ts recomputes them and fails when they are stale. Regenerate with
 *
 *   npx tsc -p tsconfig.json && node dist/test/torch-engine/fixtures.js
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { computePlan, formatPlanJson, type PlanOptions } from '../../cli/commands/plan';
import { createSwavEngine, createSwavTrainer, type SwavEngineConfig } from '../../engine/index';
import { readStateHeader, serializeState } from '../../engine/state';
import { cropGroups, type SwavBatch } from '../../engine/swav-step';
import { regnetSpec } from '../../ml/regnet';
import { Rng } from '../../ml/rng';
import { WORKLOADS } from '../../bench/workloads';
import type { RegNetConfig } from '../../config/schema';

/** Relative to the repository root, the working directory of the generator (as bench/ scripts do). */
export const FIXTURE_DIR = join('test', 'fixtures', 'torch');

/** Generator inputs of the RegNet layouts the tfjs tests use (test/fixtures/ml/regnet.json names). */
const LAYOUTS: [string, PlanOptions][] = [
  ['RegNetY-200MF', { depth: 13, w0: 24, wa: 36.44, wm: 2.49, groupWidth: 8, se: 0.25 }],
  ['RegNetX-200MF', { depth: 13, w0: 24, wa: 36.44, wm: 2.49, groupWidth: 8, se: false }],
  ['RegNetY-400MF', { depth: 16, w0: 48, wa: 27.89, wm: 2.09, groupWidth: 8, se: 0.25 }],
  ['RegNetX-400MF', { depth: 22, w0: 24, wa: 24.48, wm: 2.54, groupWidth: 16, se: false }],
  ['RegNetY-800MF', { depth: 14, w0: 56, wa: 38.84, wm: 2.4, groupWidth: 16, se: 0.25 }],
  ['RegNetY-1.6GF', { depth: 27, w0: 48, wa: 20.71, wm: 2.65, groupWidth: 24, se: 0.25 }],
  ['RegNetY-4.0GF', { depth: 22, w0: 96, wa: 31.41, wm: 2.24, groupWidth: 64, se: 0.25 }],
  ['RegNetY-8.0GF', { depth: 17, w0: 192, wa: 76.82, wm: 2.19, groupWidth: 56, se: 0.25 }],
  ['RegNetY-16GF', { depth: 18, w0: 200, wa: 106.23, wm: 2.48, groupWidth: 112, se: 0.25 }],
  ['RegNetY-32GF', { depth: 20, w0: 232, wa: 115.89, wm: 2.53, groupWidth: 232, se: 0.25 }],
  ['SEER RegNetY-256GF', { depth: 27, w0: 640, wa: 230.83, wm: 2.53, groupWidth: 373, se: 0.25 }],
  ['tiny preset', { depth: 4, w0: 16, wa: 8, wm: 2.0, groupWidth: 8, se: 0.25, stemWidth: 16 }],
  ['synthetic b=2', { depth: 10, w0: 32, wa: 20.5, wm: 2.2, groupWidth: 12, bottleneckMultiplier: 2, se: 0.25 }],
];

/** Every layout under both roundings, plus the `seer-256gf` preset as `seerflow plan --preset seer-256gf` sees it. */
export function regnetPlans(): unknown {
  const cases = LAYOUTS.flatMap(([name, p]) =>
    (['torchvision', 'pycls'] as const).map((rounding) => planCase(name, { stemWidth: 32, ...p, rounding })),
  );
  cases.push(planCase('preset seer-256gf', { preset: 'seer-256gf' }));
  return { generator: 'test/torch-engine/fixtures.ts', cases };
}

function planCase(name: string, opts: PlanOptions): unknown {
  const plan = computePlan(opts);
  // The `--json` line exactly as the CLI prints it, and the spec it was computed from.
  return { name, options: opts, plan: JSON.parse(formatPlanJson(plan)) as unknown, spec: plan.spec };
}

/** A toy engine config: RegNetY generator inputs, crops (large, small) and the head/queue settings that differ. */
function toyConfig(
  regnet: Pick<RegNetConfig, 'depth' | 'w0' | 'wa' | 'wm' | 'groupWidth' | 'stemWidth'>,
  crops: [large: number, largeCount: number, small: number, smallCount: number],
  swav: Pick<
    SwavEngineConfig['swav'],
    | 'hiddenDims'
    | 'headBatchNorm'
    | 'featureDim'
    | 'prototypes'
    | 'epsilon'
    | 'sinkhornIterations'
    | 'freezePrototypesIters'
    | 'queueLength'
  >,
  weightDecay: number,
): SwavEngineConfig {
  const [large, largeCount, small, smallCount] = crops;
  return {
    regnet: { ...regnet, bottleneckMultiplier: 1, seRatio: 0.25, rounding: 'pycls' },
    swav: {
      ...swav,
      temperature: 0.1,
      crops: [
        { size: large, count: largeCount, minScale: 0.14, maxScale: 1 },
        { size: small, count: smallCount, minScale: 0.05, maxScale: 0.14 },
      ],
      cropsForAssign: [0, 1],
      epochQueueStarts: 0,
    },
    optim: { momentum: 0.9, weightDecay, larsTrustCoefficient: 0.001 },
  };
}

/** A SEER-shaped config at toy size: ReLU-only two-layer head (no BN), group width not a power of 2, a queue. */
export const SEER_SMALL = toyConfig(
  { depth: 5, w0: 24, wa: 23.08, wm: 2.53, groupWidth: 12, stemWidth: 16 },
  [32, 2, 16, 4],
  {
    hiddenDims: [64, 64],
    headBatchNorm: false,
    featureDim: 16,
    prototypes: 40,
    epsilon: 0.03,
    sinkhornIterations: 10,
    freezePrototypesIters: 5,
    queueLength: 16,
  },
  1e-5,
);

/** The engine config as the PyTorch engine takes it: the resolved spec instead of the generator inputs. */
export function torchConfig(cfg: SwavEngineConfig): unknown {
  const { swav, optim } = cfg;
  return { spec: regnetSpec(cfg.regnet), swav, optim };
}

/** Names and shapes of every state tensor the tfjs engine writes (engine/state.ts), queue included if configured. */
export function tensorLists(): unknown {
  const configs: [string, SwavEngineConfig, number][] = [
    ['W-tiny', WORKLOADS['W-tiny']!.cfg, WORKLOADS['W-tiny']!.batch],
    ['W-200MF', WORKLOADS['W-200MF']!.cfg, WORKLOADS['W-200MF']!.batch],
    ['SEER-small', SEER_SMALL, 8],
  ];
  const cases = configs.map(([name, cfg, batch]) => {
    const trainer = createSwavTrainer(cfg);
    trainer.ensureQueue(batch);
    const { header } = readStateHeader(serializeState(trainer));
    trainer.queue?.dispose();
    trainer.optimizer.dispose();
    trainer.model.dispose();
    return {
      name,
      batch,
      config: torchConfig(cfg),
      tensors: header.tensors.map(({ name: n, shape }) => ({ name: n, shape })),
    };
  });
  return { generator: 'test/torch-engine/fixtures.ts', cases };
}

/** The micro workload of the step fixture: two 1-block stages, BN head, prototypes frozen for one step, a queue of
 * two batches (filled by steps 1-2, used from step 3 on), weight decay large enough to matter. */
export const MICRO = toyConfig(
  { depth: 2, w0: 8, wa: 8, wm: 2, groupWidth: 4, stemWidth: 8 },
  [16, 2, 8, 2],
  {
    hiddenDims: [16],
    headBatchNorm: true,
    featureDim: 8,
    prototypes: 10,
    epsilon: 0.05,
    sinkhornIterations: 3,
    freezePrototypesIters: 1,
    queueLength: 8,
  },
  1e-4,
);
export const MICRO_BATCH = 4;
export const MICRO_LRS = [0.5, 0.4, 0.3, 0.2];

function microBatch(seed: number): SwavBatch {
  const rng = Rng.keyed(seed);
  const crops = cropGroups(MICRO.swav.crops).map((g) => {
    const a = new Float32Array(g.count * MICRO_BATCH * g.size * g.size * 3);
    for (let i = 0; i < a.length; i++) a[i] = rng.normal();
    return a;
  });
  return { crops, batch: MICRO_BATCH, epoch: 0 };
}

/** Steps of the tfjs engine on the micro workload from init(7), alternating two batches; states as bytes. */
export function microSteps(): { json: unknown; files: Record<string, Uint8Array> } {
  const engine = createSwavEngine(MICRO);
  engine.init(7);
  const batches = [microBatch(1), microBatch(2)];
  const files: Record<string, Uint8Array> = { 'step-micro-before.bin': engine.saveState() };
  const steps = MICRO_LRS.map((lr, i) => {
    const r = engine.step(batches[i % 2] as SwavBatch, lr);
    if (i === 0) files['step-micro-after1.bin'] = engine.saveState();
    return { lr, ...r };
  });
  files['step-micro-after.bin'] = engine.saveState();
  const size = MICRO.swav.crops[0]!.size;
  const images = (batches[0]!.crops[0] as Float32Array).subarray(0, 2 * size * size * 3);
  const embed = Array.from(engine.embed(images, 2, size));
  engine.dispose();
  const all = batches.flatMap((b) => b.crops as Float32Array[]);
  const flat = new Float32Array(all.reduce((n, a) => n + a.length, 0));
  all.reduce((off, a) => (flat.set(a, off), off + a.length), 0);
  files['step-micro-batches.bin'] = new Uint8Array(flat.buffer);
  const json = {
    generator: 'test/torch-engine/fixtures.ts',
    config: torchConfig(MICRO),
    batch: MICRO_BATCH,
    seed: 7,
    // step-micro-batches.bin: float32 LE, batch 1 then batch 2, each one NHWC array per crop size group.
    batches: batches.length,
    steps,
    embed: { images: 'first 2 images of batch 1, group 0, after the last step', size, values: embed },
  };
  return { json, files };
}

/** Every fixture file by name. */
export function allFixtures(): Record<string, string | Uint8Array> {
  const micro = microSteps();
  const text = (x: unknown) => `${JSON.stringify(x)}\n`;
  return {
    'regnet-plans.json': text(regnetPlans()),
    'tensor-lists.json': text(tensorLists()),
    'step-micro.json': text(micro.json),
    ...micro.files,
  };
}

if (require.main === module) {
  mkdirSync(FIXTURE_DIR, { recursive: true });
  for (const [name, data] of Object.entries(allFixtures())) {
    writeFileSync(join(FIXTURE_DIR, name), data);
    console.log(`wrote test/fixtures/torch/${name} (${data.length} ${typeof data === 'string' ? 'chars' : 'bytes'})`);
  }
}
