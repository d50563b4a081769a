import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../engine/backend';
import { createSwavEngine, NonFiniteLossError, type SwavEngine } from '../../../engine/index';
import { readStateHeader, type StateTensor } from '../../../engine/state';
import { cropGroups, sinkhornTf, swappedPredictionLoss } from '../../../engine/swav-step';
import { sinkhornKnopp, sinkhornKnoppWithQueue } from '../../../ml/sinkhorn';
import { swavLoss } from '../../../ml/swav-loss';
import { Rng } from '../../../ml/rng';
import { maxAbsDiff, syntheticBatch, tinyConfig } from './helpers';

function cosines(rows: number, K: number, seed: number): Float32Array {
  // Scores as SwAV sees them: cosines of random unit vectors (d = 8).
  const rng = Rng.keyed(seed);
  const unit = (n: number) => {
    const v = Array.from({ length: n * 8 }, () => rng.normal());
    for (let i = 0; i < n; i++) {
      const r = v.slice(i * 8, i * 8 + 8);
      const norm = Math.hypot(...r);
      for (let j = 0; j < 8; j++) v[i * 8 + j] = (r[j] as number) / norm;
    }
    return v;
  };
  const z = unit(rows);
  const w = unit(K);
  const out = new Float32Array(rows * K);
  for (let n = 0; n < rows; n++)
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let j = 0; j < 8; j++) s += (z[n * 8 + j] as number) * (w[k * 8 + j] as number);
      out[n * K + k] = s;
    }
  return out;
}

beforeAll(() => {
  initBackend();
});

describe('SwAV step pieces agree with the ml/ references', () => {
  it('groups consecutive same-size crops', () => {
    expect(
      cropGroups([
        { size: 32, count: 2 },
        { size: 16, count: 1 },
        { size: 16, count: 3 },
        { size: 32, count: 1 },
      ]),
    ).toEqual([
      { size: 32, count: 2, first: 0 },
      { size: 16, count: 4, first: 2 },
      { size: 32, count: 1, first: 6 },
    ]);
  });

  it('Sinkhorn in tf ops reproduces the golden vector and ml/sinkhorn (with and without queue)', () => {
    const s0 = tf.tensor2d([
      [0.9, 0.1, -0.2, 0.3],
      [0.2, 0.8, 0.1, -0.5],
      [0.85, 0.05, 0.4, 0.0],
    ]);
    const golden = [0.381997, 0, 0.000002, 0.618001, 0.000001, 0.99586, 0.004138, 0, 0.277697, 0, 0.719276, 0.003027];
    expect(maxAbsDiff(sinkhornTf(s0, 0.05, 3), new Float32Array(golden))).toBeLessThan(2e-6);
    for (const [B, K, eps, it] of [
      [32, 64, 0.05, 3],
      [16, 30, 0.03, 10],
    ] as const) {
      const s = cosines(B, K, B);
      const ref = sinkhornKnopp(s, B, K, { epsilon: eps, iterations: it });
      expect(maxAbsDiff(sinkhornTf(tf.tensor2d(s, [B, K]), eps, it), ref)).toBeLessThan(1e-5);
    }
    const qs = cosines(24, 20, 5);
    const bs = cosines(8, 20, 6);
    const refQ = sinkhornKnoppWithQueue(qs, bs, 8, 20, { epsilon: 0.05, iterations: 3 });
    const all = tf.concat([tf.tensor2d(qs, [24, 20]), tf.tensor2d(bs, [8, 20])]);
    expect(maxAbsDiff(sinkhornTf(all, 0.05, 3, 8), refQ)).toBeLessThan(1e-5);
  });

  it('Sinkhorn in tf ops: the stabilised kernel (scores far beyond cosines) matches ml/sinkhorn and stays finite', () => {
    for (const [scale, shift, eps] of [
      [40, 0, 0.05], // |s|/eps up to 800: exp(s/eps) overflows float32
      [1, -3, 0.05], // every s/eps near -60: whole rows of exp(s/eps) are ~1e-26, below the direct kernel's range
      [1, 2, 0.05], // every s/eps near +40: row sums of exp(s/eps) exceed the direct kernel's range
    ] as const) {
      const s = cosines(32, 48, 9).map((v) => v * scale + shift);
      const ref = sinkhornKnopp(s, 32, 48, { epsilon: eps, iterations: 3 });
      const q = sinkhornTf(tf.tensor2d(s, [32, 48]), eps, 3);
      expect(Array.from(q.dataSync()).every(Number.isFinite)).toBe(true);
      expect(maxAbsDiff(q, ref)).toBeLessThan(1e-5);
    }
  });

  it('swapped-prediction loss and its score gradient match ml/swav-loss (golden 2.633831)', () => {
    const s0 = [0.9, 0.1, -0.2, 0.3, 0.2, 0.8, 0.1, -0.5, 0.85, 0.05, 0.4, 0.0];
    const s1 = [0.7, 0.2, 0, 0.1, 0.1, 0.9, -0.1, 0.2, 0.6, 0.3, 0.5, -0.2];
    const golden = tf.tidy(() => {
      const scores = tf.tensor2d([...s0, ...s1], [6, 4]);
      const codes = [0, 1].map((a) => sinkhornTf(tf.slice(scores, [a * 3, 0], [3, 4]), 0.05, 3));
      return swappedPredictionLoss(scores, codes, { batch: 3, cropsForAssign: [0, 1], temperature: 0.1 }).dataSync()[0];
    });
    expect(golden).toBeCloseTo(2.633831, 5);

    const B = 8,
      K = 12,
      V = 5;
    const A = [0, 1];
    const per = Array.from({ length: V }, (_, v) => cosines(B, K, 100 + v));
    const ref = swavLoss(per, B, K, {
      epsilon: 0.05,
      iterations: 3,
      temperature: 0.1,
      cropsForAssign: A,
      gradients: true,
    });
    const flat = new Float32Array(V * B * K);
    per.forEach((p, v) => flat.set(p, v * B * K));
    const scores = tf.tensor2d(flat, [V * B, K]);
    const codes = A.map((a) => sinkhornTf(tf.slice(scores, [a * B, 0], [B, K]), 0.05, 3));
    const f = (s: tf.Tensor) =>
      swappedPredictionLoss(s as tf.Tensor2D, codes, { batch: B, cropsForAssign: A, temperature: 0.1 });
    expect(f(scores).dataSync()[0]).toBeCloseTo(ref.loss, 5);
    const g = tf.grad(f)(scores).dataSync();
    const refG = new Float32Array(V * B * K);
    (ref.gradients as Float64Array[]).forEach((gv, v) => refG.set(gv, v * B * K));
    expect(maxAbsDiff(g as Float32Array, refG)).toBeLessThan(1e-5);
  });
});

