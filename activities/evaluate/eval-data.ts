/**
 * The labelled evaluation data in canonical form. Train = the corpus images listed in the train labels (looked up
 * by key), test = the held-out test images; both go through the same canonicalisation as the pretraining data
 * (shorter side = preprocess.shortSide, JPEG) so evaluation sees the pixel statistics the trunk was trained on.
 * The canonical JPEGs of each split are packed into one S3 object, cached by (labels, shortSide, quality), so
 * the many classification runs of an evaluation read one object each instead of thousands.
 *
 * Pack layout: u32 LE header length | header JSON {items: [{key, label, offset, length}]} | JPEG bytes.
 */
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ErrorType, SeerflowError } from '../../contracts/errors';
import type { EvalDataRef } from '../../contracts/evaluate';
import { SEED_LAYOUT } from '../../datasets/corpus/seed';
import { getBytes, getJson, getText, putJson } from '../../infra/s3';
import { canonicalizeImage } from '../preprocess/canonicalize';
import { mapLimited } from '../shared/map-limited';

/** One line of `labels/fashion-mnist/{train,test}.jsonl`. */
export interface LabelLine {
  key: string;
  index: number;
  label: number;
}

/** One packed image. */
export interface PackedImage {
  key: string;
  label: number;
  jpeg: Uint8Array;
}

/** Bump when the packed output changes for the same inputs. */
const EVAL_DATA_VERSION = 1;

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Parse a labels JSONL file (blank lines ignored); a malformed line is an `InvalidInput` naming it. */
export function parseLabels(text: string): LabelLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      let v: LabelLine;
      try {
        v = JSON.parse(l) as LabelLine;
      } catch {
        throw new SeerflowError(ErrorType.InvalidInput, `bad label line (not JSON): ${l}`);
      }
      if (typeof v?.key !== 'string' || !Number.isInteger(v.label) || v.label < 0)
        throw new SeerflowError(ErrorType.InvalidInput, `bad label line: ${l}`);
      return v;
    });
}

export function packImages(items: readonly PackedImage[]): Buffer {
  let offset = 0;
  const index = items.map((it) => {
    const e = { key: it.key, label: it.label, offset, length: it.jpeg.length };
    offset += it.jpeg.length;
    return e;
  });
  const header = Buffer.from(JSON.stringify({ version: EVAL_DATA_VERSION, items: index }), 'utf8');
  const out = Buffer.alloc(4 + header.length + offset);
  out.writeUInt32LE(header.length, 0);
  header.copy(out, 4);
  let p = 4 + header.length;
  for (const it of items) {
    out.set(it.jpeg, p);
    p += it.jpeg.length;
  }
  return out;
}

export function unpackImages(bytes: Uint8Array): PackedImage[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = buf.readUInt32LE(0);
  const header = JSON.parse(buf.subarray(4, 4 + len).toString('utf8')) as {
    version: number;
    items: { key: string; label: number; offset: number; length: number }[];
  };
  if (header.version !== EVAL_DATA_VERSION)
    throw new Error(`eval data pack version ${header.version}, expected ${EVAL_DATA_VERSION}`);
  const base = 4 + len;
  return header.items.map((e) => {
    if (base + e.offset + e.length > buf.length) throw new Error(`eval data pack truncated at ${e.key}`);
    return {
      key: e.key,
      label: e.label,
      jpeg: new Uint8Array(buf.subarray(base + e.offset, base + e.offset + e.length)),
    };
  });
}

/** Read and parse a labels file; a missing one is `DatasetMissing` (the corpus was not seeded). */
export async function readLabels(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ lines: LabelLine[]; sha256: string }> {
  const text = await getText(s3, bucket, key);
  if (text === undefined)
    throw new SeerflowError(
      ErrorType.DatasetMissing,
      `labels s3://${bucket}/${key} not found (seed the corpus with \`seerflow seed\`)`,
    );
  return { lines: parseLabels(text), sha256: sha256Hex(text) };
}

export interface BuildEvalDataOptions {
  bucket: string;
  shortSide: number;
  jpegQuality: number;
  maxPixels?: number;
  concurrency?: number;
  /** called every ~100 images (activity heartbeats) */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Canonicalise and pack both labelled splits, or return the cached packs of the same labels and settings.
 * Missing or undecodable images are left out and listed in `skipped`.
 */
export async function buildEvalData(s3: S3Client, o: BuildEvalDataOptions): Promise<EvalDataRef> {
  const train = await readLabels(s3, o.bucket, SEED_LAYOUT.trainLabelsKey);
  const test = await readLabels(s3, o.bucket, SEED_LAYOUT.testLabelsKey);
  const classes = await getJson<{ classes?: string[] }>(s3, o.bucket, SEED_LAYOUT.classesKey);
  const fp = sha256Hex(
    JSON.stringify({ v: EVAL_DATA_VERSION, train: train.sha256, test: test.sha256, s: o.shortSide, q: o.jpegQuality }),
  ).slice(0, 16);
  const base = `${SEED_LAYOUT.labelsPrefix}canonical/${fp}/`;
  const cached = await getJson<EvalDataRef>(s3, o.bucket, `${base}ref.json`);
  if (cached) return cached;

  const skipped: EvalDataRef['skipped'] = [];
  const total = train.lines.length + test.lines.length;
  let done = 0;
  const canonical = async (l: LabelLine): Promise<PackedImage | undefined> => {
    const bytes = await getBytes(s3, o.bucket, l.key);
    if (++done % 100 === 0) o.onProgress?.(done, total);
    if (!bytes) {
      skipped.push({ key: l.key, reason: 'missing' });
      return undefined;
    }
    try {
      const c = await canonicalizeImage(bytes, {
        shortSide: o.shortSide,
        jpegQuality: o.jpegQuality,
        maxPixels: o.maxPixels ?? 40_000_000,
      });
      return { key: l.key, label: l.label, jpeg: c.jpeg };
    } catch (err) {
      skipped.push({ key: l.key, reason: (err as Error).message });
      return undefined;
    }
  };
  const limit = o.concurrency ?? 16;
  const trainImgs = (await mapLimited(train.lines, limit, canonical)).filter((x): x is PackedImage => x !== undefined);
  const testImgs = (await mapLimited(test.lines, limit, canonical)).filter((x): x is PackedImage => x !== undefined);
  if (trainImgs.length === 0 || testImgs.length === 0) {
    throw new SeerflowError(
      ErrorType.DatasetMissing,
      `no labelled ${trainImgs.length === 0 ? 'train' : 'test'} images could be read in s3://${o.bucket}`,
    );
  }
  const maxLabel = Math.max(...trainImgs.map((x) => x.label), ...testImgs.map((x) => x.label));
  const put = async (key: string, body: Buffer) =>
    s3.send(
      new PutObjectCommand({
        Bucket: o.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: 'application/octet-stream',
      }),
    );
  const ref: EvalDataRef = {
    trainKey: `${base}train.pack`,
    testKey: `${base}test.pack`,
    trainImages: trainImgs.length,
    testImages: testImgs.length,
    numClasses: Math.max(classes?.classes?.length ?? 0, maxLabel + 1),
    shortSide: o.shortSide,
    jpegQuality: o.jpegQuality,
    trainLabelsSha256: train.sha256,
    skipped: skipped.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
  };
  await put(ref.trainKey, packImages(trainImgs));
  await put(ref.testKey, packImages(testImgs));
  await putJson(s3, o.bucket, `${base}ref.json`, ref); // written last: its presence means the packs are complete
  return ref;
}
