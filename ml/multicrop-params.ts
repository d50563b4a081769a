/**
 * SwAV multi-crop: every random parameter of one sample's views, drawn from one keyed {@link Rng} in a fixed,
 * documented order. Pure: no I/O, no image decoding. The pixel work lives in `multicrop/index.ts`.
 *
 * Semantics follow torchvision + the SwAV/VISSL transform stack (reference: swav-seer.md §3):
 * RandomResizedCrop(size, scale, ratio=(3/4, 4/3)) -> RandomHorizontalFlip(0.5) ->
 * RandomApply(ColorJitter(0.8s, 0.8s, 0.8s, 0.2s), p=0.8) -> RandomGrayscale(0.2) -> GaussianBlur(p=0.5,
 * sigma ~ U(0.1, 2.0)) -> ToTensor -> Normalize.
 *
 * Draw order per view (views in crop-spec order, `count` views per spec):
 *  1. crop: up to 10 attempts of [scale u, log-ratio u]; on the first fitting attempt, top = int(H-h+1) then
 *     left = int(W-w+1); no further draws on fallback (centre crop).
 *  2. flip: one uniform, flip iff u < flipP.
 *  3. jitter: one uniform, applies iff u <= jitterP (torchvision RandomApply); then ALWAYS the order (Fisher-Yates
 *     over 4 ops: 3 ints) and the 4 factors brightness, contrast, saturation, hue, drawn even when jitter does not
 *     apply so the stream length after the crop is fixed.
 *  4. grayscale: one uniform, iff u < grayscaleP.
 *  5. blur: one uniform, iff u <= blurP (SwAV's `rand() <= p`); then ALWAYS one uniform for sigma.
 */
import type { Rng } from './rng';

/** One group of views of the same size (the shape of `swav.crops[]` in config/schema.ts). */
export interface CropSpec {
  /** output side in pixels (views are square) */
  size: number;
  /** number of views of this spec */
  count: number;
  /** RandomResizedCrop lower area fraction */
  minScale: number;
  /** RandomResizedCrop upper area fraction */
  maxScale: number;
}

/** A crop rectangle in source pixels, torchvision's (i, j, h, w) as (top, left, height, width). */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** The four ColorJitter operations. */
export type JitterOp = 'brightness' | 'contrast' | 'saturation' | 'hue';

/** ColorJitter factors plus the random order torchvision applies them in. */
export interface JitterParams {
  /** multiply by this (blend with black), in [1-b, 1+b] */
  brightness: number;
  /** blend with the mean of the grayscale image */
  contrast: number;
  /** blend with the per-pixel grayscale */
  saturation: number;
  /** hue shift in turns, in [-h, h] */
  hue: number;
  /** application order (a permutation of the 4 ops) */
  order: readonly JitterOp[];
}

/** Every random decision for one view. */
export interface ViewParams {
  /** index into the crop specs this view came from */
  specIndex: number;
  /** output side in pixels */
  size: number;
  crop: CropBox;
  /** attempts used by RandomResizedCrop (1..10), or 0 when the centre-crop fallback was taken */
  cropAttempts: number;
  flip: boolean;
  /** the jitter to apply, or null when RandomApply skipped it */
  jitter: JitterParams | null;
  grayscale: boolean;
  /** Gaussian sigma in pixels, or null when no blur */
  blurSigma: number | null;
}

/** Probabilities and ranges of the augmentation stack. */
export interface AugmentSettings {
  /** RandomResizedCrop aspect-ratio range (w/h) */
  ratio: readonly [number, number];
  flipP: number;
  jitterP: number;
  /** ColorJitter strengths (torchvision arguments): brightness, contrast, saturation in [max(0,1-x), 1+x] */
  brightness: number;
  contrast: number;
  saturation: number;
  /** hue range [-hue, hue], at most 0.5 */
  hue: number;
  grayscaleP: number;
  blurP: number;
  blurSigma: readonly [number, number];
}

/** SwAV / SEER defaults (colour-distortion strength s = 1). */
export const SWAV_AUGMENT: Readonly<AugmentSettings> = Object.freeze({
  ratio: [3 / 4, 4 / 3] as const,
  flipP: 0.5,
  jitterP: 0.8,
  brightness: 0.8,
  contrast: 0.8,
  saturation: 0.8,
  hue: 0.2,
  grayscaleP: 0.2,
  blurP: 0.5,
  blurSigma: [0.1, 2.0] as const,
});

