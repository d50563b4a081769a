import { Rng, hashInts, permutation } from '../../../ml/rng';

describe('Rng', () => {
  it('replays the same keyed stream and differs across keys', () => {
    const a = Rng.keyed(7, 1, 42);
    const b = Rng.keyed(7, 1, 42);
    const c = Rng.keyed(7, 2, 42);
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(sa);
  });

  it('resumes exactly from a saved state', () => {
    const r = Rng.keyed(3);
    for (let i = 0; i < 100; i++) r.next();
    const saved = r.state();
    const expected = [r.next(), r.next(), r.next()];
    const resumed = Rng.fromState(saved);
    expect([resumed.next(), resumed.next(), resumed.next()]).toEqual(expected);
  });

  it('produces uniform doubles in [0,1) with the right mean and variance', () => {
    const r = Rng.keyed(11);
    const n = 200_000;
    let sum = 0;
    let sumSq = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = r.next();
      min = Math.min(min, x);
      max = Math.max(max, x);
      sum += x;
      sumSq += x * x;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    const mean = sum / n;
    const variance = sumSq / n - mean * mean;
    // standard error of the mean is sqrt(1/12/n) ~ 6.5e-4; 5 sigma bounds
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.002);
  });

  it('int(n) is unbiased over small ranges', () => {
    const r = Rng.keyed(5);
    const counts = new Array<number>(6).fill(0);
    const n = 60_000;
    for (let i = 0; i < n; i++) counts[r.int(6)]! += 1;
    for (const c of counts) expect(Math.abs(c - n / 6)).toBeLessThan(5 * Math.sqrt(n * (1 / 6) * (5 / 6)));
  });

  it('permutation is a seeded bijection', () => {
    const p = permutation(1000, 1, 0);
    expect(new Set(p).size).toBe(1000);
    expect(Array.from(permutation(1000, 1, 0))).toEqual(Array.from(p));
    expect(Array.from(permutation(1000, 1, 1))).not.toEqual(Array.from(p));
  });

  it('hashInts separates values that differ only above 2^32', () => {
    expect(hashInts([1])).not.toBe(hashInts([1 + 4294967296]));
    expect(() => hashInts([Number.NaN])).toThrow(RangeError);
  });
});
