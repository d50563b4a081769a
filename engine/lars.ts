/**
 * LARC (apex, clip=False) over SGD with momentum and coupled weight decay, in tfjs ops; the tensor counterpart
 * of `ml/lars.ts` (which is its test oracle). Per parameter p with gradient g:
 *   ok = |p| != 0 and |g| != 0
 *   lambda = ok ? eta*|p| / (|g| + wd*|p| + eps) : 1        (eta = 0: plain SGD, lambda = 1, decay always on)
 *   buf = momentum*buf + lambda*g + (ok ? wd*lambda : 0)*p
 *   p   = p - lr*buf
 * Op count (a measured cost on the native backend, ~15 us per op): one EuclideanNorm each for p and g, the
 * trust ratios of all parameters at once on stacked norms, then 4 ops for the momentum buffer and 2 for the
 * parameter. Parameters without a gradient (frozen prototypes) are skipped entirely.
 */
import * as tf from '@tensorflow/tfjs';
import { euclideanNorm } from './native-ops';
import type { ParamEntry } from './params';

/** Hyperparameters of {@link LarsOptimizer} (learning rate is per step). */
export interface LarsConfig {
  /** SGD momentum, no dampening, no Nesterov. @default 0.9 */
  momentum?: number;
  weightDecay: number;
  /** LARC trust coefficient eta; 0 runs plain SGD with coupled weight decay. @default 0.001 */
  trustCoefficient?: number;
  /** @default 1e-8 */
  eps?: number;
}

/** LARS/LARC + SGD momentum over a fixed, ordered list of trainable parameters. */
export class LarsOptimizer {
  private readonly params: readonly ParamEntry[];
  private readonly slots = new Map<string, tf.Variable>();
  private readonly momentum: number;
  private readonly wd: number;
  private readonly eta: number;
  private readonly eps: number;

  constructor(params: readonly ParamEntry[], cfg: LarsConfig) {
    this.params = params.filter((p) => p.trainable);
    this.momentum = cfg.momentum ?? 0.9;
    this.wd = cfg.weightDecay;
    this.eta = cfg.trustCoefficient ?? 0.001;
    this.eps = cfg.eps ?? 1e-8;
    for (const [k, v] of Object.entries({ momentum: this.momentum, wd: this.wd, eta: this.eta, eps: this.eps })) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`LARS ${k} must be a finite number >= 0, got ${v}`);
    }
    // Zero buffers up front: m*0 + g == g, so this equals PyTorch's lazily cloned first buffer, and the
    // checkpoint layout does not depend on which parameters have been updated yet.
    for (const p of this.params) this.slots.set(p.name, tf.variable(tf.zeros([...p.shape]), false));
  }

  /** Momentum buffers in parameter order (for checkpoints). */
  momentumSlots(): { name: string; variable: tf.Variable }[] {
    return this.params.map((p) => ({ name: p.name, variable: this.slots.get(p.name) as tf.Variable }));
  }

  /**
   * One update. `grads` maps parameter names to gradients; parameters missing from it are not touched (no
   * weight decay, no momentum decay), as apex LARC + SGD do for a None gradient. Gradients are not disposed.
   */
  step(grads: Readonly<Record<string, tf.Tensor>>, lr: number): void {
    if (!Number.isFinite(lr) || lr < 0) throw new RangeError(`learning rate must be a finite number >= 0, got ${lr}`);
    const live = this.params.filter((p) => grads[p.name] !== undefined);
    if (live.length === 0) return;
    tf.tidy(() => {
      let lam: tf.Tensor[];
      let kap: tf.Tensor[];
      if (this.eta === 0) {
        lam = live.map(() => tf.scalar(1));
        kap = live.map(() => tf.scalar(this.wd));
      } else {
        const pn = tf.stack(live.map((p) => euclideanNorm(p.variable)));
        const gn = tf.stack(live.map((p) => euclideanNorm(grads[p.name] as tf.Tensor)));
        const ok = tf.logicalAnd(tf.greater(pn, 0), tf.greater(gn, 0));
        const ratio = tf.div(tf.mul(pn, this.eta), tf.add(tf.add(gn, tf.mul(pn, this.wd)), this.eps));
        const l = tf.where(ok, ratio, tf.onesLike(ratio));
        const k = tf.where(ok, tf.mul(l, this.wd), tf.zerosLike(l));
        lam = tf.unstack(l);
        kap = tf.unstack(k);
      }
      const m = tf.scalar(this.momentum);
      const lrT = tf.scalar(lr);
      live.forEach((p, i) => {
        const g = grads[p.name] as tf.Tensor;
        const buf = this.slots.get(p.name) as tf.Variable;
        const next = tf.addN([tf.mul(buf, m), tf.mul(g, lam[i] as tf.Tensor), tf.mul(p.variable, kap[i] as tf.Tensor)]);
        buf.assign(next);
        p.variable.assign(tf.sub(p.variable, tf.mul(next, lrT)));
      });
    });
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
  }
}
