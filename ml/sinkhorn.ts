/**
 * Sinkhorn-Knopp soft assignment of samples to prototypes (SwAV `distributed_sinkhorn`, single process).
 *
 * Reference algorithm, with Q = exp(scores / eps)^T (K x B, prototypes are rows):
 *   Q /= sum(Q); repeat n: Q /= K * rowsum(Q); Q /= B * colsum(Q); return (B * Q)^T
 * Every step multiplies Q by a diagonal matrix, so Q = Diag(a) E Diag(b) for a fixed kernel E. This file keeps
 * E once and iterates only on the scaling vectors a (K) and b (B), in float64: one pass over E per iteration
 * instead of rewriting the matrix twice, and the vectors cannot overflow or underflow in the range that matters.
 *
 * Stability: E_nk = exp((s_nk - m_k - c_n) / eps) with m_k the max over samples of prototype k and
 * c_n = max_k (s_nk - m_k). Then every entry is <= 1 and every row and column of E holds an exact 1, so no row or
 * column sum is ever 0 and no entry overflows, whatever eps. The per-prototype factor exp(m_k/eps) is removed by
 * the first row normalisation; the per-sample factor exp(c_n/eps) is carried into the starting b, so the iterates
 * equal the reference's in exact arithmetic. The float32 path first tries SwAV's own kernel exp(s/eps) with a fast,
 * float32-accurate exp (one pass instead of three, no Math.exp) and keeps it when all its row and column sums are
 * in a safe range, which cosine scores always are; otherwise it falls back to the stabilised kernel.
 */

/** Options of the Sinkhorn-Knopp iteration. */
export interface SinkhornOptions {
  /** Entropic regularisation eps (SwAV 0.05, SEER 10B 0.03). Must be > 0. */
  epsilon: number;
  /** Number of (row, column) normalisation rounds (SwAV 3, SEER 10). Must be >= 1. */
  iterations: number;
}

type FloatArray = Float32Array | Float64Array;

function validate(name: string, scores: FloatArray, B: number, K: number, opts: SinkhornOptions): void {
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`${name}: B must be a positive integer, got ${B}`);
  if (!Number.isInteger(K) || K < 1) throw new RangeError(`${name}: K must be a positive integer, got ${K}`);
  if (scores.length !== B * K) {
    throw new RangeError(`${name}: scores has ${scores.length} entries, expected B*K = ${B * K}`);
  }
  if (!(opts.epsilon > 0) || !Number.isFinite(opts.epsilon)) {
    throw new RangeError(`${name}: epsilon must be a finite number > 0, got ${opts.epsilon}`);
  }
  if (!Number.isInteger(opts.iterations) || opts.iterations < 1) {
    throw new RangeError(`${name}: iterations must be an integer >= 1, got ${opts.iterations}`);
  }
}

/** Row and column sums of the unstabilised kernel exp(s/eps) must lie in this range for it to be used. */
const DIRECT_SUM_MIN = 1e-17;
const DIRECT_SUM_MAX = 1e30;
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;
const POW2_BIAS = 1100;
/** 2^n for n in [-1100, 1100] (0 and Infinity at the ends, as Math.pow gives). */
const POW2 = Float64Array.from({ length: 2 * POW2_BIAS + 1 }, (_, i) => 2 ** (i - POW2_BIAS));

/**
 * e^x to ~2e-10 relative error (far below float32's 6e-8), several times faster than Math.exp in V8: x = n ln2 + r
 * with |r| <= ln2/2, e^r by its Taylor series to degree 8, 2^n from a table. Out-of-table n gives NaN, which the
 * direct kernel's range check rejects.
 */
function expFloat32Accurate(x: number): number {
  const n = Math.floor(x * Math.LOG2E + 0.5);
  const r = x - n * LN2_HI - n * LN2_LO;
  const p =
    1 + r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040 + r / 40320)))))));
  return p * (POW2[n + POW2_BIAS] as number);
}

