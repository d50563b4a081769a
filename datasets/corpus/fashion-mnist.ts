/**
 * Fashion-MNIST from the Debian package `dataset-fashion-mnist`: IDX files, gzip-compressed, read from local disk.
 * 70,000 real 28x28 greyscale product photos in 10 classes (6,000 train / 1,000 test per class).
 */
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { ErrorType, SeerflowError } from '../../contracts/errors';

const gunzipAsync = promisify(gunzip);

export const FASHION_MNIST_PACKAGE = 'dataset-fashion-mnist';
export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_DIR_ENV = 'SEERFLOW_FASHION_MNIST_DIR';

/** Class names in label order (index = label). */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export type FashionMnistSplitName = 'train' | 'test';

export const FASHION_MNIST_FILES: Record<FashionMnistSplitName, { images: string; labels: string; count: number }> = {
  train: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz', count: 60_000 },
  test: { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz', count: 10_000 },
};

export interface FashionMnistSplit {
  split: FashionMnistSplitName;
  count: number;
  rows: number;
  cols: number;
  /** count*rows*cols bytes, row-major, 0 = black. */
  pixels: Uint8Array;
  labels: Uint8Array;
}

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** A Fashion-MNIST file is absent: the Debian data package is not installed (`DatasetMissing`, never retried). */
export class FashionMnistMissingError extends SeerflowError {
  constructor(
    readonly dir: string,
    readonly file: string,
  ) {
    super(
      ErrorType.DatasetMissing,
      `Fashion-MNIST file ${path.join(dir, file)} not found. Install the Debian package ${FASHION_MNIST_PACKAGE} ` +
        `(apt-get install -y ${FASHION_MNIST_PACKAGE}, or run scripts/install-data-packages.sh as root), ` +
        `or point ${FASHION_MNIST_DIR_ENV} at a folder holding the four *-ubyte.gz files.`,
      { path: path.join(dir, file), package: FASHION_MNIST_PACKAGE },
    );
    this.name = 'FashionMnistMissingError';
  }
}

export function fashionMnistDir(env: NodeJS.ProcessEnv = process.env): string {
  const override = env[FASHION_MNIST_DIR_ENV];
  return override && override.trim() !== '' ? override : FASHION_MNIST_DEFAULT_DIR;
}

/** A Fashion-MNIST file that is there but not what the package ships: a damaged install, as good as missing. */
function malformed(message: string): SeerflowError {
  return new SeerflowError(ErrorType.DatasetMissing, `${message} (reinstall ${FASHION_MNIST_PACKAGE})`);
}

/** Parses an uncompressed IDX file of unsigned bytes (type 0x08): big-endian dims after a 4-byte magic. */
export function parseIdx(buf: Uint8Array, what = 'IDX data'): IdxArray {
  if (buf.length < 4) throw malformed(`${what}: too short for an IDX header (${buf.length} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf[0] !== 0 || buf[1] !== 0) throw malformed(`${what}: bad IDX magic`);
  const type = buf[2];
  const ndims = buf[3] ?? 0;
  if (type !== 0x08) throw malformed(`${what}: IDX element type 0x${(type ?? 0).toString(16)} is not unsigned byte`);
  const headerBytes = 4 + 4 * ndims;
  if (ndims < 1 || buf.length < headerBytes) throw malformed(`${what}: truncated IDX header`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== headerBytes + size) {
    throw malformed(`${what}: IDX dims ${dims.join('x')} need ${size} bytes, file has ${buf.length - headerBytes}`);
  }
  return { dims, data: buf.subarray(headerBytes) };
}

async function readIdxGz(dir: string, file: string): Promise<IdxArray> {
  const full = path.join(dir, file);
  try {
    await access(full);
  } catch {
    throw new FashionMnistMissingError(dir, file);
  }
  // zlib's async gunzip runs on the libuv pool, so loading 47 MB does not block the event loop.
  const raw = await gunzipAsync(await readFile(full));
  return parseIdx(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), full);
}

const cache = new Map<string, Promise<FashionMnistSplit>>();

/** Loads one split (cached per folder and split, since the seeder and tests ask repeatedly). */
export function loadFashionMnist(
  split: FashionMnistSplitName,
  dir: string = fashionMnistDir(),
): Promise<FashionMnistSplit> {
  const cacheKey = `${path.resolve(dir)}\0${split}`;
  let p = cache.get(cacheKey);
  if (!p) {
    p = readSplit(split, dir);
    cache.set(cacheKey, p);
    p.catch(() => cache.delete(cacheKey));
  }
  return p;
}

async function readSplit(split: FashionMnistSplitName, dir: string): Promise<FashionMnistSplit> {
  const files = FASHION_MNIST_FILES[split];
  const [images, labels] = await Promise.all([readIdxGz(dir, files.images), readIdxGz(dir, files.labels)]);
  const [count, rows, cols] = images.dims;
  if (images.dims.length !== 3 || count === undefined || rows === undefined || cols === undefined) {
    throw malformed(`${files.images}: expected 3 IDX dims, got ${images.dims.join('x')}`);
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== count) {
    throw malformed(`${files.labels}: ${labels.dims.join('x')} labels for ${count} images`);
  }
  for (const l of labels.data) {
    if (l >= FASHION_MNIST_CLASSES.length) throw malformed(`${files.labels}: label ${l} out of range`);
  }
  return { split, count, rows, cols, pixels: images.data, labels: labels.data };
}

/** A view (no copy) of image `index`, rows*cols bytes. */
export function fashionMnistImage(split: FashionMnistSplit, index: number): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index >= split.count) {
    throw new RangeError(`image index ${index} outside 0..${split.count - 1} of the ${split.split} split`);
  }
  const n = split.rows * split.cols;
  return split.pixels.subarray(index * n, (index + 1) * n);
}

export function fashionMnistLabel(split: FashionMnistSplit, index: number): number {
  const l = split.labels[index];
  if (l === undefined) throw new RangeError(`label index ${index} outside 0..${split.count - 1}`);
  return l;
}

/**
 * A class-balanced, deterministic subset of `count` indices: the first quota_c images of each class in file
 * order, quotas differing by at most one. A smaller count selects a subset of a larger one.
 */
export function balancedIndices(labels: Uint8Array, count: number, classes = FASHION_MNIST_CLASSES.length): number[] {
  if (!Number.isInteger(count) || count < 0 || count > labels.length) {
    throw new RangeError(`balanced subset size ${count} outside 0..${labels.length}`);
  }
  const quota = Array.from({ length: classes }, (_, c) => Math.floor(count / classes) + (c < count % classes ? 1 : 0));
  const out: number[] = [];
  for (let i = 0; i < labels.length && out.length < count; i++) {
    const c = labels[i] ?? 0;
    if ((quota[c] ?? 0) > 0) {
      quota[c] = (quota[c] ?? 0) - 1;
      out.push(i);
    }
  }
  if (out.length !== count) throw new Error(`not enough images per class for a balanced subset of ${count}`);
  return out;
}
