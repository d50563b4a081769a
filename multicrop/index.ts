/**
 * SwAV multi-crop on real image bytes: decode once with sharp (libvips), then render every view with float
 * kernels (WASM SIMD, or scalar JS for sizes not divisible by 4) into NHWC float32 buffers grouped by view size.
 *
 * Why not one sharp pipeline per view: each sharp call costs ~0.3 ms of fixed overhead here (7+ calls per
 * sample), and libvips upsizes with a different interpolator than Pillow's bilinear (errors up to ~20/255 on
 * crops smaller than the view), while Pillow's antialiased triangle filter is cheap to compute exactly.
 *
 * Semantics (reference: `ml/color-ops.ts`, torchvision + Pillow): resized crop with Pillow's antialiased bilinear
 * filter, flip, colour jitter in the drawn order (each op clamps to [0, 1]), grayscale, Gaussian blur (sigma in
 * pixels, edges replicated), normalise. Differences from the float reference: the blur kernel is cut at 3 sigma
 * instead of 4 sigma (< 5e-4 on [0, 1] pixels) and arithmetic is float32 (SIMD) or float64 (scalar), < 1e-5.
 * Same (seed, epoch, index) and bytes -> bit-identical output on a given kernel choice.
 */
import sharp, { type OutputInfo } from 'sharp';
import { IMAGENET_MEAN, IMAGENET_STD, LUMA } from '../ml/color-ops';
import {
  drawMulticropParams,
  SWAV_AUGMENT,
  type AugmentSettings,
  type CropBox,
  type CropSpec,
  type ViewParams,
} from '../ml/multicrop-params';
import { Rng } from '../ml/rng';

/** A decoded 8-bit RGB image, interleaved HWC. */
export interface DecodedImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** One view size's tensor: `data` is count x size x size x 3 (NHWC), normalised float32. */
export interface ViewGroup {
  size: number;
  data: Float32Array;
}

/** Where the random stream of one sample comes from: `Rng.keyed(seed, epoch, index)`. */
export interface SampleKey {
  seed: number;
  epoch: number;
  index: number;
}

/** Per-channel normalisation. */
export interface Normalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** Everything that shapes a sample's views besides its bytes and key. */
export interface MulticropOptions {
  /** the crop groups, e.g. `swav.crops` (2x224 + 4x96 for SEER) */
  specs: readonly CropSpec[];
  augment?: Readonly<AugmentSettings>;
  normalization?: Normalization;
  /** refuse images with more pixels than this (decompression bombs); default 100 MP */
  maxPixels?: number;
  /** 'auto' (default): WASM SIMD kernels for sizes divisible by 4, else scalar JS; 'js': scalar JS only */
  kernels?: KernelChoice;
}

/** Which pixel kernels render views. */
export type KernelChoice = 'auto' | 'js';

/** One sample's views, their parameters and the decoded size. */
export interface MulticropSample {
  width: number;
  height: number;
  params: ViewParams[];
  groups: ViewGroup[];
}

/** Thrown when the bytes are not a decodable image; the batcher counts and skips such samples. */
export class UndecodableImageError extends Error {
  override readonly name = 'UndecodableImageError';
}

/** VISSL/SEER normalisation (std 0.229; SwAV's own scripts use 0.228, see `SWAV_STD` in ml/color-ops). */
export const DEFAULT_NORMALIZATION: Normalization = { mean: IMAGENET_MEAN, std: IMAGENET_STD };

const DEFAULT_MAX_PIXELS = 100_000_000;

/**
 * Decode JPEG/PNG/WebP bytes to 8-bit RGB like Pillow's `Image.open(f).convert('RGB')`: alpha dropped, grey
 * expanded, no EXIF rotation and embedded ICC profiles ignored (Pillow ignores them too).
 */
export async function decodeImage(bytes: Uint8Array, maxPixels = DEFAULT_MAX_PIXELS): Promise<DecodedImage> {
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(bytes, { failOn: 'truncated', ignoreIcc: true, limitInputPixels: maxPixels })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new UndecodableImageError(`cannot decode image: ${(err as Error).message}`);
  }
  const { data, info } = out;
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new UndecodableImageError(`decoder returned ${info.channels} channels for ${info.width}x${info.height}`);
  }
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** The output groups for `specs`: one per distinct size, in order of first appearance, with its view count. */
export function viewGroupLayout(specs: readonly CropSpec[]): { size: number; count: number }[] {
  const groups: { size: number; count: number }[] = [];
  for (const s of specs) {
    const g = groups.find((x) => x.size === s.size);
    if (g) g.count += s.count;
    else groups.push({ size: s.size, count: s.count });
  }
  return groups;
}

/**
 * Decode, draw the parameters from `Rng.keyed(seed, epoch, index)` and render all views of one sample.
 * Throws {@link UndecodableImageError} for bytes that are not an image.
 */
export async function multicrop(
  bytes: Uint8Array,
  key: SampleKey,
  options: MulticropOptions,
): Promise<MulticropSample> {
  const img = await decodeImage(bytes, options.maxPixels);
  const params = drawMulticropParams(
    img.width,
    img.height,
    options.specs,
    Rng.keyed(key.seed, key.epoch, key.index),
    options.augment ?? SWAV_AUGMENT,
  );
  const layout = viewGroupLayout(options.specs);
  const groups = layout.map((g) => ({ size: g.size, data: new Float32Array(g.count * g.size * g.size * 3) }));
  renderViews(img, params, groups, 0, 1, options.normalization ?? DEFAULT_NORMALIZATION, options.kernels);
  return { width: img.width, height: img.height, params, groups };
}

/**
 * Decode and render views whose parameters were drawn elsewhere (e.g. replayed from a log). The crops must fit
 * the decoded image; groups follow {@link viewGroupLayout} of `options.specs`.
 */
export async function multicropWithParams(
  bytes: Uint8Array,
  params: readonly ViewParams[],
  options: MulticropOptions,
): Promise<ViewGroup[]> {
  const img = await decodeImage(bytes, options.maxPixels);
  const groups = viewGroupLayout(options.specs).map((g) => ({
    size: g.size,
    data: new Float32Array(g.count * g.size * g.size * 3),
  }));
  renderViews(img, params, groups, 0, 1, options.normalization ?? DEFAULT_NORMALIZATION, options.kernels);
  return groups;
}

/**
 * Render a sample's views into group buffers shared by a batch: view v of size s goes to slot
 * `(rank of v among the size-s views) * batchSize + sampleSlot` of that group (crop-major, as SwAV concatenates
 * crops). `groups` must follow {@link viewGroupLayout}.
 */
export function renderViews(
  img: DecodedImage,
  params: readonly ViewParams[],
  groups: readonly ViewGroup[],
  sampleSlot: number,
  batchSize: number,
  norm: Normalization = DEFAULT_NORMALIZATION,
  kernels: KernelChoice = 'auto',
): void {
  const seen = new Map<number, number>();
  for (const view of params) {
    const group = groups.find((g) => g.size === view.size);
    if (!group) throw new RangeError(`no output group for view size ${view.size}`);
    const rank = seen.get(view.size) ?? 0;
    seen.set(view.size, rank + 1);
    const plane = view.size * view.size * 3;
    renderView(img, view, group.data, (rank * batchSize + sampleSlot) * plane, norm, kernels);
  }
}

