/**
 * COCO detection metrics (AP / AR) with the semantics of pycocotools' `COCOeval` for `iouType='bbox'`, so numbers
 * reported here can be compared with published COCO results. Every ordering, tie-break and floating-point formula
 * follows pycocotools; comments mark the places where that choice is not the obvious one. Pure: no I/O.
 */

/** One COCO image record; only `id` is used. */
export interface CocoImage {
  id: number;
  [key: string]: unknown;
}

/** One COCO category record; only `id` (and `name`, for reports) is used. */
export interface CocoCategory {
  id: number;
  name?: string;
  [key: string]: unknown;
}

/** A ground-truth annotation. `area` is the instance (mask) area, used for the area ranges even for box AP. */
export interface CocoGtAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** [x, y, width, height] */
  bbox: readonly number[];
  area: number;
  /** Truthy marks a crowd region: ignored, matchable repeatedly, IoU measured against the detection's area. */
  iscrowd?: number | boolean;
  [key: string]: unknown;
}

/** A COCO ground-truth dataset (the parts evaluation needs). */
export interface CocoGroundTruth {
  images: readonly CocoImage[];
  annotations: readonly CocoGtAnnotation[];
  categories: readonly CocoCategory[];
}

/** One entry of a COCO results array. */
export interface CocoDetection {
  image_id: number;
  category_id: number;
  /** [x, y, width, height] */
  bbox: readonly number[];
  score: number;
  [key: string]: unknown;
}

/** Evaluation options; only box evaluation is implemented. */
export interface CocoEvalOptions {
  iouType: 'bbox';
}

/** The fixed COCO detection parameters, as pycocotools builds them. */
export interface CocoEvalParams {
  /** 0.50:0.05:0.95, built like numpy's linspace so the values match bit for bit. */
  iouThrs: number[];
  /** 0:0.01:1 (101 points), numpy linspace. */
  recThrs: number[];
  /** [1, 10, 100]: detections kept per image and per category. */
  maxDets: number[];
  /** Inclusive [lo, hi] area bounds for all / small / medium / large. */
  areaRng: Array<[number, number]>;
  areaRngLbl: string[];
  /** Sorted unique image ids of the ground truth. */
  imgIds: number[];
  /** Sorted unique category ids of the ground truth. */
  catIds: number[];
}

/** Per-category summary (area `all`), -1 where the category has no non-ignored ground truth. */
export interface CocoCategoryResult {
  categoryId: number;
  name?: string;
  /** AP@[.5:.95], maxDets 100 */
  ap: number;
  ap50: number;
  ap75: number;
  /** AR@100 averaged over IoU thresholds */
  ar100: number;
  /** Non-crowd ground truths of the category (all areas). */
  numGt: number;
}

/** Result of {@link cocoEvaluate}. */
export interface CocoEvalResult {
  /** The 12 summary numbers in pycocotools order; see {@link COCO_STAT_NAMES}. -1 where nothing was averaged. */
  stats: number[];
  params: CocoEvalParams;
  /** [T, R, K, A, M] = iouThrs × recThrs × catIds × areaRng × maxDets. */
  counts: [number, number, number, number, number];
  /** Interpolated precision, C order over `counts` (same layout as pycocotools' `eval['precision']`); -1 = absent. */
  precision: Float64Array;
  /** Final recall, C order over [T, K, A, M] (pycocotools' `eval['recall']`); -1 = absent. */
  recall: Float64Array;
  perCategory: CocoCategoryResult[];
}

/** Names of the 12 entries of `stats`, in order. */
export const COCO_STAT_NAMES = [
  'AP',
  'AP50',
  'AP75',
  'APs',
  'APm',
  'APl',
  'AR1',
  'AR10',
  'AR100',
  'ARs',
  'ARm',
  'ARl',
] as const;

/** numpy.linspace(start, stop, num) with endpoint: i*step + start, last value forced to stop. */
function numpyLinspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(i * step + start);
  out[num - 1] = stop;
  return out;
}

