/**
 * SwAV swapped-prediction loss over multi-crop prototype scores:
 *
 *   L = 1/|A| * sum_{a in A} 1/(V-1) * sum_{v != a} [ -1/b * sum_n sum_k q^a_nk * log softmax_k(s^v_n / tau) ]
 *
 * A = crops that produce codes (`cropsForAssign`, the two large crops in SwAV), V = number of crops, codes
 * q^a = Sinkhorn(s^a) are constants (no gradient). Every other crop v, the other large crop included, predicts them.
 * Reductions run in float64; codes come from the float32 Sinkhorn path that training uses.
 */
import { sinkhornKnopp, sinkhornKnoppWithQueue, type SinkhornOptions } from './sinkhorn';

/** Options of {@link swavLoss}. */
export interface SwavLossOptions extends SinkhornOptions {
  /** Softmax temperature tau of the predictions (SwAV 0.1). */
  temperature: number;
  /** Indices of the crops whose codes are predicted (SwAV [0, 1]). Distinct, each < number of crops. */
  cropsForAssign: readonly number[];
  /**
   * Optional queue scores per entry of `cropsForAssign` (row-major, queueRows x K, computed with the current
   * prototypes). When present, they are prepended before Sinkhorn and only the batch's codes are kept.
   */
  queueScores?: ReadonlyArray<Float32Array | undefined>;
  /** Also return dL/ds for every crop (float64, row-major B x K). @default false */
  gradients?: boolean;
}

/** Result of {@link swavLoss}. */
export interface SwavLossResult {
  /** The averaged loss. */
  loss: number;
  /** Codes q^a, one B x K array per entry of `cropsForAssign` (same order). Rows sum to 1. */
  codes: Float32Array[];
  /** dL/ds^v per crop when `gradients` was requested: (count_v * softmax(s^v/tau) - sum_{a != v} q^a) * scale / tau. */
  gradients?: Float64Array[];
}

function validate(scoresPerCrop: readonly Float32Array[], B: number, K: number, opts: SwavLossOptions): void {
  const V = scoresPerCrop.length;
  if (V < 2) throw new RangeError(`swavLoss: needs at least 2 crops, got ${V}`);
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`swavLoss: B must be a positive integer, got ${B}`);
  if (!Number.isInteger(K) || K < 1) throw new RangeError(`swavLoss: K must be a positive integer, got ${K}`);
  scoresPerCrop.forEach((s, v) => {
    if (s.length !== B * K) throw new RangeError(`swavLoss: crop ${v} has ${s.length} scores, expected B*K = ${B * K}`);
  });
  if (!(opts.temperature > 0) || !Number.isFinite(opts.temperature)) {
    throw new RangeError(`swavLoss: temperature must be a finite number > 0, got ${opts.temperature}`);
  }
  const A = opts.cropsForAssign;
  if (A.length < 1) throw new RangeError('swavLoss: cropsForAssign must not be empty');
  const seen = new Set<number>();
  for (const a of A) {
    if (!Number.isInteger(a) || a < 0 || a >= V) {
      throw new RangeError(`swavLoss: cropsForAssign entry ${a} is not a crop index in [0, ${V})`);
    }
    if (seen.has(a)) throw new RangeError(`swavLoss: cropsForAssign lists crop ${a} twice`);
    seen.add(a);
  }
  if (opts.queueScores && opts.queueScores.length !== A.length) {
    throw new RangeError(`swavLoss: queueScores needs one entry per cropsForAssign entry (${A.length})`);
  }
}

/**
 * Swapped-prediction loss of SwAV over all crops of one batch.
 *
 * @param scoresPerCrop one row-major B x K score matrix per crop, in crop order (large crops first).
 * @param B samples per crop (the batch on this process).
 * @param K number of prototypes.
 * @throws RangeError on inconsistent shapes or options (see {@link SwavLossOptions}).
 */
export function swavLoss(
  scoresPerCrop: readonly Float32Array[],
  B: number,
  K: number,
  opts: SwavLossOptions,
): SwavLossResult {
  validate(scoresPerCrop, B, K, opts);
  const V = scoresPerCrop.length;
  const A = opts.cropsForAssign;
  const sk: SinkhornOptions = { epsilon: opts.epsilon, iterations: opts.iterations };

  const codes = A.map((a, i) => {
    const scores = scoresPerCrop[a] as Float32Array;
    const queue = opts.queueScores?.[i];
    return queue && queue.length > 0
      ? sinkhornKnoppWithQueue(queue, scores, B, K, sk)
      : sinkhornKnopp(scores, B, K, sk);
  });

  const invTau = 1 / opts.temperature;
  const scale = 1 / (A.length * (V - 1) * B);
  const grads = opts.gradients ? scoresPerCrop.map(() => new Float64Array(B * K)) : undefined;
  const logits = new Float64Array(K);
  let total = 0;

  for (let v = 0; v < V; v++) {
    // The codes this crop must predict: every assigned crop except itself.
    const targets = codes.filter((_, i) => A[i] !== v);
    if (targets.length === 0) continue;
    const s = scoresPerCrop[v] as Float32Array;
    const g = grads?.[v];
    for (let n = 0; n < B; n++) {
      const off = n * K;
      let max = -Infinity;
      for (let k = 0; k < K; k++) {
        const x = (s[off + k] as number) * invTau;
        logits[k] = x;
        if (x > max) max = x;
      }
      let sumExp = 0;
      for (let k = 0; k < K; k++) sumExp += Math.exp((logits[k] as number) - max);
      const logZ = max + Math.log(sumExp);
      // sum_k q_k * log p_k = sum_k q_k * logit_k - logZ * sum_k q_k (sum_k q_k is 1 up to float32 rounding).
      let qMass = 0;
      for (const q of targets) {
        let dot = 0;
        let mass = 0;
        for (let k = 0; k < K; k++) {
          const qk = q[off + k] as number;
          dot += qk * (logits[k] as number);
          mass += qk;
        }
        total -= dot - logZ * mass;
        qMass += mass;
      }
      if (g) {
        for (let k = 0; k < K; k++) {
          let qSum = 0;
          for (const q of targets) qSum += q[off + k] as number;
          const p = Math.exp((logits[k] as number) - logZ);
          g[off + k] = (qMass * p - qSum) * scale * invTau;
        }
      }
    }
  }

  const result: SwavLossResult = { loss: total * scale, codes };
  if (grads) result.gradients = grads;
  return result;
}
