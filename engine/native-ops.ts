/**
 * The ops tfjs lacks or runs slowly, taken straight from native TensorFlow when the `tensorflow` backend is
 * active, with tfjs fallbacks everywhere else:
 * - grouped 2-D convolution: TF's Conv2D with a grouped filter [kh, kw, cin/groups, cout] plus a custom gradient
 *   from Conv2DBackpropInput/Conv2DBackpropFilter (tfjs-core's conv2d cannot express groups); fallback split+concat;
 * - training-mode batch norm: FusedBatchNormV3/FusedBatchNormGradV3 in a custom gradient, with the running
 *   statistics updated inside the same kernel (TF's exponential_avg_factor); fallback tfjs moments;
 * - the Euclidean norm as one op (used by LARS).
 * Padding follows PyTorch (symmetric `pad` pixels), so weights and activations match the reference models.
 */
import * as tf from '@tensorflow/tfjs';
import { floatT, isNative, nativeBackend, type NativeOpAttr } from './backend';

/** Options of {@link conv2d}. */
export interface Conv2dOptions {
  /** Stride in both spatial dimensions. @default 1 */
  stride?: number;
  /** Symmetric zero padding in pixels (PyTorch `padding`). @default 0 */
  pad?: number;
  /** Number of groups; the filter is [kh, kw, cin / groups, cout]. @default 1 */
  groups?: number;
  /** Use the tfjs fallback even on the native backend (tests compare the two). */
  fallback?: boolean;
  /**
   * The input needs no gradient (the stem on image data): skip Conv2DBackpropInput. Only valid when x does not
   * depend on a trained variable. Native backend only.
   */
  noInputGrad?: boolean;
}

type NativePadding = 'SAME' | 'VALID';

/**
 * TF's 'SAME' equals PyTorch's symmetric `pad` when it produces the same output size with `pad` pixels before
 * the first row (TF puts any odd extra pixel after the last row). Otherwise the input is zero-padded explicitly
 * and convolved 'VALID' (TF's EXPLICIT padding has no grouped-conv gradient on CPU).
 */
function nativePadding(size: number, k: number, stride: number, pad: number): NativePadding | 'PAD' {
  if (pad === 0) return 'VALID';
  const outTorch = Math.floor((size + 2 * pad - k) / stride) + 1;
  const outSame = Math.ceil(size / stride);
  const total = Math.max((outSame - 1) * stride + k - size, 0);
  return outTorch === outSame && Math.floor(total / 2) === pad ? 'SAME' : 'PAD';
}

function convAttrs(stride: number, padding: NativePadding): NativeOpAttr[] {
  const b = nativeBackend().binding;
  return [
    floatT(),
    { name: 'strides', type: b.TF_ATTR_INT, value: [1, stride, stride, 1] },
    { name: 'padding', type: b.TF_ATTR_STRING, value: padding },
    { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'dilations', type: b.TF_ATTR_INT, value: [1, 1, 1, 1] },
    { name: 'use_cudnn_on_gpu', type: b.TF_ATTR_BOOL, value: true },
  ];
}

type Conv = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D;
const nativeConvCache = new Map<string, Conv>();

/** Native Conv2D with its gradient; one customGrad closure per (stride, padding, input grad), built once. */
function nativeConv(stride: number, padding: NativePadding, inputGrad = true): Conv {
  const key = `${stride}/${padding}/${inputGrad}`;
  let f = nativeConvCache.get(key);
  if (!f) {
    const g = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, w, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      const attrs = convAttrs(stride, padding);
      save([x, w]);
      const y = nativeBackend().executeSingleOutput('Conv2D', attrs, [x, w]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const [xs, ws] = saved as [tf.Tensor, tf.Tensor];
          const d = dy as tf.Tensor;
          const be = nativeBackend();
          // A placeholder is never read: the tape prunes inputs that do not lead to a variable.
          const dx = inputGrad
            ? be.executeSingleOutput('Conv2DBackpropInput', attrs, [tf.tensor1d(xs.shape, 'int32'), ws, d])
            : tf.scalar(0);
          const dw = be.executeSingleOutput('Conv2DBackpropFilter', attrs, [xs, tf.tensor1d(ws.shape, 'int32'), d]);
          return [dx, dw];
        },
      };
    });
    f = g as unknown as Conv;
    nativeConvCache.set(key, f);
  }
  return f;
}

