/**
 * ml/coco-eval against pycocotools itself: every fixture is written to disk, evaluated by scripts/pycoco-eval.py in
 * the project venv (one interpreter run for all), and all 12 stats plus the full precision/recall arrays must agree.
 * A missing venv or pycocotools fails the tests; it never skips them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  COCO_IOU_THRESHOLDS,
  COCO_RECALL_THRESHOLDS,
  COCO_STAT_NAMES,
  cocoEvaluate,
  type CocoDetection,
  type CocoGroundTruth,
  type CocoGtAnnotation,
} from '../../../ml/coco-eval';
import { Rng } from '../../../ml/rng';

const ROOT = resolve(__dirname, '../../..');
const PYTHON = join(ROOT, '.seerflow', 'venv', 'bin', 'python');
const SCRIPT = join(ROOT, 'scripts', 'pycoco-eval.py');
const STAT_TOL = 1e-6;
const ARRAY_TOL = 1e-12;

interface PycocoOut {
  stats: number[];
  error?: string;
  precision?: number[];
  recall?: number[];
  counts?: number[];
  iouThrs?: number[];
  recThrs?: number[];
  imgIds?: number[];
  catIds?: number[];
}

/** Every fixture registered while the describe blocks are collected; beforeAll evaluates them all in one Python run. */
const fixtures: Array<{ gt: CocoGroundTruth; dets: readonly CocoDetection[] }> = [];
let references: PycocoOut[] = [];
let oracleError: Error | undefined;
let workDir = '';

function fixture(gt: CocoGroundTruth, dets: readonly CocoDetection[]): number {
  fixtures.push({ gt, dets });
  return fixtures.length - 1;
}

/** Runs scripts/pycoco-eval.py once over all fixtures (one interpreter start keeps the file fast on slow CI). */
function runPycocotools(): PycocoOut[] {
  const hint = 'install it with .seerflow/venv/bin/pip install -r scripts/requirements-test.txt';
  if (!existsSync(PYTHON)) throw new Error(`COCO-AP comparison NOT RUN: ${PYTHON} does not exist; ${hint}`);
  const paths = fixtures.flatMap(({ gt, dets }, i) => {
    const gtPath = join(workDir, `gt-${i}.json`);
    const dtPath = join(workDir, `dt-${i}.json`);
    writeFileSync(gtPath, JSON.stringify(gt));
    writeFileSync(dtPath, JSON.stringify(dets));
    return [gtPath, dtPath];
  });
  const run = spawnSync(PYTHON, [SCRIPT, '--full', ...paths], { encoding: 'utf8', maxBuffer: 1024 * 1024 * 1024 });
  if (run.status === 3) {
    throw new Error(`COCO-AP comparison NOT RUN: pycocotools is not importable in ${PYTHON}; ${hint}\n${run.stderr}`);
  }
  const lines = (run.stdout ?? '').split('\n').filter((l) => l.trim() !== '');
  if (run.error || (run.status !== 0 && run.status !== 1) || lines.length !== fixtures.length) {
    const why = run.error?.message ?? `exit ${String(run.status)}, ${lines.length}/${fixtures.length} results`;
    const stderr = (run.stderr ?? '').slice(-3000);
    throw new Error(`COCO-AP comparison NOT RUN: scripts/pycoco-eval.py failed (${why})\n${stderr}`);
  }
  return lines.map((l) => JSON.parse(l) as PycocoOut);
}

/** pycocotools' output for a fixture; throws (failing the test) when the oracle did not run or rejected it. */
function reference(id: number): PycocoOut {
  if (oracleError) throw oracleError;
  const ref = references[id];
  if (!ref) throw new Error(`no pycocotools result for fixture ${id}`);
  if (ref.error !== undefined) throw new Error(`pycocotools rejected fixture ${id}: ${ref.error}`);
  return ref;
}

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'coco-eval-'));
  try {
    references = runPycocotools();
  } catch (err) {
    oracleError = err as Error;
  }
}, 300_000);
afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

