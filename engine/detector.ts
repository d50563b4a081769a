/**
 * A single-stage, anchor-free detector on the RegNetY trunk (CenterNet-style; see docs/detection.md for why):
 * the trunk's last two stage outputs are fused FPN-style (1x1 laterals, nearest 2x upsample, add, 3x3 conv) into
 * one map at the second-to-last stage's stride; two small conv towers predict per location
 *   - a class heatmap (sigmoid, C channels), trained with CenterNet's penalty-reduced focal loss against
 *     Gaussian peaks at the object centres, and
 *   - 4 regression channels at the centre cell: the sub-cell centre offset (2) and log(size / stride) (2), L1.
 * Decoding keeps heatmap peaks (3x3 local maxima), reads the box at each, and applies class-wise NMS.
 * The trunk is a {@link RegNetTrunk} in the same {@link ParamStore} naming as the SwAV model, so a SwAV state's
 * `trunk.*` tensors load into it by name (pretrained) — or it is initialised randomly (scratch).
 * Optimiser: AdamW (decoupled weight decay on weights, not on BN/bias), state saved with the weights.
 */
import * as tf from '@tensorflow/tfjs';
import type { RegNetConfig } from '../config/schema';
import { regnetSpec, type RegNetSpec } from '../ml/regnet';
import { initBackend, type BackendInfo, type InitBackendOptions } from './backend';
import { conv2d, pointwiseConv, relu, RunningStatsCollector } from './native-ops';
import { assignValues, ParamStore, type ParamEntry } from './params';
import { RegNetTrunk } from './regnet-model';
import { NonFiniteLossError } from '../contracts/errors';
import { swavTrunkValues } from './state';
import { readStateContainer, takeTensors, writeStateContainer, type StateContainerHeader } from './state-container';

/** Configuration of a {@link Detector}. */
export interface DetectorConfig {
  regnet: RegNetConfig;
  numClasses: number;
  /** Square input side in pixels. */
  imageSize: number;
  /** Channels of the fused map and the head towers. @default 64 */
  headWidth?: number;
}

/** ImageNet mean, as the SwAV pretraining crops are normalised (multicrop DEFAULT_NORMALIZATION). */
export const DETECTOR_MEAN = [0.485, 0.456, 0.406] as const;
/** ImageNet std (VISSL's 0.229), as the pretraining crops. */
export const DETECTOR_STD = [0.229, 0.224, 0.225] as const;

/** Prior probability of the heatmap at init (focal-loss bias, RetinaNet/CenterNet): bias = -log((1-p)/p). */
const HEAT_PRIOR = 0.1;

/** One ground-truth object of a training image: COCO box [x, y, w, h] in pixels and a 0-based class. */
export interface TrainBox {
  bbox: readonly number[];
  label: number;
}

/** One detection: COCO box [x, y, w, h] in pixels, score in (0, 1), 0-based class. */
export interface DetectionBox {
  bbox: [number, number, number, number];
  score: number;
  label: number;
}

