/**
 * Seeds the sample corpus into S3 as individual objects: Fashion-MNIST train items (labels dropped), real colour
 * photos, planted bad objects, plus labels and an evaluation test set kept outside `corpus/`.
 *
 * Idempotent: object bytes are deterministic, one listing pass finds what already exists (same size and MD5
 * ETag) and only missing or different objects are uploaded. Batches with different start offsets add new items;
 * each batch writes its own report and the aggregate files (labels, seed report) are rebuilt from all batches.
 */
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { ErrorType, SeerflowError } from '../../contracts/errors';
import { QuarantineReason, type QuarantineReasonCode } from '../../contracts/ingest';
import { getJson } from '../../infra/s3';
import { BAD_PREFIX, buildPlantedObjects, type GreyImage, ODD_KEY, type PlantedObject } from './bad-objects';
import {
  balancedIndices,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_FILES,
  fashionMnistDir,
  fashionMnistImage,
  fashionMnistLabel,
  type FashionMnistSplit,
  loadFashionMnist,
} from './fashion-mnist';
import { loadPhotos, type Photo } from './photos';

export const SEED_LAYOUT = {
  corpusPrefix: 'corpus/',
  /** `corpus/<h1>/<h2>/<id>.<ext>`, h1/h2 = first two bytes of sha1(id) in hex. */
  keyPattern: 'corpus/<h1>/<h2>/<id>.<ext>',
  badPrefix: BAD_PREFIX,
  oddKey: ODD_KEY,
  evalTestPrefix: 'eval/fashion-mnist/test/',
  labelsPrefix: 'labels/fashion-mnist/',
  trainLabelsKey: 'labels/fashion-mnist/train.jsonl',
  testLabelsKey: 'labels/fashion-mnist/test.jsonl',
  classesKey: 'labels/fashion-mnist/classes.json',
  metaPrefix: 'corpus-meta/',
  reportKey: 'corpus-meta/seed-report.json',
  batchPrefix: 'corpus-meta/seed-batches/',
} as const;

export const SEED_DEFAULTS = {
  count: 2000,
  start: 0,
  jpegFraction: 0.25,
  photos: true,
  bad: true,
  testCount: 1000,
  concurrency: 32,
} as const;

const TRAIN_TOTAL = FASHION_MNIST_FILES.train.count;
const TEST_TOTAL = FASHION_MNIST_FILES.test.count;

export interface SeedOptions {
  bucket: string;
  /** Fashion-MNIST train images to seed (default 2000). */
  count?: number;
  /** First train index (default 0); a later batch with a new start adds new objects. */
  start?: number;
  /** Share of train images stored as JPEG (quality 90) instead of PNG, chosen per id by hash (default 0.25). */
  jpegFraction?: number;
  photos?: boolean;
  bad?: boolean;
  /** Class-balanced Fashion-MNIST test images for evaluation, outside the corpus (default 1000, max 10000). */
  testCount?: number;
  /** Objects encoded/uploaded at once (default 32). */
  concurrency?: number;
  /** Defaults to SEERFLOW_FASHION_MNIST_DIR or the Debian package's folder. */
  fashionMnistDir?: string;
  onProgress?: (p: SeedProgress) => void;
}

export interface SeedProgress {
  phase: 'load' | 'list' | 'objects' | 'labels' | 'done';
  done: number;
  total: number;
  uploaded: number;
  skipped: number;
}

export interface SeedParams {
  start: number;
  count: number;
  jpegFraction: number;
  photos: boolean;
  bad: boolean;
  testCount: number;
}

export interface ObjectRecord {
  key: string;
  size: number;
  /** Hex MD5 of the bytes (the ETag of a single-part upload, without quotes). */
  md5: string;
}

export interface BadRecord extends ObjectRecord {
  expectedReason: QuarantineReasonCode;
  description: string;
}

export interface PhotoRecord extends ObjectRecord {
  id: string;
  name: string;
  package: string;
  sourcePath: string;
  subject: string;
  width: number;
  height: number;
}

export interface OddKeyRecord extends ObjectRecord {
  description: string;
  width: number;
  height: number;
}

export interface SeedBatchReport {
  schema: 'seerflow.seed-batch/1';
  params: SeedParams;
  train: { start: number; end: number; count: number; png: number; jpeg: number };
  photos: PhotoRecord[];
  bad: BadRecord[];
  oddKey: OddKeyRecord | null;
  test: { count: number; prefix: string };
}