// Scratch buffers reused across views: allocation churn costs page re-faults on these VMs (benchmarking.md).
// Slots: 0 = resize intermediate, 1 = blur intermediate, 2 = the view being worked on.
const scratchPool: Float32Array[] = [new Float32Array(0), new Float32Array(0), new Float32Array(0)];
let scratchRow = new Float64Array(0);
function scratch(slot: 0 | 1 | 2, n: number): Float32Array {
  let buf = scratchPool[slot] as Float32Array;
  if (buf.length < n) {
    buf = new Float32Array(n);
    scratchPool[slot] = buf;
  }
  return buf;
}
function rowScratch(n: number): Float64Array {
  if (scratchRow.length < n) scratchRow = new Float64Array(n);
  return scratchRow;
}

/** Per output pixel of one axis: first source index, tap count and taps (stride `maxTaps`). */
interface AxisWeights {
  first: Int32Array;
  count: Int32Array;
  taps: Float64Array;
  maxTaps: number;
  avgTaps: number;
}

/** Pillow's antialiased triangle weights for `inSize` -> `outSize`, times `gain`; indices relative to the crop. */
function axisWeights(inSize: number, outSize: number, gain: number): AxisWeights {
  const scale = inSize / outSize;
  const support = Math.max(scale, 1);
  const maxTaps = maxTapsFor(inSize, outSize);
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const taps = new Float64Array(outSize * maxTaps);
  let total = 0;
  for (let x = 0; x < outSize; x++) {
    const centre = (x + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support + 0.5));
    const hi = Math.min(inSize, Math.floor(centre + support + 0.5));
    let sum = 0;
    for (let i = lo; i < hi; i++) {
      const t = Math.abs((i + 0.5 - centre) / support);
      const v = t < 1 ? 1 - t : 0;
      taps[x * maxTaps + i - lo] = v;
      sum += v;
    }
    for (let i = lo; i < hi; i++) taps[x * maxTaps + i - lo] = ((taps[x * maxTaps + i - lo] as number) / sum) * gain;
    first[x] = lo;
    count[x] = hi - lo;
    total += hi - lo;
  }
  return { first, count, taps, maxTaps, avgTaps: total / outSize };
}

/** Horizontal pass of one row: float64 input row (crop-relative) -> `out` row, mirrored when `flip`. */
function horizontalRow(
  row: Float64Array,
  wx: AxisWeights,
  out: Float32Array,
  outOff: number,
  size: number,
  flip: boolean,
): void {
  const { first, count, taps, maxTaps } = wx;
  for (let x = 0; x < size; x++) {
    let p = (first[x] as number) * 3;
    let t = x * maxTaps;
    const end = t + (count[x] as number);
    let r = 0;
    let g = 0;
    let b = 0;
    for (; t < end; t++, p += 3) {
      const w = taps[t] as number;
      r += w * (row[p] as number);
      g += w * (row[p + 1] as number);
      b += w * (row[p + 2] as number);
    }
    const o = outOff + (flip ? size - 1 - x : x) * 3;
    out[o] = r;
    out[o + 1] = g;
    out[o + 2] = b;
  }
}

/** Horizontal pass reading uint8 source pixels directly. */
function horizontalRowU8(
  src: Uint8Array,
  srcOff: number,
  wx: AxisWeights,
  out: Float32Array,
  outOff: number,
  size: number,
  flip: boolean,
): void {
  const { first, count, taps, maxTaps } = wx;
  for (let x = 0; x < size; x++) {
    let p = srcOff + (first[x] as number) * 3;
    let t = x * maxTaps;
    const end = t + (count[x] as number);
    let r = 0;
    let g = 0;
    let b = 0;
    for (; t < end; t++, p += 3) {
      const w = taps[t] as number;
      r += w * (src[p] as number);
      g += w * (src[p + 1] as number);
      b += w * (src[p + 2] as number);
    }
    const o = outOff + (flip ? size - 1 - x : x) * 3;
    out[o] = r;
    out[o + 1] = g;
    out[o + 2] = b;
  }
}

/**
 * Crop + antialiased bilinear resize to size x size (+ flip), uint8 -> float in [0, 1]. Separable; the order of
 * the two passes is picked by cost (row sums are cheap, per-pixel tap loops are not).
 */
export function resizeCropInto(img: DecodedImage, box: CropBox, size: number, flip: boolean, out: Float32Array): void {
  const { width: W, data: src } = img;
  if (box.left < 0 || box.top < 0 || box.left + box.width > img.width || box.top + box.height > img.height) {
    throw new RangeError(`crop ${JSON.stringify(box)} is outside ${img.width}x${img.height}`);
  }
  const wx = axisWeights(box.width, size, 1 / 255);
  const wy = axisWeights(box.height, size, 1);
  const s3 = size * 3;
  const bw3 = box.width * 3;
  const costVFirst = size * wy.avgTaps * bw3 + 2 * size * size * wx.avgTaps * 3;
  const costHFirst = 2 * box.height * size * wx.avgTaps * 3 + size * wy.avgTaps * s3;
  if (costVFirst <= costHFirst) {
    const row = rowScratch(bw3);
    for (let y = 0; y < size; y++) {
      const n = wy.count[y] as number;
      let t = y * wy.maxTaps;
      let off = ((box.top + (wy.first[y] as number)) * W + box.left) * 3;
      let w = wy.taps[t] as number;
      for (let i = 0; i < bw3; i++) row[i] = w * (src[off + i] as number);
      for (let k = 1; k < n; k++) {
        t++;
        off += W * 3;
        w = wy.taps[t] as number;
        for (let i = 0; i < bw3; i++) row[i] = (row[i] as number) + w * (src[off + i] as number);
      }
      horizontalRow(row, wx, out, y * s3, size, flip);
    }
  } else {
    const tmp = scratch(0, box.height * s3);
    for (let y = 0; y < box.height; y++) {
      horizontalRowU8(src, ((box.top + y) * W + box.left) * 3, wx, tmp, y * s3, size, flip);
    }
    const row = rowScratch(s3);
    for (let y = 0; y < size; y++) {
      const n = wy.count[y] as number;
      let t = y * wy.maxTaps;
      let off = (wy.first[y] as number) * s3;
      let w = wy.taps[t] as number;
      for (let i = 0; i < s3; i++) row[i] = w * (tmp[off + i] as number);
      for (let k = 1; k < n; k++) {
        t++;
        off += s3;
        w = wy.taps[t] as number;
        for (let i = 0; i < s3; i++) row[i] = (row[i] as number) + w * (tmp[off + i] as number);
      }
      const o = y * s3;
      for (let i = 0; i < s3; i++) out[o + i] = row[i] as number;
    }
  }
}

// Module-level alias: a global lookup per pixel is slow inside vm contexts (jest), where `Math` is proxied.
const floor = Math.floor;

const OP_BRIGHTNESS = 0;
const OP_CONTRAST = 1;
const OP_SATURATION = 2;
const OP_HUE = 3;
const OP_GRAY = 4;
const OP_CODE = { brightness: OP_BRIGHTNESS, contrast: OP_CONTRAST, saturation: OP_SATURATION, hue: OP_HUE } as const;
const L0 = LUMA[0];
const L1 = LUMA[1];
const L2 = LUMA[2];

/**
 * Apply ops[from..to) to every pixel in one fused pass; OP_CONTRAST blends with `contrastMean`. Returns the
 * luma sum of the result (the next contrast op's mean needs it).
 */