/** Shape of the head output. */
export interface HeadGeometry {
  n: number;
  h: number;
  w: number;
  classes: number;
  /** Input pixels per output cell. */
  stride: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Targets, decoding, NMS: plain arrays (no tensors), unit-testable.

/** CenterNet's Gaussian radius for a box of h x w cells such that a corner shift by it keeps IoU >= minOverlap. */
export function gaussianRadius(h: number, w: number, minOverlap = 0.7): number {
  const b1 = h + w;
  const c1 = (w * h * (1 - minOverlap)) / (1 + minOverlap);
  const r1 = (b1 + Math.sqrt(b1 * b1 - 4 * c1)) / 2;
  const b2 = 2 * (h + w);
  const c2 = (1 - minOverlap) * w * h;
  const r2 = (b2 + Math.sqrt(b2 * b2 - 16 * c2)) / 2;
  const a3 = 4 * minOverlap;
  const b3 = -2 * minOverlap * (h + w);
  const c3 = (minOverlap - 1) * w * h;
  const r3 = (b3 + Math.sqrt(b3 * b3 - 4 * a3 * c3)) / 2;
  return Math.min(r1, r2, r3);
}

/** Training targets of one batch, NHWC row-major. */
export interface DetectionTargets {
  /** Gaussian heatmap [N, H, W, C], 1 exactly at object centres. */
  heat: Float32Array;
  /** 1 at centre cells, per class [N, H, W, C] (the focal loss's positives). */
  pos: Float32Array;
  /** [N, H, W, 4]: centre offset (dx, dy) in cells and log(w / stride), log(h / stride). */
  reg: Float32Array;
  /** [N, H, W, 1]: 1 where `reg` holds a target. */
  regMask: Float32Array;
  numPos: number;
}

/** Build CenterNet targets for `boxes[i]` of image i on an h x w output grid of `stride` pixels per cell. */
export function buildTargets(boxes: readonly (readonly TrainBox[])[], g: Omit<HeadGeometry, 'n'>): DetectionTargets {
  const { h: H, w: W, classes: C, stride } = g;
  const n = boxes.length;
  const heat = new Float32Array(n * H * W * C);
  const pos = new Float32Array(n * H * W * C);
  const reg = new Float32Array(n * H * W * 4);
  const regMask = new Float32Array(n * H * W);
  let numPos = 0;
  boxes.forEach((list, i) => {
    for (const b of list) {
      const [x = 0, y = 0, bw = 0, bh = 0] = b.bbox;
      if (!(bw > 0 && bh > 0) || b.label < 0 || b.label >= C) continue;
      const cx = (x + bw / 2) / stride;
      const cy = (y + bh / 2) / stride;
      const px = Math.min(W - 1, Math.max(0, Math.floor(cx)));
      const py = Math.min(H - 1, Math.max(0, Math.floor(cy)));
      const r = Math.max(0, Math.floor(gaussianRadius(bh / stride, bw / stride)));
      const sigma = (2 * r + 1) / 6;
      for (let yy = Math.max(0, py - r); yy <= Math.min(H - 1, py + r); yy++) {
        for (let xx = Math.max(0, px - r); xx <= Math.min(W - 1, px + r); xx++) {
          const d2 = (xx - px) ** 2 + (yy - py) ** 2;
          const v = Math.exp(-d2 / (2 * sigma * sigma));
          const k = ((i * H + yy) * W + xx) * C + b.label;
          if (v > (heat[k] as number)) heat[k] = v;
        }
      }
      const cell = (i * H + py) * W + px;
      const kc = cell * C + b.label;
      heat[kc] = 1;
      if (pos[kc] === 0) numPos++;
      pos[kc] = 1;
      // Two centres in one cell: the later box's size wins (rare at these scales; CenterNet does the same).
      reg[cell * 4] = cx - px;
      reg[cell * 4 + 1] = cy - py;
      reg[cell * 4 + 2] = Math.log(bw / stride);
      reg[cell * 4 + 3] = Math.log(bh / stride);
      regMask[cell] = 1;
    }
  });
  return { heat, pos, reg, regMask, numPos };
}

/** IoU of two COCO boxes [x, y, w, h]. */
export function boxIou(a: readonly number[], b: readonly number[]): number {
  const [ax = 0, ay = 0, aw = 0, ah = 0] = a;
  const [bx = 0, by = 0, bw = 0, bh = 0] = b;
  const iw = Math.min(ax + aw, bx + bw) - Math.max(ax, bx);
  const ih = Math.min(ay + ah, by + bh) - Math.max(ay, by);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / (aw * ah + bw * bh - inter);
}

/**
 * Greedy class-wise NMS: detections by descending score (stable for ties); a detection is dropped when it overlaps
 * a kept one of the same class by more than `iouThreshold`. Returns the kept detections, best first.
 */
export function nms(dets: readonly DetectionBox[], iouThreshold: number, maxDets = Infinity): DetectionBox[] {
  const order = dets.map((d, i) => ({ d, i })).sort((a, b) => b.d.score - a.d.score || a.i - b.i);
  const kept: DetectionBox[] = [];
  for (const { d } of order) {
    if (kept.length >= maxDets) break;
    if (kept.some((k) => k.label === d.label && boxIou(k.bbox, d.bbox) > iouThreshold)) continue;
    kept.push(d);
  }
  return kept;
}

/** Options of {@link decodeDetections}. */
export interface DecodeOptions {
  /** Input side in pixels; boxes are clipped to it. */
  imageSize: number;
  /** Peaks considered per image. @default 100 */
  topK?: number;
  /** @default 0.01 */
  scoreThreshold?: number;
  /** @default 0.5 */
  nmsIou?: number;
  /** @default 100 (COCO's maxDets) */
  maxDets?: number;
}

/**
 * Heatmap probabilities [N, H, W, C] and regression [N, H, W, 4] -> detections per image: 3x3 local maxima of each
 * class map above the threshold, the best `topK`, boxes from offset + log-size, clipped to the image, then NMS.
 */
export function decodeDetections(
  heat: Float32Array,
  reg: Float32Array,
  g: HeadGeometry,
  o: DecodeOptions,
): DetectionBox[][] {
  const { n, h: H, w: W, classes: C, stride } = g;
  if (heat.length !== n * H * W * C || reg.length !== n * H * W * 4)
    throw new RangeError('decodeDetections: array sizes do not match the geometry');
  const topK = o.topK ?? 100;
  const thr = o.scoreThreshold ?? 0.01;
  const S = o.imageSize;
  const out: DetectionBox[][] = [];
  for (let i = 0; i < n; i++) {
    const cand: { s: number; y: number; x: number; c: number }[] = [];
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let c = 0; c < C; c++) {
          const s = heat[((i * H + y) * W + x) * C + c] as number;
          if (!(s >= thr)) continue;
          let peak = true;
          for (let dy = -1; dy <= 1 && peak; dy++) {
            for (let dx = -1; dx <= 1; dx++) {
              const yy = y + dy;
              const xx = x + dx;
              if ((dx === 0 && dy === 0) || yy < 0 || xx < 0 || yy >= H || xx >= W) continue;
              if ((heat[((i * H + yy) * W + xx) * C + c] as number) > s) {
                peak = false;
                break;
              }
            }
          }
          if (peak) cand.push({ s, y, x, c });
        }
      }
    }
    cand.sort((a, b) => b.s - a.s);
    const dets: DetectionBox[] = [];
    for (const p of cand.slice(0, topK)) {
      const r = ((i * H + p.y) * W + p.x) * 4;
      const cx = (p.x + (reg[r] as number)) * stride;
      const cy = (p.y + (reg[r + 1] as number)) * stride;
      const bw = Math.exp(Math.min(10, reg[r + 2] as number)) * stride;
      const bh = Math.exp(Math.min(10, reg[r + 3] as number)) * stride;
      const x0 = Math.max(0, cx - bw / 2);
      const y0 = Math.max(0, cy - bh / 2);
      const x1 = Math.min(S, cx + bw / 2);
      const y1 = Math.min(S, cy + bh / 2);
      if (x1 <= x0 || y1 <= y0) continue;
      dets.push({ bbox: [x0, y0, x1 - x0, y1 - y0], score: p.s, label: p.c });
    }
    out.push(nms(dets, o.nmsIou ?? 0.5, o.maxDets ?? 100));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The model.