describe('SwAV training step on the native backend', () => {
  const cfg = tinyConfig({ freezePrototypesIters: 2 });
  const B = 4;
  let engine: SwavEngine;
  beforeAll(() => {
    engine = createSwavEngine(cfg);
    engine.init(0);
  });
  afterAll(() => engine.dispose());

  it('trains without leaking tensors, keeps prototypes frozen then normalised', () => {
    const getProto = () => {
      const h = engine.saveState();
      // The prototypes are a named tensor of the state; read them back through the state header.
      const { header, data } = readStateHeader(h);
      const t = header.tensors.find((x) => x.name === 'prototypes.weight') as StateTensor;
      return data.slice(t.offset, t.offset + t.shape[0]! * t.shape[1]!);
    };
    const p0 = getProto();
    const losses: number[] = [];
    let tensors = -1;
    for (let i = 0; i < 5; i++) {
      const r = engine.step(syntheticBatch(cfg, B, 1, i % 2), 0.5);
      losses.push(r.loss);
      expect(r.prototypesFrozen).toBe(i < 2);
      if (i === 1) expect(maxAbsDiff(getProto(), p0)).toBe(0); // frozen: not touched at all
      if (i === 1) tensors = tf.memory().numTensors;
      if (i > 1) expect(tf.memory().numTensors).toBe(tensors);
    }
    expect(engine.stepCount).toBe(5);
    const p = getProto();
    expect(maxAbsDiff(p, p0)).toBeGreaterThan(0);
    const K = cfg.swav.prototypes;
    const d = cfg.swav.featureDim;
    for (let k = 0; k < K; k++) expect(Math.hypot(...p.slice(k * d, (k + 1) * d))).toBeCloseTo(1, 5);
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    // Two alternating batches: the loss on each must go down over the run.
    expect(losses[4] as number).toBeLessThan(losses[0] as number);
    expect(losses[3] as number).toBeLessThan(losses[1] as number);
    // Loss is bounded by log K-ish values for cosine scores at tau 0.1.
    expect(losses[0] as number).toBeGreaterThan(0);
  });

  it('throws NonFiniteLossError and leaves the whole state untouched', () => {
    const before = engine.saveState();
    const bad = syntheticBatch(cfg, B, 2, 0);
    (bad.crops[0] as Float32Array).fill(NaN);
    let err: unknown;
    try {
      engine.step(bad, 0.5);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NonFiniteLossError);
    expect((err as NonFiniteLossError).step).toBe(5);
    expect((err as NonFiniteLossError).type).toBe('NonFiniteLoss');
    expect(engine.stepCount).toBe(5);
    // Nothing changed: weights, BN running statistics, momentum, step.
    expect(Buffer.from(engine.saveState()).equals(Buffer.from(before))).toBe(true);
  });

  it('embeds images with eval-mode BN', () => {
    const imgs = syntheticBatch(cfg, 3, 3, 0).crops[0] as Float32Array;
    const f = engine.embed(imgs.subarray(0, 3 * 16 * 16 * 3), 3, 16);
    expect(f.length).toBe(3 * engine.spec.outWidth);
    expect(f.every(Number.isFinite)).toBe(true);
    // Eval mode: the features of an image do not depend on the rest of the batch.
    const one = engine.embed(imgs.subarray(0, 16 * 16 * 3), 1, 16);
    expect(maxAbsDiff(one, f.subarray(0, engine.spec.outWidth))).toBeLessThan(1e-5);
  });
});

describe('SwAV queue', () => {
  it('fills the queue first, then prepends its scores', () => {
    const cfg = tinyConfig({ queueLength: 10, epochQueueStarts: 1 });
    const engine = createSwavEngine(cfg);
    engine.init(0);
    const B = 4; // queue length rounds down to 8 = 2 batches
    const used: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      const batch = { ...syntheticBatch(cfg, B, 4, i), epoch: i === 0 ? 0 : 1 };
      used.push(engine.step(batch, 0.5).queueUsed);
    }
    // epoch 0: no queue; steps 1-2 fill it; used from step 3 on.
    expect(used).toEqual([false, false, false, true, true]);
    const header = engine.loadState(engine.saveState());
    expect(header.tensors.find((t) => t.name === 'queue')?.shape).toEqual([2, 8, cfg.swav.featureDim]);
    expect(header.queueFilled).toBe(8);
    engine.dispose();
  });
});
