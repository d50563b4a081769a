import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { FASHION_MNIST_PACKAGE, fashionMnistImage, loadFashionMnist } from '../../../../datasets/corpus/fashion-mnist';
import { findPhotos, PHOTO_ALLOW_LIST, PHOTO_PACKAGES } from '../../../../datasets/corpus/photos';
import {
  batchKey,
  corpusKey,
  encodeGrey,
  fmnistTestKey,
  fmnistTrainId,
  fmnistTrainKey,
  trainFormat,
} from '../../../../datasets/corpus/seed';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('corpus key layout', () => {
  it('fans out by the first two byte-pairs of sha1(id)', () => {
    const id = fmnistTrainId(123);
    expect(id).toBe('fmnist-train-000123');
    const h = createHash('sha1').update(id).digest('hex');
    expect(corpusKey(id, 'png')).toBe(`corpus/${h.slice(0, 2)}/${h.slice(2, 4)}/fmnist-train-000123.png`);
    expect(corpusKey('photo-castle', 'jpg')).toMatch(/^corpus\/[0-9a-f]{2}\/[0-9a-f]{2}\/photo-castle\.jpg$/);
    expect(fmnistTestKey(7)).toBe('eval/fashion-mnist/test/fmnist-test-000007.png');
    expect(batchKey(0, 2000)).toBe('corpus-meta/seed-batches/0-2000.json');
    expect(batchKey(0, 2000, 0.5)).toBe('corpus-meta/seed-batches/0-2000-jpeg0.5.json');
  });

  it('spreads keys over many prefixes and picks formats deterministically by id', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => fmnistTrainKey(i, 0.25));
    expect(new Set(keys).size).toBe(2000);
    expect(Array.from({ length: 2000 }, (_, i) => fmnistTrainKey(i, 0.25))).toEqual(keys);
    expect(new Set(keys.map((k) => k.slice(0, 10))).size).toBeGreaterThan(200); // corpus/<h1>/ buckets
    const jpeg = keys.filter((k) => k.endsWith('.jpg')).length;
    expect(jpeg / keys.length).toBeGreaterThan(0.2);
    expect(jpeg / keys.length).toBeLessThan(0.3);
    expect(keys.filter((k) => !/\.(png|jpg)$/.test(k))).toEqual([]);
    expect(trainFormat('x', 0)).toBe('png');
    expect(trainFormat('x', 1)).toBe('jpg');
  });
});

describe('encodeGrey', () => {
  it('writes 1-channel PNG/JPEG with identical bytes every time', async () => {
    const train = await loadFashionMnist('train');
    const img = { width: 28, height: 28, pixels: fashionMnistImage(train, 5) };
    const [png1, png2, jpg1, jpg2] = await Promise.all([
      encodeGrey(img, 'png'),
      encodeGrey(img, 'png'),
      encodeGrey(img, 'jpg'),
      encodeGrey(img, 'jpg'),
    ]);
    expect(md5(png1)).toBe(md5(png2));
    expect(md5(jpg1)).toBe(md5(jpg2));
    const pm = await sharp(png1).metadata();
    const jm = await sharp(jpg1).metadata();
    expect([pm.format, pm.width, pm.height, pm.channels]).toEqual(['png', 28, 28, 1]);
    expect([jm.format, jm.width, jm.height, jm.channels]).toEqual(['jpeg', 28, 28, 1]);
    const back = await sharp(png1).toColourspace('b-w').raw().toBuffer();
    expect(back.equals(Buffer.from(img.pixels))).toBe(true); // PNG is lossless
  });
});

describe('photos and the data-package installer', () => {
  it('allow-lists real photos from the packages the install script installs', () => {
    const script = readFileSync(path.join(__dirname, '../../../../scripts/install-data-packages.sh'), 'utf8');
    for (const pkg of [FASHION_MNIST_PACKAGE, ...PHOTO_PACKAGES]) expect(script).toContain(pkg);
    expect(new Set(PHOTO_ALLOW_LIST.map((p) => p.name)).size).toBe(PHOTO_ALLOW_LIST.length);
    expect(PHOTO_ALLOW_LIST.length).toBeGreaterThanOrEqual(15);
  });

  it('finds every allow-listed photo as a colour JPEG at native size (packages installed)', async () => {
    const { found, missing } = await findPhotos();
    expect(missing.map((m) => `${m.package}: ${m.path}`)).toEqual([]);
    for (const p of found) {
      const m = await sharp(p.path).metadata();
      expect([p.name, m.format, m.channels]).toEqual([p.name, 'jpeg', 3]);
      expect(Math.min(m.width ?? 0, m.height ?? 0)).toBeGreaterThanOrEqual(640);
      expect((m.width ?? 0) * (m.height ?? 0)).toBeLessThan(40_000_000); // under ingest's default pixel limit
    }
  });
});
