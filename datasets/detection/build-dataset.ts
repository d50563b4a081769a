/**
 * The detection benchmark's dataset (issue #6 §2): real Fashion-MNIST items pasted onto random crops of the real
 * photos, so every box is exact. Copy-paste recipe of `docs/detection.md`:
 * - an item's alpha is `pixel > alphaThreshold` of the (resized, optionally flipped) 28x28 glyph; its colour is
 *   the glyph's grey value;
 * - 1..maxObjects items per image, pasted in order (later ones occlude earlier ones), partly off-image allowed;
 * - an item less than `minVisible` visible (occlusion + clipping) is not pasted at all, so no unannotated item
 *   stays in an image; boxes are the tight boxes of the *visible* pixels and `area` is their count;
 * - train items come from Fashion-MNIST's train split and test items from its t10k split, each used at most once:
 *   the test objects are instances the detector never saw.
 * Everything is a function of (seed, options, source files): the same call gives the same bytes.
 */
import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { defaultTestImages } from '../../config/schema';
import { ErrorType, SeerflowError } from '../../contracts/errors';
import type { CocoGroundTruth } from '../../ml/coco-eval';
import { permutation, Rng } from '../../ml/rng';
import {
  FASHION_MNIST_CLASSES,
  fashionMnistImage,
  fashionMnistLabel,
  loadFashionMnist,
  type FashionMnistSplit,
} from '../corpus/fashion-mnist';
import { loadPhotos, PHOTO_ALLOW_LIST } from '../corpus/photos';
import { getJson, putJson } from '../../infra/s3';

/** Bump when the rendering recipe changes (it is part of every dataset version). */
export const DETECTION_RECIPE = 'fmnist-paste-v1';

/** Options of {@link buildDetectionDataset}; every field changes the output and is part of the version. */
export interface DetectionDatasetOptions {
  /** Training images. */
  images: number;
  /** Test images. @default {@link defaultTestImages} (images / 4, as the schema resolves it) */
  testImages?: number;
  seed: number;
  /** Square image side in pixels. @default 64 */
  size?: number;
  /** @default 1 */
  minObjects?: number;
  /** @default 3 */
  maxObjects?: number;
  /** Item side range in pixels (before aspect jitter), at `size`. @default [16, 40] scaled by size / 64 */
  minSide?: number;
  maxSide?: number;
  /** Glyph pixels above this grey value are opaque. @default 24 */
  alphaThreshold?: number;
  /** Items with a smaller visible fraction of their mask are dropped. @default 0.3 */
  minVisible?: number;
  /** Use the first N allow-listed photos as backgrounds (tests). @default all of them */
  photos?: number;
}

/** Options with every default filled in. */
export type ResolvedDatasetOptions = Required<DetectionDatasetOptions>;

/** One COCO annotation of this dataset (extra fields record the item's provenance). */
export type DetectionAnnotation = {
  id: number;
  image_id: number;
  category_id: number;
  /** [x, y, w, h] in pixels: the tight box of the visible pixels (pixel i covers [i, i + 1)). */
  bbox: [number, number, number, number];
  /** Visible pixel count. */
  area: number;
  iscrowd: 0;
  fmnist_split: 'train' | 'test';
  fmnist_index: number;
  visible_fraction: number;
};

/** One COCO image record of this dataset. */
export type DetectionImageRecord = {
  id: number;
  /** Relative to the dataset prefix. */
  file_name: string;
  width: number;
  height: number;
  background: string;
};

/** A COCO instances file (`instances_train.json` / `instances_test.json`). */
export interface DetectionCoco extends CocoGroundTruth {
  info: { recipe: string; version: string; split: 'train' | 'test'; seed: number; options: ResolvedDatasetOptions };
  images: DetectionImageRecord[];
  annotations: DetectionAnnotation[];
  categories: { id: number; name: string }[];
}

/** Written last under the prefix: its presence means the dataset is complete. */
export interface DetectionManifest {
  version: string;
  prefix: string;
  recipe: string;
  options: ResolvedDatasetOptions;
  train: { images: number; annotations: number; key: string; sha256: string };
  test: { images: number; annotations: number; key: string; sha256: string };
  backgrounds: string[];
}

