/**
 * One SwAV training step in tfjs: forward every crop (consecutive same-size crops in one trunk pass), project and
 * normalise, score against the prototypes, Sinkhorn codes for the assigned crops (no gradient), swapped-prediction
 * loss with temperature, backward, LARS update, prototype normalisation. Prototypes are left out of the gradient
 * entirely while frozen. A non-finite loss throws {@link NonFiniteLossError} before any weight is changed.
 */
import * as tf from '@tensorflow/tfjs';
import { NonFiniteLossError } from '../contracts/errors';
import type { LarsOptimizer } from './lars';
import { matMul, RunningStatsCollector } from './native-ops';
import { FeatureQueue, type SwavModel } from './swav-model';

/** One size group of crops: `count` consecutive crops of `size` px starting at crop index `first`. */
export interface CropGroup {
  size: number;
  count: number;
  first: number;
}

/** SwAV loss and schedule settings (the `swav` config slice provides them). */
export interface SwavStepConfig {
  /** Crop sizes in crop order, e.g. [{size: 224, count: 2}, {size: 96, count: 4}]. */
  crops: readonly { size: number; count: number }[];
  cropsForAssign: readonly number[];
  temperature: number;
  epsilon: number;
  sinkhornIterations: number;
  /** Prototypes get no update at all while the step index is below this. */
  freezePrototypesIters: number;
  /** 0 = no queue. Rounded down to a multiple of the batch. */
  queueLength: number;
  /** The queue is created at the first step whose `epoch` is >= this. */
  epochQueueStarts: number;
}

/** Input of one step: one NHWC float array per size group, crop-major (crop v's images are contiguous). */
export interface SwavBatch {
  /** `crops[g]` holds `count_g * batch` images of `size_g x size_g x 3`. */
  crops: readonly Float32Array[];
  /** Images per crop. */
  batch: number;
  /** Current epoch; only used to start the queue. @default 0 */
  epoch?: number;
}

/** What one step reports. */
export interface SwavStepResult {
  loss: number;
  /** Number of completed steps after this one. */
  step: number;
  prototypesFrozen: boolean;
  queueUsed: boolean;
}

/** Consecutive crops of equal size, batched into one trunk pass each. */
export function cropGroups(crops: readonly { size: number; count: number }[]): CropGroup[] {
  const groups: CropGroup[] = [];
  let first = 0;
  for (const c of crops) {
    const last = groups[groups.length - 1];
    if (last && last.size === c.size) last.count += c.count;
    else groups.push({ size: c.size, count: c.count, first });
    first += c.count;
  }
  return groups;
}

/** Row and column sums of the unstabilised kernel must lie in this range for it to be used (see sinkhornTf). */
const DIRECT_KERNEL_SUM_RANGE = [1e-17, 1e30] as const;

function sumsInRange(sums: Float32Array | Int32Array | Uint8Array): boolean {
  const [lo, hi] = DIRECT_KERNEL_SUM_RANGE;
  for (let i = 0; i < sums.length; i++) {
    const v = sums[i] as number;
    if (!(v >= lo && v <= hi)) return false; // also rejects NaN and Infinity
  }
  return true;
}

/**
 * Sinkhorn-Knopp codes in tfjs ops, the algorithm of `ml/sinkhorn.ts`: Q = Diag(a) E Diag(b) for a kernel E
 * computed once, iterating only on the scaling vectors. Returns the codes of the last `outRows` rows, each summing
 * to 1.
 *
 * The kernel is SwAV's own exp(s / eps) whenever every row and column sum of it lies in [1e-17, 1e30]: then
 * nothing overflows, no scaling vector leaves float32's normal range, and every entry that flushes to zero is
 * below 1e-20 of its row's and column's largest one. Cosine scores with SwAV's or SEER's epsilon always qualify;
 * this costs two passes over the matrix (scale, exp) instead of six. Otherwise the kernel is stabilised by
 * per-prototype and per-sample maxima (every entry <= 1, each row and column holds an exact 1), the per-sample
 * factor carried into the starting b. Both equal the reference in exact arithmetic (per-prototype factors cancel
 * at the first row normalisation).
 */