/**
 * 2-D convolution, NHWC, filter [kh, kw, cin / groups, cout], no bias, PyTorch padding semantics.
 * Native TF on the `tensorflow` backend (grouped filters included); split + conv + concat elsewhere.
 */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, opts: Conv2dOptions = {}): tf.Tensor4D {
  const stride = opts.stride ?? 1;
  const pad = opts.pad ?? 0;
  const groups = opts.groups ?? 1;
  const [kh, kw, ciG, co] = w.shape;
  const ci = x.shape[3];
  if (ci !== ciG * groups || co % groups !== 0) {
    throw new RangeError(`conv2d: input depth ${ci} and filter ${w.shape.join('x')} do not fit ${groups} groups`);
  }
  if (kh !== kw) throw new RangeError('conv2d: square kernels only');
  if (isNative() && !opts.fallback) {
    const mode = nativePadding(x.shape[1], kh, stride, pad);
    const inputGrad = !opts.noInputGrad;
    if (
      mode === 'PAD' &&
      groups > 1 &&
      stride === 2 &&
      kh === 3 &&
      pad === 1 &&
      x.shape[1] % 2 === 0 &&
      x.shape[2] % 2 === 0
    ) {
      // PyTorch's stride-2 3x3 conv with pad 1 on an even size reads rows 2i-1..2i+1; TF's SAME pads only after.
      // A 4x4 filter (the 3x3 one plus a zero last row and column) under SAME reads rows 2i-1..2i+2 with pad 1
      // on both sides: the same output, without copying the whole input into a padded buffer (and back, for the
      // gradient). The zero taps' gradient is dropped by tf.pad's own gradient. Grouped convs only: they do little
      // arithmetic per input byte, so the copy costs more than the 16/9 taps (for the dense stem it is the reverse).
      const w4 = tf.pad(w, [
        [0, 1],
        [0, 1],
        [0, 0],
        [0, 0],
      ]) as tf.Tensor4D;
      return nativeConv(2, 'SAME', inputGrad)(x, w4);
    }
    if (mode === 'PAD') {
      const xp = tf.pad(x, [
        [0, 0],
        [pad, pad],
        [pad, pad],
        [0, 0],
      ]);
      return nativeConv(stride, 'VALID', inputGrad)(xp, w);
    }
    return nativeConv(stride, mode, inputGrad)(x, w);
  }
  // Explicit pad + 'valid' works on every backend (tfjs-node's backprop kernels reject EXPLICIT padding).
  const xp =
    pad === 0
      ? x
      : tf.pad(x, [
          [0, 0],
          [pad, pad],
          [pad, pad],
          [0, 0],
        ]);
  if (groups === 1) return tf.conv2d(xp as tf.Tensor4D, w, stride, 'valid');
  const xs = tf.split(xp, groups, 3) as tf.Tensor4D[];
  const ws = tf.split(w, groups, 3);
  return tf.concat(
    xs.map((xi, i) => tf.conv2d(xi, ws[i] as tf.Tensor4D, stride, 'valid')),
    3,
  );
}

/** Batch statistics of one training-mode BN call, for a deferred running-statistics update. */
export interface BnBatchStats {
  runningMean: tf.Variable;
  runningVar: tf.Variable;
  /** Batch mean [C] (kept; the collector disposes it). */
  mean: tf.Tensor1D;
  /** Batch variance [C] (kept), multiplied by `unbias` to get the unbiased variance PyTorch tracks. */
  variance: tf.Tensor1D;
  unbias: number;
}