/** An 8-bit RGB image, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A grey item glyph (Fashion-MNIST: 28x28, 0 = background). */
export interface Glyph {
  width: number;
  height: number;
  pixels: Uint8Array;
  /** 0-based class (COCO category id = class + 1). */
  label: number;
  index: number;
}

/** An item placed on the canvas: its opaque mask and grey values, at (x, y) (may be partly off-canvas). */
export interface PastedItem {
  x: number;
  y: number;
  width: number;
  height: number;
  /** 1 = opaque, row-major width*height. */
  mask: Uint8Array;
  /** Grey value per pixel. */
  value: Uint8Array;
  label: number;
  index: number;
}

/** What {@link composeImage} returns. */
export interface ComposedImage {
  rgb: Uint8Array;
  /** Kept items (input order) with their visible boxes. */
  objects: { item: number; bbox: [number, number, number, number]; area: number; visibleFraction: number }[];
  /** Input positions of the items that were dropped (< minVisible). */
  dropped: number[];
}

/** Where a dataset lives: `detection/<version>/`. */
export const detectionKeys = {
  prefix: (version: string) => `detection/${version}/`,
  manifest: (prefix: string) => `${prefix}manifest.json`,
  instances: (prefix: string, split: 'train' | 'test') => `${prefix}instances_${split}.json`,
  image: (split: 'train' | 'test', id: number) => `images/${split}/${String(id).padStart(6, '0')}.png`,
};

/** Fill in the defaults and validate. */
export function resolveDatasetOptions(o: DetectionDatasetOptions): ResolvedDatasetOptions {
  const size = o.size ?? 64;
  const r: ResolvedDatasetOptions = {
    images: o.images,
    testImages: o.testImages ?? defaultTestImages(o.images),
    seed: o.seed,
    size,
    minObjects: o.minObjects ?? 1,
    maxObjects: o.maxObjects ?? 3,
    minSide: o.minSide ?? Math.round((16 * size) / 64),
    maxSide: o.maxSide ?? Math.round((40 * size) / 64),
    alphaThreshold: o.alphaThreshold ?? 24,
    minVisible: o.minVisible ?? 0.3,
    photos: o.photos ?? PHOTO_ALLOW_LIST.length,
  };
  const int = (name: keyof ResolvedDatasetOptions, lo: number, hi: number) => {
    const v = r[name] as number;
    if (!Number.isInteger(v) || v < lo || v > hi)
      throw new SeerflowError(
        ErrorType.InvalidInput,
        `detection dataset: ${name} must be an integer in ${lo}..${hi}, got ${v}`,
      );
  };
  int('images', 1, 1_000_000);
  int('testImages', 1, 1_000_000);
  int('seed', 0, 2 ** 31 - 1);
  int('size', 16, 1024);
  int('minObjects', 1, 32);
  int('maxObjects', r.minObjects, 32);
  int('minSide', 4, r.size);
  int('maxSide', r.minSide, r.size);
  int('alphaThreshold', 0, 254);
  int('photos', 1, PHOTO_ALLOW_LIST.length);
  if (!(r.minVisible > 0 && r.minVisible <= 1))
    throw new SeerflowError(
      ErrorType.InvalidInput,
      `detection dataset: minVisible must be in (0, 1], got ${r.minVisible}`,
    );
  return r;
}

/** The dataset version: readable, and distinct for every option set (hash of the resolved options). */
export function datasetVersion(o: DetectionDatasetOptions): string {
  const r = resolveDatasetOptions(o);
  const h = createHash('sha256')
    .update(JSON.stringify({ recipe: DETECTION_RECIPE, ...r }))
    .digest('hex')
    .slice(0, 8);
  return `fmnist${r.size}-n${r.images}-t${r.testImages}-s${r.seed}-${h}`;
}