export function sinkhornTf(scores: tf.Tensor2D, epsilon: number, iterations: number, outRows?: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, K] = scores.shape;
    // Column sums as MatMul with a ones vector: about 3x faster than TF's Sum over axis 0 on CPU.
    let E = tf.exp(tf.mul(scores, 1 / epsilon)) as tf.Tensor2D;
    let rowAcc = matMul(tf.ones([B, 1]) as tf.Tensor2D, E, true, false); // [1, K], b = 1
    const rowSums = matMul(E, tf.ones([K, 1]) as tf.Tensor2D);
    if (!sumsInRange(rowAcc.dataSync()) || !sumsInRange(rowSums.dataSync())) {
      const d: tf.Tensor2D = tf.sub(scores, tf.max(scores, 0, true)); // s - m_k
      const c: tf.Tensor2D = tf.max(d, 1, true); // [B, 1], <= 0
      E = tf.exp(tf.div(tf.sub(d, c), epsilon)) as tf.Tensor2D;
      rowAcc = matMul(tf.exp(tf.div(c, epsilon)) as tf.Tensor2D, E, true, false);
    }
    let q: tf.Tensor2D | undefined;
    for (let it = 0; it < iterations; it++) {
      const a = tf.reciprocal(tf.mul(rowAcc, K)) as tf.Tensor2D; // [1, K]
      const col = matMul(E, a, false, true); // [B, 1]
      if (it === iterations - 1) {
        const rows = outRows ?? B;
        const Eo = rows === B ? E : tf.slice(E, [B - rows, 0], [rows, K]);
        const co = rows === B ? col : tf.slice(col, [B - rows, 0], [rows, 1]);
        q = tf.div(tf.mul(Eo, a), co) as tf.Tensor2D;
      } else {
        const b = tf.reciprocal(tf.mul(col, B)) as tf.Tensor2D;
        rowAcc = matMul(b, E, true, false);
      }
    }
    return q as tf.Tensor2D;
  });
}

/**
 * Swapped-prediction loss from the scores of all crops [V*B, K] (crop-major) and the codes of the assigned
 * crops: mean over a in A of mean over v != a of -1/B sum q_a log softmax(s_v / tau). Uses
 * sum_{v != a} log p_v = sum_v log p_v - log p_a, so the cost does not grow with |A| x V.
 */
export function swappedPredictionLoss(
  scores: tf.Tensor2D,
  codes: readonly tf.Tensor2D[],
  o: { batch: number; cropsForAssign: readonly number[]; temperature: number },
): tf.Scalar {
  return tf.tidy(() => {
    const B = o.batch;
    const [rows, K] = scores.shape;
    const V = rows / B;
    const logp = tf.reshape(tf.logSoftmax(tf.div(scores, o.temperature)), [V, B, K]);
    const sumLogp = tf.sum(logp, 0);
    const terms = o.cropsForAssign.map((a, i) => {
      const others = tf.sub(sumLogp, tf.squeeze(tf.slice(logp, [a, 0, 0], [1, B, K]), [0]));
      return tf.sum(tf.mul(codes[i] as tf.Tensor2D, others));
    });
    return tf.mul(tf.addN(terms), -1 / (B * (V - 1) * o.cropsForAssign.length)) as tf.Scalar;
  });
}

/** Runs SwAV steps on a model with an optimizer; owns the step counter and the queue. */
export class SwavTrainer {
  readonly model: SwavModel;
  readonly optimizer: LarsOptimizer;
  readonly cfg: SwavStepConfig;
  readonly groups: CropGroup[];
  readonly numCrops: number;
  /** Completed steps. */
  iteration = 0;
  queue: FeatureQueue | undefined;

  constructor(model: SwavModel, optimizer: LarsOptimizer, cfg: SwavStepConfig) {
    this.model = model;
    this.optimizer = optimizer;
    this.cfg = cfg;
    this.groups = cropGroups(cfg.crops);
    this.numCrops = cfg.crops.reduce((n, c) => n + c.count, 0);
    if (this.numCrops < 2) throw new RangeError('swapped prediction needs at least 2 crops');
    for (const a of cfg.cropsForAssign) {
      if (!Number.isInteger(a) || a < 0 || a >= this.numCrops)
        throw new RangeError(`crop for assign ${a} out of range`);
    }
  }

  /** Create the queue (zeros) if the config asks for one; called by `step` and by state restore. */
  ensureQueue(batch: number): FeatureQueue | undefined {
    if (!this.queue && this.cfg.queueLength > 0) {
      this.queue = new FeatureQueue(
        this.cfg.cropsForAssign.length,
        this.cfg.queueLength,
        this.model.head.featureDim,
        batch,
      );
    }
    return this.queue;
  }

