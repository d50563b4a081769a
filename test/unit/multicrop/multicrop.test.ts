import { readdirSync } from 'node:fs';
import sharp from 'sharp';
import { referenceView, resizedCrop } from '../../../ml/color-ops';
import { drawMulticropParams, type CropSpec, type ViewParams } from '../../../ml/multicrop-params';
import { Rng } from '../../../ml/rng';
import {
  decodeImage,
  DEFAULT_NORMALIZATION,
  multicrop,
  multicropWithParams,
  renderView,
  renderViews,
  resizeCropInto,
  UndecodableImageError,
  viewGroupLayout,
  wasmKernelsAvailable,
  type DecodedImage,
  type KernelChoice,
} from '../../../multicrop';

const SEER_CROPS: CropSpec[] = [
  { size: 224, count: 2, minScale: 0.14, maxScale: 1 },
  { size: 96, count: 4, minScale: 0.05, maxScale: 0.14 },
];

/** A real photo when the machine has one (Debian wallpaper packages), else a synthetic gradient with texture. */
async function photoJpeg(width: number, height: number): Promise<Buffer> {
  const dirs = ['/usr/share/backgrounds', '/usr/share/palapeli/collection'];
  for (const d of dirs) {
    try {
      const f = readdirSync(d)
        .filter((n) => n.endsWith('.jpg'))
        .sort()[0];
      if (f) return await sharp(`${d}/${f}`).resize(width, height, { fit: 'cover' }).jpeg({ quality: 90 }).toBuffer();
    } catch {
      // directory missing: try the next one
    }
  }
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7 + ((i / 3 / width) | 0) * 3 + (i % 3) * 80) % 256;
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

function plainView(size: number, crop: ViewParams['crop']): ViewParams {
  return { specIndex: 0, size, crop, cropAttempts: 1, flip: false, jitter: null, grayscale: false, blurSigma: null };
}

let jpeg: Buffer;
let img: DecodedImage;

beforeAll(async () => {
  jpeg = await photoJpeg(200, 150);
  img = await decodeImage(jpeg);
});