/**
 * Collects the batch statistics of every BN call of a step and applies all running-statistics updates at once
 * (a few ops per forward pass instead of ~5 per BN layer), and only when the step succeeds. A layer seen twice
 * (one trunk pass per crop size) is updated twice, in call order, as PyTorch does.
 */
export class RunningStatsCollector {
  private entries: BnBatchStats[] = [];
  constructor(readonly momentum = 0.1) {}

  add(e: BnBatchStats): void {
    this.entries.push(e);
  }

  /** Apply the updates new = (1 - m) * old + m * batch, in call order. */
  flush(): void {
    const m = this.momentum;
    let i = 0;
    while (i < this.entries.length) {
      // A round: consecutive calls on distinct layers, so one concat covers them.
      const seen = new Set<tf.Variable>();
      const round: BnBatchStats[] = [];
      while (i < this.entries.length && !seen.has((this.entries[i] as BnBatchStats).runningMean)) {
        const e = this.entries[i++] as BnBatchStats;
        seen.add(e.runningMean);
        round.push(e);
      }
      const sizes = round.map((e) => e.mean.size);
      tf.tidy(() => {
        const unbias = tf.tensor1d(new Float32Array(round.flatMap((e) => Array<number>(e.mean.size).fill(e.unbias))));
        const upd = (old: tf.Tensor[], batch: tf.Tensor) =>
          tf.split(tf.add(tf.mul(tf.concat(old), 1 - m), tf.mul(batch, m)), sizes);
        const means = upd(
          round.map((e) => e.runningMean),
          tf.concat(round.map((e) => e.mean)),
        );
        const vars = upd(
          round.map((e) => e.runningVar),
          tf.mul(tf.concat(round.map((e) => e.variance)), unbias),
        );
        round.forEach((e, j) => {
          e.runningMean.assign(means[j] as tf.Tensor1D);
          e.runningVar.assign(vars[j] as tf.Tensor1D);
        });
      });
    }
    this.discard();
  }

  /** Drop the collected statistics without updating anything (failed step). */
  discard(): void {
    for (const e of this.entries) tf.dispose([e.mean, e.variance]);
    this.entries = [];
  }
}

/**
 * 1x1 convolution with the filter stored as a matrix [cin, cout]. Stride 1 runs as one MatMul on [N*H*W, cin]
 * (measured 1.2-7x faster than Conv2D 1x1 and its backprops, most at 1x1-2x2 maps); stride 2 uses Conv2D
 * (tfjs has no StridedSlice gradient).
 */
export function pointwiseConv(
  x: tf.Tensor4D,
  w: tf.Tensor2D,
  opts: { stride?: number; fallback?: boolean } = {},
): tf.Tensor4D {
  const stride = opts.stride ?? 1;
  const [n, h, wd, c] = x.shape;
  const co = w.shape[1];
  if (w.shape[0] !== c) throw new RangeError(`pointwiseConv: input depth ${c} != filter rows ${w.shape[0]}`);
  if (stride !== 1)
    return conv2d(x, tf.reshape(w, [1, 1, c, co]), { stride, ...(opts.fallback ? { fallback: true } : {}) });
  const x2 = tf.reshape(x, [n * h * wd, c]) as tf.Tensor2D;
  const y = isNative() && !opts.fallback ? matMul(x2, w) : tf.matMul(x2, w);
  return tf.reshape(y, [n, h, wd, co]);
}

/** Options of {@link batchNormTrain}. */
export interface BatchNormTrainOptions {
  /** Added to the variance. @default 1e-5 */
  epsilon?: number;
  /** Running-statistics momentum (PyTorch convention: new = (1 - m) * old + m * batch). @default 0.1 */
  momentum?: number;
  /** Running mean, updated in place (or through `collector`) when given. */
  runningMean?: tf.Variable;
  /** Running variance (unbiased batch variance, as PyTorch), updated with `runningMean`. */
  runningVar?: tf.Variable;
  /** Defer the running-statistics update to this collector (its momentum applies). */
  collector?: RunningStatsCollector;
  /** Use the tfjs fallback even on the native backend. */
  fallback?: boolean;
  /**
   * Native CPU forward: TF's fused kernel, or statistics from two MatMuls with a ones row plus one broadcast
   * multiply-add. The fused kernel is 2-18x slower than an elementwise op at channel counts that are not
   * multiples of 16, but fused forward + backward measured about even overall (one op instead of ~13).
   * @default 'fused'
   */
  impl?: 'fused' | 'composite';
}

