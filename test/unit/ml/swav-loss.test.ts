import { sinkhornKnopp } from '../../../ml/sinkhorn';
import { swavLoss } from '../../../ml/swav-loss';
import { expectAllClose, loadFixture } from './fixture-helpers';

interface LossCase {
  name: string;
  B: number;
  K: number;
  temperature: number;
  epsilon: number;
  iterations: number;
  cropsForAssign: number[];
  crops: number[][];
  loss: number;
  codes: number[][];
  gradients: number[][];
  queues?: (number[] | null)[];
}
const { cases } = loadFixture<{ cases: LossCase[] }>('swav-loss.json');

// Against the float64 NumPy fixture: codes come from the float32 Sinkhorn path (rtol 1e-5, atol 1e-7, see
// sinkhorn.test.ts); the loss and gradients are float64 reductions over those codes, so they inherit about the
// same relative error: loss rtol 1e-6, gradients rtol 1e-5 / atol 1e-8.
const TOL_CODES = { rtol: 1e-5, atol: 1e-7 };
const TOL_GRAD = { rtol: 1e-5, atol: 1e-8 };

function run(c: LossCase, gradients = true) {
  return swavLoss(
    c.crops.map((x) => Float32Array.from(x)),
    c.B,
    c.K,
    {
      temperature: c.temperature,
      epsilon: c.epsilon,
      iterations: c.iterations,
      cropsForAssign: c.cropsForAssign,
      queueScores: c.queues?.map((q) => (q ? Float32Array.from(q) : undefined)),
      gradients,
    },
  );
}

describe('swavLoss vs the NumPy float64 reference (test/fixtures/ml/swav-loss.json)', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const r = run(c);
    expect(Math.abs(r.loss - c.loss)).toBeLessThanOrEqual(1e-6 * Math.abs(c.loss));
    expect(r.codes).toHaveLength(c.cropsForAssign.length);
    r.codes.forEach((q, i) => expectAllClose(q, c.codes[i]!, TOL_CODES, `codes ${i}`));
    expect(r.gradients).toHaveLength(c.crops.length);
    r.gradients!.forEach((g, v) => expectAllClose(g, c.gradients[v]!, TOL_GRAD, `grad crop ${v}`));
  });
});

describe('reference golden value', () => {
  it('L = 2.633831 for s0/s1, tau 0.1, eps 0.05, 3 iterations (reference §2)', () => {
    const s0 = Float32Array.from([0.9, 0.1, -0.2, 0.3, 0.2, 0.8, 0.1, -0.5, 0.85, 0.05, 0.4, 0.0]);
    const s1 = Float32Array.from([0.7, 0.2, 0, 0.1, 0.1, 0.9, -0.1, 0.2, 0.6, 0.3, 0.5, -0.2]);
    const { loss } = swavLoss([s0, s1], 3, 4, {
      temperature: 0.1,
      epsilon: 0.05,
      iterations: 3,
      cropsForAssign: [0, 1],
    });
    expect(loss.toFixed(6)).toBe('2.633831');
  });
});

describe('swavLoss structure', () => {
  const c = cases.find((x) => x.name.startsWith('2+4 crops')) as LossCase;

  it('codes are the Sinkhorn codes of the assigned crops, unchanged by the other crops', () => {
    const r = run(c, false);
    const q0 = sinkhornKnopp(Float32Array.from(c.crops[0]!), c.B, c.K, {
      epsilon: c.epsilon,
      iterations: c.iterations,
    });
    expect(Array.from(r.codes[0]!)).toEqual(Array.from(q0));
    expect(r.gradients).toBeUndefined();
  });

  it('averages over the V-1 predicting crops: four identical crops give the same loss as two', () => {
    // With crops [x, x] the loss is the cross-entropy of q(x) against softmax(x / tau), for any batch size.
    const x = Float32Array.from(c.crops[0]!);
    const single = swavLoss([x, x], c.B, c.K, {
      temperature: 0.1,
      epsilon: 0.05,
      iterations: 3,
      cropsForAssign: [0, 1],
    });
    const many = swavLoss([x, x, x, x], c.B, c.K, {
      temperature: 0.1,
      epsilon: 0.05,
      iterations: 3,
      cropsForAssign: [0, 1],
    });
    expect(many.loss).toBeCloseTo(single.loss, 10);
  });

  it('gradients match central finite differences on a crop that produces no codes', () => {
    const small = cases.find((x) => x.name.startsWith('3 crops')) as LossCase;
    const crops = small.crops.map((x) => Float64Array.from(x));
    const opts = {
      temperature: small.temperature,
      epsilon: small.epsilon,
      iterations: small.iterations,
      cropsForAssign: small.cropsForAssign,
    };
    const f32 = (cs: Float64Array[]) => cs.map((x) => Float32Array.from(x));
    const g = swavLoss(f32(crops), small.B, small.K, { ...opts, gradients: true }).gradients!;
    const v = 0; // crop 0 is not in cropsForAssign ([2]), so its scores do not move the codes
    const h = 1e-3;
    for (const idx of [0, 7, 33, 100, small.B * small.K - 1]) {
      const plus = crops.map((x) => x.slice());
      const minus = crops.map((x) => x.slice());
      // the inputs are float32: divide by the step actually taken after rounding, not by 2h
      plus[v]![idx] = Math.fround(plus[v]![idx]! + h);
      minus[v]![idx] = Math.fround(minus[v]![idx]! - h);
      const step = plus[v]![idx]! - minus[v]![idx]!;
      const fd =
        (swavLoss(f32(plus), small.B, small.K, opts).loss - swavLoss(f32(minus), small.B, small.K, opts).loss) / step;
      const an = g[v]![idx]!;
      expect(Math.abs(fd - an)).toBeLessThan(1e-3 * Math.abs(an) + 1e-7);
    }
  });

  it('rejects bad shapes and options', () => {
    const s = new Float32Array(6);
    const o = { temperature: 0.1, epsilon: 0.05, iterations: 3, cropsForAssign: [0, 1] };
    expect(() => swavLoss([s], 2, 3, o)).toThrow(/at least 2 crops/);
    expect(() => swavLoss([s, new Float32Array(5)], 2, 3, o)).toThrow(/crop 1 has 5 scores/);
    expect(() => swavLoss([s, s], 2, 3, { ...o, cropsForAssign: [2] })).toThrow(/cropsForAssign entry 2/);
    expect(() => swavLoss([s, s], 2, 3, { ...o, cropsForAssign: [0, 0] })).toThrow(/twice/);
    expect(() => swavLoss([s, s], 2, 3, { ...o, temperature: 0 })).toThrow(/temperature/);
    expect(() => swavLoss([s, s], 2, 3, { ...o, queueScores: [undefined] })).toThrow(/queueScores/);
  });
});