/** IoU thresholds .50:.05:.95 exactly as pycocotools builds them. */
export const COCO_IOU_THRESHOLDS: readonly number[] = Object.freeze(numpyLinspace(0.5, 0.95, 10));
/** Recall thresholds 0:.01:1 exactly as pycocotools builds them. */
export const COCO_RECALL_THRESHOLDS: readonly number[] = Object.freeze(numpyLinspace(0, 1, 101));
/** Detections kept per image and per category for AR@1, AR@10 and everything at 100. */
export const COCO_MAX_DETS: readonly number[] = Object.freeze([1, 10, 100]);
/** Inclusive area bounds for all / small / medium / large (GT `area` field, detection w*h). */
export const COCO_AREA_RANGES: ReadonlyArray<readonly [number, number]> = Object.freeze([
  [0, 1e10],
  [0, 32 ** 2],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e10],
] as const);
/** Labels of {@link COCO_AREA_RANGES}, in the same order. */
export const COCO_AREA_LABELS: readonly string[] = Object.freeze(['all', 'small', 'medium', 'large']);

/** numpy's pairwise summation for a contiguous float64 reduce, so means match `np.mean` to the last bit. */
function pairwiseSum(a: ArrayLike<number>, start: number, n: number): number {
  if (n < 8) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[start + i] as number;
    return s;
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let j = 0; j < 8; j++) r[j] = a[start + j] as number;
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) (r[j] as number) += a[start + i + j] as number;
    }
    const [r0, r1, r2, r3, r4, r5, r6, r7] = r as [number, number, number, number, number, number, number, number];
    // Same association as numpy: ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)).
    let s = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) s += a[start + i] as number;
    return s;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/** Mean of the entries > -1, or -1 when there are none (pycocotools' `_summarize`). */
function meanPresent(values: number[]): number {
  const kept = values.filter((v) => v > -1);
  if (kept.length === 0) return -1;
  return (0 + pairwiseSum(kept, 0, kept.length)) / kept.length;
}

interface Gt {
  id: number;
  box: [number, number, number, number];
  area: number;
  crowd: boolean;
}

interface Dt {
  box: [number, number, number, number];
  area: number;
  score: number;
}

/** Per (category, area range, image) matching outcome, for detections in score order (top 100). */
interface EvalImg {
  scores: number[];
  /** [t * D + d]: the det counts as matched (pycocotools tests the matched GT id for non-zero). */
  matched: Uint8Array;
  /** [t * D + d]: matched to an ignored GT, or unmatched and outside the area range. */
  ignored: Uint8Array;
  /** Ground truths not ignored for this area range. */
  npig: number;
}

function toBox(bbox: readonly number[], what: string): [number, number, number, number] {
  if (bbox.length !== 4 || !bbox.every((v) => Number.isFinite(v))) {
    throw new RangeError(`${what}: bbox must be 4 finite numbers [x, y, w, h], got ${JSON.stringify(bbox)}`);
  }
  return [bbox[0] as number, bbox[1] as number, bbox[2] as number, bbox[3] as number];
}

/** Box IoU as pycocotools' C `bbIou`: box area from w*h; a crowd GT divides by the detection's area only. */
function boxIou(d: readonly number[], g: readonly number[], crowd: boolean): number {
  const [dx, dy, dw, dh] = d as [number, number, number, number];
  const [gx, gy, gw, gh] = g as [number, number, number, number];
  const w = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
  if (w <= 0) return 0;
  const h = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
  if (h <= 0) return 0;
  const inter = w * h;
  const da = dw * dh;
  const union = crowd ? da : da + gw * gh - inter;
  return inter / union;
}

/** Stable order of indices by descending score (numpy mergesort of -score). */
function stableOrderByScore(scores: readonly number[]): number[] {
  const idx = scores.map((_, i) => i);
  idx.sort((a, b) => {
    const sa = scores[a] as number;
    const sb = scores[b] as number;
    return sa > sb ? -1 : sa < sb ? 1 : 0;
  });
  return idx;
}

function uniqueSorted(ids: Iterable<number>, what: string): number[] {
  const set = new Set<number>();
  for (const id of ids) {
    if (!Number.isFinite(id)) throw new RangeError(`${what} id must be a finite number, got ${String(id)}`);
    set.add(id);
  }
  return [...set].sort((a, b) => a - b);
}

