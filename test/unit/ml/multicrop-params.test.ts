import {
  drawMulticropParams,
  JITTER_OPS,
  randomResizedCropBox,
  roundHalfEven,
  SWAV_AUGMENT,
  type CropSpec,
} from '../../../ml/multicrop-params';
import { Rng } from '../../../ml/rng';

const SEER_CROPS: CropSpec[] = [
  { size: 224, count: 2, minScale: 0.14, maxScale: 1 },
  { size: 96, count: 4, minScale: 0.05, maxScale: 0.14 },
];

/**
 * torchvision's RandomResizedCrop.get_params transcribed independently (different control flow, rounding via
 * floor/compare, float32 via a Float32Array), fed the same uniform stream.
 */
function torchvisionGetParams(
  width: number,
  height: number,
  scale: [number, number],
  ratio: [number, number],
  rng: Rng,
): [number, number, number, number] {
  const f32 = new Float32Array(4);
  const pyRound = (x: number): number => {
    const fl = Math.floor(x);
    const diff = x - fl;
    if (diff > 0.5) return fl + 1;
    if (diff < 0.5) return fl;
    return fl % 2 === 0 ? fl : fl + 1;
  };
  f32[0] = Math.log(ratio[0]);
  f32[1] = Math.log(ratio[1]);
  f32[2] = scale[0];
  f32[3] = scale[1];
  const [logLo, logHi, sLo, sHi] = [f32[0]!, f32[1]!, f32[2]!, f32[3]!];
  let attempt = 0;
  while (attempt < 10) {
    attempt++;
    f32[0] = sLo + (sHi - sLo) * rng.next();
    const targetArea = width * height * f32[0]!;
    f32[1] = logLo + (logHi - logLo) * rng.next();
    f32[2] = Math.exp(f32[1]!);
    const ar = f32[2]!;
    const w = pyRound(Math.sqrt(targetArea * ar));
    const h = pyRound(Math.sqrt(targetArea / ar));
    if (!(w > 0 && h > 0 && w <= width && h <= height)) continue;
    const i = rng.int(height - h + 1);
    const j = rng.int(width - w + 1);
    return [i, j, h, w];
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < ratio[0]) {
    w = width;
    h = pyRound(w / ratio[0]);
  } else if (inRatio > ratio[1]) {
    h = height;
    w = pyRound(h * ratio[1]);
  } else {
    w = width;
    h = height;
  }
  return [Math.floor((height - h) / 2), Math.floor((width - w) / 2), h, w];
}

describe('roundHalfEven', () => {
  it('rounds like Python round()', () => {
    const cases: [number, number][] = [
      [0.5, 0],
      [1.5, 2],
      [2.5, 2],
      [3.5, 4],
      [2.4999, 2],
      [2.5001, 3],
      [-0.5, -0],
      [-1.5, -2],
      [-2.5, -2],
      [7, 7],
    ];
    for (const [x, want] of cases) expect(roundHalfEven(x)).toBe(want);
  });
});

