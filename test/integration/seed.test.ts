/**
 * Seeds a small corpus into a fresh bucket on the real local S3 (`seerflow stack up`), checks objects, labels and
 * the report, then reseeds (nothing uploaded) and adds a second batch (only new objects uploaded).
 */
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { QuarantineReason } from '../../contracts/ingest';
import { BOMB_SIDE, ODD_KEY } from '../../datasets/corpus/bad-objects';
import { fashionMnistImage, loadFashionMnist } from '../../datasets/corpus/fashion-mnist';
import { PHOTO_ALLOW_LIST } from '../../datasets/corpus/photos';
import {
  corpusKey,
  fmnistTrainId,
  SEED_LAYOUT,
  type SeedReport,
  type SeedSummary,
  seedCorpus,
} from '../../datasets/corpus/seed';
import { createS3Client, ensureBucket, getBytes, getJson, getText } from '../../infra/s3';
import { loadServiceSettings } from '../../infra/settings';

const settings = loadServiceSettings();
const bucket = `seed-it-${Date.now().toString(36)}-${process.pid}`;
let s3: S3Client;

async function listAll(prefix = ''): Promise<Map<string, { size: number; etag: string }>> {
  const out = new Map<string, { size: number; etag: string }>();
  let token: string | undefined;
  do {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of res.Contents ?? []) out.set(o.Key ?? '', { size: o.Size ?? -1, etag: o.ETag ?? '' });
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return out;
}

async function jsonl(key: string): Promise<{ key: string; index: number; label: number }[]> {
  const text = await getText(s3, bucket, key);
  if (text === undefined) throw new Error(`${key} missing`);
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { key: string; index: number; label: number });
}

beforeAll(async () => {
  const probe = createS3Client(settings.s3, 1);
  try {
    await probe.send(new ListBucketsCommand({}));
  } catch (err) {
    throw new Error(
      `local S3 not reachable at ${settings.s3.endpoint ?? 'the SDK default endpoint'} (${(err as Error).message}); ` +
        `start it with 'seerflow stack up' before running the integration tests`,
    );
  } finally {
    probe.destroy();
  }
  s3 = createS3Client(settings.s3);
  await ensureBucket(s3, bucket);
});

afterAll(async () => {
  if (!s3) return;
  const keys = [...(await listAll()).keys()];
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000).map((Key) => ({ Key }));
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: chunk, Quiet: true } }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  s3.destroy();
});