function evaluateImg(
  gts: readonly Gt[],
  dts: readonly Dt[],
  ious: readonly Float64Array[],
  aRng: readonly [number, number],
  iouThrs: readonly number[],
): EvalImg {
  const [lo, hi] = aRng;
  const ignoreOf = (g: Gt): boolean => g.crowd || g.area < lo || g.area > hi;
  // Non-ignored GTs first, original order otherwise (stable).
  const order = gts.map((_, i) => i);
  order.sort((a, b) => Number(ignoreOf(gts[a] as Gt)) - Number(ignoreOf(gts[b] as Gt)));
  const sorted = order.map((i) => gts[i] as Gt);
  const gIg = sorted.map(ignoreOf);
  const T = iouThrs.length;
  const D = dts.length;
  const G = sorted.length;
  const matched = new Uint8Array(T * D);
  const ignored = new Uint8Array(T * D);
  // pycocotools skips matching entirely when either side is empty (its IoU list is then []).
  if (D > 0 && G > 0) {
    const gtTaken = new Uint8Array(G);
    for (let t = 0; t < T; t++) {
      gtTaken.fill(0);
      for (let d = 0; d < D; d++) {
        const row = ious[d] as Float64Array;
        let best = Math.min(iouThrs[t] as number, 1 - 1e-10);
        let m = -1;
        for (let gi = 0; gi < G; gi++) {
          const g = sorted[gi] as Gt;
          if (gtTaken[gi] && !g.crowd) continue;
          // Already holding a real GT: stop where the ignored ones begin.
          if (m > -1 && !gIg[m] && gIg[gi]) break;
          const v = row[order[gi] as number] as number;
          if (v < best) continue;
          // >= above: on equal IoU the later GT wins.
          best = v;
          m = gi;
        }
        if (m === -1) continue;
        ignored[t * D + d] = gIg[m] ? 1 : 0;
        // pycocotools records the GT id and tests it for non-zero, so a GT with id 0 reads as "unmatched".
        matched[t * D + d] = (sorted[m] as Gt).id !== 0 ? 1 : 0;
        gtTaken[m] = 1;
      }
    }
  }
  for (let d = 0; d < D; d++) {
    const a = (dts[d] as Dt).area;
    if (a < lo || a > hi) {
      for (let t = 0; t < T; t++) if (!matched[t * D + d]) ignored[t * D + d] = 1;
    }
  }
  let npig = 0;
  for (const ig of gIg) if (!ig) npig++;
  return { scores: dts.map((d) => d.score), matched, ignored, npig };
}

/**
 * Evaluate COCO box detections exactly as pycocotools' `COCOeval(gt, dt, 'bbox')` followed by `evaluate()`,
 * `accumulate()` and `summarize()`.
 *
 * Images and categories are those listed in `groundTruth` (sorted, de-duplicated). Detections of categories not
 * listed are dropped; a detection on an image that is not listed throws, as pycocotools' `loadRes` does. Ground-truth
 * annotation ids must be unique. Detection area is w*h; ground-truth area is the `area` field.
 *
 * @param groundTruth COCO dataset with `images`, `annotations` and `categories`.
 * @param detections COCO results array `[{image_id, category_id, bbox, score}]`; may be empty.
 * @param options `{iouType: 'bbox'}`.
 * @returns the 12 summary stats plus the accumulated precision/recall arrays and a per-category summary.
 */