function pixelOps(
  d: Float32Array,
  nPix: number,
  ops: Int32Array,
  from: number,
  to: number,
  bf: number,
  cf: number,
  contrastMean: number,
  sf: number,
  hueShift: number,
): number {
  let lumaSum = 0;
  const cAdd = (1 - cf) * contrastMean;
  const sKeep = 1 - sf;
  for (let p = 0, i = 0; p < nPix; p++, i += 3) {
    let r = d[i] as number;
    let g = d[i + 1] as number;
    let b = d[i + 2] as number;
    for (let k = from; k < to; k++) {
      switch (ops[k]) {
        case OP_BRIGHTNESS:
          r *= bf;
          g *= bf;
          b *= bf;
          r = r > 1 ? 1 : r;
          g = g > 1 ? 1 : g;
          b = b > 1 ? 1 : b;
          break;
        case OP_CONTRAST:
          r = cf * r + cAdd;
          g = cf * g + cAdd;
          b = cf * b + cAdd;
          r = r < 0 ? 0 : r > 1 ? 1 : r;
          g = g < 0 ? 0 : g > 1 ? 1 : g;
          b = b < 0 ? 0 : b > 1 ? 1 : b;
          break;
        case OP_SATURATION: {
          const l = sKeep * (L0 * r + L1 * g + L2 * b);
          r = sf * r + l;
          g = sf * g + l;
          b = sf * b + l;
          r = r < 0 ? 0 : r > 1 ? 1 : r;
          g = g < 0 ? 0 : g > 1 ? 1 : g;
          b = b < 0 ? 0 : b > 1 ? 1 : b;
          break;
        }
        case OP_HUE: {
          // HSV rotation (torchvision _rgb2hsv / _hsv2rgb) with p = min, q = max - chroma*f, t = min + chroma*f
          const mx = r > g ? (r > b ? r : b) : g > b ? g : b;
          const mn = r < g ? (r < b ? r : b) : g < b ? g : b;
          const cr = mx - mn;
          if (cr > 0) {
            let h6: number;
            if (mx === r) h6 = (g - b) / cr;
            else if (mx === g) h6 = 2 + (b - r) / cr;
            else h6 = 4 + (r - g) / cr;
            let h = h6 / 6 + 1 + hueShift;
            h -= floor(h);
            const hh = h * 6;
            const sector = floor(hh);
            const f = hh - sector;
            const up = mn + cr * f;
            const down = mx - cr * f;
            switch (sector) {
              case 0:
                r = mx;
                g = up;
                b = mn;
                break;
              case 1:
                r = down;
                g = mx;
                b = mn;
                break;
              case 2:
                r = mn;
                g = mx;
                b = up;
                break;
              case 3:
                r = mn;
                g = down;
                b = mx;
                break;
              case 4:
                r = up;
                g = mn;
                b = mx;
                break;
              default:
                r = mx;
                g = mn;
                b = down;
            }
          }
          break;
        }
        default: {
          const l = L0 * r + L1 * g + L2 * b;
          r = l;
          g = l;
          b = l;
        }
      }
    }
    d[i] = r;
    d[i + 1] = g;
    d[i + 2] = b;
    lumaSum += L0 * r + L1 * g + L2 * b;
  }
  return lumaSum;
}

/** Photometric ops of one view in place: jitter in its drawn order, then grayscale. */
export function photometricInPlace(d: Float32Array, nPix: number, view: ViewParams): void {
  const codes: number[] = view.jitter ? view.jitter.order.map((op) => OP_CODE[op]) : [];
  if (view.grayscale) codes.push(OP_GRAY);
  if (codes.length === 0) return;
  const ops = Int32Array.from(codes);
  const j = view.jitter;
  const bf = j ? j.brightness : 1;
  const cf = j ? j.contrast : 1;
  const sf = j ? j.saturation : 1;
  const hs = j ? j.hue : 0;
  const ci = codes.indexOf(OP_CONTRAST);
  if (ci < 0) {
    pixelOps(d, nPix, ops, 0, ops.length, bf, cf, 0, sf, hs);
    return;
  }
  // contrast needs the mean luma of the image as it is when contrast runs: one pass up to it, one after
  let sum: number;
  if (ci === 0) {
    sum = 0;
    for (let i = 0; i < nPix * 3; i += 3)
      sum += L0 * (d[i] as number) + L1 * (d[i + 1] as number) + L2 * (d[i + 2] as number);
  } else {
    sum = pixelOps(d, nPix, ops, 0, ci, bf, cf, 0, sf, hs);
  }
  pixelOps(d, nPix, ops, ci, ops.length, bf, cf, sum / nPix, sf, hs);
}

/** Gaussian taps for offsets 0..radius (radius = ceil(3 sigma), at least 1), normalised over -radius..radius. */
function halfKernel(sigma: number): Float64Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(radius + 1);
  let sum = 0;
  for (let i = 0; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k[i] = v;
    sum += i === 0 ? v : 2 * v;
  }
  for (let i = 0; i <= radius; i++) k[i] = (k[i] as number) / sum;
  return k;
}

/**
 * Separable Gaussian blur of a size x size RGB image, then normalisation, written to `dest` at `destOff`.
 * Edge pixels are replicated (Pillow's box blur does the same).
 */
function blurNormalizeInto(
  d: Float32Array,
  size: number,
  sigma: number,
  dest: Float32Array,
  destOff: number,
  mul: Float64Array,
  add: Float64Array,
): void {
  const k = halfKernel(sigma);
  const radius = k.length - 1;
  const s3 = size * 3;
  const tmp = scratch(1, size * s3);
  const k0 = k[0] as number;
  // horizontal: each row is a 1-D signal of 3*size values with taps 3 apart
  for (let y = 0; y < size; y++) {
    const o = y * s3;
    for (let x = 0; x < size; x++) {
      const xl = x - radius;
      const xr = x + radius;
      for (let c = 0; c < 3; c++) {
        const i = o + x * 3 + c;
        let acc = k0 * (d[i] as number);
        if (xl >= 0 && xr < size) {
          for (let j = 1, a = i - 3, b = i + 3; j <= radius; j++, a -= 3, b += 3) {
            acc += (k[j] as number) * ((d[a] as number) + (d[b] as number));
          }
        } else {
          for (let j = 1; j <= radius; j++) {
            const xa = x - j < 0 ? 0 : x - j;
            const xb = x + j >= size ? size - 1 : x + j;
            acc += (k[j] as number) * ((d[o + xa * 3 + c] as number) + (d[o + xb * 3 + c] as number));
          }
        }
        tmp[i] = acc;
      }
    }
  }
  // vertical as row sums, then normalise on the way out
  const row = rowScratch(s3);
  for (let y = 0; y < size; y++) {
    const o = y * s3;
    for (let i = 0; i < s3; i++) row[i] = k0 * (tmp[o + i] as number);
    for (let j = 1; j <= radius; j++) {
      const a = (y - j < 0 ? 0 : y - j) * s3;
      const b = (y + j >= size ? size - 1 : y + j) * s3;
      const w = k[j] as number;
      for (let i = 0; i < s3; i++) row[i] = (row[i] as number) + w * ((tmp[a + i] as number) + (tmp[b + i] as number));
    }
    const out = destOff + o;
    for (let i = 0; i < s3; i += 3) {
      dest[out + i] = (row[i] as number) * (mul[0] as number) + (add[0] as number);
      dest[out + i + 1] = (row[i + 1] as number) * (mul[1] as number) + (add[1] as number);
      dest[out + i + 2] = (row[i + 2] as number) * (mul[2] as number) + (add[2] as number);
    }
  }
}