interface HeadParams {
  latLast: tf.Variable;
  latLastB: tf.Variable;
  latPrev?: tf.Variable;
  latPrevB?: tf.Variable;
  fuse: tf.Variable;
  fuseB: tf.Variable;
  clsTower: tf.Variable;
  clsTowerB: tf.Variable;
  cls: tf.Variable;
  clsB: tf.Variable;
  regTower: tf.Variable;
  regTowerB: tf.Variable;
  reg: tf.Variable;
  regB: tf.Variable;
}

/** Trunk + fused two-level map + heatmap/regression heads; all tensors in one {@link ParamStore}. */
export class Detector {
  readonly store = new ParamStore();
  readonly spec: RegNetSpec;
  readonly trunk: RegNetTrunk;
  readonly cfg: Required<DetectorConfig>;
  private readonly head: HeadParams;
  private readonly stageWidths: number[];

  constructor(cfg: DetectorConfig) {
    this.cfg = { headWidth: 64, ...cfg };
    this.spec = regnetSpec(cfg.regnet);
    this.trunk = new RegNetTrunk(this.spec, this.store, { prefix: 'trunk' });
    this.stageWidths = this.spec.stages.map((s) => s.width);
    const F = this.cfg.headWidth;
    const C = cfg.numClasses;
    const s = this.store;
    const last = this.stageWidths[this.stageWidths.length - 1] as number;
    const prev = this.stageWidths.length > 1 ? (this.stageWidths[this.stageWidths.length - 2] as number) : undefined;
    const small = { kind: 'normal', std: 0.01 } as const;
    this.head = {
      latLast: s.add('det.lateral.last.weight', 'conv', [last, F]),
      latLastB: s.add('det.lateral.last.bias', 'bias', [F]),
      ...(prev !== undefined
        ? {
            latPrev: s.add('det.lateral.prev.weight', 'conv', [prev, F]),
            latPrevB: s.add('det.lateral.prev.bias', 'bias', [F]),
          }
        : {}),
      fuse: s.add('det.fuse.weight', 'conv', [3, 3, F, F]),
      fuseB: s.add('det.fuse.bias', 'bias', [F]),
      clsTower: s.add('det.cls.tower.weight', 'conv', [3, 3, F, F]),
      clsTowerB: s.add('det.cls.tower.bias', 'bias', [F]),
      cls: s.add('det.cls.out.weight', 'linear', [F, C], small),
      clsB: s.add('det.cls.out.bias', 'bias', [C]),
      regTower: s.add('det.reg.tower.weight', 'conv', [3, 3, F, F]),
      regTowerB: s.add('det.reg.tower.bias', 'bias', [F]),
      reg: s.add('det.reg.out.weight', 'linear', [F, 4], small),
      regB: s.add('det.reg.out.bias', 'bias', [4]),
    };
  }

