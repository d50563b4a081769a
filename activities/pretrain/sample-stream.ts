/**
 * The training read path: one rank's samples of one epoch, in the order ml/data-order.ts defines
 * (docs/data-order.md), streamed from S3 a part at a time. Parts are read sequentially, each once, with a few in
 * flight; samples are held only for the current shuffle window, so memory is bounded by configuration
 * (`partsInFlight` parts + about one window of encoded images), never by the dataset's size.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { RankEpochOrder, type DataOrderOptions } from '../../ml/data-order';
import { readPart, sourceKeyOf, type PartRef, type PartSample, type ReadRetryPolicy } from './part-reader';

export interface StreamedSample {
  /** Slice position in this rank's epoch (batch k holds positions [k*B, (k+1)*B)). */
  position: number;
  /** Global dataset index (augmentations are keyed by it). */
  index: number;
  bytes: Uint8Array;
  /** source object key (parsed from the sidecar on first use: only undecodable samples need it) */
  readonly sourceKey: string;
}

export interface SampleStreamOptions {
  order: Omit<DataOrderOptions, 'partCounts'>;
  /** Parts downloading or parsed ahead of the window being assembled. @default 2 */
  partsInFlight?: number;
  retry?: ReadRetryPolicy;
  /** Injected by tests to skip real backoff waits. */
  sleep?: (ms: number) => Promise<unknown>;
}

/** Totals since construction, for the loader bench and the segment result. */
export interface SampleStreamStats {
  partsRead: number;
  bytesRead: number;
  /** bytes of the images handed out */
  bytesUsed: number;
  samples: number;
  readAttempts: number;
}

interface LoadedRun {
  streamStart: number;
  samples: PartSample[];
}

export class SampleStream {
  readonly stats: SampleStreamStats = { partsRead: 0, bytesRead: 0, bytesUsed: 0, samples: 0, readAttempts: 0 };
  private readonly partCounts: number[];

  constructor(
    private readonly s3: S3Client,
    private readonly dataset: { bucket: string; parts: readonly PartRef[] },
    private readonly opts: SampleStreamOptions,
  ) {
    this.partCounts = dataset.parts.map((p) => p.count);
  }

  /** Steps per epoch on every rank (the dataset's counts fix it). */
  get stepsPerEpoch(): number {
    return this.order(0).plan.steps;
  }

  /** The epoch's order for this rank (plan: slice, steps, usable positions). */
  order(epoch: number): RankEpochOrder {
    return new RankEpochOrder({ ...this.opts.order, partCounts: this.partCounts }, epoch);
  }

  /**
   * Samples of `epoch` from slice position `from` to the epoch's last usable position, in visiting order, a
   * window's worth at a time (one await per window, not per sample).
   */
  async *epoch(epoch: number, from = 0): AsyncGenerator<StreamedSample[]> {
    const order = this.order(epoch);
    const { sliceStart, usable } = order.plan;
    if (from >= usable) return;
    const reads = order.reads(from);
    const inFlight: Promise<LoadedRun>[] = [];
    let nextRead = 0;
    const pump = (): void => {
      while (inFlight.length < (this.opts.partsInFlight ?? 2) && nextRead < reads.length) {
        const r = reads[nextRead++]!;
        const part = this.dataset.parts[r.part]!;
        const p = readPart(this.s3, this.dataset.bucket, part, this.opts.retry, this.opts.sleep).then((res) => {
          this.stats.partsRead++;
          this.stats.bytesRead += res.stats.bytesRead;
          this.stats.readAttempts += res.stats.attempts;
          return { streamStart: r.streamStart, samples: res.samples.slice(r.first, r.first + r.count) };
        });
        p.catch(() => undefined); // surfaced when awaited; a loader closed early must not leave an unhandled rejection
        inFlight.push(p);
      }
    };
    pump();
    let carry: LoadedRun | undefined;
    for (let w = order.windowOf(from); ; w = order.windowOf(w.end)) {
      const lo = sliceStart + w.start;
      const hi = sliceStart + w.end;
      const win = new Array<PartSample | undefined>(w.end - w.start);
      let filled = 0;
      while (filled < win.length) {
        if (!carry) {
          const head = inFlight.shift();
          if (!head) throw new Error(`data order: window [${lo}, ${hi}) of epoch ${epoch} ran out of parts`);
          carry = await head;
          pump();
        }
        const run: LoadedRun = carry;
        let j = Math.max(0, lo - run.streamStart);
        for (; j < run.samples.length && run.streamStart + j < hi; j++) {
          win[run.streamStart + j - lo] = run.samples[j];
          filled++;
        }
        carry =
          j < run.samples.length ? { streamStart: run.streamStart + j, samples: run.samples.slice(j) } : undefined;
      }
      const out: StreamedSample[] = [];
      for (let p = Math.max(from, w.start); p < Math.min(w.end, usable); p++) {
        const q = order.streamAt(p);
        const s = win[q - lo]!;
        this.stats.bytesUsed += s.bytes.byteLength;
        const meta = s.meta;
        out.push({
          position: p,
          index: order.indexAtStream(q),
          bytes: s.bytes,
          get sourceKey() {
            return sourceKeyOf(meta);
          },
        });
      }
      this.stats.samples += out.length;
      yield out;
      if (w.end >= usable) break;
    }
  }
}
