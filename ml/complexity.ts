/**
 * Parameter, FLOP and activation counts of a RegNet spec without building tensors, following the pycls
 * `complexity()` convention: FLOPs are multiply-adds of convolutions and linear layers only (plus one per output
 * channel for biases); BN counts 2 params per channel (gamma, beta) and nothing else; activations count conv and
 * linear outputs.
 */
import type { RegNetSpec } from './regnet';

/** Totals of a model or layer walk. Numbers stay exact integers well past 2^32 (doubles are exact to 2^53). */
export interface Complexity {
  /** Trainable parameters: conv/linear weights, biases, BN gamma and beta. Running statistics are not counted. */
  params: number;
  /** Multiply-adds (pycls "flops") for one image. */
  flops: number;
  /** Activations (output elements of every conv and linear layer), as pycls counts them. */
  acts: number;
}

/** Options of {@link regnetComplexity}. */
export interface ComplexityOptions {
  /** Input side in pixels (square input). @default 224 */
  resolution?: number;
  /** When set, a global-average-pool + `Linear(outWidth, numClasses)` classifier with bias is included. */
  numClasses?: number;
}

interface Cursor extends Complexity {
  h: number;
  w: number;
}

/** A k x k conv with padding k/2: the spatial size becomes ceil(size / stride), as pycls `conv2d_cx`. */
function conv(cx: Cursor, wIn: number, wOut: number, k: number, stride = 1, groups = 1, bias = false): void {
  cx.h = Math.floor((cx.h - 1) / stride) + 1;
  cx.w = Math.floor((cx.w - 1) / stride) + 1;
  const weights = (k * k * wIn * wOut) / groups;
  cx.flops += weights * cx.h * cx.w + (bias ? wOut : 0);
  cx.params += weights + (bias ? wOut : 0);
  cx.acts += wOut * cx.h * cx.w;
}

function batchNorm(cx: Cursor, channels: number): void {
  cx.params += 2 * channels;
}

/** SE: global pool, 1x1 conv (bias) to wSe, ReLU, 1x1 conv (bias) back, sigmoid, scale. Runs at 1 x 1. */
function squeezeExcite(cx: Cursor, channels: number, wSe: number): void {
  const { h, w } = cx;
  cx.h = 1;
  cx.w = 1;
  conv(cx, channels, wSe, 1, 1, 1, true);
  conv(cx, wSe, channels, 1, 1, 1, true);
  cx.h = h;
  cx.w = w;
}

function check(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
}

/**
 * Count parameters, FLOPs (multiply-adds, pycls convention) and activations of a RegNet trunk, optionally with
 * a classifier. The stride of each block sits on its 3x3 conv, so the first 1x1 conv runs at input resolution.
 *
 * @example regnetComplexity(regnetSpec({depth:13,w0:24,wa:36.44,wm:2.49,groupWidth:8}), {numClasses:1000})
 *   // -> { params: 3162996, flops: 199519076, acts: 2168052 }  (RegNetY-200MF)
 * @throws RangeError when `resolution` or `numClasses` is not a positive integer.
 */
export function regnetComplexity(spec: RegNetSpec, opts: ComplexityOptions = {}): Complexity {
  const resolution = opts.resolution ?? 224;
  check('resolution', resolution, 1);
  if (opts.numClasses !== undefined) check('numClasses', opts.numClasses, 1);
  const cx: Cursor = { h: resolution, w: resolution, params: 0, flops: 0, acts: 0 };

  conv(cx, 3, spec.stemWidth, 3, 2);
  batchNorm(cx, spec.stemWidth);

  for (const blk of spec.blocks) {
    if (blk.projection) {
      // The shortcut is a parallel branch: count it, then restore the spatial size for the residual branch.
      const { h, w } = cx;
      conv(cx, blk.wIn, blk.wOut, 1, blk.stride);
      batchNorm(cx, blk.wOut);
      cx.h = h;
      cx.w = w;
    }
    conv(cx, blk.wIn, blk.wB, 1);
    batchNorm(cx, blk.wB);
    conv(cx, blk.wB, blk.wB, 3, blk.stride, blk.groups);
    batchNorm(cx, blk.wB);
    if (blk.seWidth > 0) squeezeExcite(cx, blk.wB, blk.seWidth);
    conv(cx, blk.wB, blk.wOut, 1);
    batchNorm(cx, blk.wOut);
  }

  if (opts.numClasses !== undefined) {
    cx.h = 1;
    cx.w = 1;
    conv(cx, spec.outWidth, opts.numClasses, 1, 1, 1, true); // a Linear layer is a 1x1 conv at 1 x 1
  }
  return { params: cx.params, flops: cx.flops, acts: cx.acts };
}
