/**
 * The order in which a training process visits the canonical dataset: the definition every engine implements
 * (TypeScript here, PyTorch in torch-engine/; docs/data-order.md states it step by step, and a golden fixture
 * keeps the two equal). Pure: counts in, sample indices out; reading the parts is the loader's business.
 *
 * Per epoch: the tar parts are visited in a seeded permutation and read sequentially (each part once, start to
 * end), the resulting stream is cut into one contiguous slice per rank, and each slice is shuffled within
 * windows of `window` consecutive samples. So a rank reads a disjoint set of parts (plus at most one part at each
 * slice boundary that it shares with a neighbour), memory is bounded by the window, and any position can be
 * resumed from `{epoch, position}` alone.
 */
import { permutation } from './rng';

/** Name of this definition; recorded with checkpoints so a loader with another definition refuses to resume. */
export const DATA_ORDER_VERSION = 'seerflow-order-v1';

/** Domain-separation tags of the two seeded permutations (so they never share a stream). */
const PART_TAG = 0x70617274; // 'part'
const WINDOW_TAG = 0x77696e64; // 'wind'

export interface DataOrderOptions {
  /** Samples in each tar part, in dataset-index order. */
  partCounts: readonly number[];
  seed: number;
  /** Processes training together, and this one's rank in [0, world). */
  world: number;
  rank: number;
  /** Samples per step on each rank (the global batch is `batchSize * world`). */
  batchSize: number;
  /** Shuffle window in samples (memory bound of the loader: about two windows of encoded images). */
  window: number;
}

/** Where one rank's epoch reads. */
export interface RankEpochPlan {
  epoch: number;
  /** Stream positions [sliceStart, sliceStart + sliceLength) of the epoch's part stream belong to this rank. */
  sliceStart: number;
  sliceLength: number;
  /** Steps every rank takes this epoch: floor(sliceLength / batchSize). */
  steps: number;
  /** Positions of the slice that form batches (steps * batchSize); the rest is dropped this epoch. */
  usable: number;
}

/** A contiguous run of one part that a rank reads: members [first, first + count) of part `part`. */
export interface PartRead {
  part: number;
  first: number;
  count: number;
  /** Stream position of the run's first member. */
  streamStart: number;
}

function checkOptions(o: DataOrderOptions): void {
  const int = (v: number, min: number) => Number.isInteger(v) && v >= min;
  if (!int(o.world, 1) || !int(o.rank, 0) || o.rank >= o.world) throw new RangeError(`bad rank ${o.rank}/${o.world}`);
  if (!int(o.batchSize, 1)) throw new RangeError(`bad batchSize ${o.batchSize}`);
  if (!int(o.window, 1)) throw new RangeError(`bad window ${o.window}`);
  if (!int(o.seed, 0)) throw new RangeError(`bad seed ${o.seed}`);
  for (const c of o.partCounts) if (!int(c, 0)) throw new RangeError(`bad part count ${c}`);
}

/**
 * One epoch of one rank: which stream positions it owns, which part runs it reads, and the dataset index at each
 * of its positions. Build it once per epoch (O(parts + window) memory; positions are computed on demand).
 */
export class RankEpochOrder {
  readonly plan: RankEpochPlan;
  /** The epoch's part order (a permutation of part numbers). */
  readonly partOrder: Uint32Array;
  private readonly partStart: Float64Array; // first global sample index of each part (dataset order)
  private readonly streamPartStart: Float64Array; // first stream position of each part in `partOrder`
  private windowCache: { t: number; perm: Uint32Array } | undefined;

  constructor(
    private readonly o: DataOrderOptions,
    readonly epoch: number,
  ) {
    checkOptions(o);
    const n = o.partCounts.length;
    this.partStart = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      this.partStart[i] = total;
      total += o.partCounts[i] as number;
    }
    this.partOrder = permutation(n, o.seed, epoch, PART_TAG);
    this.streamPartStart = new Float64Array(n + 1);
    let q = 0;
    for (let k = 0; k < n; k++) {
      this.streamPartStart[k] = q;
      q += o.partCounts[this.partOrder[k] as number] as number;
    }
    this.streamPartStart[n] = q;
    const sliceLength = Math.floor(total / o.world);
    const steps = Math.floor(sliceLength / o.batchSize);
    this.plan = { epoch, sliceStart: o.rank * sliceLength, sliceLength, steps, usable: steps * o.batchSize };
  }

  /**
   * The part runs a reader needs to visit slice positions [from, usable), in stream order: every window from the
   * one holding `from` through the one holding the last usable position (windows are read whole).
   */
  reads(from = 0): PartRead[] {
    const { sliceStart, usable } = this.plan;
    if (from >= usable) return [];
    const lo = sliceStart + this.windowOf(from).start;
    const hi = sliceStart + this.windowOf(usable - 1).end;
    const out: PartRead[] = [];
    for (let k = this.streamPartOf(lo); k < this.partOrder.length; k++) {
      const s = this.streamPartStart[k] as number;
      const e = this.streamPartStart[k + 1] as number;
      if (s >= hi) break;
      if (e <= lo) continue;
      const a = Math.max(s, lo);
      const b = Math.min(e, hi);
      if (b > a) out.push({ part: this.partOrder[k] as number, first: a - s, count: b - a, streamStart: a });
    }
    return out;
  }

  /** Dataset index of the sample at stream position `q`. */
  indexAtStream(q: number): number {
    const k = this.streamPartOf(q);
    return (this.partStart[this.partOrder[k] as number] as number) + (q - (this.streamPartStart[k] as number));
  }

  /**
   * Stream position of the sample this rank visits at slice position `p` (0 <= p < usable): window
   * t = floor(p / window) is permuted by `permutation(len_t, seed, epoch, WINDOW_TAG, rank, t)`.
   */
  streamAt(p: number): number {
    const { window } = this.o;
    const { sliceStart, sliceLength, usable } = this.plan;
    if (!Number.isInteger(p) || p < 0 || p >= usable) throw new RangeError(`position ${p} outside [0, ${usable})`);
    const t = Math.floor(p / window);
    if (this.windowCache?.t !== t) {
      const len = Math.min(window, sliceLength - t * window);
      this.windowCache = { t, perm: permutation(len, this.o.seed, this.epoch, WINDOW_TAG, this.o.rank, t) };
    }
    return sliceStart + t * window + (this.windowCache.perm[p - t * window] as number);
  }

  /** Dataset index of the sample this rank visits at slice position `p`. */
  indexAt(p: number): number {
    return this.indexAtStream(this.streamAt(p));
  }

  /** Window of slice position `p` and the slice positions it spans. */
  windowOf(p: number): { t: number; start: number; end: number } {
    const t = Math.floor(p / this.o.window);
    const start = t * this.o.window;
    return { t, start, end: Math.min(start + this.o.window, this.plan.sliceLength) };
  }

  private streamPartOf(q: number): number {
    let lo = 0;
    let hi = this.partOrder.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.streamPartStart[mid] as number) <= q) lo = mid;
      else hi = mid - 1;
    }
    // skip empty parts that start at the same position
    while (lo < this.partOrder.length - 1 && (this.streamPartStart[lo + 1] as number) <= q) lo++;
    return lo;
  }
}

/** Steps per epoch of a run (the same on every rank). */
export function stepsPerEpochOf(o: Pick<DataOrderOptions, 'partCounts' | 'world' | 'batchSize'>): number {
  const total = o.partCounts.reduce((a, b) => a + b, 0);
  return Math.floor(Math.floor(total / o.world) / o.batchSize);
}