describe('randomResizedCropBox', () => {
  const shapes: [number, number][] = [
    [500, 375],
    [375, 500],
    [256, 256],
    [97, 61],
    [1000, 40],
    [3, 2],
  ];

  it('equals an independent transcription of torchvision get_params on the same stream', () => {
    for (const [w, h] of shapes) {
      for (const scale of [
        [0.14, 1],
        [0.05, 0.14],
        [0.08, 1],
        [0.9, 1],
      ] as [number, number][]) {
        const a = Rng.keyed(42, w, h, scale[0] * 100);
        const b = Rng.keyed(42, w, h, scale[0] * 100);
        const mismatches: string[] = [];
        for (let n = 0; n < 1000; n++) {
          const box = randomResizedCropBox(w, h, scale, [3 / 4, 4 / 3], a);
          const [i, j, hh, ww] = torchvisionGetParams(w, h, scale, [3 / 4, 4 / 3], b);
          if (box.top !== i || box.left !== j || box.height !== hh || box.width !== ww) {
            mismatches.push(`${w}x${h} ${JSON.stringify(box)} vs ${[i, j, hh, ww].join(',')}`);
          }
        }
        expect(mismatches).toEqual([]);
        expect(a.state()).toEqual(b.state());
      }
    }
  });

  it('keeps every box inside the image, with area and ratio in range up to rounding', () => {
    for (const [w, h] of shapes) {
      const rng = Rng.keyed(7, w, h);
      const bad: string[] = [];
      for (let n = 0; n < 5000; n++) {
        const box = randomResizedCropBox(w, h, [0.05, 1], [3 / 4, 4 / 3], rng);
        const inside =
          box.top >= 0 &&
          box.left >= 0 &&
          box.width >= 1 &&
          box.height >= 1 &&
          box.top + box.height <= h &&
          box.left + box.width <= w;
        let inRange = true;
        if (box.attempts > 0) {
          // w and h are each rounded by at most 0.5 from sqrt(A*r) and sqrt(A/r)
          const [wLo, wHi] = [box.width - 0.5, box.width + 0.5];
          const [hLo, hHi] = [box.height - 0.5, box.height + 0.5];
          const area = w * h;
          inRange =
            wHi * hHi >= 0.05 * area * (1 - 1e-6) &&
            wLo * hLo <= area * (1 + 1e-6) &&
            wHi / hLo >= (3 / 4) * (1 - 1e-6) &&
            wLo / hHi <= (4 / 3) * (1 + 1e-6);
        }
        if (!inside || !inRange) bad.push(`${w}x${h}: ${JSON.stringify(box)}`);
      }
      expect(bad).toEqual([]);
    }
  });

  it('matches the distribution of the transcription on independent streams (chi-square on w, h, top, left)', () => {
    const [W, H] = [500, 375];
    const n = 20000;
    const bins = 10;
    const hist = (vals: number[], max: number): number[] => {
      const hgram = new Array<number>(bins).fill(0);
      for (const v of vals) hgram[Math.min(bins - 1, Math.floor((v / (max + 1)) * bins))]! += 1;
      return hgram;
    };
    const ours = Rng.keyed(1001);
    const theirs = Rng.keyed(2002);
    const a: number[][] = [[], [], [], []];
    const b: number[][] = [[], [], [], []];
    for (let k = 0; k < n; k++) {
      const box = randomResizedCropBox(W, H, [0.14, 1], [3 / 4, 4 / 3], ours);
      [box.width, box.height, box.top, box.left].forEach((v, i) => a[i]!.push(v));
      const [i, j, hh, ww] = torchvisionGetParams(W, H, [0.14, 1], [3 / 4, 4 / 3], theirs);
      [ww, hh, i, j].forEach((v, idx) => b[idx]!.push(v));
    }
    const maxes = [W, H, H, W];
    for (let q = 0; q < 4; q++) {
      const ha = hist(a[q]!, maxes[q]!);
      const hb = hist(b[q]!, maxes[q]!);
      // two-sample chi-square, 9 dof: the 99.9% quantile is 27.9
      let chi = 0;
      for (let k = 0; k < bins; k++) {
        const s = ha[k]! + hb[k]!;
        if (s > 0) chi += (ha[k]! - hb[k]!) ** 2 / s;
      }
      expect(chi).toBeLessThan(27.9);
    }
  });

  it('has the log-uniform aspect ratio and uniform scale of torchvision when nothing is rejected', () => {
    // a huge image: rounding is negligible and every first attempt fits for scale <= 0.5
    const rng = Rng.keyed(3);
    const n = 20000;
    let meanLogRatio = 0;
    let meanScale = 0;
    let retried = 0;
    for (let k = 0; k < n; k++) {
      const box = randomResizedCropBox(100000, 100000, [0.1, 0.5], [3 / 4, 4 / 3], rng);
      if (box.attempts !== 1) retried++;
      meanLogRatio += Math.log(box.width / box.height) / n;
      meanScale += (box.width * box.height) / 1e10 / n;
    }
    expect(retried).toBe(0);
    // log-ratio ~ U(log 3/4, log 4/3): mean 0, sd 0.166; scale ~ U(0.1, 0.5): mean 0.3, sd 0.115
    expect(Math.abs(meanLogRatio)).toBeLessThan((5 * 0.166) / Math.sqrt(n));
    expect(Math.abs(meanScale - 0.3)).toBeLessThan((5 * 0.115) / Math.sqrt(n) + 1e-4);
  });

  it('falls back to a centre crop with the ratio clamped after 10 failed attempts', () => {
    // 1000 x 10 with scale >= 0.5: every attempt needs h > 10, so all 10 fail
    const rng = Rng.keyed(9);
    const box = randomResizedCropBox(1000, 10, [0.5, 1], [3 / 4, 4 / 3], rng);
    expect(box).toEqual({ top: 0, left: Math.floor((1000 - 13) / 2), height: 10, width: 13, attempts: 0 });
    const tall = randomResizedCropBox(10, 1000, [0.5, 1], [3 / 4, 4 / 3], Rng.keyed(9));
    expect(tall).toEqual({ top: Math.floor((1000 - 13) / 2), left: 0, height: 13, width: 10, attempts: 0 });
    // 20 draws (10 attempts x 2) were consumed, no placement draws
    const r = Rng.keyed(9);
    randomResizedCropBox(1000, 10, [0.5, 1], [3 / 4, 4 / 3], r);
    const ref = Rng.keyed(9);
    for (let i = 0; i < 20; i++) ref.next();
    expect(r.state()).toEqual(ref.state());
  });

  it('returns the whole image as fallback when its ratio is already in range', () => {
    // a ratio range the 4x3 image cannot meet at full scale: every attempt is too wide
    const box = randomResizedCropBox(4, 3, [1, 1], [3.5, 3.6], Rng.keyed(1));
    expect(box.attempts).toBe(0);
    // in_ratio 4/3 < 3.5: w = 4, h = round(4 / 3.5) = 1
    expect(box).toEqual({ top: 1, left: 0, height: 1, width: 4, attempts: 0 });
    // ratio in range and scale 1: the first attempt already rounds to the whole image
    const whole = randomResizedCropBox(4, 3, [1.0, 1.0], [1.3, 1.34], Rng.keyed(1));
    expect(whole).toEqual({ top: 0, left: 0, height: 3, width: 4, attempts: 1 });
  });

  it('rejects bad arguments', () => {
    expect(() => randomResizedCropBox(0, 5, [0.1, 1], [0.75, 1.33], Rng.keyed(1))).toThrow(RangeError);
    expect(() => randomResizedCropBox(5, 5, [0.5, 0.1], [0.75, 1.33], Rng.keyed(1))).toThrow(RangeError);
  });
});

