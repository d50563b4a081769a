/** Shared fixtures of the engine tests: a W-tiny sized config and a deterministic synthetic batch source. */
import * as tf from '@tensorflow/tfjs';
import type { SwavEngineConfig } from '../../../engine/index';
import type { SwavBatch } from '../../../engine/swav-step';
import { cropGroups } from '../../../engine/swav-step';
import { Rng } from '../../../ml/rng';

process.env.TF_CPP_MIN_LOG_LEVEL = '2';

/** W-tiny trunk (stages (1,3) x (16,32)) with a small head; crops 2x16 + 2x8 keep the tests fast. */
export function tinyConfig(over: Partial<SwavEngineConfig['swav']> = {}): SwavEngineConfig {
  return {
    regnet: {
      depth: 4,
      w0: 16,
      wa: 8,
      wm: 2.0,
      groupWidth: 8,
      bottleneckMultiplier: 1,
      seRatio: 0.25,
      rounding: 'pycls',
      stemWidth: 16,
    },
    swav: {
      hiddenDims: [32],
      headBatchNorm: true,
      featureDim: 16,
      prototypes: 12,
      temperature: 0.1,
      epsilon: 0.05,
      sinkhornIterations: 3,
      crops: [
        { size: 16, count: 2, minScale: 0.14, maxScale: 1 },
        { size: 8, count: 2, minScale: 0.05, maxScale: 0.14 },
      ],
      cropsForAssign: [0, 1],
      freezePrototypesIters: 0,
      queueLength: 0,
      epochQueueStarts: 0,
      ...over,
    },
    optim: { momentum: 0.9, weightDecay: 1e-6, larsTrustCoefficient: 0.001 },
  };
}

/** Deterministic images for (seed, step): N(0, 1) pixels, one NHWC array per crop size group. */
export function syntheticBatch(cfg: SwavEngineConfig, batch: number, seed: number, step: number): SwavBatch {
  const rng = Rng.keyed(seed, step);
  const crops = cropGroups(cfg.swav.crops).map((g) => {
    const a = new Float32Array(g.count * batch * g.size * g.size * 3);
    for (let i = 0; i < a.length; i++) a[i] = rng.normal();
    return a;
  });
  return { crops, batch };
}

/** Max |a - b| over two tensors or arrays of equal size. */
export function maxAbsDiff(a: tf.Tensor | Float32Array, b: tf.Tensor | Float32Array): number {
  // Typed arrays from tfjs come from another realm under jest: test for tensors, not for Float32Array.
  const x = a instanceof tf.Tensor ? (a.dataSync() as Float32Array) : a;
  const y = b instanceof tf.Tensor ? (b.dataSync() as Float32Array) : b;
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs((x[i] as number) - (y[i] as number)));
  return m;
}