function bnGradAttrs(epsilon: number): NativeOpAttr[] {
  const b = nativeBackend().binding;
  return [
    floatT('T'),
    floatT('U'),
    { name: 'epsilon', type: b.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.TF_ATTR_BOOL, value: true },
  ];
}

function bnFwdAttrs(epsilon: number): NativeOpAttr[] {
  const b = nativeBackend().binding;
  return [...bnGradAttrs(epsilon), { name: 'exponential_avg_factor', type: b.TF_ATTR_FLOAT, value: 1 }];
}

const onesRows = new Map<number, tf.Tensor2D>();

/** A kept [1, m] row of 1/m: column means as one MatMul (faster than TF's Mean over the outer axes). */
function onesRow(m: number): tf.Tensor2D {
  const cached = onesRows.get(m);
  if (cached) return cached;
  const t = tf.keep(tf.fill([1, m], 1 / m) as tf.Tensor2D);
  onesRows.set(m, t);
  return t;
}

function recordStats(o: BatchNormTrainOptions, mean: tf.Tensor1D, variance: tf.Tensor1D, unbias: number): void {
  const rm = o.runningMean;
  const rv = o.runningVar;
  if (!rm || !rv) return;
  if (o.collector) {
    o.collector.add({ runningMean: rm, runningVar: rv, mean: tf.keep(mean), variance: tf.keep(variance), unbias });
    return;
  }
  const m = o.momentum ?? 0.1;
  tf.tidy(() => {
    rm.assign(tf.add(tf.mul(rm, 1 - m), tf.mul(mean, m)));
    rv.assign(tf.add(tf.mul(rv, 1 - m), tf.mul(variance, m * unbias)));
  });
}

/**
 * Native training-mode BN: FusedBatchNormV3 forward (or the composite forward, see `impl`) and
 * FusedBatchNormGradV3 backward, which on CPU takes the batch mean and biased variance as its reserve spaces.
 */
function nativeBatchNorm(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, o: BatchNormTrainOptions): tf.Tensor4D {
  const epsilon = o.epsilon ?? 1e-5;
  // The composite forward needs CPU reserve-space semantics (on GPU, reserve space 2 is cuDNN's inverse variance).
  const fused = (o.impl ?? 'fused') === 'fused' || nativeBackend().isUsingGpuDevice;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, g, b, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const [n, h, w, c] = xi.shape;
    const count = n * h * w;
    let y: tf.Tensor;
    let r1: tf.Tensor;
    let r2: tf.Tensor;
    let r3: tf.Tensor;
    if (fused) {
      const e = tf.tensor1d([]);
      const outs = nativeBackend().executeMultipleOutputs('FusedBatchNormV3', bnFwdAttrs(epsilon), [xi, g, b, e, e], 6);
      [y, , , r1, r2, r3] = outs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      // Outputs 1 and 2 are the batch mean and the already unbiased batch variance.
      recordStats(o, outs[1] as tf.Tensor1D, outs[2] as tf.Tensor1D, 1);
    } else {
      const x2 = tf.reshape(xi, [count, c]) as tf.Tensor2D;
      const ones = onesRow(count);
      const mean = rawMatMul(ones, x2, false, false); // [1, c]; the row holds 1/count
      const variance = rawMatMul(ones, tf.squaredDifference(x2, mean), false, false);
      const scale = tf.mul(g, tf.rsqrt(tf.add(variance, epsilon)));
      const shift = tf.sub(b, tf.mul(mean, scale));
      y = tf.add(tf.mul(xi, scale), shift);
      r1 = tf.reshape(mean, [c]);
      r2 = tf.reshape(variance, [c]);
      r3 = tf.tensor1d([]);
      recordStats(o, r1 as tf.Tensor1D, r2 as tf.Tensor1D, count / Math.max(count - 1, 1));
    }
    save([xi, g, r1, r2, r3]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, gs, s1, s2, s3] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const inputs = [dy as tf.Tensor, xs, gs, s1, s2, s3];
        const grads = nativeBackend().executeMultipleOutputs('FusedBatchNormGradV3', bnGradAttrs(epsilon), inputs, 5);
        return [grads[0] as tf.Tensor, grads[1] as tf.Tensor, grads[2] as tf.Tensor];
      },
    };
  });
  return f(x, gamma, beta) as tf.Tensor4D;
}