export interface SeedReport {
  schema: 'seerflow.seed-report/1';
  bucket: string;
  layout: typeof SEED_LAYOUT;
  dataset: { name: 'fashion-mnist'; classes: readonly string[]; trainTotal: number; testTotal: number };
  batches: { key: string; params: SeedParams }[];
  counts: {
    trainImages: number;
    trainPng: number;
    trainJpeg: number;
    photos: number;
    bad: number;
    oddKey: number;
    /** Every object under corpus/ planted by the seeder. */
    corpusObjects: number;
    expectedAccepted: number;
    expectedQuarantined: number;
    testImages: number;
  };
  /** Half-open [start, end) train index ranges present in the corpus, merged. */
  trainIndexRanges: [number, number][];
  expectedQuarantineByReason: Partial<Record<QuarantineReasonCode, number>>;
  bad: BadRecord[];
  oddKey: OddKeyRecord | null;
  photos: PhotoRecord[];
}

export interface SeedSummary {
  bucket: string;
  params: SeedParams;
  batchKey: string;
  reportKey: string;
  /** Objects this call considered (corpus, eval, labels, reports). */
  objects: number;
  uploaded: number;
  skipped: number;
  uploadedBytes: number;
  counts: SeedReport['counts'];
  expectedQuarantineByReason: SeedReport['expectedQuarantineByReason'];
  durationMs: number;
}

export function sha1Hex(s: string): string {
  return createHash('sha1').update(s, 'utf8').digest('hex');
}

/** `corpus/<h1>/<h2>/<id>.<ext>`: the hash fan-out spreads keys evenly over prefixes for partitioned listing. */
export function corpusKey(id: string, ext: string): string {
  const h = sha1Hex(id);
  return `${SEED_LAYOUT.corpusPrefix}${h.slice(0, 2)}/${h.slice(2, 4)}/${id}.${ext}`;
}

export function fmnistTrainId(index: number): string {
  return `fmnist-train-${String(index).padStart(6, '0')}`;
}

export function fmnistTestId(index: number): string {
  return `fmnist-test-${String(index).padStart(6, '0')}`;
}

/** Deterministic per id (hash bytes 4-5, independent of the key fan-out bytes), so batches never disagree. */
export function trainFormat(id: string, jpegFraction: number): 'png' | 'jpg' {
  if (jpegFraction <= 0) return 'png';
  const u = parseInt(sha1Hex(id).slice(8, 12), 16) / 0x10000;
  return u < jpegFraction ? 'jpg' : 'png';
}

export function fmnistTrainKey(index: number, jpegFraction: number): string {
  const id = fmnistTrainId(index);
  return corpusKey(id, trainFormat(id, jpegFraction));
}

export function fmnistTestKey(index: number): string {
  return `${SEED_LAYOUT.evalTestPrefix}${fmnistTestId(index)}.png`;
}

/** One report per batch; a non-default JPEG share makes different keys, hence a different batch. */
export function batchKey(start: number, count: number, jpegFraction: number = SEED_DEFAULTS.jpegFraction): string {
  const mix = jpegFraction === SEED_DEFAULTS.jpegFraction ? '' : `-jpeg${jpegFraction}`;
  return `${SEED_LAYOUT.batchPrefix}${start}-${count}${mix}.json`;
}

/** 28x28 grey stays 1-channel: PNG (default zlib settings) or JPEG quality 90; both byte-deterministic. */
export function encodeGrey(img: GreyImage, format: 'png' | 'jpg'): Promise<Buffer> {
  const s = sharp(img.pixels, { raw: { width: img.width, height: img.height, channels: 1 } }).toColourspace('b-w');
  return format === 'png' ? s.png().toBuffer() : s.jpeg({ quality: 90 }).toBuffer();
}

function resolveParams(opts: SeedOptions): SeedParams {
  const p: SeedParams = {
    start: opts.start ?? SEED_DEFAULTS.start,
    count: opts.count ?? SEED_DEFAULTS.count,
    jpegFraction: opts.jpegFraction ?? SEED_DEFAULTS.jpegFraction,
    photos: opts.photos ?? SEED_DEFAULTS.photos,
    bad: opts.bad ?? SEED_DEFAULTS.bad,
    testCount: opts.testCount ?? SEED_DEFAULTS.testCount,
  };
  const int = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new SeerflowError(ErrorType.InvalidInput, `${name} must be an integer in ${min}..${max}, got ${v}`);
    }
  };
  int('start', p.start, 0, TRAIN_TOTAL);
  int('count', p.count, 0, TRAIN_TOTAL - p.start);
  int('testCount', p.testCount, 0, TEST_TOTAL);
  if (!(p.jpegFraction >= 0 && p.jpegFraction <= 1))
    throw new SeerflowError(ErrorType.InvalidInput, 'jpegFraction must be in [0, 1]');
  if (!opts.bucket) throw new SeerflowError(ErrorType.InvalidInput, 'bucket is required');
  return p;
}

