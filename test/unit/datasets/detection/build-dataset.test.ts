import sharp from 'sharp';
import { loadFashionMnist } from '../../../../datasets/corpus/fashion-mnist';
import {
  buildSplit,
  composeImage,
  datasetVersion,
  encodePng,
  fashionMnistGlyphs,
  renderGlyph,
  resolveDatasetOptions,
  type DetectionSources,
  type Glyph,
  type GlyphSource,
  type PastedItem,
} from '../../../../datasets/detection/build-dataset';
import { Rng } from '../../../../ml/rng';
import { ErrorType, SeerflowError } from '../../../../contracts/errors';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

/** Solid rectangles: every pixel of item i is grey 40 + i, so its visible pixels can be found in the image. */
function solidGlyphs(count: number, offset = 0): GlyphSource {
  return {
    count,
    get: (index): Glyph => ({
      width: 28,
      height: 28,
      pixels: new Uint8Array(28 * 28).fill(40 + index + offset),
      label: index % 10,
      index,
    }),
  };
}

/** Backgrounds with no pixel in the items' grey range (all values < 30 or in pure colours). */
function darkBackgrounds(n: number): DetectionSources['backgrounds'] {
  return Array.from({ length: n }, (_, k) => {
    const rng = Rng.keyed(99, k);
    const width = 100 + 10 * k;
    const height = 90;
    const data = new Uint8Array(width * height * 3);
    for (let i = 0; i < data.length; i++) data[i] = rng.int(20);
    return { name: `bg${k}`, width, height, data };
  });
}

function item(x: number, y: number, w: number, h: number, grey: number, index: number): PastedItem {
  return {
    x,
    y,
    width: w,
    height: h,
    mask: new Uint8Array(w * h).fill(1),
    value: new Uint8Array(w * h).fill(grey),
    label: 0,
    index,
  };
}

/** Visible pixels of grey value `v`: tight box and count. */
function pixelsOf(rgb: Uint8Array, size: number, v: number): { bbox: number[]; count: number } | undefined {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -1;
  let y1 = -1;
  let count = 0;
  for (let p = 0; p < size * size; p++) {
    if (rgb[p * 3] !== v || rgb[p * 3 + 1] !== v || rgb[p * 3 + 2] !== v) continue;
    const x = p % size;
    const y = Math.floor(p / size);
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
    count++;
  }
  return count === 0 ? undefined : { bbox: [x0, y0, x1 - x0 + 1, y1 - y0 + 1], count };
}

describe('renderGlyph', () => {
  it('thresholds alpha on the resized grey values and mirrors when asked', () => {
    const g: Glyph = { width: 4, height: 1, pixels: Uint8Array.from([0, 10, 200, 255]), label: 0, index: 0 };
    const a = renderGlyph(g, 4, 1, false, 24);
    expect(Array.from(a.value)).toEqual([0, 10, 200, 255]);
    expect(Array.from(a.mask)).toEqual([0, 0, 1, 1]);
    const f = renderGlyph(g, 4, 1, true, 24);
    expect(Array.from(f.value)).toEqual([255, 200, 10, 0]);
    expect(Array.from(f.mask)).toEqual([1, 1, 0, 0]);
  });
});

