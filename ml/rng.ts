/**
 * Deterministic, serialisable random numbers for everything that must replay exactly: data order, crop
 * parameters, weight init. xoshiro128** (32-bit state words, fast in JS) seeded through splitmix32, with
 * keyed streams so (seed, epoch, sampleIndex) always yields the same sequence no matter what ran before.
 */

/** One splitmix32 step: a good 32-bit mixer used to expand seeds and keys into state words. */
export function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Hash a list of integers (each taken modulo 2^32, plus its high part for values >= 2^32) into 32 bits. */
export function hashInts(values: readonly number[]): number {
  let h = 0x243f6a88;
  for (const v of values) {
    if (!Number.isFinite(v)) throw new RangeError(`cannot hash non-finite value ${v}`);
    const lo = v >>> 0;
    const hi = Math.floor(v / 4294967296) >>> 0;
    h = splitmix32(h ^ lo);
    h = splitmix32(h ^ hi ^ 0x5bd1e995);
  }
  return h;
}

export type RngState = readonly [number, number, number, number];

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(state: RngState) {
    [this.s0, this.s1, this.s2, this.s3] = state.map((v) => v >>> 0) as [number, number, number, number];
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** A stream determined only by the given integers, e.g. `Rng.keyed(seed, epoch, index)`. */
  static keyed(...key: number[]): Rng {
    let h = hashInts(key);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      h = splitmix32(h + i);
      words.push(h);
    }
    return new Rng(words as unknown as RngState);
  }

  static fromState(state: RngState): Rng {
    if (state.length !== 4) throw new RangeError('RngState needs 4 words');
    return new Rng(state);
  }

  state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** Next uniformly distributed unsigned 32-bit integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform double in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new RangeError(`int(n) needs 1 <= n <= 2^32, got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal sample (Box-Muller; one value per call for simple replay accounting). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A seeded permutation of 0..n-1, e.g. the sample order of one epoch. */
export function permutation(n: number, ...key: number[]): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rng = Rng.keyed(...key);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = out[i] as number;
    out[i] = out[j] as number;
    out[j] = tmp;
  }
  return out;
}