/**
 * Render one view (resized crop, flip, photometric ops, blur, normalise) to `dest[destOff ...]` as HWC float32.
 * The WASM SIMD kernels and the scalar kernels compute the same maths in float32 / float64 respectively; both
 * match the float reference (ml/color-ops) within the tolerance stated in the module comment.
 */
export function renderView(
  img: DecodedImage,
  view: ViewParams,
  dest: Float32Array,
  destOff: number,
  norm: Normalization = DEFAULT_NORMALIZATION,
  kernels: KernelChoice = 'auto',
): void {
  const size = view.size;
  const n = size * size * 3;
  if (destOff < 0 || destOff + n > dest.length) throw new RangeError('view does not fit in the destination buffer');
  const box = view.crop;
  if (box.left < 0 || box.top < 0 || box.left + box.width > img.width || box.top + box.height > img.height) {
    throw new RangeError(`crop ${JSON.stringify(box)} is outside ${img.width}x${img.height}`);
  }
  const st = kernels === 'auto' && size % 4 === 0 ? wasm() : null;
  if (st) {
    renderViewWasm(st, img, view, dest, destOff, norm);
    return;
  }
  const mul = Float64Array.from(norm.std, (s) => 1 / s);
  const add = Float64Array.from(norm.mean, (m, c) => -m / (norm.std[c] as number));
  // without blur, the last stage can write straight into the destination
  const work = view.blurSigma === null ? dest.subarray(destOff, destOff + n) : scratch(2, n).subarray(0, n);
  resizeCropInto(img, view.crop, size, view.flip, work);
  photometricInPlace(work, size * size, view);
  if (view.blurSigma !== null) {
    blurNormalizeInto(work, size, view.blurSigma, dest, destOff, mul, add);
  } else {
    const m0 = mul[0] as number;
    const m1 = mul[1] as number;
    const m2 = mul[2] as number;
    const a0 = add[0] as number;
    const a1 = add[1] as number;
    const a2 = add[2] as number;
    for (let i = 0; i < n; i += 3) {
      work[i] = (work[i] as number) * m0 + a0;
      work[i + 1] = (work[i + 1] as number) * m1 + a1;
      work[i + 2] = (work[i + 2] as number) * m2 + a2;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// WASM SIMD kernels. Scalar JS runs this float work ~5x slower than 4-wide SIMD on the project's machines and the
// project has no C/WASM toolchain, so a small assembler below emits the module when first needed.
// Inside the kernels a view is held as "X-C-Y" planes: row (x * 3 + c) holds the S values of column x, channel c.
// Both resize passes, the blur and the per-pixel ops are then contiguous 4-wide loops, and the two transposes
// (into and out of X-C-Y) are 4x4 register transposes. Views whose size is not a multiple of 4 use the scalar
// kernels above.
// ---------------------------------------------------------------------------------------------------------------

// WebAssembly is a Node global, but the project's lib setting (ES2023, no DOM) carries no types for it.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

type Code = number[];
const I32 = 0x7f;
const F32 = 0x7d;
const F64 = 0x7c;
const V128 = 0x7b;

function uleb(n: number): Code {
  const out: Code = [];
  let v = n >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function sleb(n: number): Code {
  const out: Code = [];
  let v = n | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const cat = (...parts: Code[]): Code => parts.flat();
const get = (i: number): Code => [0x20, ...uleb(i)];
const set = (i: number, v: Code): Code => [...v, 0x21, ...uleb(i)];
const ic = (v: number): Code => [0x41, ...sleb(v)];
const ibin =
  (op: number) =>
  (a: Code, b: Code): Code => [...a, ...b, op];
const iadd = ibin(0x6a);
const isub = ibin(0x6b);
const imul = ibin(0x6c);
const ishl = ibin(0x74);
const ilt = ibin(0x48);
const igt = ibin(0x4a);
const ige = ibin(0x4e);
const select = (a: Code, b: Code, cond: Code): Code => [...a, ...b, ...cond, 0x1b];
const i32load = (addr: Code): Code => [...addr, 0x28, 2, 0];
const fc = (v: number): Code => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)];
const fsub = (a: Code, b: Code): Code => [...a, ...b, 0x93];
const fload = (addr: Code): Code => [...addr, 0x2a, 2, 0];
const fstore = (addr: Code, v: Code): Code => [...addr, ...v, 0x38, 2, 0];
const dc = (v: number): Code => [0x44, ...new Uint8Array(Float64Array.of(v).buffer)];
const dadd = (a: Code, b: Code): Code => [...a, ...b, 0xa0];
const promote = (a: Code): Code => [...a, 0xbb];
const simd = (op: number, ...imm: number[]): Code => [0xfd, ...uleb(op), ...imm];
const vload = (addr: Code): Code => [...addr, ...simd(0, 0, 0)];
const vstore = (addr: Code, v: Code): Code => [...addr, ...v, ...simd(11, 0, 0)];
const vzero: Code = simd(12, ...new Array<number>(16).fill(0));
const splat = (f: Code): Code => [...f, ...simd(19)];
const vbin =
  (op: number) =>
  (a: Code, b: Code): Code => [...a, ...b, ...simd(op)];
const vadd = vbin(228);
const vsub = vbin(229);
const vmul = vbin(230);
const vdiv = vbin(231);
const vpmin = vbin(234); // b < a ? b : a: one instruction (no NaNs reach the kernels)
const vpmax = vbin(235); // a < b ? b : a
const veq = vbin(65);
const vandnot = vbin(79);
const vfloor = (a: Code): Code => [...a, ...simd(104)];
const bitselect = (ifSet: Code, ifClear: Code, mask: Code): Code => [...ifSet, ...ifClear, ...mask, ...simd(82)];
const shuffle = (a: Code, b: Code, lanes: number[]): Code => [
  ...a,
  ...b,
  ...simd(13, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])),
];
const lane = (v: Code, i: number): Code => [...v, ...simd(31, i)];
const block = (...body: Code[]): Code => [0x02, 0x40, ...body.flat(), 0x0b];
const loop = (...body: Code[]): Code => [0x03, 0x40, ...body.flat(), 0x0b];
const brIf = (depth: number, cond: Code): Code => [...cond, 0x0d, ...uleb(depth)];
/** for (i = start; i < end; i += step) { body } */
const forLoop = (i: number, start: Code, end: Code, step: number, ...body: Code[]): Code =>
  cat(set(i, start), block(loop(brIf(1, ige(get(i), end)), ...body, set(i, iadd(get(i), ic(step))), [0x0c, 0])));

class FnBuilder {
  readonly localTypes: number[] = [];
  body: Code = [];
  constructor(
    readonly name: string,
    readonly params: number[],
    readonly results: number[] = [],
  ) {}
  /** the parameter indices */
  args(): number[] {
    return this.params.map((_, i) => i);
  }
  locals(type: number, n: number): number[] {
    return Array.from({ length: n }, () => {
      this.localTypes.push(type);
      return this.params.length + this.localTypes.length - 1;
    });
  }
}

function assembleModule(fns: FnBuilder[]): Uint8Array {
  const str = (s: string): Code => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
  const section = (id: number, body: Code): Code => [id, ...uleb(body.length), ...body];
  const vec = (items: Code[]): Code => [...uleb(items.length), ...items.flat()];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, vec(fns.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]))),
    ...section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(7, vec(fns.map((f, i) => [...str(f.name), 0x00, ...uleb(i)]))),
    ...section(
      10,
      vec(
        fns.map((f) => {
          const body = [...vec(f.localTypes.map((t) => [1, t])), ...f.body, 0x0b];
          return [...uleb(body.length), ...body];
        }),
      ),
    ),
  ]);
}