describe('composeImage', () => {
  const size = 32;
  const bg = new Uint8Array(size * size * 3);

  it('boxes the visible part of an occluded item and counts its visible pixels', () => {
    // B (on top) covers A's right half; C hangs off the left edge.
    const items = [item(4, 4, 12, 10, 100, 0), item(10, 2, 12, 14, 150, 1), item(-3, 20, 8, 6, 200, 2)];
    const c = composeImage(bg, size, items, 0.3);
    expect(c.dropped).toEqual([]);
    const [a, b, cc] = c.objects;
    expect(a).toMatchObject({ item: 0, bbox: [4, 4, 6, 10], area: 60 });
    expect(a?.visibleFraction).toBeCloseTo(60 / 120);
    expect(b).toMatchObject({ item: 1, bbox: [10, 2, 12, 14], area: 168 });
    expect(cc).toMatchObject({ item: 2, bbox: [0, 20, 5, 6], area: 30 });
    for (const [o, v] of [
      [a, 100],
      [b, 150],
      [cc, 200],
    ] as const) {
      const seen = pixelsOf(c.rgb, size, v);
      expect(seen?.bbox).toEqual(o?.bbox);
      expect(seen?.count).toBe(o?.area);
    }
  });

  it('removes an item that is less than minVisible visible (no unannotated pixels stay) and uncovers what it hid', () => {
    // A is 80% hidden by B; A also covers a corner of Z below it.
    const z = item(0, 0, 6, 6, 50, 0);
    const a = item(4, 4, 10, 10, 100, 1);
    const b = item(6, 4, 10, 12, 150, 2);
    const c = composeImage(bg, size, [z, a, b], 0.3);
    expect(c.dropped).toEqual([1]);
    expect(pixelsOf(c.rgb, size, 100)).toBeUndefined();
    // Z is whole again: A's pixels over it are gone, B does not reach it.
    expect(c.objects.map((o) => o.item)).toEqual([0, 2]);
    expect(c.objects[0]).toMatchObject({ bbox: [0, 0, 6, 6], area: 36, visibleFraction: 1 });
    const without = composeImage(bg, size, [z, b], 0.3);
    expect(Buffer.from(c.rgb).equals(Buffer.from(without.rgb))).toBe(true);
  });

  it('drops an item that is entirely off-canvas or transparent', () => {
    const off = item(40, 40, 5, 5, 100, 0);
    const clear: PastedItem = { ...item(2, 2, 5, 5, 100, 1), mask: new Uint8Array(25) };
    expect(composeImage(bg, size, [off, clear], 0.3).dropped).toEqual([0, 1]);
  });
});

describe('buildSplit', () => {
  const sources: DetectionSources = {
    glyphs: { train: solidGlyphs(150), test: solidGlyphs(60, 150) },
    backgrounds: darkBackgrounds(3),
  };
  const opts = { images: 40, testImages: 12, seed: 5, size: 48 };

  it('every box is tight around the visible pixels of its item, area is their count, and nothing else is pasted', () => {
    for (const split of ['train', 'test'] as const) {
      const { coco, rgb } = buildSplit(sources, opts, split);
      expect(coco.images).toHaveLength(split === 'train' ? 40 : 12);
      expect(coco.annotations.length).toBeGreaterThan(coco.images.length);
      coco.images.forEach((img, i) => {
        const anns = coco.annotations.filter((a) => a.image_id === img.id);
        const offset = split === 'train' ? 0 : 150;
        for (const a of anns) {
          const seen = pixelsOf(rgb[i] as Uint8Array, 48, 40 + a.fmnist_index + offset);
          expect(seen?.bbox).toEqual(a.bbox);
          expect(seen?.count).toBe(a.area);
          expect(a.visible_fraction).toBeGreaterThanOrEqual(0.3);
          expect(a.category_id).toBe((a.fmnist_index % 10) + 1);
        }
        // Every item-coloured pixel belongs to an annotated item (dropped items are not rendered).
        const allowed = new Set(anns.map((a) => 40 + a.fmnist_index + offset));
        const px = rgb[i] as Uint8Array;
        for (let p = 0; p < 48 * 48; p++)
          if ((px[p * 3] as number) >= 30) expect(allowed.has(px[p * 3] as number)).toBe(true);
      });
    }
  });

  it('uses each item at most once, train items from the train source and test items from the test source', () => {
    const train = buildSplit(sources, opts, 'train').coco;
    const test = buildSplit(sources, opts, 'test').coco;
    const ids = (c: typeof train) => c.annotations.map((a) => `${a.fmnist_split}:${a.fmnist_index}`);
    expect(new Set(ids(train)).size).toBe(train.annotations.length);
    expect(new Set(ids(test)).size).toBe(test.annotations.length);
    expect(train.annotations.every((a) => a.fmnist_split === 'train')).toBe(true);
    expect(test.annotations.every((a) => a.fmnist_split === 'test')).toBe(true);
  });

  it('is deterministic: same seed, same images and annotations; another seed differs', () => {
    const a = buildSplit(sources, opts, 'train');
    const b = buildSplit(sources, opts, 'train');
    expect(JSON.stringify(b.coco)).toBe(JSON.stringify(a.coco));
    a.rgb.forEach((x, i) => expect(Buffer.from(x).equals(Buffer.from(b.rgb[i] as Uint8Array))).toBe(true));
    const c = buildSplit(sources, { ...opts, seed: 6 }, 'train');
    expect(JSON.stringify(c.coco.annotations)).not.toBe(JSON.stringify(a.coco.annotations));
    // Image i does not depend on how many images are built.
    const more = buildSplit(sources, { ...opts, images: 41 }, 'train');
    expect(Buffer.from(more.rgb[7] as Uint8Array).equals(Buffer.from(a.rgb[7] as Uint8Array))).toBe(true);
  });

  it('refuses more images than the split has distinct items for', () => {
    expect(() => buildSplit(sources, { ...opts, testImages: 30 }, 'test')).toThrow(/distinct items/);
    expect(() => buildSplit(sources, { ...opts, testImages: 30 }, 'test')).toThrow(SeerflowError);
  });

  it('splits real Fashion-MNIST by instance: train items from its train split, test items from t10k, none reused', async () => {
    const [tr, te] = await Promise.all([loadFashionMnist('train'), loadFashionMnist('test')]);
    const real: DetectionSources = {
      glyphs: { train: fashionMnistGlyphs(tr), test: fashionMnistGlyphs(te) },
      backgrounds: darkBackgrounds(2),
    };
    const o = { images: 60, testImages: 30, seed: 1 };
    const train = buildSplit(real, o, 'train').coco;
    const test = buildSplit(real, o, 'test').coco;
    const trainIdx = train.annotations.map((a) => a.fmnist_index);
    expect(new Set(trainIdx).size).toBe(trainIdx.length);
    expect(test.annotations.every((a) => a.fmnist_split === 'test' && a.fmnist_index < 10_000)).toBe(true);
    // Labels are the real ones.
    for (const a of train.annotations.slice(0, 20))
      expect(a.category_id).toBe((tr.labels[a.fmnist_index] as number) + 1);
    for (const a of [...train.annotations, ...test.annotations]) {
      expect(a.bbox[2]).toBeGreaterThan(0);
      expect(a.area).toBeLessThanOrEqual(a.bbox[2] * a.bbox[3]);
    }
  });
});

