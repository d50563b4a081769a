/**
 * SwAV model around a RegNet trunk: projection MLP (hidden layers with BN + ReLU or ReLU only, then a linear
 * layer to featureDim), L2 normalisation, and the prototype matrix W [K, d] (no bias), kept L2-normalised row by
 * row. Plus the optional SwAV feature queue. All tensors live in one {@link ParamStore}, trunk first.
 */
import * as tf from '@tensorflow/tfjs';
import type { RegNetSpec } from '../ml/regnet';
import { batchNormInfer, batchNormTrain, matMul, relu, type RunningStatsCollector } from './native-ops';
import { ParamStore } from './params';
import { RegNetTrunk } from './regnet-model';

/** Head settings (the `swav` config slice provides them). */
export interface SwavHeadConfig {
  /** Hidden widths of the projection MLP; [] = a single linear layer. */
  hiddenDims: readonly number[];
  /** BatchNorm1d + ReLU after each hidden linear layer (false: ReLU only, as SEER). */
  headBatchNorm: boolean;
  featureDim: number;
  /** Number of prototypes K. */
  prototypes: number;
}

interface HeadLayer {
  w: tf.Variable;
  b: tf.Variable;
  bn?: { gamma: tf.Variable; beta: tf.Variable; mean: tf.Variable; variance: tf.Variable };
}

/** Trunk + projection head + prototypes. */
export class SwavModel {
  readonly store = new ParamStore();
  readonly trunk: RegNetTrunk;
  readonly prototypes: tf.Variable;
  readonly head: SwavHeadConfig;
  private readonly layers: HeadLayer[] = [];
  private readonly fallback: boolean;

  constructor(spec: RegNetSpec, head: SwavHeadConfig, opts: { fallback?: boolean } = {}) {
    this.head = head;
    this.fallback = opts.fallback ?? false;
    this.trunk = new RegNetTrunk(spec, this.store, { prefix: 'trunk', ...(opts.fallback ? { fallback: true } : {}) });
    let width = spec.outWidth;
    const dims = [...head.hiddenDims, head.featureDim];
    dims.forEach((d, i) => {
      const last = i === dims.length - 1;
      // nn.Linear default init U(+-1/sqrt(fan_in)) for weight and bias, as SwAV leaves its head.
      const bound = 1 / Math.sqrt(width);
      const n = `head.l${i + 1}`;
      const layer: HeadLayer = {
        w: this.store.add(`${n}.weight`, 'linear', [width, d], { kind: 'uniform', bound }),
        b: this.store.add(`${n}.bias`, 'bias', [d], { kind: 'uniform', bound }),
      };
      if (!last && head.headBatchNorm) {
        layer.bn = {
          gamma: this.store.add(`${n}.bn.weight`, 'bn-gamma', [d]),
          beta: this.store.add(`${n}.bn.bias`, 'bn-beta', [d]),
          mean: this.store.add(`${n}.bn.running_mean`, 'bn-mean', [d]),
          variance: this.store.add(`${n}.bn.running_var`, 'bn-var', [d]),
        };
      }
      this.layers.push(layer);
      width = d;
    });
    this.prototypes = this.store.add('prototypes.weight', 'prototypes', [head.prototypes, head.featureDim], {
      kind: 'uniform',
      bound: 1 / Math.sqrt(head.featureDim),
    });
  }

  /** Initialise every tensor from `seed`, then normalise the prototypes. */
  init(seed: number): void {
    this.store.initAll(seed);
    this.normalizePrototypes();
  }

  /** Projection head on trunk features, then z / max(|z|, 1e-12). */
  project(h: tf.Tensor2D, training: boolean, stats?: RunningStatsCollector): tf.Tensor2D {
    let x = h;
    this.layers.forEach((l) => {
      x = tf.add(matMul(x, l.w as tf.Tensor2D), l.b);
      if (l === this.layers[this.layers.length - 1]) return;
      if (l.bn) {
        const { gamma, beta, mean, variance } = l.bn;
        x = training
          ? batchNormTrain(x, gamma as tf.Tensor1D, beta as tf.Tensor1D, {
              runningMean: mean,
              runningVar: variance,
              fallback: this.fallback,
              ...(stats ? { collector: stats } : {}),
            })
          : batchNormInfer(x, gamma as tf.Tensor1D, beta as tf.Tensor1D, mean as tf.Tensor1D, variance as tf.Tensor1D);
      }
      x = relu(x);
    });
    return l2Normalize(x);
  }

  /** Prototype scores z W^T [N, K]. */
  scores(z: tf.Tensor2D): tf.Tensor2D {
    return matMul(z, this.prototypes as tf.Tensor2D, false, true);
  }

  /** W <- W / |W_row| (SwAV: every iteration; no gradient). */
  normalizePrototypes(): void {
    const w = this.prototypes;
    tf.tidy(() => w.assign(l2Normalize(w as tf.Tensor2D)));
  }

  /** Trainable scalars of trunk, head and prototypes. */
  trainableParamCount(): number {
    return this.store.trainableCount();
  }

  dispose(): void {
    this.store.dispose();
  }
}

/** Row-wise x / max(|x|, 1e-12) (torch.nn.functional.normalize). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  const norm = tf.sqrt(tf.sum(tf.square(x), 1, true));
  return tf.div(x, tf.maximum(norm, 1e-12));
}

/**
 * SwAV feature queue: one [length, d] block of past normalised embeddings per assigned crop, newest first.
 * Created at the start epoch; used (its scores prepended before Sinkhorn) once it has been filled.
 */
export class FeatureQueue {
  readonly length: number;
  readonly crops: number;
  readonly dim: number;
  /** [crops, length, d]. */
  readonly data: tf.Variable;
  /** Rows written so far (capped at length); the queue is used once this reaches length. */
  filled = 0;

  /** `length` is rounded down to a multiple of the batch size, as SwAV does. */
  constructor(crops: number, length: number, dim: number, batch: number) {
    this.length = Math.floor(length / batch) * batch;
    if (this.length <= 0) throw new RangeError(`queue length ${length} is shorter than one batch of ${batch}`);
    this.crops = crops;
    this.dim = dim;
    this.data = tf.variable(tf.zeros([crops, this.length, dim]), false);
  }

  /** True once every row holds an embedding (SwAV: the last row is non-zero). */
  isFull(): boolean {
    return this.filled >= this.length;
  }

  /** Queue rows of crop slot `i` [length, d]. */
  rows(i: number): tf.Tensor2D {
    return tf.squeeze(tf.slice(this.data, [i, 0, 0], [1, this.length, this.dim]), [0]);
  }

  /** Shift every slot down by the batch and write the new embeddings first: `z[i]` is [batch, d] for slot i. */
  push(z: readonly tf.Tensor2D[]): void {
    const batch = (z[0] as tf.Tensor2D).shape[0];
    tf.tidy(() => {
      const kept = tf.slice(this.data, [0, 0, 0], [this.crops, this.length - batch, this.dim]);
      const fresh = tf.stack(z as tf.Tensor2D[]);
      this.data.assign(tf.concat([fresh, kept], 1) as tf.Tensor3D);
    });
    this.filled = Math.min(this.length, this.filled + batch);
  }

  dispose(): void {
    this.data.dispose();
  }
}