function fallbackBatchNorm<T extends tf.Tensor>(
  x: T,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  o: BatchNormTrainOptions,
): T {
  const epsilon = o.epsilon ?? 1e-5;
  const axes = x.rank === 4 ? [0, 1, 2] : [0];
  const { mean, variance } = tf.moments(x, axes);
  const n = x.size / (x.shape[x.rank - 1] as number);
  recordStats(o, mean as tf.Tensor1D, variance as tf.Tensor1D, n / Math.max(n - 1, 1));
  const scale = tf.mul(tf.rsqrt(tf.add(variance, epsilon)), gamma);
  return tf.add(tf.mul(tf.sub(x, mean), scale), beta) as T;
}

/**
 * Training-mode batch norm over all axes but the last (NHWC or [N, C]): normalises with the biased batch
 * variance, updates the running statistics (unbiased variance, PyTorch momentum convention) in place or through
 * `opts.collector`, and back-propagates into x, gamma and beta.
 */
export function batchNormTrain<T extends tf.Tensor4D | tf.Tensor2D>(
  x: T,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  opts: BatchNormTrainOptions = {},
): T {
  if (isNative() && !opts.fallback) {
    if (x.rank === 4) return nativeBatchNorm(x as tf.Tensor4D, gamma, beta, opts) as T;
    const [n, c] = x.shape as [number, number];
    return tf.reshape(nativeBatchNorm(tf.reshape(x, [n, 1, 1, c]), gamma, beta, opts), [n, c]) as T;
  }
  return fallbackBatchNorm(x, gamma, beta, opts);
}

/** Inference-mode batch norm from running statistics: y = x * scale + shift (two full-size ops). */
export function batchNormInfer<T extends tf.Tensor>(
  x: T,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  epsilon = 1e-5,
): T {
  const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, epsilon)));
  const shift = tf.sub(beta, tf.mul(mean, scale));
  return tf.add(tf.mul(x, scale), shift) as T;
}

/** Euclidean norm of all elements as a scalar: TF's EuclideanNorm (one op) natively, tf.norm elsewhere. */
export function euclideanNorm(x: tf.Tensor): tf.Scalar {
  if (!isNative()) return tf.norm(x) as tf.Scalar;
  const b = nativeBackend().binding;
  const axes = tf.tensor1d(
    Array.from({ length: x.rank }, (_, i) => i),
    'int32',
  );
  const out = nativeBackend().executeSingleOutput(
    'EuclideanNorm',
    [floatT(), floatT('Tidx', 'int32'), { name: 'keep_dims', type: b.TF_ATTR_BOOL, value: false }],
    [x, axes],
  );
  axes.dispose();
  return out as tf.Scalar;
}

/** ReLU; its gradient is TF's ReluGrad on the native backend (registered by initBackend). */
export function relu<T extends tf.Tensor>(x: T): T {
  return tf.relu(x);
}

/** Sigmoid; its gradient is TF's SigmoidGrad on the native backend (registered by initBackend). */
export function sigmoid<T extends tf.Tensor>(x: T): T {
  return tf.sigmoid(x);
}