describe('versions and encoding', () => {
  it('names a version per option set and validates options', () => {
    expect(datasetVersion({ images: 10, seed: 0 })).toBe(
      datasetVersion({ images: 10, seed: 0, size: 64, testImages: 3 }),
    );
    expect(datasetVersion({ images: 10, seed: 0 })).toMatch(/^fmnist64-n10-t3-s0-[0-9a-f]{8}$/);
    expect(datasetVersion({ images: 10, seed: 1 })).not.toBe(datasetVersion({ images: 10, seed: 0 }));
    expect(datasetVersion({ images: 10, seed: 0, photos: 2 })).not.toBe(datasetVersion({ images: 10, seed: 0 }));
    expect(() => resolveDatasetOptions({ images: 0, seed: 0 })).toThrow(/images/);
    expect(() => resolveDatasetOptions({ images: 5, seed: 0, minVisible: 0 })).toThrow(/minVisible/);
  });

  it('types bad options as InvalidInput where they are found', () => {
    for (const bad of [
      { images: 0, seed: 0 },
      { images: 5, seed: -1 },
      { images: 5, seed: 0, minVisible: 2 },
    ]) {
      expect(thrown(() => resolveDatasetOptions(bad))).toMatchObject({ type: ErrorType.InvalidInput });
    }
  });

  it('stores images as lossless PNG', async () => {
    const rgb = new Uint8Array(16 * 16 * 3).map((_, i) => (i * 37) % 256);
    const png = await encodePng(rgb, 16);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([16, 16, 3]);
    expect(Buffer.from(data).equals(Buffer.from(rgb))).toBe(true);
    expect((await encodePng(rgb, 16)).equals(png)).toBe(true);
  });
});