function expectStatsMatch(ours: readonly number[], ref: readonly number[]): void {
  expect(ours).toHaveLength(12);
  expect(ref).toHaveLength(12);
  const bad: string[] = [];
  ours.forEach((v, i) => {
    const r = ref[i] as number;
    if (!(Math.abs(v - r) <= STAT_TOL)) bad.push(`${COCO_STAT_NAMES[i]}: ours ${v} vs pycocotools ${r}`);
  });
  expect(bad).toEqual([]);
}

function maxAbsDiff(a: ArrayLike<number>, b: readonly number[]): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

/** Compares all 12 stats, the thresholds and ids, and the whole precision/recall arrays with pycocotools. */
function compareWithPycoco(id: number) {
  const { gt, dets } = fixtures[id] as { gt: CocoGroundTruth; dets: readonly CocoDetection[] };
  const ref = reference(id);
  const ours = cocoEvaluate(gt, dets, { iouType: 'bbox' });
  expectStatsMatch(ours.stats, ref.stats);
  expect(ours.params.iouThrs).toEqual(ref.iouThrs);
  expect(ours.params.recThrs).toEqual(ref.recThrs);
  expect(ours.params.imgIds).toEqual(ref.imgIds);
  expect(ours.params.catIds).toEqual(ref.catIds);
  expect(ours.counts).toEqual(ref.counts);
  expect(maxAbsDiff(ours.precision, ref.precision ?? [])).toBeLessThanOrEqual(ARRAY_TOL);
  expect(maxAbsDiff(ours.recall, ref.recall ?? [])).toBeLessThanOrEqual(ARRAY_TOL);
  return { ours, ref };
}

// ---------------------------------------------------------------------------------------------------------------
// Generated fixtures

interface GenOptions {
  images: number;
  categories: number;
  /** Quantise scores to 0.05 steps so many ties occur (within and across images). */
  tiedScores: boolean;
  /** Images that get well over 100 detections of one category. */
  heavyImages: number;
}

type Box = [number, number, number, number];