/**
 * Float32 fast path: SwAV's own kernel E = exp(s / eps) in one pass, with b = 1 and the first prototype sums.
 * Used when every row and column sum lies in [1e-17, 1e30] (cosine scores with SwAV's or SEER's epsilon always
 * do): nothing overflows and every entry that underflows is negligible against its row and column. Equals the
 * stabilised kernel's iterates in exact arithmetic. Returns false (the caller falls back) otherwise, NaN included.
 */
function directKernel(
  scores: FloatArray,
  B: number,
  K: number,
  invEps: number,
  kernel: Float32Array,
  rowAcc: Float64Array,
): boolean {
  for (let n = 0; n < B; n++) {
    const off = n * K;
    let rowSum = 0;
    for (let k = 0; k < K; k++) {
      kernel[off + k] = expFloat32Accurate((scores[off + k] as number) * invEps);
      const v = kernel[off + k] as number; // the stored (rounded) value, as the stabilised path sums
      rowSum += v;
      rowAcc[k] = (rowAcc[k] as number) + v;
    }
    if (!(rowSum >= DIRECT_SUM_MIN && rowSum <= DIRECT_SUM_MAX)) return false;
  }
  for (let k = 0; k < K; k++) {
    const v = rowAcc[k] as number;
    if (!(v >= DIRECT_SUM_MIN && v <= DIRECT_SUM_MAX)) return false;
  }
  return true;
}

/**
 * Shared kernel. `kernel` is scratch storage of the same precision as the result; the output overwrites it.
 * `outRows` > 0 returns only the last `outRows` samples (queue rows are prepended by the caller).
 */
function sinkhornCore<T extends FloatArray>(
  scores: FloatArray,
  B: number,
  K: number,
  opts: SinkhornOptions,
  kernel: T,
  outRows: number,
): T {
  const invEps = 1 / opts.epsilon;
  const rowAcc = new Float64Array(K);
  if (!(kernel instanceof Float32Array && directKernel(scores, B, K, invEps, kernel, rowAcc))) {
    rowAcc.fill(0);
    stabilisedKernel(scores, B, K, invEps, kernel, rowAcc);
  }
  return sinkhornIterate(B, K, opts.iterations, kernel, rowAcc, outRows);
}

/**
 * E_nk = exp((s_nk - m_k - c_n) / eps) and the prototype sums weighted by the starting b_n = exp(c_n / eps), for
 * any finite scores (see the file comment).
 */
function stabilisedKernel(
  scores: FloatArray,
  B: number,
  K: number,
  invEps: number,
  kernel: FloatArray,
  rowAcc: Float64Array,
): void {
  // m_k: per-prototype max over samples (NaN in the scores is rejected: it would poison every code).
  const colMax = new Float64Array(K).fill(-Infinity);
  for (let n = 0; n < B; n++) {
    const off = n * K;
    for (let k = 0; k < K; k++) {
      const s = scores[off + k] as number;
      if (s > (colMax[k] as number)) colMax[k] = s;
      else if (s !== s || s === Infinity) throw new RangeError(`sinkhorn: score [${n}, ${k}] is ${s}`);
    }
  }
  for (let k = 0; k < K; k++) {
    if (!Number.isFinite(colMax[k] as number)) throw new RangeError(`sinkhorn: prototype ${k} has non-finite scores`);
  }

  // E and the starting column scaling b_n = exp(c_n / eps), c_n <= 0, fused with the b-weighted prototype (row)
  // sums that the first row normalisation needs; the sample's row of E is still in cache. Only these sums carry
  // b forward, so b itself is never stored.
  for (let n = 0; n < B; n++) {
    const off = n * K;
    let c = -Infinity;
    for (let k = 0; k < K; k++) {
      const d = (scores[off + k] as number) - (colMax[k] as number);
      if (d > c) c = d;
    }
    if (!Number.isFinite(c)) throw new RangeError(`sinkhorn: sample ${n} has non-finite scores`);
    const bn = Math.exp(c * invEps);
    for (let k = 0; k < K; k++) {
      kernel[off + k] = Math.exp(((scores[off + k] as number) - (colMax[k] as number) - c) * invEps);
      // accumulate the stored (rounded) value so the float32 path normalises exactly what it keeps
      rowAcc[k] = (rowAcc[k] as number) + (kernel[off + k] as number) * bn;
    }
  }
}

