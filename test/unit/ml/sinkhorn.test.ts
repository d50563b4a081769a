import { Rng } from '../../../ml/rng';
import { sinkhornKnopp, sinkhornKnopp64, sinkhornKnoppWithQueue } from '../../../ml/sinkhorn';
import { expectAllClose, loadFixture } from './fixture-helpers';

interface SinkhornCase {
  name: string;
  B: number;
  K: number;
  epsilon: number;
  iterations: number;
  scores: number[];
  codes: number[];
  queueRows?: number;
  queue?: number[];
}
const { cases } = loadFixture<{ cases: SinkhornCase[] }>('sinkhorn.json');

// Tolerances against the float64 NumPy fixture (literal SwAV algorithm, no stabilisation):
// - float64 path: same maths reordered (scaling vectors, max subtraction): rtol 1e-9.
// - float32 path: the kernel and the output are stored in float32 (eps 6e-8 relative per entry): rtol 1e-5, plus
//   atol 1e-7 for entries near float32 underflow/subnormal range where relative precision is meaningless.
const TOL64 = { rtol: 1e-9, atol: 1e-300 };
const TOL32 = { rtol: 1e-5, atol: 1e-7 };

/** Cosine scores of random unit features vs random unit prototypes, as in SwAV. */
function cosineScores(rng: Rng, B: number, K: number, d = 16): Float32Array {
  const unit = (n: number): Float64Array[] =>
    Array.from({ length: n }, () => {
      const v = Float64Array.from({ length: d }, () => rng.normal());
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    });
  const z = unit(B);
  const w = unit(K);
  const out = new Float32Array(B * K);
  for (let n = 0; n < B; n++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += (z[n] as Float64Array)[i]! * (w[k] as Float64Array)[i]!;
      out[n * K + k] = s;
    }
  }
  return out;
}

function rowSums(q: ArrayLike<number>, B: number, K: number): number[] {
  return Array.from({ length: B }, (_, n) => {
    let s = 0;
    for (let k = 0; k < K; k++) s += q[n * K + k] as number;
    return s;
  });
}

function colSums(q: ArrayLike<number>, B: number, K: number): number[] {
  const c = new Array<number>(K).fill(0);
  for (let n = 0; n < B; n++) for (let k = 0; k < K; k++) c[k]! += q[n * K + k] as number;
  return c;
}

describe('sinkhornKnopp vs the NumPy float64 reference (test/fixtures/ml/sinkhorn.json)', () => {
  it.each(cases.filter((c) => !c.queue).map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const scores32 = Float32Array.from(c.scores);
    const opts = { epsilon: c.epsilon, iterations: c.iterations };
    expectAllClose(sinkhornKnopp64(Float64Array.from(scores32), c.B, c.K, opts), c.codes, TOL64, 'float64');
    expectAllClose(sinkhornKnopp(scores32, c.B, c.K, opts), c.codes, TOL32, 'float32');
  });

  it.each(cases.filter((c) => c.queue).map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const codes = sinkhornKnoppWithQueue(Float32Array.from(c.queue!), Float32Array.from(c.scores), c.B, c.K, {
      epsilon: c.epsilon,
      iterations: c.iterations,
    });
    expect(codes).toHaveLength(c.B * c.K);
    expectAllClose(codes, c.codes, TOL32, 'queue');
  });
});

describe('reference test vector (reference §1, 6 decimals)', () => {
  const s0 = Float32Array.from([0.9, 0.1, -0.2, 0.3, 0.2, 0.8, 0.1, -0.5, 0.85, 0.05, 0.4, 0.0]);
  it('3 iterations', () => {
    const q = sinkhornKnopp(s0, 3, 4, { epsilon: 0.05, iterations: 3 });
    const want = [0.381997, 0, 0.000002, 0.618001, 0.000001, 0.99586, 0.004138, 0, 0.277697, 0, 0.719276, 0.003027];
    expectAllClose(q, want, { rtol: 0, atol: 1e-6 }, 's0 n=3');
  });
  it('10 iterations', () => {
    const q = sinkhornKnopp(s0, 3, 4, { epsilon: 0.05, iterations: 10 });
    const want = [
      0.335746, 0, 0.000001, 0.664253, 0.000021, 0.955266, 0.044707, 0.000006, 0.341552, 0, 0.653895, 0.004553,
    ];
    expectAllClose(q, want, { rtol: 0, atol: 1e-6 }, 's0 n=10');
  });
});