function generateFixture(seed: number, opt: GenOptions): { gt: CocoGroundTruth; dets: CocoDetection[] } {
  const rng = Rng.keyed(0xc0c0, seed);
  const size = 640;
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)] as T;
  const catIds = rng.shuffle(Array.from({ length: 90 }, (_, i) => i + 1)).slice(0, opt.categories);
  const imgIds: number[] = [];
  for (let i = 0, id = 0; i < opt.images; i++) imgIds.push((id += 1 + rng.int(50)));
  rng.shuffle(imgIds);

  const coord = (v: number, integral: boolean): number => (integral ? Math.round(v) : Math.round(v * 100) / 100);
  const randomBox = (area: number, integral: boolean): Box => {
    const aspect = Math.exp(rng.uniform(-0.7, 0.7));
    const w = Math.max(1, coord(Math.min(size, Math.sqrt(area * aspect)), integral));
    const h = Math.max(1, coord(Math.min(size, area / w), integral));
    return [coord(rng.uniform(0, size - w), integral), coord(rng.uniform(0, size - h), integral), w, h];
  };
  const areaFor = (bucket: number): number =>
    bucket === 0 ? rng.uniform(9, 1024) : bucket === 1 ? rng.uniform(1024, 9216) : rng.uniform(9216, 150000);
  const score = (): number => (opt.tiedScores ? Math.round(rng.next() * 20) / 20 : rng.next());
  const jitter = (b: Box, s: number, integral: boolean): Box => {
    const [x, y, w, h] = b;
    const nw = Math.max(1, coord(w * (1 + s * rng.normal()), integral));
    const nh = Math.max(1, coord(h * (1 + s * rng.normal()), integral));
    return [coord(x + s * w * rng.normal(), integral), coord(y + s * h * rng.normal(), integral), nw, nh];
  };

  const annotations: CocoGtAnnotation[] = [];
  const dets: CocoDetection[] = [];
  let annId = 1;
  for (const imageId of imgIds) {
    const integral = rng.next() < 0.5;
    const nGt = rng.int(9);
    for (let g = 0; g < nGt; g++) {
      const category = pick(catIds);
      let bbox: Box;
      if (rng.next() < 0.06) {
        // exactly on a range boundary: area bounds are inclusive
        const side = pick([32, 96]);
        bbox = [coord(rng.uniform(0, size - side), true), coord(rng.uniform(0, size - side), true), side, side];
      } else {
        bbox = randomBox(areaFor(rng.int(3)), integral);
      }
      const crowd = rng.next() < 0.07;
      // GT area is the mask area: often smaller than w*h, sometimes moving it into another area range.
      const area = rng.next() < 0.5 ? bbox[2] * bbox[3] : Math.round(bbox[2] * bbox[3] * rng.uniform(0.55, 1));
      // ids are non-zero and unique but not in array order
      const id = annId++ * 3 + rng.int(3);
      annotations.push({ id, image_id: imageId, category_id: category, bbox, area, iscrowd: crowd ? 1 : 0 });

      if (crowd) {
        // detections inside a crowd region match it (IoU = inter / det area) and are ignored, not FPs
        for (let c = rng.int(4); c > 0; c--) {
          const w = Math.max(1, coord(bbox[2] * rng.uniform(0.1, 0.5), integral));
          const h = Math.max(1, coord(bbox[3] * rng.uniform(0.1, 0.5), integral));
          const x = coord(bbox[0] + rng.uniform(0, bbox[2] - w), integral);
          const y = coord(bbox[1] + rng.uniform(0, bbox[3] - h), integral);
          dets.push({ image_id: imageId, category_id: category, bbox: [x, y, w, h], score: score() });
        }
        continue;
      }
      if (rng.next() < 0.15) continue; // missed
      const wrongClass = rng.next() < 0.1;
      const detCat = wrongClass ? pick(catIds) : category;
      const noise = rng.next() < 0.25 ? 0.3 : 0.08;
      dets.push({ image_id: imageId, category_id: detCat, bbox: jitter(bbox, noise, integral), score: score() });
      if (rng.next() < 0.15) {
        dets.push({ image_id: imageId, category_id: detCat, bbox: jitter(bbox, 0.15, integral), score: score() });
      }
    }
    for (let f = rng.int(4); f > 0; f--) {
      const bbox = randomBox(areaFor(rng.int(3)), integral);
      dets.push({ image_id: imageId, category_id: pick(catIds), bbox, score: score() });
    }
    if (rng.next() < 0.05) {
      // a category the ground truth does not list: pycocotools drops it
      dets.push({ image_id: imageId, category_id: 1000, bbox: randomBox(2000, integral), score: score() });
    }
  }
  for (let h = 0; h < opt.heavyImages; h++) {
    const imageId = imgIds[h] as number;
    const category = pick(catIds);
    const own = annotations.filter((a) => a.image_id === imageId && a.category_id === category && !a.iscrowd);
    for (let n = 100 + rng.int(40); n > 0; n--) {
      const near = own.length > 0 && rng.next() < 0.5;
      const bbox = near ? jitter(pick(own).bbox as Box, 0.1, true) : randomBox(areaFor(rng.int(3)), true);
      dets.push({ image_id: imageId, category_id: category, bbox, score: score() });
    }
  }
  rng.shuffle(annotations);
  rng.shuffle(dets);
  const categories = catIds.map((id) => ({ id, name: `class-${id}` }));
  return { gt: { images: imgIds.map((id) => ({ id, width: size, height: size })), annotations, categories }, dets };
}