/** The Sinkhorn rounds on a kernel and its starting prototype sums; overwrites the kernel with the codes. */
function sinkhornIterate<T extends FloatArray>(
  B: number,
  K: number,
  iterations: number,
  kernel: T,
  rowAcc: Float64Array,
  outRows: number,
): T {
  const a = new Float64Array(K);
  const firstOut = B - outRows;
  for (let it = 0; it < iterations; it++) {
    // Rows: every prototype gets mass 1/K. rowAcc >= 1 (the exact 1 of E meets b = 1 at least once at it = 0).
    for (let k = 0; k < K; k++) a[k] = 1 / (K * (rowAcc[k] as number));
    const last = it === iterations - 1;
    if (!last) rowAcc.fill(0);
    // Columns: every sample gets mass 1/B. Fused with the next round's row sums (or the output) in one pass.
    for (let n = last ? firstOut : 0; n < B; n++) {
      const off = n * K;
      let col = 0;
      for (let k = 0; k < K; k++) col += (kernel[off + k] as number) * (a[k] as number);
      if (last) {
        // Returned codes are B * Q^T: each sample row sums to 1 (queue rows are not needed any more).
        const inv = 1 / col;
        for (let k = 0; k < K; k++) kernel[off + k] = (kernel[off + k] as number) * (a[k] as number) * inv;
      } else {
        const bn = 1 / (B * col);
        for (let k = 0; k < K; k++) rowAcc[k] = (rowAcc[k] as number) + (kernel[off + k] as number) * bn;
      }
    }
  }
  return (firstOut === 0 ? kernel : kernel.subarray(firstOut * K)) as T;
}

/**
 * Sinkhorn-Knopp codes in float32 storage (scaling vectors and sums in float64).
 *
 * @param scores row-major B x K prototype scores of one crop (cosines in SwAV, but any finite values work).
 * @returns row-major B x K codes; each row is a probability vector (sums to 1). The column (prototype) marginals
 *   approach B/K as iterations grow.
 * @throws RangeError on shape mismatch, eps <= 0, iterations < 1 or non-finite scores.
 */
export function sinkhornKnopp(scores: Float32Array, B: number, K: number, opts: SinkhornOptions): Float32Array {
  validate('sinkhornKnopp', scores, B, K, opts);
  return sinkhornCore(scores, B, K, opts, new Float32Array(B * K), B);
}

/** {@link sinkhornKnopp} with float64 storage throughout, for checking the float32 path. */
export function sinkhornKnopp64(scores: Float64Array, B: number, K: number, opts: SinkhornOptions): Float64Array {
  validate('sinkhornKnopp64', scores, B, K, opts);
  return sinkhornCore(scores, B, K, opts, new Float64Array(B * K), B);
}

/**
 * SwAV queue variant: the queue's scores (computed with the CURRENT prototypes) are prepended to the batch, the
 * iteration runs over all `queueRows + batchRows` samples (so B includes the queue), and only the batch's codes
 * (the last `batchRows` rows) are returned.
 */
export function sinkhornKnoppWithQueue(
  queueScores: Float32Array,
  batchScores: Float32Array,
  batchRows: number,
  K: number,
  opts: SinkhornOptions,
): Float32Array {
  if (!Number.isInteger(K) || K < 1)
    throw new RangeError(`sinkhornKnoppWithQueue: K must be a positive integer, got ${K}`);
  if (queueScores.length % K !== 0) {
    throw new RangeError(`sinkhornKnoppWithQueue: queueScores length ${queueScores.length} is not a multiple of K`);
  }
  if (!Number.isInteger(batchRows) || batchRows < 1 || batchScores.length !== batchRows * K) {
    throw new RangeError(
      `sinkhornKnoppWithQueue: batchScores has ${batchScores.length} entries, expected batchRows*K = ${batchRows * K}`,
    );
  }
  const total = queueScores.length / K + batchRows;
  const all = new Float32Array(total * K);
  all.set(queueScores, 0);
  all.set(batchScores, queueScores.length);
  validate('sinkhornKnoppWithQueue', all, total, K, opts);
  return sinkhornCore(all, total, K, opts, new Float32Array(total * K), batchRows).slice();
}
