/**
 * RegNetY trunk written directly in tfjs ops from a {@link RegNetSpec} (tfjs-layers cannot express grouped
 * convolutions). Structure as pycls/torchvision/ClassyVision: stem 3x3/s2 conv + BN + ReLU; per block
 * a (1x1, BN, ReLU) -> b (3x3 grouped, stride, BN, ReLU) -> SE -> c (1x1, BN) plus identity or 1x1+BN projection
 * shortcut, ReLU after the sum; global average pool. No conv has a bias except the SE convs. BN eps 1e-5,
 * momentum 0.1. Output: pooled features [N, outWidth], or logits with a classifier.
 */
import * as tf from '@tensorflow/tfjs';
import type { RegNetBlockSpec, RegNetSpec } from '../ml/regnet';
import {
  batchNormInfer,
  batchNormTrain,
  conv2d,
  matMul,
  pointwiseConv,
  relu,
  sigmoid,
  spatialMean,
  type RunningStatsCollector,
} from './native-ops';
import { ParamStore } from './params';

/** Options of {@link RegNetTrunk}. */
export interface RegNetModelOptions {
  /** Add GAP -> Linear(outWidth, numClasses) with bias. */
  numClasses?: number;
  /** @default 1e-5 */
  bnEpsilon?: number;
  /** PyTorch convention. @default 0.1 */
  bnMomentum?: number;
  /** Name prefix of every tensor. @default 'trunk' */
  prefix?: string;
  /** Use the tfjs fallbacks for conv and BN even on the native backend (tests). */
  fallback?: boolean;
}

interface ConvBn {
  w: tf.Variable;
  gamma: tf.Variable;
  beta: tf.Variable;
  mean: tf.Variable;
  variance: tf.Variable;
  stride: number;
  pad: number;
  groups: number;
}

interface Block {
  spec: RegNetBlockSpec;
  a: ConvBn;
  b: ConvBn;
  se?: { w1: tf.Variable; b1: tf.Variable; w2: tf.Variable; b2: tf.Variable };
  c: ConvBn;
  proj?: ConvBn;
}

/** The RegNet trunk; its tensors live in a (possibly shared) {@link ParamStore}. */
export class RegNetTrunk {
  readonly spec: RegNetSpec;
  readonly prefix: string;
  private readonly store: ParamStore;
  private readonly stem: ConvBn;
  private readonly blocks: Block[];
  private readonly fc?: { w: tf.Variable; b: tf.Variable };
  private readonly eps: number;
  private readonly momentum: number;
  private readonly fallback: boolean;

  constructor(spec: RegNetSpec, store: ParamStore, opts: RegNetModelOptions = {}) {
    this.spec = spec;
    this.store = store;
    this.prefix = opts.prefix ?? 'trunk';
    this.eps = opts.bnEpsilon ?? 1e-5;
    this.momentum = opts.bnMomentum ?? 0.1;
    this.fallback = opts.fallback ?? false;
    const p = this.prefix;
    this.stem = this.convBn(`${p}.stem`, 3, 3, spec.stemWidth, 2, 1);
    this.blocks = spec.blocks.map((blk) => {
      const n = `${p}.s${blk.stage + 1}.b${blk.index + 1}`;
      // Creation order = checkpoint order: shortcut first (as pycls counts it), then a, b, se, c.
      const proj = blk.projection ? this.convBn(`${n}.proj`, 1, blk.wIn, blk.wOut, blk.stride, 0) : undefined;
      const a = this.convBn(`${n}.a`, 1, blk.wIn, blk.wB, 1, 0);
      const b = this.convBn(`${n}.b`, 3, blk.wB, blk.wB, blk.stride, 1, blk.groups);
      const se =
        blk.seWidth > 0
          ? {
              // SE 1x1 convs run at 1x1 resolution: stored as matrices [in, out]; conv init, zero bias (torchvision).
              w1: store.add(`${n}.se.reduce.weight`, 'conv', [blk.wB, blk.seWidth]),
              b1: store.add(`${n}.se.reduce.bias`, 'bias', [blk.seWidth]),
              w2: store.add(`${n}.se.expand.weight`, 'conv', [blk.seWidth, blk.wB]),
              b2: store.add(`${n}.se.expand.bias`, 'bias', [blk.wB]),
            }
          : undefined;
      const c = this.convBn(`${n}.c`, 1, blk.wB, blk.wOut, 1, 0);
      return { spec: blk, a, b, c, ...(se ? { se } : {}), ...(proj ? { proj } : {}) };
    });
    if (opts.numClasses !== undefined) {
      this.fc = {
        w: store.add(`${p}.fc.weight`, 'linear', [spec.outWidth, opts.numClasses], { kind: 'normal', std: 0.01 }),
        b: store.add(`${p}.fc.bias`, 'bias', [opts.numClasses]),
      };
    }
  }