/** Bilinear sample of a grey glyph at continuous source coordinates (edge-clamped). */
function sampleGrey(g: Glyph, sx: number, sy: number): number {
  const x0 = Math.max(0, Math.min(g.width - 1, Math.floor(sx)));
  const y0 = Math.max(0, Math.min(g.height - 1, Math.floor(sy)));
  const x1 = Math.min(g.width - 1, x0 + 1);
  const y1 = Math.min(g.height - 1, y0 + 1);
  const fx = Math.max(0, Math.min(1, sx - x0));
  const fy = Math.max(0, Math.min(1, sy - y0));
  const p = (x: number, y: number) => g.pixels[y * g.width + x] ?? 0;
  const top = p(x0, y0) * (1 - fx) + p(x1, y0) * fx;
  const bot = p(x0, y1) * (1 - fx) + p(x1, y1) * fx;
  return top * (1 - fy) + bot * fy;
}

/**
 * Resize a glyph to width x height (bilinear, pixel centres aligned), optionally mirrored, and threshold its alpha.
 */
export function renderGlyph(
  g: Glyph,
  width: number,
  height: number,
  flip: boolean,
  alphaThreshold: number,
): { mask: Uint8Array; value: Uint8Array } {
  const mask = new Uint8Array(width * height);
  const value = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = ((y + 0.5) * g.height) / height - 0.5;
    for (let x = 0; x < width; x++) {
      const xs = flip ? width - 1 - x : x;
      const sx = ((xs + 0.5) * g.width) / width - 0.5;
      const v = Math.round(sampleGrey(g, sx, sy));
      value[y * width + x] = v;
      mask[y * width + x] = v > alphaThreshold ? 1 : 0;
    }
  }
  return { mask, value };
}

/** Bilinear crop-and-resize of a square region [x0, x0+side) x [y0, y0+side) to `out` x `out`, optionally mirrored. */
export function cropResize(bg: RgbImage, x0: number, y0: number, side: number, out: number, flip = false): Uint8Array {
  const dst = new Uint8Array(out * out * 3);
  const scale = side / out;
  for (let y = 0; y < out; y++) {
    const sy = Math.max(0, Math.min(bg.height - 1, y0 + (y + 0.5) * scale - 0.5));
    const yA = Math.floor(sy);
    const yB = Math.min(bg.height - 1, yA + 1);
    const fy = sy - yA;
    for (let x = 0; x < out; x++) {
      const xo = flip ? out - 1 - x : x;
      const sx = Math.max(0, Math.min(bg.width - 1, x0 + (xo + 0.5) * scale - 0.5));
      const xA = Math.floor(sx);
      const xB = Math.min(bg.width - 1, xA + 1);
      const fx = sx - xA;
      for (let c = 0; c < 3; c++) {
        const p = (xx: number, yy: number) => bg.data[(yy * bg.width + xx) * 3 + c] ?? 0;
        const v = (p(xA, yA) * (1 - fx) + p(xB, yA) * fx) * (1 - fy) + (p(xA, yB) * (1 - fx) + p(xB, yB) * fx) * fy;
        dst[(y * out + x) * 3 + c] = Math.round(v);
      }
    }
  }
  return dst;
}

/** Owner map (-1 = background) of the given items, later items on top; also each item's total mask size. */
function ownerMap(
  size: number,
  items: readonly PastedItem[],
  keep: readonly boolean[],
): { owner: Int32Array; total: number[] } {
  const owner = new Int32Array(size * size).fill(-1);
  const total = items.map(() => 0);
  items.forEach((it, k) => {
    if (!keep[k]) return;
    for (let y = 0; y < it.height; y++) {
      for (let x = 0; x < it.width; x++) {
        if (!it.mask[y * it.width + x]) continue;
        total[k] = (total[k] ?? 0) + 1;
        const cx = it.x + x;
        const cy = it.y + y;
        if (cx >= 0 && cy >= 0 && cx < size && cy < size) owner[cy * size + cx] = k;
      }
    }
  });
  return { owner, total };
}

/**
 * Paste items onto a square background in order and measure what is visible of each. Items below `minVisible`
 * (visible mask pixels / all mask pixels, off-canvas counting as hidden) are removed and the rest recomposed:
 * removing an item only uncovers the others, so one more pass suffices.
 */