/** 4x4 transpose: `prep` fills t0..t3 from the row vectors a0..a3; `cols[j]` is column j (= a0[j]..a3[j]). */
function transpose4(a: number[], t: number[]): { prep: Code; cols: Code[] } {
  const [a0, a1, a2, a3] = a as [number, number, number, number];
  const [t0, t1, t2, t3] = t as [number, number, number, number];
  return {
    prep: cat(
      set(t0, shuffle(get(a0), get(a1), [0, 4, 1, 5])),
      set(t1, shuffle(get(a0), get(a1), [2, 6, 3, 7])),
      set(t2, shuffle(get(a2), get(a3), [0, 4, 1, 5])),
      set(t3, shuffle(get(a2), get(a3), [2, 6, 3, 7])),
    ),
    cols: [
      shuffle(get(t0), get(t2), [0, 1, 4, 5]),
      shuffle(get(t0), get(t2), [2, 3, 6, 7]),
      shuffle(get(t1), get(t3), [0, 1, 4, 5]),
      shuffle(get(t1), get(t3), [2, 3, 6, 7]),
    ],
  };
}

const lumaV = (r: Code, g: Code, b: Code): Code =>
  vadd(vadd(vmul(splat(fc(L0)), r), vmul(splat(fc(L1)), g)), vmul(splat(fc(L2)), b));
const clamp01V = (v: Code): Code => vpmax(vpmin(v, splat(fc(1))), vzero);

/**
 * Loop over all pixels of an X-C-Y view 4 at a time with r, g, b loaded into locals; `body` gets those locals
 * and a `store(r, g, b)` that writes three vectors back to the same pixels.
 */
function perPixel(
  f: FnBuilder,
  ptr: number,
  S: number,
  rowBytes: number,
  body: (r: number, g: number, b: number, store: (r: Code, g: Code, b: Code) => Code) => Code,
): Code {
  const [x, j, pr, pg, pb] = f.locals(I32, 5) as [number, number, number, number, number];
  const [r, g, b] = f.locals(V128, 3) as [number, number, number];
  const store = (rv: Code, gv: Code, bv: Code): Code =>
    cat(vstore(get(pr), rv), vstore(get(pg), gv), vstore(get(pb), bv));
  return forLoop(
    x,
    ic(0),
    get(S),
    1,
    set(pr, iadd(get(ptr), imul(get(x), imul(get(rowBytes), ic(3))))),
    set(pg, iadd(get(pr), get(rowBytes))),
    set(pb, iadd(get(pg), get(rowBytes))),
    forLoop(
      j,
      ic(0),
      get(rowBytes),
      16,
      set(r, vload(get(pr))),
      set(g, vload(get(pg))),
      set(b, vload(get(pb))),
      body(r, g, b, store),
      set(pr, iadd(get(pr), ic(16))),
      set(pg, iadd(get(pg), ic(16))),
      set(pb, iadd(get(pb), ic(16))),
    ),
  );
}

