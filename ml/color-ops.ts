/**
 * Straightforward float reference implementations of the multi-crop pixel operations, on interleaved RGB
 * images (HWC, values in [0, 1]). They follow torchvision's tensor semantics (each op clamps to [0, 1]); the
 * Pillow path SwAV uses computes the same maths on uint8 images and rounds after every step.
 *
 * These are written for clarity (float64 arithmetic, one pass per op, a new image per call). The fast fused
 * pipeline in `multicrop/index.ts` is tested against them.
 */
import type { CropBox, ViewParams } from './multicrop-params';

/** An interleaved RGB float image: `data[(y * width + x) * 3 + c]`, values in [0, 1] before normalisation. */
export interface RgbImage {
  width: number;
  height: number;
  data: Float32Array;
}

/** ITU-R 601-2 luma weights (Pillow's `convert('L')`, torchvision's `rgb_to_grayscale`). */
export const LUMA: readonly [number, number, number] = [0.299, 0.587, 0.114];

/** ImageNet channel means used by SwAV and VISSL. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
/** ImageNet channel stds as in VISSL (SEER) and torchvision. */
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];
/** SwAV's std, with the 0.228 typo of its `multicropdataset.py` (swav-seer.md §3). */
export const SWAV_STD: readonly [number, number, number] = [0.228, 0.224, 0.225];

// Module-level aliases: a global lookup per call is slow inside vm contexts (jest), where `Math` is proxied.
const { floor, min, max } = Math;

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function like(img: RgbImage): RgbImage {
  return { width: img.width, height: img.height, data: new Float32Array(img.data.length) };
}

function checkImage(img: RgbImage): void {
  if (img.data.length !== img.width * img.height * 3) {
    throw new RangeError(`image data has ${img.data.length} values, expected ${img.width}x${img.height}x3`);
  }
}

/** Per-pixel luma of an image, as a float64 array of width*height values. */
export function luma(img: RgbImage): Float64Array {
  checkImage(img);
  const n = img.width * img.height;
  const out = new Float64Array(n);
  const d = img.data;
  for (let p = 0; p < n; p++) {
    out[p] = LUMA[0] * (d[3 * p] as number) + LUMA[1] * (d[3 * p + 1] as number) + LUMA[2] * (d[3 * p + 2] as number);
  }
  return out;
}

/** `clamp(f * img + (1 - f) * other)`, `other` given per pixel (length w*h) or as one scalar. */
function blend(img: RgbImage, f: number, other: Float64Array | number): RgbImage {
  const out = like(img);
  const n = img.width * img.height;
  for (let p = 0; p < n; p++) {
    const o = typeof other === 'number' ? other : (other[p] as number);
    for (let c = 0; c < 3; c++) out.data[3 * p + c] = clamp01(f * (img.data[3 * p + c] as number) + (1 - f) * o);
  }
  return out;
}

/** torchvision `adjust_brightness`: blend with black. */
export function adjustBrightness(img: RgbImage, factor: number): RgbImage {
  checkImage(img);
  return blend(img, factor, 0);
}

/** torchvision `adjust_contrast`: blend with the mean of the grayscale image (one scalar for the image). */
export function adjustContrast(img: RgbImage, factor: number): RgbImage {
  const l = luma(img);
  let sum = 0;
  for (const v of l) sum += v;
  return blend(img, factor, l.length > 0 ? sum / l.length : 0);
}

/** torchvision `adjust_saturation`: blend with the per-pixel grayscale. */
export function adjustSaturation(img: RgbImage, factor: number): RgbImage {
  return blend(img, factor, luma(img));
}

/** RGB -> HSV of one pixel, torchvision `_rgb2hsv` (h in [0, 1)). */
export function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const maxc = max(r, g, b);
  const minc = min(r, g, b);
  const cr = maxc - minc;
  if (cr === 0) return [0, 0, maxc];
  const s = cr / maxc;
  const rc = (maxc - r) / cr;
  const gc = (maxc - g) / cr;
  const bc = (maxc - b) / cr;
  let h: number;
  if (maxc === r) h = bc - gc;
  else if (maxc === g) h = 2 + rc - bc;
  else h = 4 + gc - rc;
  h = (((h / 6 + 1) % 1) + 1) % 1;
  return [h, s, maxc];
}