export function composeImage(
  background: Uint8Array,
  size: number,
  items: readonly PastedItem[],
  minVisible: number,
): ComposedImage {
  if (background.length !== size * size * 3) throw new RangeError(`background must be ${size}x${size} RGB`);
  const keep = items.map(() => true);
  const first = ownerMap(size, items, keep);
  const total = first.total; // all mask pixels per item, on- and off-canvas
  let owner = first.owner;
  let visible = countVisible(owner, items.length);
  let changed = false;
  items.forEach((_, k) => {
    const t = total[k] ?? 0;
    if (t === 0 || (visible[k] ?? 0) / t < minVisible) {
      keep[k] = false;
      changed = true;
    }
  });
  if (changed) {
    owner = ownerMap(size, items, keep).owner;
    visible = countVisible(owner, items.length);
  }
  const rgb = Uint8Array.from(background);
  const minX = items.map(() => Infinity);
  const minY = items.map(() => Infinity);
  const maxX = items.map(() => -Infinity);
  const maxY = items.map(() => -Infinity);
  for (let p = 0; p < owner.length; p++) {
    const k = owner[p] as number;
    if (k < 0) continue;
    const it = items[k] as PastedItem;
    const x = p % size;
    const y = (p - x) / size;
    const v = it.value[(y - it.y) * it.width + (x - it.x)] ?? 0;
    rgb[p * 3] = v;
    rgb[p * 3 + 1] = v;
    rgb[p * 3 + 2] = v;
    minX[k] = Math.min(minX[k] as number, x);
    minY[k] = Math.min(minY[k] as number, y);
    maxX[k] = Math.max(maxX[k] as number, x);
    maxY[k] = Math.max(maxY[k] as number, y);
  }
  const objects: ComposedImage['objects'] = [];
  const dropped: number[] = [];
  items.forEach((_, k) => {
    if (!keep[k]) {
      dropped.push(k);
      return;
    }
    const x0 = minX[k] as number;
    const y0 = minY[k] as number;
    objects.push({
      item: k,
      bbox: [x0, y0, (maxX[k] as number) + 1 - x0, (maxY[k] as number) + 1 - y0],
      area: visible[k] as number,
      visibleFraction: (visible[k] as number) / (total[k] as number),
    });
  });
  return { rgb, objects, dropped };
}

function countVisible(owner: Int32Array, n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const k of owner) if (k >= 0) c[k] = (c[k] ?? 0) + 1;
  return c;
}

/** The inputs a dataset is rendered from. */
export interface DetectionSources {
  /** Items for the train split and for the test split (disjoint sources). */
  glyphs: { train: GlyphSource; test: GlyphSource };
  backgrounds: (RgbImage & { name: string })[];
}

/** Indexed access to the items of one split. */
export interface GlyphSource {
  count: number;
  get(index: number): Glyph;
}

/** A Fashion-MNIST split as a {@link GlyphSource}. */
export function fashionMnistGlyphs(split: FashionMnistSplit): GlyphSource {
  return {
    count: split.count,
    get: (index) => ({
      width: split.cols,
      height: split.rows,
      pixels: fashionMnistImage(split, index),
      label: fashionMnistLabel(split, index),
      index,
    }),
  };
}

/** Short side of the decoded backgrounds: crops of 30-100% of it are resized to the image size. */
export const BACKGROUND_SHORT_SIDE = 192;

/**
 * Loads Fashion-MNIST (train + t10k) and the allow-listed real photos, decoded and downscaled once (short side
 * {@link BACKGROUND_SHORT_SIDE}). `photos` limits the number of backgrounds (tests).
 */
export async function loadDetectionSources(opts: { photos?: number } = {}): Promise<DetectionSources> {
  const [train, test, photos] = await Promise.all([loadFashionMnist('train'), loadFashionMnist('test'), loadPhotos()]);
  const chosen = photos.slice(0, opts.photos ?? photos.length);
  const backgrounds = await Promise.all(
    chosen.map(async (p) => {
      const { data, info } = await sharp(p.bytes, { ignoreIcc: true })
        .resize({ width: BACKGROUND_SHORT_SIDE, height: BACKGROUND_SHORT_SIDE, fit: 'outside' })
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      return {
        name: p.name,
        width: info.width,
        height: info.height,
        data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      };
    }),
  );
  return { glyphs: { train: fashionMnistGlyphs(train), test: fashionMnistGlyphs(test) }, backgrounds };
}