/** The jitter ops in the index order torchvision's `randperm(4)` refers to. */
export const JITTER_OPS: readonly JitterOp[] = Object.freeze(['brightness', 'contrast', 'saturation', 'hue']);

/** Python's `round()`: nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends ties up; move exact .5 ties that landed on an odd number back down
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torch's float32 `uniform_(lo, hi)`, as a double. */
function uniformF32(rng: Rng, lo: number, hi: number): number {
  return Math.fround(lo + (hi - lo) * rng.next());
}

/**
 * torchvision `RandomResizedCrop.get_params`: 10 attempts at an area fraction from U(scale) and an aspect ratio
 * that is log-uniform in `ratio`; the first box that fits is placed uniformly. Otherwise a centre crop of the
 * whole image with its aspect ratio clamped into `ratio`. float32 intermediates as in torch.
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  rng: Rng,
): CropBox & { attempts: number } {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
  if (!(scale[0] > 0 && scale[0] <= scale[1])) throw new RangeError(`bad scale range ${scale[0]}..${scale[1]}`);
  if (!(ratio[0] > 0 && ratio[0] <= ratio[1])) throw new RangeError(`bad ratio range ${ratio[0]}..${ratio[1]}`);
  const area = width * height;
  const logLo = Math.fround(Math.log(ratio[0]));
  const logHi = Math.fround(Math.log(ratio[1]));
  const sLo = Math.fround(scale[0]);
  const sHi = Math.fround(scale[1]);
  for (let attempt = 1; attempt <= 10; attempt++) {
    const targetArea = area * uniformF32(rng, sLo, sHi);
    const aspect = Math.fround(Math.exp(uniformF32(rng, logLo, logHi)));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w, attempts: attempt };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w, attempts: 0 };
}

function factorRange(x: number): [number, number] {
  return [Math.max(0, 1 - x), 1 + x];
}

/**
 * Draw all views' parameters for one sample (see the module comment for the exact order). Pure function of
 * (imageWidth, imageHeight, specs, rng state, settings); advances `rng`.
 */
export function drawMulticropParams(
  imageWidth: number,
  imageHeight: number,
  specs: readonly CropSpec[],
  rng: Rng,
  settings: Readonly<AugmentSettings> = SWAV_AUGMENT,
): ViewParams[] {
  if (!(settings.hue >= 0 && settings.hue <= 0.5))
    throw new RangeError(`hue range must be in [0, 0.5], got ${settings.hue}`);
  const [bLo, bHi] = factorRange(settings.brightness);
  const [cLo, cHi] = factorRange(settings.contrast);
  const [sLo, sHi] = factorRange(settings.saturation);
  const views: ViewParams[] = [];
  specs.forEach((spec, specIndex) => {
    if (!(Number.isInteger(spec.size) && spec.size > 0 && Number.isInteger(spec.count) && spec.count >= 0)) {
      throw new RangeError(`bad crop spec ${JSON.stringify(spec)}`);
    }
    for (let v = 0; v < spec.count; v++) {
      const { attempts, ...crop } = randomResizedCropBox(
        imageWidth,
        imageHeight,
        [spec.minScale, spec.maxScale],
        settings.ratio,
        rng,
      );
      const flip = rng.next() < settings.flipP;
      const jitterOn = rng.next() <= settings.jitterP;
      const order = rng.shuffle([0, 1, 2, 3]).map((i) => JITTER_OPS[i] as JitterOp);
      const brightness = uniformF32(rng, bLo, bHi);
      const contrast = uniformF32(rng, cLo, cHi);
      const saturation = uniformF32(rng, sLo, sHi);
      const hue = uniformF32(rng, -settings.hue, settings.hue);
      const grayscale = rng.next() < settings.grayscaleP;
      const blurOn = rng.next() <= settings.blurP;
      const sigma = rng.uniform(settings.blurSigma[0], settings.blurSigma[1]);
      views.push({
        specIndex,
        size: spec.size,
        crop,
        cropAttempts: attempts,
        flip,
        jitter: jitterOn ? { brightness, contrast, saturation, hue, order } : null,
        grayscale,
        blurSigma: blurOn ? sigma : null,
      });
    }
  });
  return views;
}