  /** Output geometry for a batch of n images. */
  geometry(n: number): HeadGeometry {
    const stages = this.spec.stages.length;
    const level = stages > 1 ? stages - 1 : stages; // 1-based stage whose stride the fused map has
    // Stem /2, then every stage /2 (PyTorch-style padding: ceil for odd sizes).
    let size = this.cfg.imageSize;
    for (let i = 0; i <= level; i++) size = Math.ceil(size / 2);
    return { n, h: size, w: size, classes: this.cfg.numClasses, stride: this.cfg.imageSize / size };
  }

  /** Every tensor from `seed` (trunk as the reference RegNet init, head per role), heatmap bias at the prior. */
  init(seed: number): void {
    this.store.initAll(seed);
    const b = -Math.log((1 - HEAT_PRIOR) / HEAT_PRIOR);
    assignValues(this.head.clsB, new Float32Array(this.cfg.numClasses).fill(b));
  }

  /**
   * Copy the `trunk.*` tensors (weights and BN statistics) of a SwAV engine state into this trunk, by name.
   * @throws StateFormatError when the state is corrupt or lacks / mis-shapes any trunk tensor.
   */
  loadTrunkFromSwavState(bytes: Uint8Array): { tensors: number; step: number } {
    const trunkEntries = this.store.entries().filter((e) => e.name.startsWith('trunk.'));
    const { values, step } = swavTrunkValues(bytes, trunkEntries);
    trunkEntries.forEach((e, i) => assignValues(e.variable, values[i] as Float32Array));
    return { tensors: trunkEntries.length, step };
  }

  /** Output of every trunk stage (NHWC), computed by the trunk's own block code. */
  stageFeatures(x: tf.Tensor4D, training: boolean, stats?: RunningStatsCollector): tf.Tensor4D[] {
    return this.trunk.stageFeatures(x, training, stats);
  }