/** Assemble the kernel module (a few KB). Function signatures are documented on {@link WasmKernels}. */
function buildKernelModule(): Uint8Array {
  const fns: FnBuilder[] = [];

  {
    // vresize(src, srcStride, nElem, dst, dstStride, nRows, first, count, taps, maxT): vertical resample of the
    // uint8 crop (interleaved rows, nElem a multiple of 16) into X-C-Y, 4 output rows x 16 values at a time
    const f = new FnBuilder('vresize', new Array<number>(10).fill(I32));
    const [src, srcStride, nElem, dst, dstStride, nRows, first, count, taps, maxT] = f.args() as number[];
    const [yb, i, k, p, tp, n, y] = f.locals(I32, 7) as number[];
    // acc[r][q]: output row yb + r, values 4q..4q+3 of the 16
    const acc = [0, 1, 2, 3].map(() => f.locals(V128, 4));
    const [v0, v1, w] = f.locals(V128, 3) as number[];
    const t = f.locals(V128, 4);
    const widen = (v: number, high: boolean): Code => [...get(v), ...simd(high ? 170 : 169), ...simd(251)];
    const row = (r: number): Code => {
      const a = acc[r]!;
      return cat(
        ...a.map((x) => set(x, vzero)),
        set(y!, iadd(get(yb!), ic(r))),
        set(n!, i32load(iadd(get(count!), ishl(get(y!), ic(2))))),
        set(
          p!,
          iadd(iadd(get(src!), imul(i32load(iadd(get(first!), ishl(get(y!), ic(2)))), get(srcStride!))), get(i!)),
        ),
        set(tp!, iadd(get(taps!), ishl(imul(get(y!), get(maxT!)), ic(2)))),
        forLoop(
          k!,
          ic(0),
          get(n!),
          1,
          set(v0!, [...get(p!), ...simd(2, 0, 0)]), // v128.load8x8_u: 8 bytes -> u16x8
          set(v1!, [...get(p!), ...simd(2, 0, 8)]),
          set(w!, splat(fload(get(tp!)))),
          set(a[0]!, vadd(get(a[0]!), vmul(get(w!), widen(v0!, false)))),
          set(a[1]!, vadd(get(a[1]!), vmul(get(w!), widen(v0!, true)))),
          set(a[2]!, vadd(get(a[2]!), vmul(get(w!), widen(v1!, false)))),
          set(a[3]!, vadd(get(a[3]!), vmul(get(w!), widen(v1!, true)))),
          set(p!, iadd(get(p!), get(srcStride!))),
          set(tp!, iadd(get(tp!), ic(4))),
        ),
      );
    };
    const quarter = (q: number): Code => {
      const { prep, cols } = transpose4(
        [0, 1, 2, 3].map((r) => acc[r]![q]!),
        t,
      );
      return cat(prep, ...cols.map((c) => cat(vstore(get(p!), c), set(p!, iadd(get(p!), get(dstStride!))))));
    };
    f.body = forLoop(
      yb!,
      ic(0),
      get(nRows!),
      4,
      forLoop(
        i!,
        ic(0),
        get(nElem!),
        16,
        row(0),
        row(1),
        row(2),
        row(3),
        set(p!, iadd(iadd(get(dst!), imul(get(i!), get(dstStride!))), ishl(get(yb!), ic(2)))),
        quarter(0),
        quarter(1),
        quarter(2),
        quarter(3),
      ),
    );
    fns.push(f);
  }

  /** dst[j] = w * a[j] for j < nBytes (byte offsets, 16 at a time) */
  const scaleInto = (j: number, nBytes: Code, d: Code, a: Code, w: Code): Code =>
    forLoop(j, ic(0), nBytes, 16, vstore(iadd(d, get(j)), vmul(w, vload(iadd(a, get(j))))));
  /** dst[j] += w * (a[j] (+ b[j])) */
  const accumulate = (j: number, nBytes: Code, d: Code, w: Code, a: Code, b?: Code): Code =>
    forLoop(
      j,
      ic(0),
      nBytes,
      16,
      vstore(
        iadd(d, get(j)),
        vadd(
          vload(iadd(d, get(j))),
          vmul(w, b ? vadd(vload(iadd(a, get(j))), vload(iadd(b, get(j)))) : vload(iadd(a, get(j)))),
        ),
      ),
    );

  {
    // hpass(src, blockBytes, dst, nOut, first, count, taps, maxT): resample along x = weighted sums of whole
    // X-C-Y column blocks (3 channel rows each), one tap at a time
    const f = new FnBuilder('hpass', new Array<number>(8).fill(I32));
    const [src, blockBytes, dst, nOut, first, count, taps, maxT] = f.args() as number[];
    const [x, j, k, n, sp, tp, d] = f.locals(I32, 7) as number[];
    const [w] = f.locals(V128, 1) as number[];
    f.body = forLoop(
      x!,
      ic(0),
      get(nOut!),
      1,
      set(n!, i32load(iadd(get(count!), ishl(get(x!), ic(2))))),
      set(sp!, iadd(get(src!), imul(i32load(iadd(get(first!), ishl(get(x!), ic(2)))), get(blockBytes!)))),
      set(tp!, iadd(get(taps!), ishl(imul(get(x!), get(maxT!)), ic(2)))),
      set(d!, iadd(get(dst!), imul(get(x!), get(blockBytes!)))),
      set(w!, splat(fload(get(tp!)))),
      scaleInto(j!, get(blockBytes!), get(d!), get(sp!), get(w!)),
      forLoop(
        k!,
        ic(1),
        get(n!),
        1,
        set(sp!, iadd(get(sp!), get(blockBytes!))),
        set(w!, splat(fload(iadd(get(tp!), ishl(get(k!), ic(2)))))),
        accumulate(j!, get(blockBytes!), get(d!), get(w!), get(sp!)),
      ),
    );
    fns.push(f);
  }

  {
    const f = new FnBuilder('brightness', [I32, I32, F32]);
    const [ptr, nBytes, fac] = f.args() as number[];
    const [j] = f.locals(I32, 1) as number[];
    const at = (): Code => iadd(get(ptr!), get(j!));
    f.body = forLoop(
      j!,
      ic(0),
      get(nBytes!),
      16,
      vstore(at(), vpmin(vmul(vload(at()), splat(get(fac!))), splat(fc(1)))),
    );
    fns.push(f);
  }

  {
    const f = new FnBuilder('contrast', [I32, I32, F32, F32]);
    const [ptr, nBytes, fac, add] = f.args() as number[];
    const [j] = f.locals(I32, 1) as number[];
    const at = (): Code => iadd(get(ptr!), get(j!));
    f.body = forLoop(
      j!,
      ic(0),
      get(nBytes!),
      16,
      vstore(at(), clamp01V(vadd(vmul(vload(at()), splat(get(fac!))), splat(get(add!))))),
    );
    fns.push(f);
  }

  {
    const f = new FnBuilder('saturation', [I32, I32, I32, F32]);
    const [ptr, S, rowBytes, fac] = f.args() as number[];
    const [lum, fv, kv] = f.locals(V128, 3) as number[];
    f.body = cat(
      set(fv!, splat(get(fac!))),
      set(kv!, splat(fsub(fc(1), get(fac!)))),
      perPixel(f, ptr!, S!, rowBytes!, (r, g, b, store) => {
        const blend = (c: number): Code => clamp01V(vadd(vmul(get(fv!), get(c)), get(lum!)));
        return cat(set(lum!, vmul(get(kv!), lumaV(get(r), get(g), get(b)))), store(blend(r), blend(g), blend(b)));
      }),
    );
    fns.push(f);
  }

  {
    const f = new FnBuilder('grayscale', [I32, I32, I32]);
    const [ptr, S, rowBytes] = f.args() as number[];
    const [lum] = f.locals(V128, 1) as number[];
    f.body = perPixel(f, ptr!, S!, rowBytes!, (r, g, b, store) =>
      cat(set(lum!, lumaV(get(r), get(g), get(b))), store(get(lum!), get(lum!), get(lum!))),
    );
    fns.push(f);
  }

  {
    // torchvision's HSV hue rotation. HSV -> RGB is written per channel (n = 5, 3, 1 for r, g, b):
    // out = max - chroma * clamp(min(k, 4 - k), 0, 1) with k = (n + 6 h) mod 6, which equals the six-sector
    // table of _hsv2rgb (p = min, q = max - chroma f, t = min + chroma f) without per-sector selects.
    const f = new FnBuilder('hue', [I32, I32, I32, F32]);
    const [ptr, S, rowBytes, shift] = f.args() as number[];
    const [mx, mn, cr, isR, isG, h, bias, kk] = f.locals(V128, 8) as number[];
    const sv = (v: number): Code => splat(fc(v));
    const vge = vbin(70);
    const vand = vbin(78);
    const channel = (n: number): Code =>
      cat(
        set(kk!, vadd(get(h!), sv(n))),
        set(kk!, vsub(get(kk!), vand(vge(get(kk!), sv(6)), sv(6)))),
        vsub(get(mx!), vmul(get(cr!), clamp01V(vpmin(get(kk!), vsub(sv(4), get(kk!)))))),
      );
    f.body = cat(
      set(bias!, vadd(splat(fc(1)), splat(get(shift!)))),
      perPixel(f, ptr!, S!, rowBytes!, (r, g, b, store) =>
        cat(
          set(mx!, vpmax(get(r), vpmax(get(g), get(b)))),
          set(mn!, vpmin(get(r), vpmin(get(g), get(b)))),
          set(cr!, vsub(get(mx!), get(mn!))),
          set(isR!, veq(get(mx!), get(r))),
          set(isG!, vandnot(veq(get(mx!), get(g)), get(isR!))),
          // h6 = off + num / chroma (chroma 0 -> divide by 1; the output is then max = min anyway)
          set(
            h!,
            vadd(
              bitselect(vzero, bitselect(sv(2), sv(4), get(isG!)), get(isR!)),
              vdiv(
                bitselect(
                  vsub(get(g), get(b)),
                  bitselect(vsub(get(b), get(r)), vsub(get(r), get(g)), get(isG!)),
                  get(isR!),
                ),
                bitselect(sv(1), get(cr!), veq(get(cr!), vzero)),
              ),
            ),
          ),
          set(h!, vadd(vmul(get(h!), sv(1 / 6)), get(bias!))),
          set(h!, vmul(vsub(get(h!), vfloor(get(h!))), sv(6))),
          store(channel(5), channel(3), channel(1)),
        ),
      ),
    );
    fns.push(f);
  }

  {
    // lumaSum(ptr, S, rowBytes) -> f64: per column in f32, across columns in f64
    const f = new FnBuilder('lumaSum', [I32, I32, I32], [F64]);
    const [ptr, S, rowBytes] = f.args() as number[];
    const [acc] = f.locals(V128, 1) as number[];
    const [total] = f.locals(F64, 1) as number[];
    const [x, j, pr] = f.locals(I32, 3) as number[];
    const at = (k: number): Code => vload(iadd(iadd(get(pr!), imul(get(rowBytes!), ic(k))), get(j!)));
    f.body = cat(
      set(total!, dc(0)),
      forLoop(
        x!,
        ic(0),
        get(S!),
        1,
        set(acc!, vzero),
        set(pr!, iadd(get(ptr!), imul(get(x!), imul(get(rowBytes!), ic(3))))),
        forLoop(j!, ic(0), get(rowBytes!), 16, set(acc!, vadd(get(acc!), lumaV(at(0), at(1), at(2))))),
        set(
          total!,
          dadd(
            get(total!),
            dadd(
              dadd(promote(lane(get(acc!), 0)), promote(lane(get(acc!), 1))),
              dadd(promote(lane(get(acc!), 2)), promote(lane(get(acc!), 3))),
            ),
          ),
        ),
      ),
      get(total!),
    );
    fns.push(f);
  }

  {
    // blurY(src, dst, nRows, rowBytes, S, taps, R, pad): along y inside each X-C-Y row, edges replicated
    const f = new FnBuilder('blurY', new Array<number>(8).fill(I32));
    const [src, dst, nRows, rowBytes, S, taps, R, pad] = f.args() as number[];
    const [row, s, d, q, j, mid] = f.locals(I32, 6) as number[];
    const [e0, e1] = f.locals(F32, 2) as number[];
    const [w] = f.locals(V128, 1) as number[];
    f.body = cat(
      set(mid!, iadd(get(pad!), ishl(get(R!), ic(2)))),
      forLoop(
        row!,
        ic(0),
        get(nRows!),
        1,
        set(s!, iadd(get(src!), imul(get(row!), get(rowBytes!)))),
        set(d!, iadd(get(dst!), imul(get(row!), get(rowBytes!)))),
        set(e0!, fload(get(s!))),
        set(e1!, fload(iadd(get(s!), ishl(isub(get(S!), ic(1)), ic(2))))),
        forLoop(
          q!,
          ic(0),
          get(R!),
          1,
          fstore(iadd(get(pad!), ishl(get(q!), ic(2))), get(e0!)),
          fstore(iadd(iadd(get(mid!), get(rowBytes!)), ishl(get(q!), ic(2))), get(e1!)),
        ),
        forLoop(j!, ic(0), get(rowBytes!), 16, vstore(iadd(get(mid!), get(j!)), vload(iadd(get(s!), get(j!))))),
        scaleInto(j!, get(rowBytes!), get(d!), get(mid!), splat(fload(get(taps!)))),
        forLoop(
          q!,
          ic(1),
          iadd(get(R!), ic(1)),
          1,
          set(w!, splat(fload(iadd(get(taps!), ishl(get(q!), ic(2)))))),
          accumulate(
            j!,
            get(rowBytes!),
            get(d!),
            get(w!),
            isub(get(mid!), ishl(get(q!), ic(2))),
            iadd(get(mid!), ishl(get(q!), ic(2))),
          ),
        ),
      ),
    );
    fns.push(f);
  }

  {
    // blurX(src, dst, S, rowBytes, taps, R): along x across X-C-Y column blocks, edges replicated
    const f = new FnBuilder('blurX', new Array<number>(6).fill(I32));
    const [src, dst, S, rowBytes, taps, R] = f.args() as number[];
    const [x, j, q, xa, xb, bb, d] = f.locals(I32, 7) as number[];
    const [w] = f.locals(V128, 1) as number[];
    f.body = cat(
      set(bb!, imul(get(rowBytes!), ic(3))),
      forLoop(
        x!,
        ic(0),
        get(S!),
        1,
        set(d!, iadd(get(dst!), imul(get(x!), get(bb!)))),
        scaleInto(j!, get(bb!), get(d!), iadd(get(src!), imul(get(x!), get(bb!))), splat(fload(get(taps!)))),
        forLoop(
          q!,
          ic(1),
          iadd(get(R!), ic(1)),
          1,
          set(xa!, select(isub(get(x!), get(q!)), ic(0), igt(isub(get(x!), get(q!)), ic(0)))),
          set(xb!, select(iadd(get(x!), get(q!)), isub(get(S!), ic(1)), ilt(iadd(get(x!), get(q!)), get(S!)))),
          set(w!, splat(fload(iadd(get(taps!), ishl(get(q!), ic(2)))))),
          accumulate(
            j!,
            get(bb!),
            get(d!),
            get(w!),
            iadd(get(src!), imul(get(xa!), get(bb!))),
            iadd(get(src!), imul(get(xb!), get(bb!))),
          ),
        ),
      ),
    );
    fns.push(f);
  }

  {
    // normalize(ptr, S, rowBytes, m0, m1, m2, a0, a1, a2): channel c -> v * m_c + a_c
    const f = new FnBuilder('normalize', [I32, I32, I32, F32, F32, F32, F32, F32, F32]);
    const [ptr, S, rowBytes, m0, m1, m2, a0, a1, a2] = f.args() as number[];
    f.body = perPixel(f, ptr!, S!, rowBytes!, (r, g, b, store) =>
      store(
        vadd(vmul(get(r), splat(get(m0!))), splat(get(a0!))),
        vadd(vmul(get(g), splat(get(m1!))), splat(get(a1!))),
        vadd(vmul(get(b), splat(get(m2!))), splat(get(a2!))),
      ),
    );
    fns.push(f);
  }

  {
    // transposeOut(src, dst, S, rowBytes): X-C-Y (3S rows of S) -> HWC (S rows of 3S), 4x4 blocks
    const f = new FnBuilder('transposeOut', [I32, I32, I32, I32]);
    const [src, dst, S, rowBytes] = f.args() as number[];
    const [i, y, p, outRow] = f.locals(I32, 4) as number[];
    const a = f.locals(V128, 4);
    const { prep, cols } = transpose4(a, f.locals(V128, 4));
    f.body = cat(
      set(outRow!, imul(get(rowBytes!), ic(3))),
      forLoop(
        i!,
        ic(0),
        imul(get(S!), ic(3)),
        4,
        forLoop(
          y!,
          ic(0),
          get(S!),
          4,
          set(p!, iadd(iadd(get(src!), imul(get(i!), get(rowBytes!))), ishl(get(y!), ic(2)))),
          ...a.map((v, r) => set(v, vload(iadd(get(p!), imul(get(rowBytes!), ic(r)))))),
          prep,
          set(p!, iadd(iadd(get(dst!), imul(get(y!), get(outRow!))), ishl(get(i!), ic(2)))),
          ...cols.map((c, q) => cat(q > 0 ? set(p!, iadd(get(p!), get(outRow!))) : [], vstore(get(p!), c))),
        ),
      ),
    );
    fns.push(f);
  }

  return assembleModule(fns);
}