describe('seedCorpus on the local S3', () => {
  const opts = { count: 200, testCount: 50, concurrency: 16 };
  let first: SeedSummary;
  let firstListing: Map<string, { size: number; etag: string }>;

  it('seeds train images, photos and planted objects under corpus/, labels and eval outside it', async () => {
    const phases = new Set<string>();
    first = await seedCorpus(s3, { bucket, ...opts, onProgress: (p) => phases.add(p.phase) });
    expect([...phases]).toEqual(['load', 'list', 'objects', 'labels', 'done']);
    expect(first.uploaded).toBe(first.objects);
    expect(first.skipped).toBe(0);

    firstListing = await listAll();
    const corpus = [...firstListing.keys()].filter((k) => k.startsWith('corpus/'));
    const train = corpus.filter((k) => k.includes('/fmnist-train-'));
    expect(train).toHaveLength(200);
    for (const k of train) {
      const id = /\/(fmnist-train-\d{6})\.(png|jpg)$/.exec(k)?.[1] ?? '';
      expect(k).toBe(corpusKey(id, k.slice(-3)));
      expect(k).toMatch(/^corpus\/[0-9a-f]{2}\/[0-9a-f]{2}\/fmnist-train-\d{6}\.(png|jpg)$/);
    }
    expect(train.some((k) => k.endsWith('.jpg')) && train.some((k) => k.endsWith('.png'))).toBe(true);
    expect(corpus.filter((k) => k.includes('/photo-'))).toHaveLength(PHOTO_ALLOW_LIST.length);
    expect(corpus.filter((k) => k.startsWith(SEED_LAYOUT.badPrefix))).toHaveLength(8);
    expect(corpus).toContain(ODD_KEY);
    expect(corpus).toHaveLength(200 + PHOTO_ALLOW_LIST.length + 8 + 1);
    // labels never live under corpus/
    expect(corpus.filter((k) => /\.(jsonl?|txt)$/.test(k))).toEqual([]);
    // ETags are plain MD5s of deterministic bytes
    for (const k of train.slice(0, 5)) {
      const bytes = await getBytes(s3, bucket, k);
      expect(firstListing.get(k)?.etag).toBe(
        `"${createHash('md5')
          .update(bytes ?? new Uint8Array())
          .digest('hex')}"`,
      );
    }
  });

  it('writes train/test labels, classes and an eval set of real test images', async () => {
    const fm = await loadFashionMnist('train');
    const train = await jsonl(SEED_LAYOUT.trainLabelsKey);
    expect(train.map((l) => l.index)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    for (const l of train) {
      expect(Object.keys(l)).toEqual(['key', 'index', 'label']);
      expect(firstListing.has(l.key)).toBe(true);
      expect(l.key).toContain(fmnistTrainId(l.index));
      expect(l.label).toBe(fm.labels[l.index]);
    }
    const pngLine = train.find((l) => l.key.endsWith('.png'));
    const png = await getBytes(s3, bucket, pngLine?.key ?? '');
    const px = await sharp(png).toColourspace('b-w').raw().toBuffer();
    expect(px.equals(Buffer.from(fashionMnistImage(fm, pngLine?.index ?? -1)))).toBe(true);

    const test = await jsonl(SEED_LAYOUT.testLabelsKey);
    expect(test).toHaveLength(50);
    const perClass = new Array<number>(10).fill(0);
    for (const l of test) {
      expect(l.key).toMatch(/^eval\/fashion-mnist\/test\/fmnist-test-\d{6}\.png$/);
      expect(firstListing.has(l.key)).toBe(true);
      perClass[l.label] = (perClass[l.label] ?? 0) + 1;
    }
    expect(perClass).toEqual(new Array(10).fill(5));
    const classes = await getJson<{ classes: string[] }>(s3, bucket, SEED_LAYOUT.classesKey);
    expect(classes?.classes).toHaveLength(10);
    expect(classes?.classes[9]).toBe('Ankle boot');
  });

  it('reports every planted key with its expected reason, the odd key and the photos', async () => {
    const report = await getJson<SeedReport>(s3, bucket, SEED_LAYOUT.reportKey);
    if (!report) throw new Error('seed report missing');
    expect(report.counts).toMatchObject({
      trainImages: 200,
      photos: PHOTO_ALLOW_LIST.length,
      bad: 8,
      oddKey: 1,
      corpusObjects: 200 + PHOTO_ALLOW_LIST.length + 9,
      expectedAccepted: 200 + PHOTO_ALLOW_LIST.length + 1,
      expectedQuarantined: 8,
      testImages: 50,
    });
    expect(report.counts.trainPng + report.counts.trainJpeg).toBe(200);
    expect(report.expectedQuarantineByReason).toEqual({
      [QuarantineReason.Corrupt]: 2,
      [QuarantineReason.Truncated]: 1,
      [QuarantineReason.Empty]: 1,
      [QuarantineReason.NotAnImage]: 1,
      [QuarantineReason.PixelLimit]: 1,
      [QuarantineReason.UnsupportedFormat]: 2,
    });
    for (const b of report.bad) {
      expect(firstListing.get(b.key)).toEqual({ size: b.size, etag: `"${b.md5}"` });
    }
    expect(report.oddKey?.key).toBe(ODD_KEY);
    expect(firstListing.get(ODD_KEY)?.size).toBe(report.oddKey?.size);
    const odd = await getBytes(s3, bucket, ODD_KEY);
    expect((await sharp(odd).metadata()).format).toBe('png');
    const bomb = report.bad.find((b) => b.expectedReason === QuarantineReason.PixelLimit);
    const bombMeta = await sharp(await getBytes(s3, bucket, bomb?.key ?? ''), { limitInputPixels: false }).metadata();
    expect([bombMeta.width, bombMeta.height]).toEqual([BOMB_SIDE, BOMB_SIDE]);
    expect(report.photos.every((p) => p.width >= 640 && p.height >= 640 && firstListing.has(p.key))).toBe(true);
    expect(report.batches).toEqual([{ key: 'corpus-meta/seed-batches/0-200.json', params: expect.anything() }]);
    expect(report.trainIndexRanges).toEqual([[0, 200]]);
  });

  it('reseeding uploads nothing and leaves every ETag as it was', async () => {
    const again = await seedCorpus(s3, { bucket, ...opts });
    expect(again.uploaded).toBe(0);
    expect(again.skipped).toBe(first.objects);
    expect(await listAll()).toEqual(firstListing);
  });

  it('a batch with a new start adds only new objects and merges labels and report', async () => {
    const second = await seedCorpus(s3, { bucket, ...opts, start: 200, count: 50 });
    // 50 images + this batch's report + the rebuilt train.jsonl and seed report
    expect(second.uploaded).toBe(53);
    const listing = await listAll();
    for (const [k, v] of firstListing) {
      if (k !== SEED_LAYOUT.trainLabelsKey && k !== SEED_LAYOUT.reportKey) expect(listing.get(k)).toEqual(v);
    }
    expect([...listing.keys()].filter((k) => k.includes('/fmnist-train-'))).toHaveLength(250);
    const train = await jsonl(SEED_LAYOUT.trainLabelsKey);
    expect(train.map((l) => l.index)).toEqual(Array.from({ length: 250 }, (_, i) => i));
    const report = await getJson<SeedReport>(s3, bucket, SEED_LAYOUT.reportKey);
    expect(report?.batches.map((b) => b.key)).toEqual([
      'corpus-meta/seed-batches/0-200.json',
      'corpus-meta/seed-batches/200-50.json',
    ]);
    expect(report?.trainIndexRanges).toEqual([[0, 250]]);
    expect(report?.counts.trainImages).toBe(250);
    expect(report?.counts.bad).toBe(8);
    expect(second.counts.testImages).toBe(50);
  });
});