  /** Heatmap logits [N, H, W, C] and regression [N, H, W, 4] of normalised NHWC images. */
  forward(x: tf.Tensor4D, training: boolean, stats?: RunningStatsCollector): { heat: tf.Tensor4D; reg: tf.Tensor4D } {
    const p = this.head;
    const feats = this.stageFeatures(x, training, stats);
    const last = feats[feats.length - 1] as tf.Tensor4D;
    const prev = feats.length > 1 ? (feats[feats.length - 2] as tf.Tensor4D) : undefined;
    const pw = (f: tf.Tensor4D, w: tf.Variable, b: tf.Variable) =>
      tf.add(pointwiseConv(f, w as tf.Tensor2D), b) as tf.Tensor4D;
    const c3 = (f: tf.Tensor4D, w: tf.Variable, b: tf.Variable) =>
      tf.add(conv2d(f, w as tf.Tensor4D, { pad: 1 }), b) as tf.Tensor4D;
    let m = pw(last, p.latLast, p.latLastB);
    if (prev && p.latPrev && p.latPrevB) {
      m = tf.add(tf.image.resizeNearestNeighbor(m, [prev.shape[1], prev.shape[2]]), pw(prev, p.latPrev, p.latPrevB));
    }
    m = relu(c3(m, p.fuse, p.fuseB));
    const heat = pw(relu(c3(m, p.clsTower, p.clsTowerB)), p.cls, p.clsB);
    const reg = pw(relu(c3(m, p.regTower, p.regTowerB)), p.reg, p.regB);
    return { heat, reg };
  }

  trainableParamCount(): number {
    return this.store.trainableCount();
  }

  dispose(): void {
    this.store.dispose();
  }
}

/**
 * CenterNet loss: penalty-reduced focal loss (alpha 2, beta 4) on the heatmap, normalised by the number of objects,
 * plus L1 on the 4 regression channels at object centres (same normaliser). Stable log-sigmoids.
 */
export function detectionLoss(
  heatLogits: tf.Tensor4D,
  reg: tf.Tensor4D,
  t: { heat: tf.Tensor4D; pos: tf.Tensor4D; reg: tf.Tensor4D; regMask: tf.Tensor4D; numPos: number },
  regWeight = 1,
): { total: tf.Scalar; focal: tf.Scalar; l1: tf.Scalar } {
  const norm = Math.max(1, t.numPos);
  const p = tf.sigmoid(heatLogits);
  const logP = tf.neg(tf.softplus(tf.neg(heatLogits)));
  const log1mP = tf.neg(tf.softplus(heatLogits));
  const posTerm = tf.sum(tf.mul(tf.mul(t.pos, tf.square(tf.sub(1, p))), logP));
  const negW = tf.mul(tf.sub(1, t.pos), tf.pow(tf.sub(1, t.heat), 4));
  const negTerm = tf.sum(tf.mul(tf.mul(negW, tf.square(p)), log1mP));
  const focal = tf.div(tf.neg(tf.add(posTerm, negTerm)), norm) as tf.Scalar;
  const l1 = tf.div(tf.sum(tf.mul(tf.abs(tf.sub(reg, t.reg)), t.regMask)), norm) as tf.Scalar;
  return { total: tf.add(focal, tf.mul(l1, regWeight)) as tf.Scalar, focal, l1 };
}

// ---------------------------------------------------------------------------------------------------------------
// Optimiser and training state.

/** AdamW hyperparameters. */
export interface AdamWConfig {
  /** @default 0.9 */
  beta1?: number;
  /** @default 0.999 */
  beta2?: number;
  /** @default 1e-8 */
  eps?: number;
  /** Decoupled decay, applied to weights of rank >= 2 only (not BN, not biases). @default 1e-4 */
  weightDecay?: number;
}

/** AdamW (Loshchilov & Hutter) over a fixed list of parameters, moments kept as tf.Variables. */
export class AdamW {
  readonly params: readonly ParamEntry[];
  readonly m: tf.Variable[];
  readonly v: tf.Variable[];
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly wd: number;
  /** Completed updates (bias correction). */
  t = 0;