/** HSV -> RGB of one pixel, torchvision `_hsv2rgb`. */
export function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const h6 = h * 6;
  const i = floor(h6);
  const f = h6 - i;
  const p = clamp01(v * (1 - s));
  const q = clamp01(v * (1 - s * f));
  const t = clamp01(v * (1 - s * (1 - f)));
  switch (((i % 6) + 6) % 6) {
    case 0:
      return [v, t, p];
    case 1:
      return [q, v, p];
    case 2:
      return [p, v, t];
    case 3:
      return [p, q, v];
    case 4:
      return [t, p, v];
    default:
      return [v, p, q];
  }
}

/** torchvision `adjust_hue`: rotate the HSV hue by `shift` turns (|shift| <= 0.5). */
export function adjustHue(img: RgbImage, shift: number): RgbImage {
  checkImage(img);
  if (!(shift >= -0.5 && shift <= 0.5)) throw new RangeError(`hue shift must be in [-0.5, 0.5], got ${shift}`);
  const out = like(img);
  const n = img.width * img.height;
  for (let p = 0; p < n; p++) {
    const [h, s, v] = rgbToHsv(img.data[3 * p] as number, img.data[3 * p + 1] as number, img.data[3 * p + 2] as number);
    const [r, g, b] = hsvToRgb((((h + shift) % 1) + 1) % 1, s, v);
    out.data[3 * p] = r;
    out.data[3 * p + 1] = g;
    out.data[3 * p + 2] = b;
  }
  return out;
}

/** `RandomGrayscale` with 3 output channels: luma copied to R, G and B. */
export function grayscale(img: RgbImage): RgbImage {
  const l = luma(img);
  const out = like(img);
  for (let p = 0; p < l.length; p++) out.data.fill(l[p] as number, 3 * p, 3 * p + 3);
  return out;
}

/** Normalised 1-D Gaussian taps for offsets -radius..radius (radius = ceil(4 sigma)). */
export function gaussianKernel(sigma: number): Float64Array {
  if (!(sigma > 0)) throw new RangeError(`sigma must be > 0, got ${sigma}`);
  const radius = Math.max(1, Math.ceil(4 * sigma));
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i] = (k[i] as number) / sum;
  return k;
}

/**
 * Gaussian blur with standard deviation `sigma` pixels (the meaning of Pillow's `GaussianBlur(radius)`), separable,
 * edge pixels replicated as Pillow does. Pillow approximates this Gaussian with three extended box passes.
 */
export function gaussianBlur(img: RgbImage, sigma: number): RgbImage {
  checkImage(img);
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const { width: w, height: h } = img;
  const tmp = new Float64Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) {
          const xx = min(w - 1, max(0, x + i));
          acc += (k[i + r] as number) * (img.data[(y * w + xx) * 3 + c] as number);
        }
        tmp[(y * w + x) * 3 + c] = acc;
      }
    }
  }
  const out = like(img);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) {
          const yy = min(h - 1, max(0, y + i));
          acc += (k[i + r] as number) * (tmp[(yy * w + x) * 3 + c] as number);
        }
        out.data[(y * w + x) * 3 + c] = acc;
      }
    }
  }
  return out;
}

/** Mirror left-right. */
export function flipHorizontal(img: RgbImage): RgbImage {
  checkImage(img);
  const out = like(img);
  const { width: w, height: h } = img;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) out.data[(y * w + x) * 3 + c] = img.data[(y * w + (w - 1 - x)) * 3 + c] as number;
    }
  }
  return out;
}

/** `Normalize(mean, std)`: (x - mean_c) / std_c per channel. */
export function normalize(
  img: RgbImage,
  mean: readonly [number, number, number] = IMAGENET_MEAN,
  std: readonly [number, number, number] = IMAGENET_STD,
): RgbImage {
  checkImage(img);
  const out = like(img);
  for (let i = 0; i < img.data.length; i++) out.data[i] = ((img.data[i] as number) - mean[i % 3]!) / std[i % 3]!;
  return out;
}

