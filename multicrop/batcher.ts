/**
 * Epoch iterator that turns a stream of samples into multi-crop batches.
 *
 * - Order: the `source` decides it (for training: activities/pretrain/sample-stream.ts, the order of
 *   docs/data-order.md); batch k of an epoch holds the source's positions [k*B, (k+1)*B).
 * - Checkpoint: the cursor `{ epoch, position }` after the last batch handed out. Restarting from it replays the
 *   following batches bit for bit (augmentations are keyed by (seed, epoch, dataset index), not by position).
 * - Work: the main thread pulls sample bytes from the source (I/O) and sends whole batches to a pool of worker
 *   threads that decode and render them; `workers: 0` renders in-process.
 * - Backpressure: at most `prefetch` batches exist between the source and the consumer, so memory stays flat
 *   when the trainer is slower than the pipeline.
 * - Bad data: a sample that does not decode is reported (`onSkip`, `batch.skipped`) with its source key, counted
 *   and left out of its batch; the epoch goes on. A sample that cannot be *read* is the source's error: it ends
 *   the iteration (the training segment fails and resumes from its checkpoint), it is never skipped.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { drawMulticropParams, SWAV_AUGMENT } from '../ml/multicrop-params';
import { Rng } from '../ml/rng';
import {
  decodeImage,
  DEFAULT_NORMALIZATION,
  renderViews,
  UndecodableImageError,
  viewGroupLayout,
  type DecodedImage,
  type MulticropOptions,
  type ViewGroup,
} from './index';

/** Where an epoch stands: the next batch starts at `position` in epoch `epoch`'s order. */
export interface BatcherCursor {
  epoch: number;
  position: number;
}

/** One sample as a source hands it out. */
export interface SourceSample {
  /** position in the epoch's order */
  position: number;
  /** dataset index (keys the augmentations) */
  index: number;
  bytes: Uint8Array;
  /** the source object's key, for reports of undecodable samples */
  sourceKey?: string;
}

/** Where samples come from: an epoch's samples in order, from any position. */
export interface EpochSource {
  /** Batches per epoch (every epoch has the same number). */
  readonly stepsPerEpoch: number;
  /**
   * The epoch's samples from `position` to its end, in order, in runs of any length (`position` is a multiple of
   * the batch size).
   */
  epoch(epoch: number, position: number): AsyncIterable<readonly SourceSample[]>;
}

/** A sample left out of its batch because its bytes are not a decodable image. */
export interface SkippedSample {
  index: number;
  epoch: number;
  sourceKey: string;
  reason: string;
}

/** One batch, ready for a trainer. */
export interface Batch {
  epoch: number;
  /** cursor of this batch's first position */
  start: BatcherCursor;
  /** cursor after this batch (checkpoint this once the batch is consumed) */
  next: BatcherCursor;
  /** dataset indices of the samples in the batch, in slot order */
  indices: Uint32Array;
  skipped: SkippedSample[];
  /**
   * One tensor per view size, (viewsOfThatSize * n) x size x size x 3, crop-major: view v of sample slot s is
   * at `(v * n + s)`, n = indices.length (SwAV's `torch.cat` of per-crop batches).
   */
  groups: ViewGroup[];
}

/** Batcher settings. `multicrop` must be plain data (it is cloned into the workers). */
export interface BatcherOptions {
  source: EpochSource;
  batchSize: number;
  seed: number;
  multicrop: MulticropOptions;
  /** worker threads rendering batches; 0 renders in the calling thread (default 0) */
  workers?: number;
  /** batches allowed between the source and the consumer (default max(2, workers + 1)) */
  prefetch?: number;
  /** where to start (default epoch 0, position 0) */
  start?: BatcherCursor;
  /** stop before this epoch (default: never stop) */
  endEpoch?: number;
  onSkip?: (s: SkippedSample) => void;
}

/** A batch's work order: the bytes (or the fetch failure) of each sample, in position order. */
export interface BatchJob {
  seed: number;
  epoch: number;
  samples: { index: number; bytes: Uint8Array }[];
}

/** What rendering a batch returns. */
export interface BatchResult {
  indices: Uint32Array;
  skipped: SkippedSample[];
  groups: ViewGroup[];
}

