import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../engine/backend';
import { LarsOptimizer } from '../../../engine/lars';
import { ParamStore } from '../../../engine/params';
import { larsStep, type LarsParam } from '../../../ml/lars';
import { Rng } from '../../../ml/rng';
import { maxAbsDiff } from './helpers';

beforeAll(() => {
  initBackend();
});

function rand(n: number, rng: Rng, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

describe('engine LARS agrees with ml/lars', () => {
  // large: tensors with >= this many elements take the per-tensor path, the rest the fused flat path.
  it.each([
    { trust: 0.001, wd: 1e-6, large: 8192 },
    { trust: 0.001, wd: 1e-4, large: 20 },
    { trust: 0.001, wd: 1e-4, large: 1 },
    { trust: 0, wd: 1e-4, large: 20 },
  ])('over 4 steps with momentum, a zero parameter and a frozen one: %o', ({ trust, wd, large }) => {
    const rng = Rng.keyed(5);
    const shapes = [[3, 3, 2, 4], [4], [6, 5], [5], [7, 3]];
    const store = new ParamStore();
    const ref: LarsParam[] = [];
    shapes.forEach((shape, i) => {
      const v = store.add(`p${i}`, i === 4 ? 'prototypes' : 'conv', shape);
      const n = shape.reduce((a, b) => a * b, 1);
      const init = i === 1 ? new Float32Array(n) : rand(n, rng); // p1 = 0: the skip rule (no decay) applies
      v.assign(tf.tensor(init, shape));
      ref.push({ value: init.slice(), grad: null });
    });
    const opt = new LarsOptimizer(store.trainable(), {
      momentum: 0.9,
      weightDecay: wd,
      trustCoefficient: trust,
      largeTensor: large,
    });
    const lrs = [0.5, 0.3, 2.0, 0.1];
    lrs.forEach((lr, step) => {
      const grads: Record<string, tf.Tensor> = {};
      shapes.forEach((shape, i) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const g = rand(n, rng, 0.01 * (i + 1));
        const frozen = i === 4 && step < 2;
        if (!frozen) grads[`p${i}`] = tf.tensor(g, shape);
        (ref[i] as LarsParam).grad = frozen ? null : g;
      });
      opt.step(grads, lr);
      larsStep(ref, { lr, momentum: 0.9, weightDecay: wd, trustCoefficient: trust });
      tf.dispose(Object.values(grads));
      shapes.forEach((_, i) => {
        const r = ref[i] as LarsParam;
        const v = store.get(`p${i}`).dataSync() as Float32Array;
        const tol = 1e-6 * Math.max(1, ...Array.from(r.value, Math.abs));
        expect(maxAbsDiff(v, r.value)).toBeLessThanOrEqual(tol);
        if (r.momentum) {
          const m = opt.exportMomentum()[i] as Float32Array;
          expect(maxAbsDiff(m, r.momentum)).toBeLessThanOrEqual(
            1e-6 * Math.max(1, ...Array.from(r.momentum, Math.abs)),
          );
        }
      });
    });
    // The frozen parameter's momentum stayed zero while frozen and the step changed it afterwards.
    expect(ref[4]!.momentum).toBeDefined();
    opt.dispose();
    store.dispose();
  });

  it.each([8192, 1])('leaves parameters without a gradient untouched and leaks no tensors (large >= %i)', (large) => {
    const store = new ParamStore();
    const a = store.add('a', 'conv', [4, 4]);
    const b = store.add('b', 'conv', [4]);
    a.assign(tf.ones([4, 4]));
    b.assign(tf.ones([4]));
    const opt = new LarsOptimizer(store.trainable(), { weightDecay: 1e-4, largeTensor: large });
    const g = { a: tf.fill([4, 4], 0.1) };
    opt.step(g, 1);
    const n = tf.memory().numTensors;
    opt.step(g, 1);
    expect(tf.memory().numTensors).toBe(n);
    expect(Array.from(b.dataSync())).toEqual([1, 1, 1, 1]);
    expect(a.dataSync()[0]).toBeLessThan(1);
    tf.dispose(Object.values(g));
    opt.dispose();
    store.dispose();
  });
});