  constructor(params: readonly ParamEntry[], cfg: AdamWConfig = {}) {
    this.params = params.filter((p) => p.trainable);
    this.b1 = cfg.beta1 ?? 0.9;
    this.b2 = cfg.beta2 ?? 0.999;
    this.eps = cfg.eps ?? 1e-8;
    this.wd = cfg.weightDecay ?? 1e-4;
    this.m = this.params.map((p) => tf.variable(tf.zeros([...p.shape]), false));
    this.v = this.params.map((p) => tf.variable(tf.zeros([...p.shape]), false));
  }

  /** One update; `grads` keyed by logical parameter name (missing = untouched). */
  step(grads: Readonly<Record<string, tf.Tensor>>, lr: number): void {
    if (!Number.isFinite(lr) || lr < 0) throw new RangeError(`learning rate must be a finite number >= 0, got ${lr}`);
    this.t += 1;
    const c1 = 1 - this.b1 ** this.t;
    const c2 = 1 - this.b2 ** this.t;
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        const g = grads[p.name];
        if (!g) return;
        const m = this.m[i] as tf.Variable;
        const v = this.v[i] as tf.Variable;
        const m1 = tf.add(tf.mul(m, this.b1), tf.mul(g, 1 - this.b1));
        const v1 = tf.add(tf.mul(v, this.b2), tf.mul(tf.square(g), 1 - this.b2));
        m.assign(m1);
        v.assign(v1);
        let upd = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), this.eps));
        if (this.wd > 0 && p.shape.length >= 2) upd = tf.add(upd, tf.mul(p.variable, this.wd));
        p.variable.assign(tf.sub(p.variable, tf.mul(upd, lr)));
      });
    });
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

/** Training settings of {@link DetectorTrainer}. */
export interface DetectorTrainConfig extends AdamWConfig {
  /** Weight of the L1 regression loss. @default 1 */
  regWeight?: number;
}

/** What one step reports. */
export interface DetectorStepResult {
  loss: number;
  focal: number;
  l1: number;
  step: number;
}

/** Header of a detector state: a state container of kind 'detector' (engine/state-container.ts). */
export type DetectorStateHeader = StateContainerHeader;

/** Normalise 8-bit RGB NHWC pixels with the ImageNet mean/std into `out` (or a new array). */
export function normalizeImages(rgb: Uint8Array, out = new Float32Array(rgb.length)): Float32Array {
  for (let i = 0; i < rgb.length; i++) {
    const c = i % 3;
    out[i] = ((rgb[i] as number) / 255 - (DETECTOR_MEAN[c] as number)) / (DETECTOR_STD[c] as number);
  }
  return out;
}

/** A detector with its optimiser: steps, prediction, and the full state as bytes. */
export class DetectorTrainer {
  readonly info: BackendInfo;
  readonly model: Detector;
  readonly optimizer: AdamW;
  private readonly regWeight: number;

  constructor(cfg: DetectorConfig, train: DetectorTrainConfig = {}, backend: InitBackendOptions = {}) {
    this.info = initBackend(backend);
    this.model = new Detector(cfg);
    this.optimizer = new AdamW(this.model.store.trainable(), train);
    this.regWeight = train.regWeight ?? 1;
  }

  /** Completed steps. */
  get stepCount(): number {
    return this.optimizer.t;
  }