/**
 * Decode and render one batch (runs in a worker or in-process). The next sample is decoded while the current
 * one renders. Undecodable samples are skipped; any other error propagates.
 */
export async function renderBatch(job: BatchJob, options: MulticropOptions): Promise<BatchResult> {
  const layout = viewGroupLayout(options.specs);
  const capacity = job.samples.length;
  const groups = layout.map((g) => ({
    size: g.size,
    data: new Float32Array(capacity * g.count * g.size * g.size * 3),
  }));
  const skipped: SkippedSample[] = [];
  const decoded = job.samples.map(() => null as Promise<DecodedImage> | null);
  const startDecode = (i: number): void => {
    const s = job.samples[i];
    if (s && !decoded[i]) {
      decoded[i] = decodeImage(s.bytes, options.maxPixels);
      decoded[i]?.catch(() => undefined); // handled when awaited below
    }
  };
  // decoded samples take slots in order; skips leave the last slots empty, packed away at the end
  const ok: number[] = [];
  startDecode(0);
  for (let i = 0; i < capacity; i++) {
    const s = job.samples[i]!;
    startDecode(i + 1);
    let img: DecodedImage;
    try {
      img = await decoded[i]!;
    } catch (err) {
      if (!(err instanceof UndecodableImageError)) throw err;
      skipped.push({ index: s.index, epoch: job.epoch, sourceKey: '', reason: err.message }); // key filled in by the batcher
      continue;
    } finally {
      decoded[i] = null;
    }
    const params = drawMulticropParams(
      img.width,
      img.height,
      options.specs,
      Rng.keyed(job.seed, job.epoch, s.index),
      options.augment ?? SWAV_AUGMENT,
    );
    renderViews(
      img,
      params,
      groups,
      ok.length,
      capacity,
      options.normalization ?? DEFAULT_NORMALIZATION,
      options.kernels,
    );
    ok.push(s.index);
  }
  const n = ok.length;
  if (n < capacity) {
    // crop-major slots were laid out for `capacity`; pack them for n samples
    for (const [gi, g] of groups.entries()) {
      const plane = g.size * g.size * 3;
      const count = layout[gi]!.count;
      const packed = new Float32Array(count * n * plane);
      for (let v = 0; v < count; v++)
        packed.set(g.data.subarray(v * capacity * plane, (v * capacity + n) * plane), v * n * plane);
      g.data = packed;
    }
  }
  return { indices: Uint32Array.from(ok), skipped, groups };
}

interface WorkerSlot {
  worker: Worker;
  busy: number;
  pending: Map<number, { resolve: (r: BatchResult) => void; reject: (e: Error) => void }>;
}

const WORKER_TAG = 'seerflow-multicrop-batcher';

function spawnWorker(options: MulticropOptions): Worker {
  const data = { tag: WORKER_TAG, options };
  if (__filename.endsWith('.ts')) {
    // running from TypeScript sources (tests): compile this module on the fly inside the worker
    const ts = require.resolve('typescript');
    const code = `
      const fs = require('fs');
      const ts = require(${JSON.stringify(ts)});
      require.extensions['.ts'] = (m, f) => m._compile(ts.transpileModule(fs.readFileSync(f, 'utf8'), {
        fileName: f,
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      }).outputText, f);
      require(${JSON.stringify(__filename)});`;
    return new Worker(code, { eval: true, workerData: data });
  }
  return new Worker(__filename, { workerData: data });
}

/**
 * Multi-crop batches over epochs; see the module comment. Iterate with `for await`; breaking out of the loop
 * (or calling `close()`) stops the workers.
 */
export class MulticropBatcher implements AsyncIterable<Batch> {
  private readonly opts: Required<Omit<BatcherOptions, 'onSkip' | 'start'>> & Pick<BatcherOptions, 'onSkip'>;
  private cursorNow: BatcherCursor;
  private skippedCount = 0;
  private producedCount = 0;
  private slots: WorkerSlot[] = [];
  private nextJobId = 0;
  private closed = false;
  private workerFailure: Error | undefined;
  /** the source's iterator of the epoch being read, and the next position it yields */
  private reader:
    | {
        epoch: number;
        position: number;
        it: AsyncIterator<readonly SourceSample[]>;
        run: readonly SourceSample[];
        at: number;
      }
    | undefined;
  /** pulls from the source run one after another (batches are rendered in parallel) */
  private pulling: Promise<unknown> = Promise.resolve();

