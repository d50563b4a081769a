import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../engine/backend';
import { ParamStore } from '../../../engine/params';
import { RegNetTrunk } from '../../../engine/regnet-model';
import { SwavModel } from '../../../engine/swav-model';
import { regnetComplexity } from '../../../ml/complexity';
import { regnetSpec, type RegNetParams } from '../../../ml/regnet';
import { maxAbsDiff } from './helpers';

const W_TINY: RegNetParams = { depth: 4, w0: 16, wa: 8, wm: 2.0, groupWidth: 8 };
const Y_200MF: RegNetParams = { depth: 13, w0: 24, wa: 36.44, wm: 2.49, groupWidth: 8 };

beforeAll(() => {
  initBackend();
});

describe('RegNetY trunk', () => {
  it.each([
    ['W-tiny', W_TINY, undefined],
    ['W-tiny + fc10', W_TINY, 10],
    ['RegNetY-200MF', Y_200MF, undefined],
    ['RegNetY-200MF + fc1000', Y_200MF, 1000],
  ] as const)('%s: trainable parameters equal regnetComplexity', (_n, p, numClasses) => {
    const spec = regnetSpec(p);
    const store = new ParamStore();
    const trunk = new RegNetTrunk(spec, store, numClasses ? { numClasses } : {});
    const cx = regnetComplexity(spec, numClasses ? { numClasses } : {});
    expect(trunk.trainableParamCount()).toBe(cx.params);
    if (p === Y_200MF) expect(trunk.trainableParamCount()).toBe(numClasses ? 3_162_996 : 2_793_996);
    store.dispose();
  });

  it('names tensors in a stable order and initialises them deterministically per (seed, name)', () => {
    const spec = regnetSpec(W_TINY);
    const mk = () => {
      const s = new ParamStore();
      return { s, t: new RegNetTrunk(spec, s) };
    };
    const a = mk();
    const b = mk();
    const names = a.s.entries().map((e) => e.name);
    expect(names).toEqual(b.s.entries().map((e) => e.name));
    expect(names.slice(0, 5)).toEqual([
      'trunk.stem.conv.weight',
      'trunk.stem.bn.weight',
      'trunk.stem.bn.bias',
      'trunk.stem.bn.running_mean',
      'trunk.stem.bn.running_var',
    ]);
    expect(names).toContain('trunk.s2.b3.se.expand.bias');
    a.t.init(7);
    b.t.init(7);
    for (const [i, e] of a.s.entries().entries()) expect(maxAbsDiff(e.variable, b.s.entries()[i]!.variable)).toBe(0);
    b.t.init(8);
    expect(maxAbsDiff(a.s.get('trunk.s2.b1.b.conv.weight'), b.s.get('trunk.s2.b1.b.conv.weight'))).toBeGreaterThan(0);
    // conv ~ N(0, sqrt(2 / fan_out)), fan_out = k*k*cout; BN gamma 1, beta 0, running var 1.
    const w = Array.from(a.s.get('trunk.s2.b1.b.conv.weight').dataSync()); // [3,3,8,32]
    const std = Math.sqrt(w.reduce((s: number, x: number) => s + x * x, 0) / w.length);
    expect(std).toBeGreaterThan(Math.sqrt(2 / (9 * 32)) * 0.9);
    expect(std).toBeLessThan(Math.sqrt(2 / (9 * 32)) * 1.1);
    expect(Array.from(a.s.get('trunk.stem.bn.weight').dataSync())).toEqual(Array(32).fill(1));
    expect(Array.from(a.s.get('trunk.stem.bn.running_var').dataSync())).toEqual(Array(32).fill(1));
    a.s.dispose();
    b.s.dispose();
  });

  it('native and fallback forward passes agree (training and eval mode) and update BN running stats', () => {
    const spec = regnetSpec(W_TINY);
    const sN = new ParamStore();
    const sF = new ParamStore();
    const tN = new RegNetTrunk(spec, sN);
    const tF = new RegNetTrunk(spec, sF, { fallback: true });
    tN.init(3);
    tF.init(3);
    const x = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 11) as tf.Tensor4D;
    const yN = tN.forward(x, true);
    const yF = tF.forward(x, true);
    expect(yN.shape).toEqual([3, spec.outWidth]);
    expect(maxAbsDiff(yN, yF)).toBeLessThan(1e-4);
    const rm = 'trunk.s1.b1.b.bn.running_mean';
    expect(maxAbsDiff(sN.get(rm), sF.get(rm))).toBeLessThan(1e-5);
    expect(maxAbsDiff(sN.get(rm), tf.zeros([16]))).toBeGreaterThan(0);
    expect(maxAbsDiff(tN.forward(x, false), tF.forward(x, false))).toBeLessThan(1e-4);
    sN.dispose();
    sF.dispose();
  });

  it('stageFeatures gives one map per stage at the spec widths; the last one pooled equals forward', () => {
    const spec = regnetSpec(Y_200MF);
    const store = new ParamStore();
    const trunk = new RegNetTrunk(spec, store);
    trunk.init(5);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const maps = trunk.stageFeatures(x, false);
    expect(maps.map((m) => m.shape)).toEqual([
      [2, 8, 8, 24],
      [2, 4, 4, 56],
      [2, 2, 2, 152],
      [2, 1, 1, 368],
    ]);
    const pooled = tf.mean(maps[3] as tf.Tensor4D, [1, 2]);
    expect(maxAbsDiff(pooled, trunk.forward(x, false))).toBeLessThan(1e-6);
    store.dispose();
  });

  it('SwAV model: head + prototypes counted, features unit length, prototypes normalised', () => {
    const spec = regnetSpec(W_TINY);
    const m = new SwavModel(spec, { hiddenDims: [24], headBatchNorm: true, featureDim: 8, prototypes: 10 });
    m.init(1);
    const head = spec.outWidth * 24 + 24 + 2 * 24 + 24 * 8 + 8;
    expect(m.trainableParamCount()).toBe(regnetComplexity(spec).params + head + 10 * 8);
    const z = m.project(tf.randomNormal([5, spec.outWidth], 0, 1, 'float32', 2) as tf.Tensor2D, true);
    const norms = tf.norm(z, 'euclidean', 1).dataSync();
    for (const n of norms) expect(n).toBeCloseTo(1, 5);
    for (const n of tf.norm(m.prototypes, 'euclidean', 1).dataSync()) expect(n).toBeCloseTo(1, 5);
    const noBn = new SwavModel(spec, { hiddenDims: [24, 24], headBatchNorm: false, featureDim: 8, prototypes: 10 });
    expect(noBn.store.entries().some((e) => e.name.startsWith('head.') && e.role === 'bn-gamma')).toBe(false);
    m.dispose();
    noBn.dispose();
  });
});
