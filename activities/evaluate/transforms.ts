/**
 * Evaluation transforms on decoded canonical images, rendered with the multi-crop resampler (Pillow's
 * antialiased bilinear filter) and the pretraining normalisation:
 * - train: RandomResizedCrop(size, scale (0.08, 1), ratio (3/4, 4/3)) + horizontal flip (p 0.5), no colour
 *   augmentation, as SwAV's eval scripts; every draw from `Rng.keyed(seed, epoch, slot)`, so deterministic;
 * - eval: the reference's Resize(256) + CenterCrop(224) geometry, i.e. a centred square of 224/256 of the
 *   shorter side, resized to `size` in one resample.
 */
import { DEFAULT_NORMALIZATION, resizeCropInto, type DecodedImage, type Normalization } from '../../multicrop';
import { randomResizedCropBox, type CropBox } from '../../ml/multicrop-params';
import type { Rng } from '../../ml/rng';

/** torchvision RandomResizedCrop defaults. */
export const EVAL_TRAIN_SCALE: readonly [number, number] = [0.08, 1];
export const EVAL_TRAIN_RATIO: readonly [number, number] = [3 / 4, 4 / 3];
/** Resize(256) + CenterCrop(224): the crop keeps this share of the shorter side. */
export const CENTER_CROP_FRACTION = 224 / 256;

/** The centred square crop of the eval transform. */
export function centerCropBox(width: number, height: number): CropBox {
  const side = Math.max(1, Math.round(Math.min(width, height) * CENTER_CROP_FRACTION));
  return { top: Math.floor((height - side) / 2), left: Math.floor((width - side) / 2), height: side, width: side };
}

function normalizeInPlace(v: Float32Array, norm: Normalization): void {
  const [m0, m1, m2] = norm.mean;
  const [s0, s1, s2] = norm.std;
  for (let i = 0; i < v.length; i += 3) {
    v[i] = ((v[i] as number) - m0) / s0;
    v[i + 1] = ((v[i + 1] as number) - m1) / s1;
    v[i + 2] = ((v[i + 2] as number) - m2) / s2;
  }
}

/** Render the eval view of `img` into `out` at image slot `slot` (NHWC, `size` px). */
export function evalViewInto(
  img: DecodedImage,
  size: number,
  out: Float32Array,
  slot: number,
  norm: Normalization = DEFAULT_NORMALIZATION,
): void {
  const plane = size * size * 3;
  const view = out.subarray(slot * plane, (slot + 1) * plane);
  resizeCropInto(img, centerCropBox(img.width, img.height), size, false, view);
  normalizeInPlace(view, norm);
}

/** Render a random train view of `img` into `out` at image slot `slot`; advances `rng` (crop, then flip). */
export function trainViewInto(
  img: DecodedImage,
  size: number,
  rng: Rng,
  out: Float32Array,
  slot: number,
  norm: Normalization = DEFAULT_NORMALIZATION,
): void {
  const plane = size * size * 3;
  const view = out.subarray(slot * plane, (slot + 1) * plane);
  const { attempts: _a, ...box } = randomResizedCropBox(img.width, img.height, EVAL_TRAIN_SCALE, EVAL_TRAIN_RATIO, rng);
  const flip = rng.next() < 0.5;
  resizeCropInto(img, box, size, flip, view);
  normalizeInPlace(view, norm);
}