/**
 * Antialiased bilinear (triangle) resampling weights of one axis, Pillow's `resize(BILINEAR)` convention: output
 * pixel x samples the input around (x + 0.5) * in/out, the triangle widened by in/out when shrinking, taps
 * outside the input dropped and the rest renormalised.
 */
export function triangleWeights(inSize: number, outSize: number): { first: number; weights: number[] }[] {
  if (!(inSize > 0 && outSize > 0)) throw new RangeError(`sizes must be > 0, got ${inSize} -> ${outSize}`);
  const scale = inSize / outSize;
  const support = Math.max(scale, 1);
  const rows: { first: number; weights: number[] }[] = [];
  for (let x = 0; x < outSize; x++) {
    const centre = (x + 0.5) * scale;
    const first = Math.max(0, Math.floor(centre - support + 0.5));
    const last = Math.min(inSize, Math.floor(centre + support + 0.5));
    const weights: number[] = [];
    let sum = 0;
    for (let i = first; i < last; i++) {
      const t = Math.abs((i + 0.5 - centre) / support);
      const v = t < 1 ? 1 - t : 0;
      weights.push(v);
      sum += v;
    }
    rows.push({ first, weights: weights.map((v) => v / sum) });
  }
  return rows;
}

/**
 * torchvision `resized_crop` with bilinear antialiasing (Pillow semantics), without intermediate rounding.
 * `src` is interleaved 3-channel (any numeric scale); the output is multiplied by `scale` (1/255 for uint8).
 */
export function resizedCrop(
  src: ArrayLike<number>,
  srcWidth: number,
  srcHeight: number,
  box: CropBox,
  outWidth: number,
  outHeight: number,
  scale = 1 / 255,
): RgbImage {
  if (src.length !== srcWidth * srcHeight * 3) throw new RangeError('source size does not match its dimensions');
  if (box.left < 0 || box.top < 0 || box.left + box.width > srcWidth || box.top + box.height > srcHeight) {
    throw new RangeError(`crop ${JSON.stringify(box)} is outside ${srcWidth}x${srcHeight}`);
  }
  const wx = triangleWeights(box.width, outWidth);
  const wy = triangleWeights(box.height, outHeight);
  const out: RgbImage = { width: outWidth, height: outHeight, data: new Float32Array(outWidth * outHeight * 3) };
  for (let y = 0; y < outHeight; y++) {
    const ry = wy[y]!;
    for (let x = 0; x < outWidth; x++) {
      const rx = wx[x]!;
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let dy = 0; dy < ry.weights.length; dy++) {
          const row = box.top + ry.first + dy;
          for (let dx = 0; dx < rx.weights.length; dx++) {
            const v = src[(row * srcWidth + box.left + rx.first + dx) * 3 + c] as number;
            acc += (ry.weights[dy] as number) * (rx.weights[dx] as number) * v;
          }
        }
        out.data[(y * outWidth + x) * 3 + c] = acc * scale;
      }
    }
  }
  return out;
}

/**
 * One whole view by the reference ops, in torchvision order: resized crop, flip, jitter (in its drawn order),
 * grayscale, blur, normalise. `src` is the decoded uint8 RGB image.
 */
export function referenceView(
  src: ArrayLike<number>,
  srcWidth: number,
  srcHeight: number,
  view: ViewParams,
  mean: readonly [number, number, number] = IMAGENET_MEAN,
  std: readonly [number, number, number] = IMAGENET_STD,
): RgbImage {
  let img = resizedCrop(src, srcWidth, srcHeight, view.crop, view.size, view.size);
  if (view.flip) img = flipHorizontal(img);
  if (view.jitter) {
    for (const op of view.jitter.order) {
      if (op === 'brightness') img = adjustBrightness(img, view.jitter.brightness);
      else if (op === 'contrast') img = adjustContrast(img, view.jitter.contrast);
      else if (op === 'saturation') img = adjustSaturation(img, view.jitter.saturation);
      else img = adjustHue(img, view.jitter.hue);
    }
  }
  if (view.grayscale) img = grayscale(img);
  if (view.blurSigma !== null) img = gaussianBlur(img, view.blurSigma);
  return normalize(img, mean, std);
}
