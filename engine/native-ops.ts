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

/** Native Conv2D with its gradient; one customGrad closure per (stride, padding), built once. */
function nativeConv(stride: number, padding: NativePadding): Conv {
  const key = `${stride}/${padding}`;
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
          const dx = be.executeSingleOutput('Conv2DBackpropInput', attrs, [tf.tensor1d(xs.shape, 'int32'), ws, d]);
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
    if (mode === 'PAD') {
      const xp = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
      return nativeConv(stride, 'VALID')(xp, w);
    }
    return nativeConv(stride, mode)(x, w);
  }
  // Explicit pad + 'valid' works on every backend (tfjs-node's backprop kernels reject EXPLICIT padding).
  const xp = pad === 0 ? x : tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
  if (groups === 1) return tf.conv2d(xp as tf.Tensor4D, w, stride, 'valid');
  const xs = tf.split(xp, groups, 3) as tf.Tensor4D[];
  const ws = tf.split(w, groups, 3);
  return tf.concat(
    xs.map((xi, i) => tf.conv2d(xi, ws[i] as tf.Tensor4D, stride, 'valid')),
    3
  );
}

/** Options of {@link batchNormTrain}. */
export interface BatchNormTrainOptions {
  /** Added to the variance. @default 1e-5 */
  epsilon?: number;
  /** Running-statistics momentum (PyTorch convention: new = (1 - m) * old + m * batch). @default 0.1 */
  momentum?: number;
  /** Running mean, updated in place when given. */
  runningMean?: tf.Variable;
  /** Running variance (unbiased batch variance, as PyTorch), updated in place when given. */
  runningVar?: tf.Variable;
  /** Use the tfjs fallback even on the native backend. */
  fallback?: boolean;
}

function bnAttrs(epsilon: number, avgFactor: number | undefined): NativeOpAttr[] {
  const b = nativeBackend().binding;
  const attrs: NativeOpAttr[] = [
    floatT('T'),
    floatT('U'),
    { name: 'epsilon', type: b.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.TF_ATTR_BOOL, value: true },
  ];
  if (avgFactor !== undefined) attrs.push({ name: 'exponential_avg_factor', type: b.TF_ATTR_FLOAT, value: avgFactor });
  return attrs;
}

function nativeBatchNorm(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, o: BatchNormTrainOptions): tf.Tensor4D {
  const epsilon = o.epsilon ?? 1e-5;
  const momentum = o.momentum ?? 0.1;
  const rm = o.runningMean;
  const rv = o.runningVar;
  const track = rm !== undefined && rv !== undefined;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const be = nativeBackend();
    // With exponential_avg_factor = momentum TF returns the UPDATED running stats (variance Bessel-corrected).
    const stats = track ? [rm, rv] : [tf.tensor1d([]), tf.tensor1d([])];
    const outs = be.executeMultipleOutputs('FusedBatchNormV3', bnAttrs(epsilon, track ? momentum : 1), [xi, g, b, ...stats], 6);
    const [y, newMean, newVar, r1, r2, r3] = outs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    if (track) {
      rm.assign(newMean as tf.Tensor1D);
      rv.assign(newVar as tf.Tensor1D);
    }
    save([xi, g, r1, r2, r3]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, gs, s1, s2, s3] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const grads = nativeBackend().executeMultipleOutputs(
          'FusedBatchNormGradV3',
          bnAttrs(epsilon, undefined),
          [dy as tf.Tensor, xs, gs, s1, s2, s3],
          5
        );
        return [grads[0] as tf.Tensor, grads[1] as tf.Tensor, grads[2] as tf.Tensor];
      },
    };
  });
  return f(x, gamma, beta) as tf.Tensor4D;
}

function fallbackBatchNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, o: BatchNormTrainOptions): T {
  const epsilon = o.epsilon ?? 1e-5;
  const momentum = o.momentum ?? 0.1;
  const axes = x.rank === 4 ? [0, 1, 2] : [0];
  const { mean, variance } = tf.moments(x, axes);
  if (o.runningMean && o.runningVar) {
    const rm = o.runningMean;
    const rv = o.runningVar;
    const n = x.size / (x.shape[x.rank - 1] as number);
    tf.tidy(() => {
      rm.assign(tf.add(tf.mul(rm, 1 - momentum), tf.mul(mean, momentum)));
      rv.assign(tf.add(tf.mul(rv, 1 - momentum), tf.mul(variance, (momentum * n) / Math.max(n - 1, 1))));
    });
  }
  const scale = tf.mul(tf.rsqrt(tf.add(variance, epsilon)), gamma);
  return tf.add(tf.mul(tf.sub(x, mean), scale), beta) as T;
}

/**
 * Training-mode batch norm over all axes but the last (NHWC or [N, C]): normalises with the biased batch
 * variance, updates the running statistics in place (unbiased variance, PyTorch momentum convention) and
 * back-propagates into x, gamma and beta.
 */
export function batchNormTrain<T extends tf.Tensor4D | tf.Tensor2D>(
  x: T,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  opts: BatchNormTrainOptions = {}
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
  epsilon = 1e-5
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
    'int32'
  );
  const out = nativeBackend().executeSingleOutput(
    'EuclideanNorm',
    [floatT(), floatT('Tidx', 'int32'), { name: 'keep_dims', type: b.TF_ATTR_BOOL, value: false }],
    [x, axes]
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