describe('float32 numerical safety', () => {
  const shapes: [number, number][] = [
    [1, 1],
    [1, 50],
    [50, 1],
    [7, 300],
    [256, 64],
  ];
  for (const eps of [0.05, 0.03, 0.02, 0.01, 0.005]) {
    it(`eps=${eps}: finite codes, rows sum to 1, for B x K in ${JSON.stringify(shapes)}`, () => {
      const rng = Rng.keyed(42, Math.round(eps * 1000));
      for (const [B, K] of shapes) {
        const q = sinkhornKnopp(cosineScores(rng, B, K), B, K, { epsilon: eps, iterations: 10 });
        // one expect per matrix: per-element expects dominate the run time
        expect(q.every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
        expect(Math.max(...rowSums(q, B, K).map((r) => Math.abs(r - 1)))).toBeLessThan(1e-5);
      }
    });
  }

  it('survives scores far outside [-1, 1] (unnormalised features) where a plain exp would overflow', () => {
    const B = 32;
    const K = 16;
    const rng = Rng.keyed(9);
    const s = cosineScores(rng, B, K).map((x) => x * 40);
    const q = sinkhornKnopp(s, B, K, { epsilon: 0.05, iterations: 3 });
    expect(q.every((x) => Number.isFinite(x))).toBe(true);
    expect(Math.max(...rowSums(q, B, K).map((r) => Math.abs(r - 1)))).toBeLessThan(1e-5);
    // exp(40 / 0.05) overflows even in float64: the literal algorithm would produce NaN here.
    expect(Math.exp(40 / 0.05)).toBe(Infinity);
  });

  it('float32 and float64 paths agree at a low epsilon (0.02) on a larger problem', () => {
    const B = 128;
    const K = 96;
    const s = cosineScores(Rng.keyed(5), B, K);
    const opts = { epsilon: 0.02, iterations: 10 };
    expectAllClose(
      sinkhornKnopp(s, B, K, opts),
      sinkhornKnopp64(Float64Array.from(s), B, K, opts),
      TOL32,
      'f32 vs f64',
    );
  });
});

describe('Sinkhorn invariants', () => {
  it('prototype marginals approach B/K as iterations grow', () => {
    const B = 64;
    const K = 30;
    const s = cosineScores(Rng.keyed(77), B, K);
    const gap = (n: number): number =>
      Math.max(
        ...colSums(sinkhornKnopp64(Float64Array.from(s), B, K, { epsilon: 0.05, iterations: n }), B, K).map((c) =>
          Math.abs(c - B / K),
        ),
      );
    expect(gap(30)).toBeLessThan(gap(3));
    expect(gap(200)).toBeLessThan(1e-6);
  });

  it('is invariant to a per-prototype score shift (absorbed by the first row step), not to a per-sample one', () => {
    const B = 12;
    const K = 9;
    const s = Float64Array.from(cosineScores(Rng.keyed(3), B, K));
    const opts = { epsilon: 0.05, iterations: 5 };
    const base = sinkhornKnopp64(s, B, K, opts);
    const protoShift = s.map((x, i) => x + 0.3 * ((i % K) / K));
    const sampleShift = s.map((x, i) => x - 0.2 * (Math.floor(i / K) / B));
    expectAllClose(sinkhornKnopp64(protoShift, B, K, opts), base, { rtol: 1e-9, atol: 1e-15 }, 'prototype shift');
    const diff = sinkhornKnopp64(sampleShift, B, K, opts).reduce((m, x, i) => Math.max(m, Math.abs(x - base[i]!)), 0);
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('the queue variant equals running on the concatenation and keeping the last rows', () => {
    const K = 10;
    const rng = Rng.keyed(8);
    const queue = cosineScores(rng, 20, K);
    const batch = cosineScores(rng, 6, K);
    const all = new Float32Array(26 * K);
    all.set(queue);
    all.set(batch, queue.length);
    const opts = { epsilon: 0.05, iterations: 3 };
    expect(Array.from(sinkhornKnoppWithQueue(queue, batch, 6, K, opts))).toEqual(
      Array.from(sinkhornKnopp(all, 26, K, opts).subarray(20 * K)),
    );
  });
});

describe('Sinkhorn input validation', () => {
  const s = new Float32Array(6);
  it.each([
    [() => sinkhornKnopp(s, 2, 4, { epsilon: 0.05, iterations: 3 }), /expected B\*K/],
    [() => sinkhornKnopp(s, 2, 3, { epsilon: 0, iterations: 3 }), /epsilon/],
    [() => sinkhornKnopp(s, 2, 3, { epsilon: 0.05, iterations: 0 }), /iterations/],
    [() => sinkhornKnopp(s, 0, 3, { epsilon: 0.05, iterations: 1 }), /B must/],
    [() => sinkhornKnopp(Float32Array.of(0, Number.NaN, 0, 0, 0, 0), 2, 3, { epsilon: 0.05, iterations: 1 }), /NaN/],
    [() => sinkhornKnoppWithQueue(new Float32Array(5), s, 2, 3, { epsilon: 0.05, iterations: 1 }), /multiple of K/],
  ])('throws RangeError %#', (fn, msg) => {
    expect(fn).toThrow(RangeError);
    expect(fn).toThrow(msg);
  });
});