/** One rendered image with its annotations (category ids 1-based). */
export interface RenderedImage {
  id: number;
  background: string;
  rgb: Uint8Array;
  annotations: Omit<DetectionAnnotation, 'id' | 'image_id'>[];
}

const SPLIT_CODE = { train: 1, test: 2 } as const;

/**
 * Render image `id` (1-based) of a split. Its random choices come from a stream keyed by (seed, split, id) and its
 * items from fixed slots of a seeded permutation of the split's items, so image i does not depend on the others.
 */
export function renderImage(
  sources: DetectionSources,
  o: ResolvedDatasetOptions,
  split: 'train' | 'test',
  id: number,
  order: Uint32Array,
): RenderedImage {
  const rng = Rng.keyed(o.seed, SPLIT_CODE[split], id);
  const bgs = sources.backgrounds;
  if (bgs.length === 0) throw new SeerflowError(ErrorType.InternalInvariant, 'detection dataset: no backgrounds');
  const bg = bgs[rng.int(bgs.length)] as RgbImage & { name: string };
  const short = Math.min(bg.width, bg.height);
  const side = Math.max(8, Math.round(short * rng.uniform(0.3, 1)));
  const x0 = rng.int(bg.width - side + 1);
  const y0 = rng.int(bg.height - side + 1);
  const background = cropResize(bg, x0, y0, side, o.size, rng.next() < 0.5);
  const n = o.minObjects + rng.int(o.maxObjects - o.minObjects + 1);
  const items: PastedItem[] = [];
  for (let j = 0; j < n; j++) {
    const index = order[(id - 1) * o.maxObjects + j] as number;
    const g = sources.glyphs[split].get(index);
    const s = rng.uniform(o.minSide, o.maxSide);
    const aspect = Math.exp(rng.uniform(Math.log(0.8), Math.log(1.25)));
    const w = Math.max(2, Math.round(s * Math.sqrt(aspect)));
    const h = Math.max(2, Math.round(s / Math.sqrt(aspect)));
    const { mask, value } = renderGlyph(g, w, h, rng.next() < 0.5, o.alphaThreshold);
    // Up to a quarter of the item may fall off each edge.
    const x = Math.round(rng.uniform(-w / 4, o.size - (3 * w) / 4));
    const y = Math.round(rng.uniform(-h / 4, o.size - (3 * h) / 4));
    items.push({ x, y, width: w, height: h, mask, value, label: g.label, index: g.index });
  }
  const c = composeImage(background, o.size, items, o.minVisible);
  return {
    id,
    background: bg.name,
    rgb: c.rgb,
    annotations: c.objects.map((ob) => {
      const it = items[ob.item] as PastedItem;
      return {
        category_id: it.label + 1,
        bbox: ob.bbox,
        area: ob.area,
        iscrowd: 0 as const,
        fmnist_split: split,
        fmnist_index: it.index,
        visible_fraction: Math.round(ob.visibleFraction * 1e4) / 1e4,
      };
    }),
  };
}

/** The categories of the dataset: Fashion-MNIST's classes, ids 1..10. */
export function detectionCategories(): { id: number; name: string }[] {
  return FASHION_MNIST_CLASSES.map((name, i) => ({ id: i + 1, name }));
}

/** A rendered split: the COCO file and each image's RGB pixels (PNG encoding is left to the writer). */
export interface BuiltSplit {
  coco: DetectionCoco;
  rgb: Uint8Array[];
}

