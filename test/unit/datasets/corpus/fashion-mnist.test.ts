import {
  balancedIndices,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_PACKAGE,
  FashionMnistMissingError,
  fashionMnistDir,
  fashionMnistImage,
  fashionMnistLabel,
  loadFashionMnist,
  parseIdx,
} from '../../../../datasets/corpus/fashion-mnist';
import { ErrorType } from '../../../../contracts/errors';

function idx(dims: number[], data: number[]): Uint8Array {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return new Uint8Array(Buffer.concat([head, Buffer.from(data)]));
}

function classCounts(labels: Uint8Array): number[] {
  const c = new Array<number>(FASHION_MNIST_CLASSES.length).fill(0);
  for (const l of labels) c[l] = (c[l] ?? 0) + 1;
  return c;
}

describe('parseIdx', () => {
  it('reads big-endian dims and the data', () => {
    const a = parseIdx(idx([2, 3], [1, 2, 3, 4, 5, 6]));
    expect(a.dims).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('rejects a bad magic, a non-byte type and a size mismatch', () => {
    const bad = idx([2], [1, 2]);
    bad[0] = 1;
    expect(() => parseIdx(bad)).toThrow(/magic/);
    const float = idx([2], [1, 2]);
    float[2] = 0x0d;
    expect(() => parseIdx(float)).toThrow(/unsigned byte/);
    expect(() => parseIdx(idx([3], [1, 2]))).toThrow(/need 3 bytes/);
  });
});

describe('Fashion-MNIST from the Debian package', () => {
  it('has 60,000 train images of 28x28 with exactly 6,000 per class', async () => {
    const train = await loadFashionMnist('train');
    expect([train.count, train.rows, train.cols]).toEqual([60_000, 28, 28]);
    expect(train.pixels.length).toBe(60_000 * 784);
    expect(classCounts(train.labels)).toEqual(new Array(10).fill(6000));
    const img = fashionMnistImage(train, 123);
    expect(img.length).toBe(784);
    expect(Math.max(...img)).toBeGreaterThan(100); // a real picture, not blank
    expect(fashionMnistLabel(train, 0)).toBe(9); // the first train item is an ankle boot
    expect(() => fashionMnistImage(train, 60_000)).toThrow(RangeError);
  });

  it('has 10,000 test images with exactly 1,000 per class', async () => {
    const test = await loadFashionMnist('test');
    expect(test.count).toBe(10_000);
    expect(classCounts(test.labels)).toEqual(new Array(10).fill(1000));
  });

  it('honours SEERFLOW_FASHION_MNIST_DIR and names the package when files are missing', async () => {
    expect(fashionMnistDir({ SEERFLOW_FASHION_MNIST_DIR: '/opt/fm' })).toBe('/opt/fm');
    expect(fashionMnistDir({})).toBe('/usr/share/datasets/fashion-mnist');
    const p = loadFashionMnist('test', '/nonexistent/fashion-mnist');
    await expect(p).rejects.toBeInstanceOf(FashionMnistMissingError);
    await expect(p).rejects.toThrow(FASHION_MNIST_PACKAGE);
    await expect(p).rejects.toMatchObject({ type: ErrorType.DatasetMissing, retryable: false });
  });

  it('types a damaged file as DatasetMissing (as good as missing: reinstall the package)', () => {
    let err: unknown;
    try {
      parseIdx(new Uint8Array([1, 2, 3, 4]));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ type: ErrorType.DatasetMissing, message: expect.stringMatching(/bad IDX magic/) });
  });
});

describe('balancedIndices', () => {
  it('selects equal per-class counts in file order, nested across sizes', async () => {
    const test = await loadFashionMnist('test');
    const small = balancedIndices(test.labels, 95);
    const big = balancedIndices(test.labels, 1000);
    expect(classCounts(Uint8Array.from(big.map((i) => test.labels[i] ?? 255)))).toEqual(new Array(10).fill(100));
    const smallCounts = classCounts(Uint8Array.from(small.map((i) => test.labels[i] ?? 255)));
    expect(Math.max(...smallCounts) - Math.min(...smallCounts)).toBeLessThanOrEqual(1);
    expect([...big].sort((a, b) => a - b)).toEqual(big);
    const bigSet = new Set(big);
    expect(small.every((i) => bigSet.has(i))).toBe(true);
    expect(balancedIndices(test.labels, 10_000)).toHaveLength(10_000);
  });
});