/** The exported kernels (all pointers are byte offsets into the module's memory). */
interface WasmKernels {
  vresize(
    src: number,
    srcStride: number,
    nElem: number,
    dst: number,
    dstStride: number,
    nRows: number,
    first: number,
    count: number,
    taps: number,
    maxT: number,
  ): void;
  hpass(
    src: number,
    blockBytes: number,
    dst: number,
    nOut: number,
    first: number,
    count: number,
    taps: number,
    maxT: number,
  ): void;
  brightness(ptr: number, nBytes: number, f: number): void;
  contrast(ptr: number, nBytes: number, f: number, add: number): void;
  saturation(ptr: number, S: number, rowBytes: number, f: number): void;
  grayscale(ptr: number, S: number, rowBytes: number): void;
  hue(ptr: number, S: number, rowBytes: number, shift: number): void;
  lumaSum(ptr: number, S: number, rowBytes: number): number;
  blurY(
    src: number,
    dst: number,
    nRows: number,
    rowBytes: number,
    S: number,
    taps: number,
    R: number,
    pad: number,
  ): void;
  blurX(src: number, dst: number, S: number, rowBytes: number, taps: number, R: number): void;
  normalize(
    ptr: number,
    S: number,
    rowBytes: number,
    m0: number,
    m1: number,
    m2: number,
    a0: number,
    a1: number,
    a2: number,
  ): void;
  transposeOut(src: number, dst: number, S: number, rowBytes: number): void;
}