  /**
   * One training step on `n` normalised NHWC images with their boxes. BN running statistics are updated only when
   * the loss is finite. @throws NonFiniteLossError (state unchanged).
   */
  step(images: Float32Array, n: number, boxes: readonly (readonly TrainBox[])[], lr: number): DetectorStepResult {
    const S = this.model.cfg.imageSize;
    if (images.length !== n * S * S * 3 || boxes.length !== n)
      throw new RangeError(`step: expected ${n} images of ${S}x${S}x3 and ${n} box lists`);
    const g = this.model.geometry(n);
    const t = buildTargets(boxes, g);
    const stats = new RunningStatsCollector(0.1);
    const vars = this.model.store.trainable().map((e) => e.variable);
    const keep: tf.Tensor[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const x = tf.tensor4d(images, [n, S, S, 3]);
      const out = this.model.forward(x, true, stats);
      const tt = {
        heat: tf.tensor4d(t.heat, [n, g.h, g.w, g.classes]),
        pos: tf.tensor4d(t.pos, [n, g.h, g.w, g.classes]),
        reg: tf.tensor4d(t.reg, [n, g.h, g.w, 4]),
        regMask: tf.tensor4d(t.regMask, [n, g.h, g.w, 1]),
        numPos: t.numPos,
      };
      const l = detectionLoss(out.heat, out.reg, tt, this.regWeight);
      keep.push(tf.keep(l.focal), tf.keep(l.l1));
      return l.total;
    }, vars);
    const loss = value.dataSync()[0] as number;
    const [focalT, l1T] = keep as [tf.Tensor, tf.Tensor];
    const focal = focalT.dataSync()[0] as number;
    const l1 = l1T.dataSync()[0] as number;
    tf.dispose([value, ...keep]);
    if (!Number.isFinite(loss)) {
      tf.dispose(Object.values(grads));
      stats.discard();
      throw new NonFiniteLossError(this.stepCount, loss, 'detection loss');
    }
    stats.flush();
    const named: Record<string, tf.Tensor> = {};
    for (const e of this.model.store.trainable()) {
      const gr = grads[e.variable.name];
      if (gr) named[e.name] = gr;
    }
    this.optimizer.step(named, lr);
    tf.dispose(Object.values(grads));
    return { loss, focal, l1, step: this.stepCount };
  }

  /** Eval-mode head outputs: heatmap probabilities and regression, as host arrays. */
  predict(images: Float32Array, n: number): { heat: Float32Array; reg: Float32Array; geometry: HeadGeometry } {
    const S = this.model.cfg.imageSize;
    return tf.tidy(() => {
      const out = this.model.forward(tf.tensor4d(images, [n, S, S, 3]), false);
      const [, h, w, classes] = out.heat.shape;
      const geometry = { n, h, w, classes, stride: S / w };
      return {
        heat: tf.sigmoid(out.heat).dataSync() as Float32Array,
        reg: out.reg.dataSync() as Float32Array,
        geometry,
      };
    });
  }

  /** Predict and decode: detections per image. */
  detect(images: Float32Array, n: number, opts: Omit<DecodeOptions, 'imageSize'> = {}): DetectionBox[][] {
    const p = this.predict(images, n);
    return decodeDetections(p.heat, p.reg, p.geometry, { ...opts, imageSize: this.model.cfg.imageSize });
  }

  private items(): { name: string; shape: readonly number[]; variable: tf.Variable }[] {
    const opt = this.optimizer;
    return [
      ...this.model.store.entries().map((e) => ({ name: e.name, shape: e.shape, variable: e.variable })),
      ...opt.params.map((p, i) => ({ name: `adam.m.${p.name}`, shape: p.shape, variable: opt.m[i] as tf.Variable })),
      ...opt.params.map((p, i) => ({ name: `adam.v.${p.name}`, shape: p.shape, variable: opt.v[i] as tf.Variable })),
    ];
  }

  /** Full state (weights, BN statistics, Adam moments, step) as a 'detector' state container (docs/training-kit.md). */
  saveState(meta: unknown = null): Uint8Array {
    const tensors = this.items().map((it) => ({ ...it, read: () => it.variable.dataSync() as Float32Array }));
    return writeStateContainer({ kind: 'detector', step: this.stepCount, tensors, meta });
  }

  /** Restore a {@link saveState} blob (same config). Nothing changes unless every tensor matches. */
  loadState(bytes: Uint8Array): DetectorStateHeader {
    const state = readStateContainer(bytes, 'detector');
    const list = this.items();
    const values = takeTensors(state, list, 'exact', 'detector state');
    list.forEach((it, i) => assignValues(it.variable, values[i] as Float32Array));
    this.optimizer.t = state.header.step;
    return state.header;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