export function cocoEvaluate(
  groundTruth: CocoGroundTruth,
  detections: readonly CocoDetection[],
  options: CocoEvalOptions = { iouType: 'bbox' },
): CocoEvalResult {
  if (options.iouType !== 'bbox') throw new RangeError(`unsupported iouType ${String(options.iouType)}; only 'bbox'`);
  const iouThrs = [...COCO_IOU_THRESHOLDS];
  const recThrs = [...COCO_RECALL_THRESHOLDS];
  const maxDets = [...COCO_MAX_DETS];
  const areaRng = COCO_AREA_RANGES.map((r) => [r[0], r[1]] as [number, number]);
  const imgIds = uniqueSorted(
    groundTruth.images.map((i) => i.id),
    'image',
  );
  const catIds = uniqueSorted(
    groundTruth.categories.map((c) => c.id),
    'category',
  );
  const imgIndex = new Map(imgIds.map((id, i) => [id, i]));
  const catIndex = new Map(catIds.map((id, k) => [id, k]));
  const I = imgIds.length;
  const K = catIds.length;
  const T = iouThrs.length;
  const R = recThrs.length;
  const A = areaRng.length;
  const M = maxDets.length;
  const maxDetTop = maxDets[M - 1] as number;

  const seenGtIds = new Set<number>();
  const gtsBy: Gt[][] = Array.from({ length: K * I }, () => []);
  const numGt = new Array<number>(K).fill(0);
  for (const ann of groundTruth.annotations) {
    // pycocotools keeps annotations in a dict by id; duplicates would silently alias each other.
    if (seenGtIds.has(ann.id)) throw new RangeError(`duplicate ground-truth annotation id ${ann.id}`);
    seenGtIds.add(ann.id);
    const i = imgIndex.get(ann.image_id);
    const k = catIndex.get(ann.category_id);
    if (i === undefined || k === undefined) continue;
    if (!Number.isFinite(ann.area)) throw new RangeError(`annotation ${ann.id}: area must be a finite number`);
    const crowd = Boolean(ann.iscrowd);
    const box = toBox(ann.bbox, `annotation ${ann.id}`);
    (gtsBy[k * I + i] as Gt[]).push({ id: ann.id, box, area: ann.area, crowd });
    if (!crowd) (numGt[k] as number)++;
  }

  const dtsBy: Dt[][] = Array.from({ length: K * I }, () => []);
  detections.forEach((det, n) => {
    const i = imgIndex.get(det.image_id);
    if (i === undefined) {
      throw new RangeError(`detection ${n}: image_id ${det.image_id} is not in the ground truth's images`);
    }
    if (Number.isNaN(det.score)) throw new RangeError(`detection ${n}: score is NaN`);
    const k = catIndex.get(det.category_id);
    if (k === undefined) return;
    const box = toBox(det.bbox, `detection ${n}`);
    (dtsBy[k * I + i] as Dt[]).push({ box, area: box[2] * box[3], score: det.score });
  });

  // evalImgs[(k * A + a) * I + i], null where the (image, category) has neither GT nor detections.
  const evalImgs: Array<EvalImg | null> = new Array<EvalImg | null>(K * A * I).fill(null);
  for (let k = 0; k < K; k++) {
    for (let i = 0; i < I; i++) {
      const gts = gtsBy[k * I + i] as Gt[];
      const allDts = dtsBy[k * I + i] as Dt[];
      if (gts.length === 0 && allDts.length === 0) continue;
      const dts = stableOrderByScore(allDts.map((d) => d.score))
        .slice(0, maxDetTop)
        .map((j) => allDts[j] as Dt);
      const ious = dts.map((d) => Float64Array.from(gts, (g) => boxIou(d.box, g.box, g.crowd)));
      for (let a = 0; a < A; a++) {
        evalImgs[(k * A + a) * I + i] = evaluateImg(gts, dts, ious, areaRng[a] as [number, number], iouThrs);
      }
    }
  }

  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const pIdx = (t: number, r: number, k: number, a: number, m: number): number =>
    (((t * R + r) * K + k) * A + a) * M + m;
  const rIdx = (t: number, k: number, a: number, m: number): number => ((t * K + k) * A + a) * M + m;

  for (let k = 0; k < K; k++) {
    for (let a = 0; a < A; a++) {
      const E: EvalImg[] = [];
      for (let i = 0; i < I; i++) {
        const e = evalImgs[(k * A + a) * I + i];
        if (e) E.push(e);
      }
      if (E.length === 0) continue;
      let npig = 0;
      for (const e of E) npig += e.npig;
      if (npig === 0) continue;
      for (let m = 0; m < M; m++) {
        const maxDet = maxDets[m] as number;
        // Concatenate each image's top-maxDet detections in image order, then stable-sort by score.
        const scores: number[] = [];
        const src: Array<[EvalImg, number]> = [];
        for (const e of E) {
          const n = Math.min(maxDet, e.scores.length);
          for (let d = 0; d < n; d++) {
            scores.push(e.scores[d] as number);
            src.push([e, d]);
          }
        }
        const order = stableOrderByScore(scores);
        const nd = order.length;
        const rc = new Float64Array(nd);
        const pr = new Float64Array(nd);
        for (let t = 0; t < T; t++) {
          let tp = 0;
          let fp = 0;
          for (let j = 0; j < nd; j++) {
            const [e, d] = src[order[j] as number] as [EvalImg, number];
            const D = e.scores.length;
            if (!e.ignored[t * D + d]) {
              if (e.matched[t * D + d]) tp++;
              else fp++;
            }
            rc[j] = tp / npig;
            pr[j] = tp / (fp + tp + Number.EPSILON);
          }
          recall[rIdx(t, k, a, m)] = nd ? (rc[nd - 1] as number) : 0;
          for (let j = nd - 1; j > 0; j--) {
            if ((pr[j] as number) > (pr[j - 1] as number)) pr[j - 1] = pr[j] as number;
          }
          // searchsorted(rc, recThr, 'left'); past the end the precision stays 0.
          let j = 0;
          for (let r = 0; r < R; r++) {
            const thr = recThrs[r] as number;
            while (j < nd && (rc[j] as number) < thr) j++;
            precision[pIdx(t, r, k, a, m)] = j < nd ? (pr[j] as number) : 0;
          }
        }
      }
    }
  }

  const mOf = (n: number): number => maxDets.indexOf(n);
  // Thresholds are picked by exact float equality, as pycocotools' np.where(iouThr == iouThrs) does.
  const tOf = (thr: number | undefined): number[] =>
    thr === undefined ? iouThrs.map((_, t) => t) : iouThrs.flatMap((v, t) => (v === thr ? [t] : []));
  const summarize = (ap: boolean, thr?: number, area = 'all', maxDet = 100, onlyK?: number): number => {
    const a = COCO_AREA_LABELS.indexOf(area);
    const m = mOf(maxDet);
    const ks = onlyK === undefined ? catIds.map((_, k) => k) : [onlyK];
    const vals: number[] = [];
    // Same C order as numpy's boolean-mask flattening: t, then r, then k.
    for (const t of tOf(thr)) {
      if (ap) {
        for (let r = 0; r < R; r++) for (const k of ks) vals.push(precision[pIdx(t, r, k, a, m)] as number);
      } else {
        for (const k of ks) vals.push(recall[rIdx(t, k, a, m)] as number);
      }
    }
    return meanPresent(vals);
  };
  const [m1, m10, m100] = maxDets as [number, number, number];
  const stats = [
    summarize(true),
    summarize(true, 0.5, 'all', m100),
    summarize(true, 0.75, 'all', m100),
    summarize(true, undefined, 'small', m100),
    summarize(true, undefined, 'medium', m100),
    summarize(true, undefined, 'large', m100),
    summarize(false, undefined, 'all', m1),
    summarize(false, undefined, 'all', m10),
    summarize(false, undefined, 'all', m100),
    summarize(false, undefined, 'small', m100),
    summarize(false, undefined, 'medium', m100),
    summarize(false, undefined, 'large', m100),
  ];

  const names = new Map(groundTruth.categories.map((c) => [c.id, c.name]));
  const perCategory: CocoCategoryResult[] = catIds.map((categoryId, k) => {
    const row: CocoCategoryResult = {
      categoryId,
      ap: summarize(true, undefined, 'all', m100, k),
      ap50: summarize(true, 0.5, 'all', m100, k),
      ap75: summarize(true, 0.75, 'all', m100, k),
      ar100: summarize(false, undefined, 'all', m100, k),
      numGt: numGt[k] as number,
    };
    const name = names.get(categoryId);
    if (name !== undefined) row.name = name;
    return row;
  });

  return {
    stats,
    params: {
      iouThrs,
      recThrs,
      maxDets,
      areaRng,
      areaRngLbl: [...COCO_AREA_LABELS],
      imgIds,
      catIds,
    },
    counts: [T, R, K, A, M],
    precision,
    recall,
    perCategory,
  };
}