/** One module instance and memory per thread; the decoded source stays in memory across a sample's views. */
class WasmState {
  readonly memory = new WebAssembly.Memory({ initial: 64 });
  readonly k: WasmKernels;
  private srcOwner: Uint8Array | null = null;
  private srcBytes = 0;
  f32 = new Float32Array(this.memory.buffer);
  i32 = new Int32Array(this.memory.buffer);
  u8 = new Uint8Array(this.memory.buffer);

  constructor() {
    const mod = new WebAssembly.Module(buildKernelModule());
    this.k = new WebAssembly.Instance(mod, { env: { memory: this.memory } }).exports as unknown as WasmKernels;
  }

  ensure(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    this.memory.grow(Math.ceil((bytes - have) / 65536));
    this.f32 = new Float32Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.u8 = new Uint8Array(this.memory.buffer);
    this.srcOwner = null;
  }

  /** Copy the decoded image to offset 0 (once per image); returns where per-view scratch may start. */
  source(img: DecodedImage): number {
    const end = align16(img.data.length + 64); // vresize reads up to 15 bytes past a crop row
    if (this.srcOwner !== img.data) {
      this.ensure(end);
      this.u8.set(img.data, 0);
      this.srcOwner = img.data;
      this.srcBytes = end;
    }
    return this.srcBytes;
  }
}

function align16(n: number): number {
  return (n + 15) & ~15;
}

/** Whether this runtime has the WASM SIMD kernels (else every view uses the scalar JS kernels). */
export function wasmKernelsAvailable(): boolean {
  return wasm() !== null;
}

let wasmState: WasmState | null | undefined;
function wasm(): WasmState | null {
  if (wasmState === undefined) {
    try {
      wasmState = new WasmState();
    } catch {
      wasmState = null; // no WASM SIMD in this runtime: scalar kernels only
    }
  }
  return wasmState;
}

/** Write one axis's weights (see {@link axisWeights}) as int32 first/count and float32 taps at `at`. */
/** Tap slots per output pixel that {@link axisWeights} and {@link putAxisWeights} reserve. */
function maxTapsFor(inSize: number, outSize: number): number {
  return Math.ceil(Math.max(inSize / outSize, 1)) * 2 + 2;
}

/**
 * {@link axisWeights} written straight into the kernel memory at `at`: int32 first/count, float32 taps (stride
 * maxTaps); with `flip`, output o gets the weights of output n - 1 - o.
 */
function putAxisWeights(
  st: WasmState,
  inSize: number,
  n: number,
  gain: number,
  flip: boolean,
  at: number,
): { first: number; count: number; taps: number; maxTaps: number; end: number } {
  const maxTaps = maxTapsFor(inSize, n);
  const first = at;
  const count = first + n * 4;
  const taps = count + n * 4;
  const scale = inSize / n;
  const support = Math.max(scale, 1);
  const { i32, f32 } = st;
  for (let x = 0; x < n; x++) {
    const o = flip ? n - 1 - x : x;
    const centre = (x + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support + 0.5));
    const hi = Math.min(inSize, Math.floor(centre + support + 0.5));
    let sum = 0;
    for (let i = lo; i < hi; i++) {
      const t = Math.abs((i + 0.5 - centre) / support);
      sum += t < 1 ? 1 - t : 0;
    }
    const base = (taps >> 2) + o * maxTaps;
    for (let i = lo; i < hi; i++) {
      const t = Math.abs((i + 0.5 - centre) / support);
      f32[base + i - lo] = ((t < 1 ? 1 - t : 0) / sum) * gain;
    }
    i32[(first >> 2) + o] = lo;
    i32[(count >> 2) + o] = hi - lo;
  }
  return { first, count, taps, maxTaps, end: align16(taps + n * maxTaps * 4) };
}

/** The WASM SIMD version of {@link renderView}; sizes must be multiples of 4. */
function renderViewWasm(
  st: WasmState,
  img: DecodedImage,
  view: ViewParams,
  dest: Float32Array,
  destOff: number,
  norm: Normalization,
): void {
  const S = view.size;
  const box = view.crop;
  const srcEnd = st.source(img);
  const rowBytes = S * 4;
  const blockBytes = 3 * rowBytes;
  const nElem = (box.width * 3 + 15) & ~15; // vresize works in 16s; the overrun stays in the padding
  const radius = view.blurSigma === null ? 0 : Math.max(1, Math.ceil(3 * view.blurSigma));
  // sizes first, so one grow covers everything
  const tabBytes =
    align16(S * (8 + maxTapsFor(box.height, S) * 4)) + align16(S * (8 + maxTapsFor(box.width, S) * 4)) + 64;
  const tBytes = align16(nElem * rowBytes);
  const planeBytes = align16(S * blockBytes);
  const padBytes = align16((S + 2 * radius + 8) * 4);
  st.ensure(srcEnd + tabBytes + tBytes + 3 * planeBytes + padBytes + align16((radius + 1) * 4));
  const ty = putAxisWeights(st, box.height, S, 1, false, srcEnd);
  const tx = putAxisWeights(st, box.width, S, 1 / 255, view.flip, ty.end);
  const T = tx.end;
  const P = T + tBytes;
  const TMP = P + planeBytes;
  const OUT = TMP + planeBytes;
  const PAD = OUT + planeBytes;
  const KER = PAD + padBytes;
  const k = st.k;
  k.vresize(
    (box.top * img.width + box.left) * 3,
    img.width * 3,
    nElem,
    T,
    rowBytes,
    S,
    ty.first,
    ty.count,
    ty.taps,
    ty.maxTaps,
  );
  k.hpass(T, blockBytes, P, S, tx.first, tx.count, tx.taps, tx.maxTaps);
  // photometric ops, split at contrast like photometricInPlace
  const codes: number[] = view.jitter ? view.jitter.order.map((op) => OP_CODE[op]) : [];
  if (view.grayscale) codes.push(OP_GRAY);
  const j = view.jitter;
  for (const code of codes) {
    if (code === OP_BRIGHTNESS) k.brightness(P, S * blockBytes, j!.brightness);
    else if (code === OP_CONTRAST) {
      const mean = k.lumaSum(P, S, rowBytes) / (S * S);
      k.contrast(P, S * blockBytes, j!.contrast, (1 - j!.contrast) * mean);
    } else if (code === OP_SATURATION) k.saturation(P, S, rowBytes, j!.saturation);
    else if (code === OP_HUE) k.hue(P, S, rowBytes, j!.hue);
    else k.grayscale(P, S, rowBytes);
  }
  const [m0, m1, m2] = norm.std.map((s) => 1 / s) as [number, number, number];
  const [a0, a1, a2] = norm.mean.map((m, c) => -m / (norm.std[c] as number)) as [number, number, number];
  if (view.blurSigma !== null) {
    const half = halfKernel(view.blurSigma);
    for (let q = 0; q < half.length; q++) st.f32[(KER >> 2) + q] = half[q] as number;
    k.blurY(P, TMP, 3 * S, rowBytes, S, KER, half.length - 1, PAD);
    k.blurX(TMP, P, S, rowBytes, KER, half.length - 1);
  }
  k.normalize(P, S, rowBytes, m0, m1, m2, a0, a1, a2);
  k.transposeOut(P, OUT, S, rowBytes);
  dest.set(st.f32.subarray(OUT >> 2, (OUT >> 2) + S * S * 3), destOff);
}
