/**
 * The named SwAV workloads of the benchmarking method (W-tiny, W-200MF, W-200MF-96) as engine configs, and the
 * synthetic N(0,1) batches the speed and GPU checks feed them. Shared by bench/train-step.ts and bench/gpu-check.ts.
 */
import type { SwavEngineConfig } from '../engine/index';
import { cropGroups, type SwavBatch } from '../engine/swav-step';
import { Rng } from '../ml/rng';

export interface Workload {
  name: string;
  cfg: SwavEngineConfig;
  batch: number;
}

export function workload(
  name: string,
  trunk: 'tiny' | '200mf',
  big: number,
  small: number,
  batch: number,
  K: number,
): Workload {
  const regnet =
    trunk === 'tiny'
      ? { depth: 4, w0: 16, wa: 8, wm: 2.0, groupWidth: 8 }
      : { depth: 13, w0: 24, wa: 36.44, wm: 2.49, groupWidth: 8 };
  return {
    name,
    batch,
    cfg: {
      // Stem width 32 (the RegNet default) for every workload; benchmarking.md leaves W-tiny's stem unstated.
      regnet: { ...regnet, bottleneckMultiplier: 1, seRatio: 0.25, rounding: 'pycls', stemWidth: 32 },
      swav: {
        hiddenDims: [512],
        headBatchNorm: true,
        featureDim: 128,
        prototypes: K,
        temperature: 0.1,
        epsilon: 0.05,
        sinkhornIterations: 3,
        crops: [
          { size: big, count: 2, minScale: 0.14, maxScale: 1 },
          { size: small, count: 4, minScale: 0.05, maxScale: 0.14 },
        ],
        cropsForAssign: [0, 1],
        freezePrototypesIters: 0,
        queueLength: 0,
        epochQueueStarts: 0,
      },
      optim: { momentum: 0.9, weightDecay: 1e-6, larsTrustCoefficient: 0.001 },
    },
  };
}

export const WORKLOADS: Record<string, Workload> = {
  'W-tiny': workload('W-tiny', 'tiny', 32, 16, 32, 64),
  'W-200MF': workload('W-200MF', '200mf', 64, 32, 32, 300),
  'W-200MF-96': workload('W-200MF-96', '200mf', 96, 48, 16, 300),
};

/** Deterministic N(0,1) pixels for every crop of one batch of workload `w`. */
export function syntheticBatch(w: Workload, seed: number): SwavBatch {
  const rng = Rng.keyed(seed);
  const crops = cropGroups(w.cfg.swav.crops).map((g) => {
    const a = new Float32Array(g.count * w.batch * g.size * g.size * 3);
    for (let i = 0; i < a.length; i++) a[i] = rng.normal();
    return a;
  });
  return { crops, batch: w.batch };
}