function maxDetsPerImageCategory(dets: readonly CocoDetection[]): number {
  const counts = new Map<string, number>();
  for (const d of dets) {
    const key = `${d.image_id}/${d.category_id}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return Math.max(0, ...counts.values());
}

// ---------------------------------------------------------------------------------------------------------------

describe('cocoEvaluate parameters', () => {
  it('builds IoU and recall thresholds like numpy.linspace', () => {
    expect(COCO_IOU_THRESHOLDS).toHaveLength(10);
    expect(COCO_RECALL_THRESHOLDS).toHaveLength(101);
    // numpy's i*step + start gives 0.8999999999999999, not 0.9; 0.75 must be exact for AP75 to be found
    expect(COCO_IOU_THRESHOLDS[8]).toBe(0.8999999999999999);
    expect(COCO_IOU_THRESHOLDS[5]).toBe(0.75);
    expect(COCO_RECALL_THRESHOLDS[100]).toBe(1);
  });

  const gt: CocoGroundTruth = {
    images: [{ id: 1 }],
    categories: [{ id: 1 }],
    annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 }],
  };
  const onUnknownImage: CocoDetection[] = [{ image_id: 2, category_id: 1, bbox: [0, 0, 10, 10], score: 1 }];
  const unknownImage = fixture(gt, onUnknownImage);

  it('rejects what pycocotools rejects or would silently mis-handle', () => {
    expect(() => cocoEvaluate(gt, onUnknownImage, { iouType: 'bbox' })).toThrow(/image_id 2/);
    // pycocotools' loadRes refuses results on images outside the ground truth too
    expect(() => reference(unknownImage)).toThrow(/Results do not correspond to current coco set/);
    const dupIds = { ...gt, annotations: [...gt.annotations, ...gt.annotations] };
    expect(() => cocoEvaluate(dupIds, [], { iouType: 'bbox' })).toThrow(/duplicate/);
    expect(() => cocoEvaluate(gt, [], { iouType: 'segm' as 'bbox' })).toThrow(/iouType/);
  });
});

describe('cocoEvaluate vs pycocotools: reference fixture', () => {
  const ann = (id: number, image: number, cat: number, bbox: Box, area: number, crowd: number): CocoGtAnnotation => ({
    id,
    image_id: image,
    category_id: cat,
    bbox,
    area,
    iscrowd: crowd,
  });
  const det = (image: number, cat: number, bbox: Box, score: number): CocoDetection => ({
    image_id: image,
    category_id: cat,
    bbox,
    score,
  });
  const id = fixture(
    {
      images: [{ id: 1 }, { id: 2 }],
      categories: [
        { id: 1, name: 'one' },
        { id: 2, name: 'two' },
      ],
      annotations: [
        ann(1, 1, 1, [10, 10, 50, 50], 2500, 0),
        ann(2, 1, 1, [100, 100, 20, 20], 400, 0),
        ann(3, 1, 2, [50, 50, 100, 100], 10000, 0),
        ann(4, 2, 1, [0, 0, 40, 40], 1600, 0),
        ann(5, 2, 1, [120, 120, 60, 60], 3600, 1),
      ],
    },
    [
      det(1, 1, [12, 12, 50, 50], 0.9),
      det(1, 1, [100, 100, 20, 22], 0.8),
      det(1, 1, [150, 10, 30, 30], 0.7),
      det(1, 2, [55, 55, 100, 100], 0.6),
      det(2, 1, [0, 0, 40, 40], 0.95),
      det(2, 1, [125, 125, 50, 50], 0.85),
      det(2, 2, [10, 10, 10, 10], 0.3),
    ],
  );

  it('matches on the crowd / area-range / per-category-truncation / false-positive fixture', () => {
    const { ours, ref } = compareWithPycoco(id);
    // the per-category summary is the same mean taken over one category's slice of pycocotools' precision array
    const [T, R, K, A, M] = ref.counts as [number, number, number, number, number];
    const precision = ref.precision as number[];
    for (let k = 0; k < K; k++) {
      const vals: number[] = [];
      for (let t = 0; t < T; t++) {
        // area 'all' is index 0, maxDets 100 is index 2
        for (let r = 0; r < R; r++) vals.push(precision[(((t * R + r) * K + k) * A + 0) * M + 2] as number);
      }
      const present = vals.filter((v) => v > -1);
      const expected = present.length ? present.reduce((s, v) => s + v, 0) / present.length : -1;
      expect(ours.perCategory[k]?.ap).toBeCloseTo(expected, 12);
    }
    expect(ours.perCategory.map((c) => c.numGt)).toEqual([3, 1]);
  });
});

describe('cocoEvaluate vs pycocotools: seeded generated fixtures', () => {
  const cases: Array<[number, GenOptions]> = [
    [1, { images: 60, categories: 3, tiedScores: false, heavyImages: 1 }],
    [2, { images: 60, categories: 4, tiedScores: true, heavyImages: 2 }],
    [3, { images: 80, categories: 5, tiedScores: true, heavyImages: 1 }],
    [4, { images: 40, categories: 5, tiedScores: false, heavyImages: 3 }],
    [5, { images: 100, categories: 3, tiedScores: true, heavyImages: 0 }],
    [6, { images: 50, categories: 4, tiedScores: false, heavyImages: 2 }],
  ];
  const table = cases.map(([seed, opt]) => {
    const { gt, dets } = generateFixture(seed, opt);
    return [seed, opt, fixture(gt, dets)] as const;
  });
  it.each(table)('seed %i matches all 12 stats and the precision/recall arrays', (_seed, opt, id) => {
    const { gt, dets } = fixtures[id] as { gt: CocoGroundTruth; dets: readonly CocoDetection[] };
    if (opt.heavyImages > 0) expect(maxDetsPerImageCategory(dets)).toBeGreaterThan(100);
    expect(gt.annotations.some((a) => a.iscrowd)).toBe(true);
    const { ours } = compareWithPycoco(id);
    // a fixture only tests something if every stat is a real, non-trivial value
    for (const [i, v] of ours.stats.entries()) {
      expect([COCO_STAT_NAMES[i], v > 0 && v < 1]).toEqual([COCO_STAT_NAMES[i], true]);
    }
  });
});

describe('cocoEvaluate vs pycocotools: edge cases', () => {
  const base = (): CocoGroundTruth => ({
    images: [{ id: 7 }, { id: 3 }, { id: 5 }],
    categories: [{ id: 4 }, { id: 2 }, { id: 9 }],
    annotations: [
      { id: 11, image_id: 7, category_id: 4, bbox: [10, 10, 40, 40], area: 1500, iscrowd: 0 },
      { id: 12, image_id: 7, category_id: 4, bbox: [200, 200, 120, 100], area: 12000, iscrowd: 0 },
      { id: 13, image_id: 3, category_id: 4, bbox: [0, 0, 20, 20], area: 400, iscrowd: 0 },
      { id: 14, image_id: 3, category_id: 2, bbox: [50, 50, 30, 30], area: 900, iscrowd: 0 },
      { id: 15, image_id: 5, category_id: 2, bbox: [5, 5, 100, 100], area: 10000, iscrowd: 0 },
    ],
  });

  const noDets = fixture(base(), []);
  it('no detections at all', () => {
    const { ours } = compareWithPycoco(noDets);
    expect(ours.stats.every((v) => v === 0)).toBe(true);
  });

  // category 9 has no GT, category 2 has GT but no detections, category 77 is not listed
  const missingCats = fixture(base(), [
    { image_id: 7, category_id: 4, bbox: [12, 11, 40, 38], score: 0.9 },
    { image_id: 3, category_id: 4, bbox: [0, 0, 20, 21], score: 0.4 },
    { image_id: 7, category_id: 9, bbox: [10, 10, 40, 40], score: 0.99 },
    { image_id: 5, category_id: 9, bbox: [5, 5, 100, 100], score: 0.8 },
    { image_id: 5, category_id: 77, bbox: [5, 5, 100, 100], score: 0.8 },
  ]);
  it('a category with GT but no detections, detections for a category without GT, and an unlisted category', () => {
    const { ours } = compareWithPycoco(missingCats);
    expect(ours.perCategory.find((c) => c.categoryId === 9)?.ap).toBe(-1);
    expect(ours.perCategory.find((c) => c.categoryId === 2)?.ap).toBe(0);
  });

  const extraImageAndCat = fixture(
    { ...base(), images: [...base().images, { id: 100 }], categories: [...base().categories, { id: 50 }] },
    [
      { image_id: 100, category_id: 4, bbox: [1, 1, 30, 30], score: 0.95 },
      { image_id: 7, category_id: 4, bbox: [200, 200, 120, 100], score: 0.5 },
      { image_id: 5, category_id: 2, bbox: [6, 5, 99, 100], score: 0.5 },
    ],
  );
  it('a category listed with neither GT nor detections, and an image with only false positives', () => {
    compareWithPycoco(extraImageAndCat);
  });

  const crowdDets: CocoDetection[] = [
    { image_id: 7, category_id: 4, bbox: [15, 15, 10, 10], score: 0.9 },
    { image_id: 7, category_id: 4, bbox: [20, 20, 10, 10], score: 0.8 },
  ];
  const allCrowd = base().annotations.map((a) => ({ ...a, iscrowd: 1 }));
  const onlyCrowd = fixture({ ...base(), annotations: allCrowd }, crowdDets);
  const noGt = fixture({ ...base(), annotations: [] }, crowdDets);
  it('only crowd ground truth (nothing left to average) and no ground truth at all give -1', () => {
    expect(compareWithPycoco(onlyCrowd).ours.stats.every((v) => v === -1)).toBe(true);
    expect(compareWithPycoco(noGt).ours.stats.every((v) => v === -1)).toBe(true);
  });

  const ties = fixture(
    {
      images: [{ id: 1 }, { id: 2 }],
      categories: [{ id: 1 }],
      annotations: [
        { id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 32, 32], area: 1024, iscrowd: 0 },
        { id: 2, image_id: 1, category_id: 1, bbox: [100, 100, 96, 96], area: 9216, iscrowd: 0 },
        // two GTs the same detection overlaps equally: the later one wins the tie
        { id: 3, image_id: 2, category_id: 1, bbox: [0, 0, 20, 20], area: 400, iscrowd: 0 },
        { id: 4, image_id: 2, category_id: 1, bbox: [10, 0, 20, 20], area: 400, iscrowd: 0 },
        { id: 5, image_id: 2, category_id: 1, bbox: [300, 300, 40, 40], area: 1000, iscrowd: 0 },
      ],
    },
    [
      { image_id: 1, category_id: 1, bbox: [0, 0, 32, 16], score: 0.5 }, // IoU 0.5 exactly
      { image_id: 1, category_id: 1, bbox: [100, 100, 96, 72], score: 0.7 }, // IoU 0.75 exactly
      { image_id: 2, category_id: 1, bbox: [5, 0, 20, 20], score: 0.7 },
      { image_id: 2, category_id: 1, bbox: [10, 0, 20, 20], score: 0.5 },
      { image_id: 2, category_id: 1, bbox: [300, 300, 40, 20], score: 0.5 },
    ],
  );
  it('IoU exactly at thresholds, equal-IoU ties between GTs, boundary areas and score ties across images', () => {
    compareWithPycoco(ties);
  });

  const idZero = fixture(
    { ...base(), annotations: base().annotations.map((a) => (a.id === 13 ? { ...a, id: 0 } : a)) },
    [
      { image_id: 3, category_id: 4, bbox: [0, 0, 20, 20], score: 0.9 },
      { image_id: 7, category_id: 4, bbox: [10, 10, 40, 40], score: 0.8 },
    ],
  );
  it('a ground truth with id 0 (pycocotools then counts its match as a false positive)', () => {
    compareWithPycoco(idZero);
  });

  const unlisted = fixture(
    {
      images: [...base().images, { id: 3 }],
      categories: [...base().categories, { id: 2 }],
      annotations: [
        ...base().annotations,
        { id: 40, image_id: 999, category_id: 4, bbox: [0, 0, 50, 50], area: 2500, iscrowd: 0 },
        { id: 41, image_id: 7, category_id: 31, bbox: [0, 0, 50, 50], area: 2500, iscrowd: 0 },
      ],
    },
    [{ image_id: 7, category_id: 4, bbox: [10, 10, 40, 40], score: 0.8 }],
  );
  it('ignores GT on unlisted images or categories and duplicate image/category entries', () => {
    compareWithPycoco(unlisted);
  });
});
