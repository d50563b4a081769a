import { larsStep, type LarsParam } from '../../../ml/lars';
import { expectAllClose, loadFixture } from './fixture-helpers';

interface LarcStep {
  lr: number;
  weightDecay: number;
  before: number[][];
  grads: (number[] | null)[];
  after: number[][];
  momentum: number[][];
}
const { larc, sgd } = loadFixture<{ larc: LarcStep[]; sgd: LarcStep[] }>('optim.json');

// The fixture is computed op by op in NumPy float32 (the PyTorch order); the TS reference rounds each op with
// Math.fround. The float64 norms and the order of the norm sums can flip the last bit: rtol 1e-6 (~8 ulps).
const TOL = { rtol: 1e-6, atol: 1e-12 };

describe('larsStep vs NumPy float32 apex-LARC + torch SGD (test/fixtures/ml/optim.json)', () => {
  it('three steps: regular, |p| = 0 (no weight decay), |g| = 0, and a frozen parameter', () => {
    const first = larc[0]!;
    const params: LarsParam[] = first.before.map((p) => ({ value: Float32Array.from(p), grad: null }));
    larc.forEach((step, s) => {
      params.forEach((p, i) => {
        const g = step.grads[i];
        p.grad = g ? Float32Array.from(g) : null;
      });
      const reports = larsStep(params, { lr: step.lr, weightDecay: step.weightDecay });
      params.forEach((p, i) => {
        expectAllClose(p.value, step.after[i]!, TOL, `step ${s} param ${i}`);
        if (p.momentum) expectAllClose(p.momentum, step.momentum[i]!, TOL, `step ${s} momentum ${i}`);
        else expect(step.momentum[i]!.every((x) => x === 0)).toBe(true);
      });
      expect(reports[1]!.skipped).toBe(s < 2); // frozen (null gradient) for two steps
      if (s === 0) {
        // param 2 starts at 0: skip rule, the raw gradient (no LARC factor, no weight decay) moves it
        expect(reports[2]!.paramNorm).toBe(0);
        expect(reports[2]!.adaptiveLr).toBe(1);
      }
      if (s === 1) expect(reports[3]!.gradNorm).toBe(0); // |g| = 0: skip rule again
    });
  });
});

describe('larsStep with trust coefficient 0 vs NumPy float32 SGD + coupled weight decay (optim.json `sgd`)', () => {
  it('three steps: weight decay applies even to a zero tensor and with a zero gradient', () => {
    const params: LarsParam[] = sgd[0]!.before.map((p) => ({ value: Float32Array.from(p), grad: null }));
    sgd.forEach((step, s) => {
      params.forEach((p, i) => (p.grad = Float32Array.from(step.grads[i]!)));
      larsStep(params, { lr: step.lr, weightDecay: step.weightDecay, trustCoefficient: 0 });
      params.forEach((p, i) => {
        expectAllClose(p.value, step.after[i]!, TOL, `step ${s} param ${i}`);
        expectAllClose(p.momentum!, step.momentum[i]!, TOL, `step ${s} momentum ${i}`);
      });
    });
  });
});

describe('larsStep semantics', () => {
  it('lambda = eta |p| / (|g| + wd |p| + eps) scales (g + wd p); momentum buffer accumulates', () => {
    const p: LarsParam = { value: Float32Array.of(3, 4), grad: Float32Array.of(0, 0.5) };
    const [r] = larsStep([p], { lr: 1, weightDecay: 0.1, momentum: 0.9 });
    const lambda = (0.001 * 5) / (0.5 + 0.1 * 5 + 1e-8);
    expect(r!.adaptiveLr).toBeCloseTo(lambda, 7);
    const g = [Math.fround(0.3 * lambda), Math.fround(0.9 * lambda)];
    expectAllClose(p.value, [3 - g[0]!, 4 - g[1]!], { rtol: 1e-6, atol: 0 }, 'after step 1');
    p.grad = Float32Array.of(0, 0);
    larsStep([p], { lr: 1, weightDecay: 0.1, momentum: 0.9 });
    // |g| = 0: gradient kept as is (zero, no weight decay); the update is momentum only
    expectAllClose(p.momentum!, [0.9 * g[0]!, 0.9 * g[1]!], { rtol: 1e-6, atol: 0 }, 'momentum');
  });

  it('skips frozen parameters entirely (values and momentum untouched)', () => {
    const p: LarsParam = {
      value: Float32Array.of(1, 2),
      grad: Float32Array.of(1, 1),
      frozen: true,
      momentum: Float32Array.of(5, 5),
    };
    const [r] = larsStep([p], { lr: 1, weightDecay: 1e-4 });
    expect(r!.skipped).toBe(true);
    expect(Array.from(p.value)).toEqual([1, 2]);
    expect(Array.from(p.momentum!)).toEqual([5, 5]);
  });

  it('trustCoefficient 0 is plain SGD with coupled weight decay; clip caps the rate at lr', () => {
    const p: LarsParam = { value: Float32Array.of(2), grad: Float32Array.of(0.5) };
    larsStep([p], { lr: 0.1, weightDecay: 0.01, trustCoefficient: 0 });
    expect(p.value[0]).toBeCloseTo(2 - 0.1 * (0.5 + 0.01 * 2), 6);
    const q: LarsParam = { value: Float32Array.of(1000), grad: Float32Array.of(1e-6) };
    const [r] = larsStep([q], { lr: 0.1, weightDecay: 0, clip: true });
    expect(r!.adaptiveLr).toBe(1); // lambda / lr would be 1e4: clipped to 1
  });

  it('validates hyperparameters and lengths', () => {
    expect(() => larsStep([], { lr: -1, weightDecay: 0 })).toThrow(/lr/);
    expect(() =>
      larsStep([{ value: new Float32Array(2), grad: new Float32Array(3) }], { lr: 1, weightDecay: 0 }),
    ).toThrow(/gradient/);
  });
});