/** Render one split in memory. */
export function buildSplit(
  sources: DetectionSources,
  opts: DetectionDatasetOptions,
  split: 'train' | 'test',
): BuiltSplit {
  const o = resolveDatasetOptions(opts);
  const count = split === 'train' ? o.images : o.testImages;
  const pool = sources.glyphs[split].count;
  if (count * o.maxObjects > pool) {
    throw new SeerflowError(
      ErrorType.InvalidInput,
      `detection dataset: ${count} ${split} images x ${o.maxObjects} items need ${count * o.maxObjects} distinct items, the ${split} split has ${pool}`,
    );
  }
  // Each item is used at most once: image i owns permutation slots [i*maxObjects, (i+1)*maxObjects).
  const order = permutation(pool, o.seed, SPLIT_CODE[split], 0x17e4);
  const version = datasetVersion(o);
  const images: DetectionImageRecord[] = [];
  const annotations: DetectionAnnotation[] = [];
  const rgb: Uint8Array[] = [];
  for (let id = 1; id <= count; id++) {
    const r = renderImage(sources, o, split, id, order);
    images.push({
      id,
      file_name: detectionKeys.image(split, id),
      width: o.size,
      height: o.size,
      background: r.background,
    });
    for (const a of r.annotations) annotations.push({ id: annotations.length + 1, image_id: id, ...a });
    rgb.push(r.rgb);
  }
  return {
    coco: {
      info: { recipe: DETECTION_RECIPE, version, split, seed: o.seed, options: o },
      images,
      annotations,
      categories: detectionCategories(),
    },
    rgb,
  };
}

/** PNG bytes of an RGB image (lossless: the boxes stay exact). */
export async function encodePng(rgb: Uint8Array, size: number): Promise<Buffer> {
  return sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.length), { raw: { width: size, height: size, channels: 3 } })
    .png({ compressionLevel: 9, adaptiveFiltering: false })
    .toBuffer();
}

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** What {@link writeDetectionDataset} reports. */
export interface WriteDatasetResult {
  manifest: DetectionManifest;
  /** true when the dataset was already complete in S3 (nothing written). */
  cached: boolean;
  uploadedImages: number;
}

/**
 * Build the dataset and write it to `s3://bucket/detection/<version>/`: images, `instances_train.json`,
 * `instances_test.json`, then `manifest.json` (the commit marker). Idempotent: a complete dataset is left as is,
 * and a partial one is rewritten with the same bytes.
 */
export async function writeDetectionDataset(
  s3: S3Client,
  bucket: string,
  opts: DetectionDatasetOptions,
  deps: { sources?: DetectionSources; concurrency?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<WriteDatasetResult> {
  const o = resolveDatasetOptions(opts);
  const version = datasetVersion(o);
  const prefix = detectionKeys.prefix(version);
  const existing = await getJson<DetectionManifest>(s3, bucket, detectionKeys.manifest(prefix));
  if (existing && existing.version === version) return { manifest: existing, cached: true, uploadedImages: 0 };
  const sources = deps.sources ?? (await loadDetectionSources({ photos: o.photos }));
  const splits = { train: buildSplit(sources, o, 'train'), test: buildSplit(sources, o, 'test') };
  const jobs = (['train', 'test'] as const).flatMap((split) =>
    splits[split].coco.images.map((img, i) => ({
      key: prefix + img.file_name,
      rgb: splits[split].rgb[i] as Uint8Array,
    })),
  );
  let done = 0;
  await mapLimit(jobs, deps.concurrency ?? 16, async (j) => {
    const body = await encodePng(j.rgb, o.size);
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: j.key,
        Body: body,
        ContentLength: body.length,
        ContentType: 'image/png',
      }),
    );
    deps.onProgress?.(++done, jobs.length);
  });
  const entry = async (split: 'train' | 'test') => {
    const key = detectionKeys.instances(prefix, split);
    const coco = splits[split].coco;
    await putJson(s3, bucket, key, coco);
    const text = `${JSON.stringify(coco, null, 2)}\n`; // putJson's exact bytes
    return {
      images: coco.images.length,
      annotations: coco.annotations.length,
      key,
      sha256: createHash('sha256').update(text).digest('hex'),
    };
  };
  const manifest: DetectionManifest = {
    version,
    prefix,
    recipe: DETECTION_RECIPE,
    options: o,
    train: await entry('train'),
    test: await entry('test'),
    backgrounds: sources.backgrounds.map((b) => b.name),
  };
  await putJson(s3, bucket, detectionKeys.manifest(prefix), manifest);
  return { manifest, cached: false, uploadedImages: jobs.length };
}

/** The photo names a full build uses (for docs and the CLI's help). */
export const DETECTION_BACKGROUND_NAMES: readonly string[] = PHOTO_ALLOW_LIST.map((p) => p.name);