  constructor(options: BatcherOptions) {
    const workers = options.workers ?? 0;
    this.opts = {
      source: options.source,
      batchSize: options.batchSize,
      seed: options.seed,
      multicrop: options.multicrop,
      workers,
      prefetch: options.prefetch ?? Math.max(2, workers + 1),
      endEpoch: options.endEpoch ?? Number.POSITIVE_INFINITY,
      onSkip: options.onSkip,
    };
    const { batchSize, prefetch } = this.opts;
    const steps = options.source.stepsPerEpoch;
    if (!(Number.isInteger(steps) && steps >= 0)) throw new RangeError(`bad source stepsPerEpoch ${steps}`);
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`bad batchSize ${batchSize}`);
    if (!(Number.isInteger(workers) && workers >= 0)) throw new RangeError(`bad workers ${workers}`);
    if (!(Number.isInteger(prefetch) && prefetch >= 1)) throw new RangeError(`bad prefetch ${prefetch}`);
    const start = options.start ?? { epoch: 0, position: 0 };
    const valid =
      Number.isInteger(start.epoch) &&
      start.epoch >= 0 &&
      Number.isInteger(start.position) &&
      start.position >= 0 &&
      start.position % batchSize === 0;
    if (!valid) throw new RangeError(`bad start cursor ${JSON.stringify(start)} (batch size ${batchSize})`);
    this.cursorNow = this.normalise(start);
  }

  /** The checkpointable position: just after the last batch handed to the consumer. */
  cursor(): BatcherCursor {
    return { ...this.cursorNow };
  }

  /** Totals since construction. */
  stats(): { batches: number; skipped: number } {
    return { batches: this.producedCount, skipped: this.skippedCount };
  }

  /** Stop the worker threads. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const reader = this.reader;
    this.reader = undefined;
    await reader?.it.return?.().catch(() => undefined);
    const slots = this.slots;
    this.slots = [];
    for (const s of slots) for (const p of s.pending.values()) p.reject(new Error('batcher closed'));
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** Positions per epoch that form batches. */
  private epochLength(): number {
    return this.opts.source.stepsPerEpoch * this.opts.batchSize;
  }

  /** Roll a cursor at (or past) the end of an epoch over to the next epoch. */
  private normalise(c: BatcherCursor): BatcherCursor {
    return c.position >= this.epochLength() ? { epoch: c.epoch + 1, position: 0 } : c;
  }

  /** The next `batchSize` samples of the source at cursor `c` (called in cursor order). */
  private async pull(c: BatcherCursor): Promise<SourceSample[]> {
    if (!this.reader || this.reader.epoch !== c.epoch || this.reader.position !== c.position) {
      await this.reader?.it.return?.();
      const it = this.opts.source.epoch(c.epoch, c.position)[Symbol.asyncIterator]();
      this.reader = { epoch: c.epoch, position: c.position, it, run: [], at: 0 };
    }
    const reader = this.reader;
    const out: SourceSample[] = [];
    while (out.length < this.opts.batchSize) {
      if (reader.at === reader.run.length) {
        const r = await reader.it.next();
        if (r.done) {
          throw new Error(
            `sample source ended at position ${reader.position} of epoch ${c.epoch}, before ${this.epochLength()}`,
          );
        }
        reader.run = r.value;
        reader.at = 0;
        continue;
      }
      const sample = reader.run[reader.at++] as SourceSample;
      if (sample.position !== reader.position) {
        throw new Error(`sample source yielded position ${sample.position}, expected ${reader.position}`);
      }
      reader.position++;
      out.push(sample);
    }
    return out;
  }

  private ensureWorkers(): void {
    if (this.slots.length > 0 || this.opts.workers === 0) return;
    for (let i = 0; i < this.opts.workers; i++) {
      const worker = spawnWorker(this.opts.multicrop);
      const slot: WorkerSlot = { worker, busy: 0, pending: new Map() };
      worker.on('message', (m: { id: number; result?: BatchResult; error?: string }) => {
        const p = slot.pending.get(m.id);
        if (!p) return;
        slot.pending.delete(m.id);
        // an idle worker must not keep the process alive if the consumer walks away without close()
        if (--slot.busy === 0) worker.unref();
        if (m.result) p.resolve(m.result);
        else p.reject(new Error(`batch worker failed: ${m.error ?? 'unknown error'}`));
      });
      const fail = (err: Error): void => {
        this.workerFailure ??= err;
        for (const p of slot.pending.values()) p.reject(err);
        slot.pending.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (!this.closed) fail(new Error(`batch worker exited with code ${code}`));
      });
      worker.unref();
      this.slots.push(slot);
    }
  }

  private async runJob(job: BatchJob): Promise<BatchResult> {
    if (this.opts.workers === 0) return renderBatch(job, this.opts.multicrop);
    this.ensureWorkers();
    if (this.workerFailure) throw this.workerFailure;
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextJobId++;
    const transfer = job.samples.map((s) => s.bytes.buffer as ArrayBuffer);
    return new Promise<BatchResult>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      if (slot.busy++ === 0) slot.worker.ref();
      slot.worker.postMessage({ id, job }, transfer);
    });
  }

  /** Pull and render the batch at cursor `c`. */
  private async produce(c: BatcherCursor): Promise<Batch> {
    const pulled = this.pulling.then(() => this.pull(c));
    this.pulling = pulled.catch(() => undefined);
    const pulledSamples = await pulled;
    const copy = this.opts.workers > 0; // bytes are transferred to a worker: give it an exclusive buffer
    const samples = pulledSamples.map((x) => ({ index: x.index, bytes: copy ? new Uint8Array(x.bytes) : x.bytes }));
    const result = await this.runJob({ seed: this.opts.seed, epoch: c.epoch, samples });
    for (const skip of result.skipped)
      skip.sourceKey = pulledSamples.find((x) => x.index === skip.index)?.sourceKey ?? '';
    return {
      epoch: c.epoch,
      start: c,
      next: this.normalise({ epoch: c.epoch, position: c.position + this.opts.batchSize }),
      indices: result.indices,
      skipped: result.skipped,
      groups: result.groups,
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    const queue: Promise<Batch>[] = [];
    let planned = this.cursorNow;
    const fill = (): void => {
      while (!this.closed && queue.length < this.opts.prefetch && planned.epoch < this.opts.endEpoch) {
        if (this.epochLength() === 0) break;
        const p = this.produce(planned);
        p.catch(() => undefined); // surfaced when the consumer reaches it
        queue.push(p);
        planned = this.normalise({ epoch: planned.epoch, position: planned.position + this.opts.batchSize });
      }
    };
    return {
      next: async (): Promise<IteratorResult<Batch>> => {
        fill();
        const head = queue.shift();
        if (!head) {
          await this.close();
          return { done: true, value: undefined };
        }
        let batch: Batch;
        try {
          batch = await head;
        } catch (err) {
          await this.close();
          throw err;
        }
        this.cursorNow = batch.next;
        this.producedCount++;
        this.skippedCount += batch.skipped.length;
        for (const s of batch.skipped) this.opts.onSkip?.(s);
        fill();
        return { done: false, value: batch };
      },
      return: async (): Promise<IteratorResult<Batch>> => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }
}

// Worker side: render batches in arrival order, one at a time.
if (!isMainThread && parentPort && (workerData as { tag?: string } | null)?.tag === WORKER_TAG) {
  const port = parentPort;
  const options = (workerData as { options: MulticropOptions }).options;
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (m: { id: number; job: BatchJob }) => {
    chain = chain.then(async () => {
      try {
        const result = await renderBatch(m.job, options);
        port.postMessage(
          { id: m.id, result },
          result.groups.map((g) => g.data.buffer as ArrayBuffer),
        );
      } catch (err) {
        port.postMessage({ id: m.id, error: (err as Error).stack ?? String(err) });
      }
    });
  });
}
