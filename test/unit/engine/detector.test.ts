import * as tf from '@tensorflow/tfjs';
import { createSwavEngine } from '../../../engine';
import { initBackend } from '../../../engine/backend';
import {
  boxIou,
  buildTargets,
  decodeDetections,
  Detector,
  DetectorTrainer,
  gaussianRadius,
  nms,
  normalizeImages,
  type DetectionBox,
  type TrainBox,
} from '../../../engine/detector';
import { StateFormatError } from '../../../engine/state';
import { cocoEvaluate, type CocoDetection, type CocoGroundTruth } from '../../../ml/coco-eval';
import { Rng } from '../../../ml/rng';
import { tinyConfig } from './helpers';

const REGNET = tinyConfig().regnet;

beforeAll(() => {
  initBackend();
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

function randomImages(n: number, size: number, seed: number): Float32Array {
  const rng = Rng.keyed(seed);
  const rgb = new Uint8Array(n * size * size * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = rng.int(256);
  return normalizeImages(rgb);
}

describe('targets', () => {
  it('puts a peak of 1 at the centre cell with offset and log-size targets there', () => {
    const t = buildTargets([[{ bbox: [10, 6, 20, 12], label: 3 }]], { h: 16, w: 16, classes: 5, stride: 4 });
    // centre (20, 12) px = (5, 3) cells exactly
    const cell = 3 * 16 + 5;
    expect(t.heat[cell * 5 + 3]).toBe(1);
    expect(t.pos[cell * 5 + 3]).toBe(1);
    expect(t.numPos).toBe(1);
    expect(Array.from(t.reg.subarray(cell * 4, cell * 4 + 4))).toEqual([
      0,
      0,
      Math.fround(Math.log(5)),
      Math.fround(Math.log(3)),
    ]);
    expect(t.regMask[cell]).toBe(1);
    expect(t.pos.reduce((a, b) => a + b, 0)).toBe(1);
    // Gaussian falls off around the peak, on the object's class channel only.
    const r = Math.floor(gaussianRadius(3, 5));
    expect(r).toBeGreaterThanOrEqual(0);
    if (r >= 1) expect(t.heat[(cell + 1) * 5 + 3]).toBeGreaterThan(0);
    expect(t.heat[(cell + 1) * 5 + 3]).toBeLessThan(1);
    expect(t.heat[cell * 5 + 2]).toBe(0);
  });

  it('gives bigger boxes a bigger Gaussian radius', () => {
    expect(gaussianRadius(10, 10)).toBeGreaterThan(gaussianRadius(4, 4));
    expect(gaussianRadius(4, 4)).toBeGreaterThan(0);
  });
});

describe('NMS', () => {
  it('suppresses overlapping boxes of the same class only, best score first', () => {
    const d: DetectionBox[] = [
      { bbox: [0, 0, 10, 10], score: 0.5, label: 0 },
      { bbox: [1, 1, 10, 10], score: 0.9, label: 0 },
      { bbox: [1, 0, 10, 10], score: 0.8, label: 1 },
      { bbox: [30, 30, 5, 5], score: 0.2, label: 0 },
    ];
    expect(nms(d, 0.5).map((x) => x.score)).toEqual([0.9, 0.8, 0.2]);
    expect(nms(d, 0.5, 2).map((x) => x.score)).toEqual([0.9, 0.8]);
    expect(nms(d, 0.99)).toHaveLength(4);
    expect(boxIou([0, 0, 10, 10], [5, 0, 10, 10])).toBeCloseTo(50 / 150);
  });
});

describe('decoding', () => {
  const size = 64;
  const g = { h: 16, w: 16, classes: 10, stride: 4 };
  const gt: TrainBox[][] = [
    [
      { bbox: [3, 5, 20, 24], label: 2 },
      { bbox: [30, 34, 17, 22], label: 7 },
      { bbox: [38, 2, 25, 14], label: 2 },
    ],
    [{ bbox: [10, 10, 40, 40], label: 0 }],
    [],
  ];

  it('decodes the targets themselves into the ground-truth boxes', () => {
    const t = buildTargets(gt, g);
    const dets = decodeDetections(t.heat, t.reg, { ...g, n: 3 }, { imageSize: size, scoreThreshold: 0.5 });
    gt.forEach((boxes, i) => {
      const got = (dets[i] ?? []).filter((d) => d.score === 1);
      expect(got).toHaveLength(boxes.length);
      for (const b of boxes) {
        const m = got.find((d) => d.label === b.label && boxIou(d.bbox, b.bbox) > 0.999);
        expect(m).toBeDefined();
      }
    });
  });

  it('a perfect prediction scores AP = 1 through cocoEvaluate', () => {
    const t = buildTargets(gt, g);
    // Probabilities slightly below 1 elsewhere on the peaks' Gaussians: low-scored extras only.
    const dets = decodeDetections(t.heat, t.reg, { ...g, n: 3 }, { imageSize: size });
    const coco: CocoGroundTruth = {
      images: gt.map((_, i) => ({ id: i + 1 })),
      categories: Array.from({ length: 10 }, (_, c) => ({ id: c + 1 })),
      annotations: gt.flatMap((boxes, i) =>
        boxes.map((b, j) => ({
          id: i * 10 + j + 1,
          image_id: i + 1,
          category_id: b.label + 1,
          bbox: b.bbox,
          area: (b.bbox[2] ?? 0) * (b.bbox[3] ?? 0),
          iscrowd: 0,
        })),
      ),
    };
    const results: CocoDetection[] = dets.flatMap((list, i) =>
      list.map((d) => ({ image_id: i + 1, category_id: d.label + 1, bbox: d.bbox, score: d.score })),
    );
    const r = cocoEvaluate(coco, results, { iouType: 'bbox' });
    expect(r.stats[0]).toBeCloseTo(1, 10);
    expect(r.stats[1]).toBeCloseTo(1, 10);
    expect(r.stats[2]).toBeCloseTo(1, 10);
    // And a prediction with every box shifted by half its width is far from it.
    const shifted = results.map((d) => ({
      ...d,
      bbox: [(d.bbox[0] ?? 0) + (d.bbox[2] ?? 0) / 2, d.bbox[1] ?? 0, d.bbox[2] ?? 0, d.bbox[3] ?? 0],
    }));
    expect(cocoEvaluate(coco, shifted, { iouType: 'bbox' }).stats[1]).toBeLessThan(0.2);
  });

  it('keeps only local maxima above the threshold, clips boxes to the image and caps detections', () => {
    const heat = new Float32Array(1 * 4 * 4 * 1);
    const reg = new Float32Array(1 * 4 * 4 * 4);
    heat[0] = 0.9; // peak at (0, 0)
    heat[1] = 0.5; // neighbour, not a peak
    heat[15] = 0.3; // peak at (3, 3)
    heat[5] = 0.005; // below threshold
    reg.set([0.5, 0.5, Math.log(4), Math.log(1)], 0); // 4x1 cells wide at (0.5, 0.5) -> clipped at x=0
    reg.set([0, 0, 0, 0], 15 * 4);
    const [d] = decodeDetections(heat, reg, { n: 1, h: 4, w: 4, classes: 1, stride: 8 }, { imageSize: 32 });
    expect(d?.map((x) => x.score)).toEqual([Math.fround(0.9), Math.fround(0.3)]);
    expect(maxAbsDiff(d?.[0]?.bbox ?? [], [0, 0, 20, 8])).toBeLessThan(1e-5); // log(4) as float32
    expect(d?.[1]?.bbox).toEqual([20, 20, 8, 8]);
    expect(
      decodeDetections(heat, reg, { n: 1, h: 4, w: 4, classes: 1, stride: 8 }, { imageSize: 32, maxDets: 1 })[0],
    ).toHaveLength(1);
  });
});

describe('Detector', () => {
  it('reads stage features through the trunk: their pooled last stage equals the trunk output', () => {
    const det = new Detector({ regnet: REGNET, numClasses: 10, imageSize: 32, headWidth: 16 });
    det.init(1);
    const x = randomImages(2, 32, 3);
    const [pooled, viaFeatures, shapes] = tf.tidy(() => {
      const xt = tf.tensor4d(x, [2, 32, 32, 3]);
      const feats = det.stageFeatures(xt, false);
      const last = feats[feats.length - 1] as tf.Tensor4D;
      return [det.trunk.forward(xt, false).dataSync(), tf.mean(last, [1, 2]).dataSync(), feats.map((f) => f.shape)];
    });
    expect(maxAbsDiff(pooled, viaFeatures)).toBeLessThan(1e-5);
    expect(shapes).toEqual([
      [2, 8, 8, 16],
      [2, 4, 4, 32],
    ]);
    const out = tf.tidy(() => det.forward(tf.tensor4d(x, [2, 32, 32, 3]), false).heat.shape);
    const g = det.geometry(2);
    expect(out).toEqual([2, g.h, g.w, 10]);
    expect(g.stride).toBe(4);
    det.dispose();
  });

  it('loads the trunk of a SwAV state by name (weights and BN statistics), and rejects another config', () => {
    const engine = createSwavEngine(tinyConfig());
    engine.init(7);
    const state = engine.saveState();
    const det = new Detector({ regnet: REGNET, numClasses: 10, imageSize: 32, headWidth: 16 });
    det.init(0);
    const r = det.loadTrunkFromSwavState(state);
    expect(r.tensors).toBe(det.store.entries().filter((e) => e.name.startsWith('trunk.')).length);
    const x = randomImages(3, 32, 4);
    const ours = tf.tidy(() => det.trunk.forward(tf.tensor4d(x, [3, 32, 32, 3]), false).dataSync());
    expect(maxAbsDiff(ours, engine.embed(x, 3, 32))).toBeLessThan(1e-5);
    const other = new Detector({ regnet: { ...REGNET, w0: 24 }, numClasses: 10, imageSize: 32, headWidth: 16 });
    expect(() => other.loadTrunkFromSwavState(state)).toThrow(StateFormatError);
    engine.dispose();
    det.dispose();
    other.dispose();
  });

  it('trains (loss falls on a fixed batch), and its saved state resumes bit-identically', () => {
    const cfg = { regnet: REGNET, numClasses: 3, imageSize: 32, headWidth: 16 };
    const x = randomImages(4, 32, 9);
    const boxes: TrainBox[][] = [
      [{ bbox: [2, 2, 12, 14], label: 0 }],
      [{ bbox: [10, 8, 16, 16], label: 1 }],
      [{ bbox: [0, 16, 20, 10], label: 2 }],
      [],
    ];
    const a = new DetectorTrainer(cfg, { weightDecay: 1e-4 });
    a.model.init(0);
    const first = a.step(x, 4, boxes, 3e-3).loss;
    for (let i = 0; i < 6; i++) a.step(x, 4, boxes, 3e-3);
    const saved = a.saveState({ epoch: 1 });
    const nextA = a.step(x, 4, boxes, 3e-3);
    expect(nextA.loss).toBeLessThan(first);
    const b = new DetectorTrainer(cfg, { weightDecay: 1e-4 });
    b.model.init(5);
    const header = b.loadState(saved);
    expect(header.meta).toEqual({ epoch: 1 });
    expect(b.stepCount).toBe(7);
    const nextB = b.step(x, 4, boxes, 3e-3);
    expect(nextB.loss).toBe(nextA.loss);
    expect(maxAbsDiff(a.predict(x, 4).heat, b.predict(x, 4).heat)).toBe(0);
    const corrupt = Uint8Array.from(saved);
    corrupt[100] = (corrupt[100] ?? 0) ^ 1;
    expect(() => b.loadState(corrupt)).toThrow(/checksum/);
    a.dispose();
    b.dispose();
  });
});
