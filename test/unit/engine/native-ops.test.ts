import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendInfo } from '../../../engine/backend';
import {
  batchNormInfer,
  batchNormTrain,
  conv2d,
  euclideanNorm,
  matMul,
  pointwiseConv,
  RunningStatsCollector,
  spatialMean,
} from '../../../engine/native-ops';

process.env.TF_CPP_MIN_LOG_LEVEL = '2';

function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

let info: BackendInfo;
beforeAll(() => {
  info = initBackend();
});

describe('native ops on the native TensorFlow backend', () => {
  it('runs on native TensorFlow CPU with prod mode', () => {
    expect(info).toMatchObject({ name: 'tensorflow', native: true, device: 'cpu', tfVersion: '2.21.0' });
    expect(info.fallbackReason).toBeUndefined();
    expect(tf.env().getBool('PROD')).toBe(true);
  });

  // 3x3 stride 2 on even sizes runs as a 4x4 'SAME' conv; other even stride-2 cases pad explicitly; odd sizes
  // and stride 1 take 'SAME'.
  it.each([
    { size: 8, groups: 4, stride: 2, k: 3, pad: 1 },
    { size: 8, groups: 2, stride: 2, k: 5, pad: 2 },
    { size: 7, groups: 4, stride: 2, k: 3, pad: 1 },
    { size: 6, groups: 2, stride: 1, k: 3, pad: 1 },
    { size: 6, groups: 1, stride: 2, k: 1, pad: 0 },
    { size: 9, groups: 1, stride: 2, k: 3, pad: 1 },
  ])('grouped conv matches split+concat, forward and gradients: %o', ({ size, groups, stride, k, pad }) => {
    const x = tf.randomNormal([3, size, size, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([k, k, 8 / groups, 12], 0, 1, 'float32', 2) as tf.Tensor4D;
    const opts = { stride, pad, groups };
    const yN = conv2d(x, w, opts);
    const yF = conv2d(x, w, { ...opts, fallback: true });
    const outSize = Math.floor((size + 2 * pad - k) / stride) + 1;
    expect(yN.shape).toEqual([3, outSize, outSize, 12]);
    expect(maxAbs(yN, yF)).toBeLessThan(1e-5);
    const dy = tf.randomNormal(yN.shape, 0, 1, 'float32', 3);
    const gN = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, opts), dy)),
    )([x, w]);
    const gF = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, { ...opts, fallback: true }), dy)),
    )([x, w]);
    expect(maxAbs(gN[0] as tf.Tensor, gF[0] as tf.Tensor)).toBeLessThan(1e-5);
    expect(maxAbs(gN[1] as tf.Tensor, gF[1] as tf.Tensor)).toBeLessThan(5e-5);
    tf.dispose([x, w, yN, yF, dy, ...gN, ...gF]);
  });

  it.each([
    [4, 'fused'],
    [2, 'fused'],
    [4, 'composite'],
  ] as const)(
    'native batch norm (rank %i, %s forward) matches the tfjs reference: output, gradients, running stats',
    (rank, impl) => {
      const shape = rank === 4 ? [4, 5, 5, 6] : [16, 6];
      const x = tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 4), 2), 1) as tf.Tensor4D | tf.Tensor2D;
      const gamma = tf.randomNormal([6], 1, 0.2, 'float32', 5) as tf.Tensor1D;
      const beta = tf.randomNormal([6], 0, 0.2, 'float32', 6) as tf.Tensor1D;
      const dy = tf.randomNormal(shape, 0, 1, 'float32', 7);
      const stats = () => ({ runningMean: tf.variable(tf.fill([6], 0.5)), runningVar: tf.variable(tf.fill([6], 2)) });
      const sN = stats();
      const sF = stats();
      const run = (s: ReturnType<typeof stats>, fallback: boolean) =>
        tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          tf.sum(
            tf.mul(batchNormTrain(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, { ...s, fallback, impl }), dy),
          ),
        )([x, gamma, beta]);
      const yN = batchNormTrain(x, gamma, beta, { fallback: false, impl });
      const yF = batchNormTrain(x, gamma, beta, { fallback: true });
      expect(maxAbs(yN, yF)).toBeLessThan(1e-5);
      const gN = run(sN, false);
      const gF = run(sF, true);
      for (let i = 0; i < 3; i++) expect(maxAbs(gN[i] as tf.Tensor, gF[i] as tf.Tensor)).toBeLessThan(2e-5);
      expect(maxAbs(sN.runningMean, sF.runningMean)).toBeLessThan(1e-6);
      expect(maxAbs(sN.runningVar, sF.runningVar)).toBeLessThan(1e-5);
      // Unbiased batch variance goes into the running variance (PyTorch).
      const { mean, variance } = tf.moments(x, rank === 4 ? [0, 1, 2] : [0]);
      const n = x.size / 6;
      const expVar = tf.add(tf.mul(tf.fill([6], 2), 0.9), tf.mul(variance, (0.1 * n) / (n - 1)));
      expect(maxAbs(sN.runningVar, expVar)).toBeLessThan(1e-5);
      expect(maxAbs(sN.runningMean, tf.add(0.45, tf.mul(mean, 0.1)))).toBeLessThan(1e-6);
      // Inference mode with the batch's own statistics reproduces the training output.
      const yI = batchNormInfer(x, gamma, beta, mean as tf.Tensor1D, variance as tf.Tensor1D);
      expect(maxAbs(yI, yF)).toBeLessThan(1e-5);
      tf.dispose([x, gamma, beta, dy, yN, yF, yI, mean, variance, expVar, ...gN, ...gF]);
      tf.dispose([sN.runningMean, sN.runningVar, sF.runningMean, sF.runningVar]);
    },
  );

  it('uses native ReluGrad/SigmoidGrad with the same values as the tfjs formulas', () => {
    const x = tf.randomNormal([5, 7], 0, 1, 'float32', 8);
    const dy = tf.randomNormal([5, 7], 0, 1, 'float32', 9);
    const [gr] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), dy)))([x]);
    const [gs] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.sigmoid(a), dy)))([x]);
    const s = tf.sigmoid(x);
    expect(maxAbs(gr as tf.Tensor, tf.mul(dy, tf.step(x)))).toBe(0);
    expect(maxAbs(gs as tf.Tensor, tf.mul(dy, tf.mul(s, tf.sub(1, s))))).toBeLessThan(1e-6);
  });

  it.each([1, 2])('pointwise conv (MatMul path, stride %i) matches Conv2D, forward and gradients', (stride) => {
    const x = tf.randomNormal([2, 6, 6, 8], 0, 1, 'float32', 12) as tf.Tensor4D;
    const w = tf.randomNormal([8, 5], 0, 1, 'float32', 13) as tf.Tensor2D;
    const ref = (a: tf.Tensor, b: tf.Tensor) =>
      conv2d(a as tf.Tensor4D, tf.reshape(b, [1, 1, 8, 5]), { stride, fallback: true });
    const mine = (a: tf.Tensor, b: tf.Tensor) => pointwiseConv(a as tf.Tensor4D, b as tf.Tensor2D, { stride });
    expect(maxAbs(mine(x, w), ref(x, w))).toBeLessThan(1e-5);
    const dy = tf.randomNormal(ref(x, w).shape, 0, 1, 'float32', 14);
    const gA = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(mine(a, b), dy)))([x, w]);
    const gB = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(ref(a, b), dy)))([x, w]);
    for (let i = 0; i < 2; i++) expect(maxAbs(gA[i] as tf.Tensor, gB[i] as tf.Tensor)).toBeLessThan(1e-4);
  });

  it.each([
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ])('native MatMul (transposeA %s, transposeB %s) matches tf.matMul with gradients', (ta, tb) => {
    const a = tf.randomNormal(ta ? [4, 3] : [3, 4], 0, 1, 'float32', 15) as tf.Tensor2D;
    const b = tf.randomNormal(tb ? [5, 4] : [4, 5], 0, 1, 'float32', 16) as tf.Tensor2D;
    const dy = tf.randomNormal([3, 5], 0, 1, 'float32', 17);
    const gN = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(matMul(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb), dy)),
    )([a, b]);
    const gT = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), dy)))([a, b]);
    expect(maxAbs(matMul(a, b, ta, tb), tf.matMul(a, b, ta, tb))).toBeLessThan(1e-5);
    for (let i = 0; i < 2; i++) expect(maxAbs(gN[i] as tf.Tensor, gT[i] as tf.Tensor)).toBeLessThan(1e-5);
  });

  it('deferred running-stat updates (collector) equal in-place updates, twice per layer in call order', () => {
    const xs = [
      tf.randomNormal([4, 3, 3, 6], 1, 2, 'float32', 18),
      tf.randomNormal([6, 2, 2, 6], -1, 1, 'float32', 19),
    ];
    const gamma = tf.ones([6]) as tf.Tensor1D;
    const beta = tf.zeros([6]) as tf.Tensor1D;
    const mk = () => ({ runningMean: tf.variable(tf.fill([6], 0.3)), runningVar: tf.variable(tf.fill([6], 1.5)) });
    const a = mk();
    const b = mk();
    const other = mk();
    const collector = new RunningStatsCollector(0.1);
    for (const x of xs) {
      batchNormTrain(x as tf.Tensor4D, gamma, beta, a);
      batchNormTrain(x as tf.Tensor4D, gamma, beta, { ...b, collector });
      batchNormTrain(x as tf.Tensor4D, gamma, beta, { ...other, collector });
    }
    expect(maxAbs(b.runningMean, tf.fill([6], 0.3))).toBe(0); // nothing applied yet
    const n = tf.memory().numTensors;
    collector.flush();
    expect(tf.memory().numTensors).toBe(n - 8); // the 2 x 2 x 2 kept statistics are released
    expect(maxAbs(a.runningMean, b.runningMean)).toBeLessThan(1e-6);
    expect(maxAbs(a.runningVar, b.runningVar)).toBeLessThan(1e-5);
    expect(maxAbs(other.runningVar, b.runningVar)).toBeLessThan(1e-6);
  });

  it('spatial mean matches tf.mean, forward and gradient', () => {
    const x = tf.randomNormal([2, 3, 5, 4], 0, 1, 'float32', 20);
    const dy = tf.randomNormal([2, 4], 0, 1, 'float32', 21);
    expect(maxAbs(spatialMean(x as tf.Tensor4D), tf.mean(x, [1, 2]))).toBeLessThan(1e-6);
    const [gA] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(spatialMean(a as tf.Tensor4D), dy)))([x]);
    const [gB] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.mean(a, [1, 2]), dy)))([x]);
    expect(maxAbs(gA as tf.Tensor, gB as tf.Tensor)).toBeLessThan(1e-6);
  });

  it('computes Euclidean norms in one op', () => {
    const x = tf.randomNormal([3, 3, 4, 5], 0, 1, 'float32', 10);
    expect(euclideanNorm(x).dataSync()[0]).toBeCloseTo(tf.norm(x).dataSync()[0] as number, 4);
  });
});