  private convBn(name: string, k: number, cin: number, cout: number, stride: number, pad: number, groups = 1): ConvBn {
    const s = this.store;
    // 1x1 filters are stored as matrices [cin, cout] (they run as MatMul); others as [k, k, cin/groups, cout].
    const shape = k === 1 ? [cin, cout] : [k, k, cin / groups, cout];
    return {
      w: s.add(`${name}.conv.weight`, 'conv', shape),
      gamma: s.add(`${name}.bn.weight`, 'bn-gamma', [cout]),
      beta: s.add(`${name}.bn.bias`, 'bn-beta', [cout]),
      mean: s.add(`${name}.bn.running_mean`, 'bn-mean', [cout]),
      variance: s.add(`${name}.bn.running_var`, 'bn-var', [cout]),
      stride,
      pad,
      groups,
    };
  }

  /** (Re)initialise every trunk tensor from `seed` (reference initialisation, see params.ts). */
  init(seed: number): void {
    this.store.initAll(seed, `${this.prefix}.`);
  }

  /** Trainable scalars of the trunk (and classifier); equals `regnetComplexity(spec, {numClasses}).params`. */
  trainableParamCount(): number {
    return this.store.trainableCount(`${this.prefix}.`);
  }

  private applyConvBn(
    x: tf.Tensor4D,
    l: ConvBn,
    training: boolean,
    act: boolean,
    stats?: RunningStatsCollector,
  ): tf.Tensor4D {
    const fallback = this.fallback;
    // The stem sees image data: no gradient w.r.t. its input is needed.
    const noInputGrad = l === this.stem;
    const y =
      l.w.rank === 2
        ? pointwiseConv(x, l.w as tf.Tensor2D, { stride: l.stride, fallback })
        : conv2d(x, l.w as tf.Tensor4D, { stride: l.stride, pad: l.pad, groups: l.groups, fallback, noInputGrad });
    const gamma = l.gamma as tf.Tensor1D;
    const beta = l.beta as tf.Tensor1D;
    const z = training
      ? batchNormTrain(y, gamma, beta, {
          epsilon: this.eps,
          momentum: this.momentum,
          runningMean: l.mean,
          runningVar: l.variance,
          fallback,
          ...(stats ? { collector: stats } : {}),
        })
      : batchNormInfer(y, gamma, beta, l.mean as tf.Tensor1D, l.variance as tf.Tensor1D, this.eps);
    return act ? relu(z) : z;
  }

  private applyBlock(x: tf.Tensor4D, blk: Block, training: boolean, stats?: RunningStatsCollector): tf.Tensor4D {
    let h = this.applyConvBn(x, blk.a, training, true, stats);
    h = this.applyConvBn(h, blk.b, training, true, stats);
    if (blk.se) {
      const { w1, b1, w2, b2 } = blk.se;
      const [n, , , c] = h.shape;
      const s = spatialMean(h);
      const r = relu(tf.add(matMul(s, w1 as tf.Tensor2D), b1) as tf.Tensor2D);
      const e = sigmoid(tf.add(matMul(r, w2 as tf.Tensor2D), b2) as tf.Tensor2D);
      h = tf.mul(h, tf.reshape(e, [n, 1, 1, c]));
    }
    h = this.applyConvBn(h, blk.c, training, false, stats);
    const shortcut = blk.proj ? this.applyConvBn(x, blk.proj, training, false, stats) : x;
    return relu(tf.add(h, shortcut));
  }

  /**
   * Forward pass on NHWC images. `training` uses batch statistics and updates the BN running statistics in place
   * (call it inside the gradient tape), or hands them to `stats` for a deferred update; otherwise running
   * statistics are used.
   * @returns pooled features [N, outWidth], or logits [N, numClasses] with a classifier.
   */
  forward(x: tf.Tensor4D, training: boolean, stats?: RunningStatsCollector): tf.Tensor2D {
    let h = this.applyConvBn(x, this.stem, training, true, stats);
    for (const blk of this.blocks) h = this.applyBlock(h, blk, training, stats);
    return this.head(h);
  }

  /**
   * The output map of every stage (NHWC, in stage order), for dense heads such as detection; same computation and
   * BN semantics as {@link forward}.
   */
  stageFeatures(x: tf.Tensor4D, training: boolean, stats?: RunningStatsCollector): tf.Tensor4D[] {
    let h = this.applyConvBn(x, this.stem, training, true, stats);
    const out: tf.Tensor4D[] = [];
    this.blocks.forEach((blk, i) => {
      h = this.applyBlock(h, blk, training, stats);
      const next = this.blocks[i + 1];
      if (!next || next.spec.stage !== blk.spec.stage) out.push(h);
    });
    return out;
  }

  private head(h: tf.Tensor4D): tf.Tensor2D {
    const pooled = spatialMean(h);
    if (!this.fc) return pooled;
    return tf.add(matMul(pooled, this.fc.w as tf.Tensor2D), this.fc.b) as tf.Tensor2D;
  }
}