  private validate(batch: SwavBatch): void {
    const B = batch.batch;
    if (!Number.isInteger(B) || B < 1) throw new RangeError(`batch must be a positive integer, got ${B}`);
    if (batch.crops.length !== this.groups.length) {
      throw new RangeError(`expected ${this.groups.length} crop size groups, got ${batch.crops.length}`);
    }
    this.groups.forEach((g, i) => {
      const want = g.count * B * g.size * g.size * 3;
      const got = (batch.crops[i] as Float32Array).length;
      if (got !== want)
        throw new RangeError(`crop group ${i} (${g.count}x${g.size}px): ${got} values, expected ${want}`);
    });
  }

  /**
   * One training step at learning rate `lr`.
   * @throws NonFiniteLossError when the loss is NaN/inf; nothing (weights, BN statistics, momentum, queue,
   *   step counter) has changed then.
   */
  step(batch: SwavBatch, lr: number): SwavStepResult {
    this.validate(batch);
    const B = batch.batch;
    const A = this.cfg.cropsForAssign;
    const K = this.model.head.prototypes;
    const frozen = this.iteration < this.cfg.freezePrototypesIters;
    const queue = (batch.epoch ?? 0) >= this.cfg.epochQueueStarts ? this.ensureQueue(B) : this.queue;
    const queueUsed = queue?.isFull() ?? false;
    const model = this.model;
    const vars = model.store
      .trainable()
      .filter((e) => !(frozen && e.role === 'prototypes'))
      .map((e) => e.variable);
    const { epsilon, sinkhornIterations: iters, temperature } = this.cfg;

    // Codes without gradient: a customGrad forward runs off the tape, and its gradient is zero.
    const codes = (i: number) =>
      tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
        const s = args[0] as tf.Tensor2D;
        const all = queueUsed && queue ? tf.concat([model.scores(queue.rows(i)), s], 0) : s;
        return { value: sinkhornTf(all, epsilon, iters, B), gradFunc: (dy) => [tf.zerosLike(dy as tf.Tensor)] };
      });

    // Side effects (BN running statistics, queue) are collected during the forward pass and applied only after
    // the loss is known to be finite, so a failed step leaves the whole state untouched.
    const stats = new RunningStatsCollector(0.1);
    let fresh: tf.Tensor2D[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const feats = this.groups.map((g, gi) => {
        const x = tf.tensor4d(batch.crops[gi] as Float32Array, [g.count * B, g.size, g.size, 3]);
        return model.trunk.forward(x, true, stats);
      });
      const h = feats.length === 1 ? (feats[0] as tf.Tensor2D) : tf.concat(feats, 0);
      const z = model.project(h, true, stats); // [V*B, d]
      const scores = model.scores(z); // [V*B, K]
      const codesA = A.map((a, i) => codes(i)(tf.slice(scores, [a * B, 0], [B, K])) as tf.Tensor2D);
      if (queue) fresh = A.map((a) => tf.keep(tf.slice(z, [a * B, 0], [B, z.shape[1]])));
      return swappedPredictionLoss(scores, codesA, { batch: B, cropsForAssign: A, temperature });
    }, vars);

    const loss = value.dataSync()[0] as number;
    value.dispose();
    if (!Number.isFinite(loss)) {
      tf.dispose(Object.values(grads));
      tf.dispose(fresh);
      stats.discard();
      throw new NonFiniteLossError(this.iteration, loss, 'SwAV loss');
    }
    stats.flush();
    if (queue) queue.push(fresh);
    tf.dispose(fresh);
    // variableGrads keys gradients by tfjs variable name; the optimizer wants logical names.
    const named: Record<string, tf.Tensor> = {};
    for (const e of model.store.trainable()) {
      const g = grads[e.variable.name];
      if (g) named[e.name] = g;
    }
    this.optimizer.step(named, lr);
    tf.dispose(Object.values(grads));
    // Frozen prototypes were normalised at init and not updated: leave them bit-identical.
    if (!frozen) model.normalizePrototypes();
    this.iteration += 1;
    return { loss, step: this.iteration, prototypesFrozen: frozen, queueUsed };
  }

  /** Trunk features (eval-mode BN, no gradient) of NHWC images: [n, outWidth] row-major. */
  embed(images: Float32Array, n: number, size: number): Float32Array {
    return tf.tidy(() => {
      const x = tf.tensor4d(images, [n, size, size, 3]);
      return this.model.trunk.forward(x, false).dataSync() as Float32Array;
    });
  }
}