describe('decodeImage', () => {
  it('decodes a JPEG to interleaved 8-bit RGB', () => {
    expect([img.width, img.height, img.data.length]).toEqual([200, 150, 200 * 150 * 3]);
  });

  it('expands grey and drops alpha like Pillow convert("RGB")', async () => {
    const grey = await sharp(Buffer.from([0, 100, 200, 255]), { raw: { width: 2, height: 2, channels: 1 } })
      .png()
      .toBuffer();
    expect(Array.from((await decodeImage(grey)).data)).toEqual([0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
    const rgba = await sharp(Buffer.from([10, 20, 30, 0, 40, 50, 60, 128]), {
      raw: { width: 2, height: 1, channels: 4 },
    })
      .png()
      .toBuffer();
    expect(Array.from((await decodeImage(rgba)).data)).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it('throws UndecodableImageError for garbage and truncated files', async () => {
    await expect(decodeImage(Buffer.from('this is not an image'))).rejects.toBeInstanceOf(UndecodableImageError);
    await expect(decodeImage(jpeg.subarray(0, jpeg.length >> 1))).rejects.toBeInstanceOf(UndecodableImageError);
    await expect(decodeImage(new Uint8Array(0))).rejects.toBeInstanceOf(UndecodableImageError);
  });
});

describe('resizeCropInto', () => {
  it.each([
    ['downscale, vertical pass first', { left: 3, top: 5, width: 190, height: 140 }, 64],
    ['upscale, horizontal pass first', { left: 50, top: 20, width: 30, height: 12 }, 64],
    ['mixed', { left: 0, top: 0, width: 200, height: 20 }, 48],
  ])('%s equals the Pillow-semantics reference', (_name, box, size) => {
    for (const flip of [false, true]) {
      const out = new Float32Array(size * size * 3);
      resizeCropInto(img, box, size, flip, out);
      const ref = resizedCrop(img.data, img.width, img.height, box, size, size);
      const want = flip ? referenceFlip(ref.data, size) : ref.data;
      expect(maxAbsDiff(out, want)).toBeLessThan(1e-6);
    }
  });

  it('rejects boxes outside the image', () => {
    expect(() =>
      resizeCropInto(img, { left: 150, top: 0, width: 60, height: 10 }, 8, false, new Float32Array(192)),
    ).toThrow(RangeError);
  });
});

function referenceFlip(d: Float32Array, size: number): Float32Array {
  const out = new Float32Array(d.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < 3; c++) out[(y * size + x) * 3 + c] = d[(y * size + size - 1 - x) * 3 + c]!;
    }
  }
  return out;
}

describe.each([
  ['WASM SIMD kernels', 'auto', 48],
  ['scalar JS kernels', 'js', 48],
  ['scalar JS kernels (size not divisible by 4)', 'auto', 46],
] as [string, KernelChoice, number][])(
  'renderView with %s against the float reference (ml/color-ops)',
  (_k, kernels, size) => {
    const box = { left: 20, top: 10, width: 120, height: 100 };
    const base = plainView(size, box);
    const jitter = (order: ('brightness' | 'contrast' | 'saturation' | 'hue')[]) => ({
      brightness: 1.45,
      contrast: 0.55,
      saturation: 1.7,
      hue: -0.15,
      order,
    });
    // tolerance (normalised units, ~4.4 per unit of [0, 1]): 1e-5 for ops computed the same way; the blur
    // kernel is cut at 3 sigma instead of 4 sigma, which moves values by < 2e-3
    it.each([
      ['none', base, 1e-5],
      ['flip', { ...base, flip: true }, 1e-5],
      ['brightness', { ...base, jitter: jitter(['brightness']) }, 1e-5],
      ['contrast', { ...base, jitter: jitter(['contrast']) }, 1e-5],
      ['saturation', { ...base, jitter: jitter(['saturation']) }, 1e-5],
      ['hue', { ...base, jitter: jitter(['hue']) }, 1e-5],
      ['grayscale', { ...base, grayscale: true }, 1e-5],
      ['blur 0.4', { ...base, blurSigma: 0.4 }, 2e-3],
      ['blur 1.9', { ...base, blurSigma: 1.9 }, 2e-3],
      [
        'jitter order hue,contrast,brightness,saturation',
        { ...base, jitter: jitter(['hue', 'contrast', 'brightness', 'saturation']) },
        1e-5,
      ],
      [
        'jitter order saturation,brightness,hue,contrast',
        { ...base, jitter: jitter(['saturation', 'brightness', 'hue', 'contrast']) },
        1e-5,
      ],
      [
        'everything',
        {
          ...base,
          flip: true,
          grayscale: true,
          blurSigma: 1.2,
          jitter: jitter(['contrast', 'hue', 'saturation', 'brightness']),
        },
        2e-3,
      ],
    ] as [string, ViewParams, number][])('%s', (_name, view, tol) => {
      const out = new Float32Array(size * size * 3);
      renderView(img, view, out, 0, DEFAULT_NORMALIZATION, kernels);
      const ref = referenceView(
        img.data,
        img.width,
        img.height,
        view,
        DEFAULT_NORMALIZATION.mean,
        DEFAULT_NORMALIZATION.std,
      );
      expect(maxAbsDiff(out, ref.data)).toBeLessThanOrEqual(tol);
    });

    it('matches on drawn SEER parameters (2x224 + 4x96)', () => {
      let worst = 0;
      for (let index = 0; index < 1; index++) {
        const params = drawMulticropParams(img.width, img.height, SEER_CROPS, Rng.keyed(11, 0, index));
        for (const view of params) {
          const out = new Float32Array(view.size * view.size * 3);
          renderView(img, view, out, 0, DEFAULT_NORMALIZATION, kernels);
          worst = Math.max(worst, maxAbsDiff(out, referenceView(img.data, img.width, img.height, view).data));
        }
      }
      expect(worst).toBeLessThan(2e-3);
    });
  },
);

describe('kernel selection', () => {
  it('has the WASM SIMD kernels on this runtime and they agree with the scalar kernels', () => {
    expect(wasmKernelsAvailable()).toBe(true);
    let worst = 0;
    for (let index = 0; index < 2; index++) {
      const params = drawMulticropParams(img.width, img.height, SEER_CROPS, Rng.keyed(12, 1, index));
      for (const view of params) {
        const n = view.size * view.size * 3;
        const a = new Float32Array(n);
        const b = new Float32Array(n);
        renderView(img, view, a, 0, DEFAULT_NORMALIZATION, 'auto');
        renderView(img, view, b, 0, DEFAULT_NORMALIZATION, 'js');
        worst = Math.max(worst, maxAbsDiff(a, b));
      }
    }
    // float32 (SIMD) against float64 (scalar) arithmetic of the same formulas
    expect(worst).toBeLessThan(1e-4);
  });
});

describe('multicrop', () => {
  const key = { seed: 5, epoch: 3, index: 17 };

  it('produces NHWC groups of the exact sizes', async () => {
    const s = await multicrop(jpeg, key, { specs: SEER_CROPS });
    expect(s.groups.map((g) => [g.size, g.data.length])).toEqual([
      [224, 2 * 224 * 224 * 3],
      [96, 4 * 96 * 96 * 3],
    ]);
    expect(s.params).toHaveLength(6);
    expect([s.width, s.height]).toEqual([200, 150]);
    for (const g of s.groups) expect(g.data.every(Number.isFinite)).toBe(true);
  });

  it('is bit-identical for the same key and differs across epochs and indices', async () => {
    const bytes = (s: { groups: { data: Float32Array }[] }) =>
      Buffer.concat(s.groups.map((g) => Buffer.from(g.data.buffer)));
    const a = bytes(await multicrop(jpeg, key, { specs: SEER_CROPS }));
    const b = bytes(await multicrop(jpeg, key, { specs: SEER_CROPS }));
    const otherEpoch = bytes(await multicrop(jpeg, { ...key, epoch: 4 }, { specs: SEER_CROPS }));
    const otherIndex = bytes(await multicrop(jpeg, { ...key, index: 18 }, { specs: SEER_CROPS }));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(otherEpoch)).toBe(false);
    expect(a.equals(otherIndex)).toBe(false);
  });

  it('groups specs by size and writes batch slots crop-major', async () => {
    const specs: CropSpec[] = [
      { size: 32, count: 1, minScale: 0.3, maxScale: 1 },
      { size: 16, count: 2, minScale: 0.1, maxScale: 0.3 },
      { size: 32, count: 1, minScale: 0.05, maxScale: 0.1 },
    ];
    expect(viewGroupLayout(specs)).toEqual([
      { size: 32, count: 2 },
      { size: 16, count: 2 },
    ]);
    const single = await multicrop(jpeg, key, { specs });
    const batch = viewGroupLayout(specs).map((g) => ({
      size: g.size,
      data: new Float32Array(3 * g.count * g.size * g.size * 3),
    }));
    renderViews(img, single.params, batch, 1, 3);
    for (const [gi, g] of batch.entries()) {
      const plane = g.size * g.size * 3;
      for (let v = 0; v < 2; v++) {
        const want = single.groups[gi]!.data.subarray(v * plane, (v + 1) * plane);
        const got = g.data.subarray((v * 3 + 1) * plane, (v * 3 + 2) * plane);
        expect(Buffer.from(got.slice().buffer).equals(Buffer.from(want.slice().buffer))).toBe(true);
      }
    }
  });

  it('renders replayed parameters identically', async () => {
    const s = await multicrop(jpeg, key, { specs: SEER_CROPS });
    const again = await multicropWithParams(jpeg, s.params, { specs: SEER_CROPS });
    for (const [i, g] of again.entries()) {
      expect(Buffer.from(g.data.buffer).equals(Buffer.from(s.groups[i]!.data.buffer))).toBe(true);
    }
  });

  it('rejects undecodable bytes with UndecodableImageError', async () => {
    await expect(multicrop(Buffer.from([0xff, 0xd8, 0xff, 0x00]), key, { specs: SEER_CROPS })).rejects.toBeInstanceOf(
      UndecodableImageError,
    );
  });
});