type MatMul = (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;
const nativeMatMulCache = new Map<string, MatMul>();

function matMulAttrs(ta: boolean, tb: boolean): NativeOpAttr[] {
  const b = nativeBackend().binding;
  return [
    floatT(),
    { name: 'adj_x', type: b.TF_ATTR_BOOL, value: ta },
    { name: 'adj_y', type: b.TF_ATTR_BOOL, value: tb },
  ];
}

/**
 * 2-D product through BatchMatMulV2 (rank-2 inputs need no reshape). Not TF's MatMul: with transpose_a it
 * aborts with heap corruption under the V8 sampling profiler (`node --cpu-prof`; reproduced with bare
 * tfjs-node calls), while BatchMatMulV2 runs clean and measured the same speed.
 */
function rawMatMul(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): tf.Tensor {
  return nativeBackend().executeSingleOutput('BatchMatMulV2', matMulAttrs(ta, tb), [a, b]);
}

/** Native 2-D matrix product with its gradient (tfjs's matMul adds three reshapes each way). */
function nativeMatMul(ta: boolean, tb: boolean): MatMul {
  const key = `${ta}/${tb}`;
  let f = nativeMatMulCache.get(key);
  if (!f) {
    const g = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      save([a, b]);
      return {
        value: rawMatMul(a, b, ta, tb),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
          const d = dy as tf.Tensor;
          // C = op(A) op(B): the four transpose cases of the matrix-product gradient.
          if (!ta && !tb) return [rawMatMul(d, sb, false, true), rawMatMul(sa, d, true, false)];
          if (!ta && tb) return [rawMatMul(d, sb, false, false), rawMatMul(d, sa, true, false)];
          if (ta && !tb) return [rawMatMul(sb, d, false, true), rawMatMul(sa, d, false, false)];
          return [rawMatMul(sb, d, true, true), rawMatMul(d, sa, true, true)];
        },
      };
    });
    f = g as unknown as MatMul;
    nativeMatMulCache.set(key, f);
  }
  return f;
}

/** 2-D matrix product op(a) op(b): one native op each way on TF, tf.matMul elsewhere. */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeA = false, transposeB = false): tf.Tensor2D {
  if (isNative()) return nativeMatMul(transposeA, transposeB)(a, b);
  return tf.matMul(a, b, transposeA, transposeB);
}

/**
 * Rows of `x` picked by int32 `indices` along axis 0, no gradient. Native GatherV2 directly: tfjs-node's kernel
 * checks every index in JS first, which costs milliseconds for the million-entry index vectors of LARS.
 */
export function gather(x: tf.Tensor, indices: tf.Tensor): tf.Tensor {
  if (!isNative()) return tf.gather(x, indices);
  const axis = tf.scalar(0, 'int32');
  const out = nativeBackend().executeSingleOutput(
    'GatherV2',
    [
      floatT('Tparams'),
      floatT('Tindices', 'int32'),
      floatT('Taxis', 'int32'),
      { name: 'batch_dims', type: nativeBackend().binding.TF_ATTR_INT, value: 0 },
    ],
    [x, indices, axis],
  );
  axis.dispose();
  return out;
}

/**
 * Mean over the spatial axes of NHWC: [N, H, W, C] -> [N, C]. Own gradient (dy / HW tiled over H, W) because
 * tfjs's Mean gradient multiplies by a ones tensor built in JS, element by element, every step.
 */
export function spatialMean(x: tf.Tensor4D): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xi = args[0] as tf.Tensor4D;
    const [n, h, w, c] = xi.shape;
    return {
      value: tf.mean(xi, [1, 2]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
        const scaled = tf.reshape(tf.mul(dy as tf.Tensor, 1 / (h * w)), [n, 1, 1, c]);
        return [tf.tile(scaled, [1, h, w, 1])];
      },
    };
  });
  return f(x) as tf.Tensor2D;
}
