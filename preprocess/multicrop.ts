/**
 * SwAV multi-crop on real image bytes: decode once with sharp (libvips), then render every view with fused
 * float kernels into NHWC float32 buffers grouped by view size.
 *
 * Why not one sharp pipeline per view: each sharp call costs ~0.3 ms of fixed overhead here (7+ calls per
 * sample), and libvips upsizes with a different interpolator than Pillow's bilinear (errors up to ~20/255 on
 * crops smaller than the view), while Pillow's antialiased triangle filter is cheap to do exactly in JS.
 *
 * Semantics (reference: `ml/color-ops.ts`, torchvision + Pillow): resized crop with Pillow's antialiased bilinear
 * filter, flip, colour jitter in the drawn order (each op clamps to [0, 1]), grayscale, Gaussian blur (sigma in
 * pixels, edges replicated), normalise. Differences from the float reference: the blur kernel is cut at 3 sigma
 * instead of 4 sigma and intermediate values stay in float64 registers inside a fused pass; both change outputs
 * by < 1e-3 (pixel scale [0, 1]). Same (seed, epoch, index) and bytes -> bit-identical output.
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
}

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
export async function multicrop(bytes: Uint8Array, key: SampleKey, options: MulticropOptions): Promise<MulticropSample> {
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
  renderViews(img, params, groups, 0, 1, options.normalization ?? DEFAULT_NORMALIZATION);
  return { width: img.width, height: img.height, params, groups };
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
): void {
  const seen = new Map<number, number>();
  for (const view of params) {
    const group = groups.find((g) => g.size === view.size);
    if (!group) throw new RangeError(`no output group for view size ${view.size}`);
    const rank = seen.get(view.size) ?? 0;
    seen.set(view.size, rank + 1);
    const plane = view.size * view.size * 3;
    renderView(img, view, group.data, (rank * batchSize + sampleSlot) * plane, norm);
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
  const maxTaps = Math.ceil(support) * 2 + 2;
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
export function resizeCropInto(
  img: DecodedImage,
  box: CropBox,
  size: number,
  flip: boolean,
  out: Float32Array,
): void {
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
    for (let i = 0; i < nPix * 3; i += 3) sum += L0 * (d[i] as number) + L1 * (d[i + 1] as number) + L2 * (d[i + 2] as number);
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

/** Render one view (resized crop, flip, photometric ops, blur, normalise) to `dest[destOff ...]` as HWC float32. */
export function renderView(
  img: DecodedImage,
  view: ViewParams,
  dest: Float32Array,
  destOff: number,
  norm: Normalization = DEFAULT_NORMALIZATION,
): void {
  const size = view.size;
  const n = size * size * 3;
  if (destOff < 0 || destOff + n > dest.length) throw new RangeError('view does not fit in the destination buffer');
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