/** A 4x4 tile of the first 16 train items (112x112): a real image large enough for the planted objects. */
export function plantSourceImage(train: FashionMnistSplit): GreyImage {
  const n = 4;
  const { rows, cols } = train;
  const width = n * cols;
  const pixels = new Uint8Array(width * n * rows);
  for (let t = 0; t < n * n; t++) {
    const img = fashionMnistImage(train, t);
    const ox = (t % n) * cols;
    const oy = Math.floor(t / n) * rows;
    for (let y = 0; y < rows; y++) pixels.set(img.subarray(y * cols, (y + 1) * cols), (oy + y) * width + ox);
  }
  return { width, height: n * rows, pixels };
}

interface Existing {
  size: number;
  etag: string;
}

async function listPrefix(s3: S3Client, bucket: string, prefix: string, into: Map<string, Existing>): Promise<void> {
  let token: string | undefined;
  do {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of res.Contents ?? []) {
      if (o.Key) into.set(o.Key, { size: o.Size ?? -1, etag: (o.ETag ?? '').replace(/"/g, '').toLowerCase() });
    }
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
}

/** Runs `fn` over `items` with at most `limit` in flight; items are pulled lazily so memory stays bounded. */
async function forEachLimit<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  let failed = false;
  const worker = async () => {
    for (;;) {
      if (failed) return;
      const next = it.next();
      if (next.done) return;
      try {
        await fn(next.value);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
}

interface UploadTask {
  key: string;
  contentType: string;
  bytes: () => Promise<Buffer> | Buffer;
  /** Called with the record of the object as stored. */
  done?: (rec: ObjectRecord, bytes: Buffer) => void | Promise<void>;
}

class Uploader {
  uploaded = 0;
  skipped = 0;
  uploadedBytes = 0;
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    readonly existing: Map<string, Existing>,
  ) {}

  async put(task: UploadTask): Promise<ObjectRecord> {
    const bytes = await task.bytes();
    const md5 = createHash('md5').update(bytes).digest('hex');
    const rec: ObjectRecord = { key: task.key, size: bytes.length, md5 };
    const have = this.existing.get(task.key);
    if (have && have.size === bytes.length && have.etag === md5) {
      this.skipped++;
    } else {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: task.key, Body: bytes, ContentType: task.contentType }),
      );
      this.existing.set(task.key, { size: bytes.length, etag: md5 });
      this.uploaded++;
      this.uploadedBytes += bytes.length;
    }
    await task.done?.(rec, bytes);
    return rec;
  }
}

function jsonBytes(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`, 'utf8');
}

function mergeRanges(ranges: [number, number][]): [number, number][] {
  const sorted = ranges.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

function byKey<T extends { key: string }>(records: Iterable<T>): T[] {
  const m = new Map<string, T>();
  for (const r of records) m.set(r.key, r);
  return [...m.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Seeds one batch and rebuilds the aggregate labels and report from every batch in the bucket. */
export async function seedCorpus(s3: S3Client, opts: SeedOptions): Promise<SeedSummary> {
  const t0 = Date.now();
  const params = resolveParams(opts);
  const { bucket } = opts;
  const concurrency = opts.concurrency ?? SEED_DEFAULTS.concurrency;
  const dir = opts.fashionMnistDir ?? fashionMnistDir();
  const progress: SeedProgress = { phase: 'load', done: 0, total: 0, uploaded: 0, skipped: 0 };
  const report = (phase: SeedProgress['phase']) => {
    progress.phase = phase;
    opts.onProgress?.({ ...progress });
  };
  report('load');

  // Load every local input first so a missing package fails before anything is written.
  const train = await loadFashionMnist('train', dir);
  const test = params.testCount > 0 ? await loadFashionMnist('test', dir) : undefined;
  const photos: Photo[] = params.photos ? await loadPhotos() : [];
  const planted = params.bad ? await buildPlantedObjects(plantSourceImage(train)) : undefined;
  const testIndices = test ? balancedIndices(test.labels, params.testCount) : [];

  report('list');
  const existing = new Map<string, Existing>();
  const { corpusPrefix, evalTestPrefix, labelsPrefix, metaPrefix } = SEED_LAYOUT;
  for (const prefix of [corpusPrefix, evalTestPrefix, labelsPrefix, metaPrefix]) {
    await listPrefix(s3, bucket, prefix, existing);
  }

  const up = new Uploader(s3, bucket, existing);
  const aggregateFiles = 4; // train.jsonl, test.jsonl, classes.json, seed-report.json
  progress.total =
    params.count + photos.length + (planted ? planted.bad.length + 1 : 0) + testIndices.length + 1 + aggregateFiles;
  const tick = () => {
    progress.done++;
    progress.uploaded = up.uploaded;
    progress.skipped = up.skipped;
    opts.onProgress?.({ ...progress });
  };

  const batch: SeedBatchReport = {
    schema: 'seerflow.seed-batch/1',
    params,
    train: { start: params.start, end: params.start + params.count, count: params.count, png: 0, jpeg: 0 },
    photos: [],
    bad: [],
    oddKey: null,
    test: { count: testIndices.length, prefix: SEED_LAYOUT.evalTestPrefix },
  };

  function* tasks(): Generator<UploadTask> {
    for (let i = params.start; i < params.start + params.count; i++) {
      const id = fmnistTrainId(i);
      const fmt = trainFormat(id, params.jpegFraction);
      if (fmt === 'jpg') batch.train.jpeg++;
      else batch.train.png++;
      yield {
        key: corpusKey(id, fmt),
        contentType: fmt === 'jpg' ? 'image/jpeg' : 'image/png',
        bytes: () => encodeGrey({ width: train.cols, height: train.rows, pixels: fashionMnistImage(train, i) }, fmt),
      };
    }
    for (const p of photos) {
      const id = `photo-${p.name}`;
      yield {
        key: corpusKey(id, 'jpg'),
        contentType: 'image/jpeg',
        bytes: () => p.bytes,
        done: async (rec, bytes) => {
          const meta = await sharp(bytes).metadata();
          batch.photos.push({
            ...rec,
            id,
            name: p.name,
            package: p.package,
            sourcePath: p.path,
            subject: p.subject,
            width: meta.width ?? 0,
            height: meta.height ?? 0,
          });
        },
      };
    }
    if (planted) {
      for (const b of planted.bad) {
        yield {
          key: b.key,
          contentType: b.contentType,
          bytes: () => b.bytes,
          done: (rec) => {
            batch.bad.push({ ...rec, expectedReason: b.expectedReason, description: b.description });
          },
        };
      }
      const odd: PlantedObject = planted.oddKey;
      yield {
        key: odd.key,
        contentType: odd.contentType,
        bytes: () => odd.bytes,
        done: async (rec, bytes) => {
          const meta = await sharp(bytes).metadata();
          batch.oddKey = { ...rec, description: odd.description, width: meta.width ?? 0, height: meta.height ?? 0 };
        },
      };
    }
    if (test) {
      for (const i of testIndices) {
        yield {
          key: fmnistTestKey(i),
          contentType: 'image/png',
          bytes: () => encodeGrey({ width: test.cols, height: test.rows, pixels: fashionMnistImage(test, i) }, 'png'),
        };
      }
    }
  }

  report('objects');
  await forEachLimit(tasks(), concurrency, async (task) => {
    await up.put(task);
    tick();
  });
  batch.photos = byKey(batch.photos);
  batch.bad = byKey(batch.bad);

  report('labels');
  const thisBatchKey = batchKey(params.start, params.count, params.jpegFraction);
  if (existing.has(thisBatchKey)) {
    // The seeder never deletes: a rerun of the same batch with fewer extras keeps what the earlier run planted.
    const prev = await getJson<SeedBatchReport>(s3, bucket, thisBatchKey);
    if (prev?.schema === 'seerflow.seed-batch/1') {
      batch.photos = byKey([...prev.photos, ...batch.photos]);
      batch.bad = byKey([...prev.bad, ...batch.bad]);
      batch.oddKey = batch.oddKey ?? prev.oddKey;
      batch.test.count = Math.max(batch.test.count, prev.test.count);
    }
  }
  await up.put({ key: thisBatchKey, contentType: 'application/json', bytes: () => jsonBytes(batch) });
  tick();

  // Aggregate over every batch in the bucket (this one included), so repeated or extra batches merge.
  const batches: { key: string; report: SeedBatchReport }[] = [];
  const batchKeys = [...existing.keys()].filter((k) => k.startsWith(SEED_LAYOUT.batchPrefix) && k.endsWith('.json'));
  for (const key of batchKeys.sort()) {
    const r = key === thisBatchKey ? batch : await getJson<SeedBatchReport>(s3, bucket, key);
    if (r?.schema === 'seerflow.seed-batch/1') batches.push({ key, report: r });
  }
  const range = (r: SeedBatchReport): [number, number] => [r.params.start, r.params.start + r.params.count];
  batches.sort((a, b) => range(a.report)[0] - range(b.report)[0] || range(a.report)[1] - range(b.report)[1]);

  const trainLines = new Map<string, { index: number; label: number }>();
  for (const { report: r } of batches) {
    for (let i = r.params.start; i < r.params.start + r.params.count; i++) {
      trainLines.set(fmnistTrainKey(i, r.params.jpegFraction), { index: i, label: fashionMnistLabel(train, i) });
    }
  }
  const trainSorted = [...trainLines.entries()].sort((a, b) => a[1].index - b[1].index || (a[0] < b[0] ? -1 : 1));
  const trainJsonl = trainSorted.map(([key, v]) => JSON.stringify({ key, index: v.index, label: v.label })).join('\n');
  await up.put({
    key: SEED_LAYOUT.trainLabelsKey,
    contentType: 'application/x-ndjson',
    bytes: () => Buffer.from(trainJsonl ? `${trainJsonl}\n` : '', 'utf8'),
  });
  tick();

  // Balanced subsets are nested, so the largest test count of any batch covers all of them.
  const maxTest = Math.max(0, ...batches.map((b) => b.report.test.count));
  const testSplit = maxTest > 0 ? (test ?? (await loadFashionMnist('test', dir))) : undefined;
  const testLines = testSplit
    ? balancedIndices(testSplit.labels, maxTest).map((i) =>
        JSON.stringify({ key: fmnistTestKey(i), index: i, label: fashionMnistLabel(testSplit, i) }),
      )
    : [];
  await up.put({
    key: SEED_LAYOUT.testLabelsKey,
    contentType: 'application/x-ndjson',
    bytes: () => Buffer.from(testLines.length ? `${testLines.join('\n')}\n` : '', 'utf8'),
  });
  tick();
  await up.put({
    key: SEED_LAYOUT.classesKey,
    contentType: 'application/json',
    bytes: () => jsonBytes({ dataset: 'fashion-mnist', classes: FASHION_MNIST_CLASSES }),
  });
  tick();

  const bad = byKey(batches.flatMap((b) => b.report.bad));
  const photoRecords = byKey(batches.flatMap((b) => b.report.photos));
  const oddKey = batches.map((b) => b.report.oddKey).find((o): o is OddKeyRecord => o !== null) ?? null;
  const byReason: Partial<Record<QuarantineReasonCode, number>> = {};
  for (const b of bad) byReason[b.expectedReason] = (byReason[b.expectedReason] ?? 0) + 1;
  const trainJpeg = [...trainLines.keys()].filter((k) => k.endsWith('.jpg')).length;
  const trainImages = trainLines.size;
  const accepted = trainImages + photoRecords.length + (oddKey ? 1 : 0);
  const seedReport: SeedReport = {
    schema: 'seerflow.seed-report/1',
    bucket,
    layout: SEED_LAYOUT,
    dataset: { name: 'fashion-mnist', classes: FASHION_MNIST_CLASSES, trainTotal: TRAIN_TOTAL, testTotal: TEST_TOTAL },
    batches: batches.map((b) => ({ key: b.key, params: b.report.params })),
    counts: {
      trainImages,
      trainPng: trainImages - trainJpeg,
      trainJpeg,
      photos: photoRecords.length,
      bad: bad.length,
      oddKey: oddKey ? 1 : 0,
      corpusObjects: accepted + bad.length,
      expectedAccepted: accepted,
      expectedQuarantined: bad.length,
      testImages: testLines.length,
    },
    trainIndexRanges: mergeRanges(batches.map((b) => range(b.report))),
    expectedQuarantineByReason: byReason,
    bad,
    oddKey,
    photos: photoRecords,
  };
  await up.put({ key: SEED_LAYOUT.reportKey, contentType: 'application/json', bytes: () => jsonBytes(seedReport) });
  tick();
  report('done');

  return {
    bucket,
    params,
    batchKey: thisBatchKey,
    reportKey: SEED_LAYOUT.reportKey,
    objects: progress.done,
    uploaded: up.uploaded,
    skipped: up.skipped,
    uploadedBytes: up.uploadedBytes,
    counts: seedReport.counts,
    expectedQuarantineByReason: byReason,
    durationMs: Date.now() - t0,
  };
}

/** Every reason the seeder can plant, for callers checking coverage. */
export const PLANTED_REASONS: readonly QuarantineReasonCode[] = [
  QuarantineReason.Corrupt,
  QuarantineReason.Truncated,
  QuarantineReason.Empty,
  QuarantineReason.NotAnImage,
  QuarantineReason.PixelLimit,
  QuarantineReason.UnsupportedFormat,
];