describe('drawMulticropParams', () => {
  it('returns the views in spec order with the right sizes and is a pure function of the stream', () => {
    const a = drawMulticropParams(500, 375, SEER_CROPS, Rng.keyed(5, 0, 17));
    const b = drawMulticropParams(500, 375, SEER_CROPS, Rng.keyed(5, 0, 17));
    const c = drawMulticropParams(500, 375, SEER_CROPS, Rng.keyed(5, 1, 17));
    expect(a.map((v) => v.size)).toEqual([224, 224, 96, 96, 96, 96]);
    expect(a.map((v) => v.specIndex)).toEqual([0, 0, 1, 1, 1, 1]);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
  });

  it('consumes a fixed number of draws after each crop (4 uniforms + 3 ints + 6 uniforms)', () => {
    const rng = Rng.keyed(77);
    const [view] = drawMulticropParams(500, 375, [{ size: 32, count: 1, minScale: 0.14, maxScale: 1 }], rng);
    const ref = Rng.keyed(77);
    randomResizedCropBox(500, 375, [0.14, 1], [3 / 4, 4 / 3], ref);
    expect(view!.crop.top).toBeGreaterThanOrEqual(0);
    const u = [ref.next(), ref.next()];
    ref.shuffle([0, 1, 2, 3]);
    for (let i = 0; i < 4; i++) ref.next();
    const g = ref.next();
    const bl = ref.next();
    ref.next();
    expect(rng.state()).toEqual(ref.state());
    expect(view!.flip).toBe(u[0]! < 0.5);
    expect(view!.jitter !== null).toBe(u[1]! <= 0.8);
    expect(view!.grayscale).toBe(g < 0.2);
    expect(view!.blurSigma !== null).toBe(bl <= 0.5);
  });

  it('draws flip, jitter, grayscale and blur with their probabilities and factors in range', () => {
    const n = 20000;
    const rng = Rng.keyed(2024);
    const counts = { flip: 0, jitter: 0, gray: 0, blur: 0 };
    const orders = new Map<string, number>();
    let sigmaSum = 0;
    let hueSum = 0;
    let brightSum = 0;
    const outOfRange: string[] = [];
    const sortedOps = [...JITTER_OPS].sort().join();
    for (let k = 0; k < n; k++) {
      const [v] = drawMulticropParams(640, 480, [{ size: 96, count: 1, minScale: 0.05, maxScale: 0.14 }], rng);
      if (v!.flip) counts.flip++;
      if (v!.grayscale) counts.gray++;
      if (v!.blurSigma !== null) {
        counts.blur++;
        if (!(v!.blurSigma >= 0.1 && v!.blurSigma < 2.0)) outOfRange.push(`sigma ${v!.blurSigma}`);
        sigmaSum += v!.blurSigma;
      }
      if (v!.jitter) {
        counts.jitter++;
        const j = v!.jitter;
        for (const f of [j.brightness, j.contrast, j.saturation])
          if (!(f >= 0.2 && f <= 1.8)) outOfRange.push(`factor ${f}`);
        if (!(Math.abs(j.hue) <= 0.2)) outOfRange.push(`hue ${j.hue}`);
        if ([...j.order].sort().join() !== sortedOps) outOfRange.push(`order ${j.order.join()}`);
        const key = j.order.join(',');
        orders.set(key, (orders.get(key) ?? 0) + 1);
        hueSum += j.hue;
        brightSum += j.brightness;
      }
    }
    expect(outOfRange).toEqual([]);
    const within = (count: number, p: number, trials: number): void => {
      expect(Math.abs(count - p * trials)).toBeLessThan(5 * Math.sqrt(trials * p * (1 - p)));
    };
    within(counts.flip, SWAV_AUGMENT.flipP, n);
    within(counts.jitter, SWAV_AUGMENT.jitterP, n);
    within(counts.gray, SWAV_AUGMENT.grayscaleP, n);
    within(counts.blur, SWAV_AUGMENT.blurP, n);
    // sigma ~ U(0.1, 2): mean 1.05, sd 0.548; hue ~ U(-0.2, 0.2): sd 0.115; brightness ~ U(0.2, 1.8): sd 0.462
    expect(Math.abs(sigmaSum / counts.blur - 1.05)).toBeLessThan((5 * 0.548) / Math.sqrt(counts.blur));
    expect(Math.abs(hueSum / counts.jitter)).toBeLessThan((5 * 0.115) / Math.sqrt(counts.jitter));
    expect(Math.abs(brightSum / counts.jitter - 1)).toBeLessThan((5 * 0.462) / Math.sqrt(counts.jitter));
    // all 24 orders, uniformly: chi-square with 23 dof, 99.9% quantile 49.7
    expect(orders.size).toBe(24);
    const expected = counts.jitter / 24;
    let chi = 0;
    for (const c of orders.values()) chi += (c - expected) ** 2 / expected;
    expect(chi).toBeLessThan(49.7);
  });

  it('handles count 0 specs and validates specs and settings', () => {
    expect(drawMulticropParams(100, 100, [{ size: 8, count: 0, minScale: 0.1, maxScale: 1 }], Rng.keyed(1))).toEqual(
      [],
    );
    expect(() =>
      drawMulticropParams(100, 100, [{ size: 0, count: 1, minScale: 0.1, maxScale: 1 }], Rng.keyed(1)),
    ).toThrow(RangeError);
    expect(() => drawMulticropParams(100, 100, SEER_CROPS, Rng.keyed(1), { ...SWAV_AUGMENT, hue: 0.7 })).toThrow(
      RangeError,
    );
  });
});
