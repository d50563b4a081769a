import { readdirSync } from 'node:fs';
import sharp, { type Sharp } from 'sharp';
import type { CropSpec } from '../../../ml/multicrop-params';
import { RankEpochOrder } from '../../../ml/data-order';
import {
  MulticropBatcher,
  type Batch,
  type BatcherOptions,
  type EpochSource,
  type SkippedSample,
} from '../../../multicrop/batcher';
import { multicrop } from '../../../multicrop';

const SPECS: CropSpec[] = [
  { size: 24, count: 2, minScale: 0.14, maxScale: 1 },
  { size: 12, count: 3, minScale: 0.05, maxScale: 0.14 },
];
const N = 10;
let samples: Buffer[] = [];

/** N small JPEGs cut from a real photo when one is installed, else from a synthetic texture. */
beforeAll(async () => {
  let base: Sharp;
  const dir = '/usr/share/backgrounds';
  const photo = (() => {
    try {
      return readdirSync(dir)
        .filter((n) => n.endsWith('.jpg'))
        .sort()[0];
    } catch {
      return undefined;
    }
  })();
  if (photo) base = sharp(`${dir}/${photo}`).resize(400, 300, { fit: 'cover' });
  else {
    const raw = Buffer.alloc(400 * 300 * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 13 + (i % 3) * 70) % 256;
    base = sharp(raw, { raw: { width: 400, height: 300, channels: 3 } });
  }
  const full = await base.png().toBuffer();
  samples = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      sharp(full)
        .extract({ left: i * 20, top: i * 10, width: 80 + i * 4, height: 60 + i * 3 })
        .jpeg({ quality: 90 })
        .toBuffer(),
    ),
  );
});

/** The data order over in-memory parts of 3 samples (the S3 source streams the same order from tar parts). */
const ORDER = { partCounts: [3, 3, 3, 1], seed: 9, world: 1, rank: 0, batchSize: 4, window: 5 };
const orderOf = (epoch: number) => new RankEpochOrder(ORDER, epoch);
const visit = (epoch: number) => Array.from({ length: 8 }, (_, p) => orderOf(epoch).indexAt(p));

function memorySource(bytesOf: (index: number) => Uint8Array, pulled?: () => void): EpochSource {
  return {
    stepsPerEpoch: orderOf(0).plan.steps,
    async *epoch(epoch: number, from: number) {
      const order = orderOf(epoch);
      for (let position = from; position < order.plan.usable; position++) {
        pulled?.();
        const index = order.indexAt(position);
        yield [{ position, index, bytes: bytesOf(index), sourceKey: `corpus/${index}.jpg` }];
      }
    },
  };
}

function options(extra: Partial<BatcherOptions> = {}): BatcherOptions {
  return {
    source: memorySource((i) => samples[i]!),
    batchSize: 4,
    seed: 9,
    multicrop: { specs: SPECS },
    ...extra,
  };
}

async function take(b: MulticropBatcher, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const batch of b) {
    out.push(batch);
    if (out.length === n) break;
  }
  return out;
}

function bytesOf(b: Batch): Buffer {
  return Buffer.concat(b.groups.map((g) => Buffer.from(g.data.buffer, g.data.byteOffset, g.data.byteLength)));
}

describe('MulticropBatcher', () => {
  it("walks the source's order in full batches and rolls over epochs", async () => {
    const batches = await take(new MulticropBatcher(options()), 5);
    const perm0 = visit(0);
    const perm1 = visit(1);
    expect(batches.map((b) => Array.from(b.indices))).toEqual([
      perm0.slice(0, 4),
      perm0.slice(4, 8),
      perm1.slice(0, 4),
      perm1.slice(4, 8),
      visit(2).slice(0, 4),
    ]);
    expect(batches.map((b) => b.next)).toEqual([
      { epoch: 0, position: 4 },
      { epoch: 1, position: 0 },
      { epoch: 1, position: 4 },
      { epoch: 2, position: 0 },
      { epoch: 2, position: 4 },
    ]);
    for (const b of batches) {
      expect(b.groups.map((g) => [g.size, g.data.length])).toEqual([
        [24, 2 * 4 * 24 * 24 * 3],
        [12, 3 * 4 * 12 * 12 * 3],
      ]);
    }
  });

  it('puts each sample in its crop-major slots, equal to multicrop() of that sample', async () => {
    const [batch] = await take(new MulticropBatcher(options()), 1);
    const n = batch!.indices.length;
    for (const [slot, index] of Array.from(batch!.indices).entries()) {
      const single = await multicrop(samples[index]!, { seed: 9, epoch: 0, index }, { specs: SPECS });
      for (const [gi, g] of single.groups.entries()) {
        const plane = g.size * g.size * 3;
        const views = g.data.length / plane;
        for (let v = 0; v < views; v++) {
          const got = batch!.groups[gi]!.data.subarray((v * n + slot) * plane, (v * n + slot + 1) * plane);
          expect(
            Buffer.from(got.slice().buffer).equals(Buffer.from(g.data.slice(v * plane, (v + 1) * plane).buffer)),
          ).toBe(true);
        }
      }
    }
  });

  it('resumes bit-identically from a checkpointed cursor', async () => {
    const first = new MulticropBatcher(options());
    const run = await take(first, 3);
    const resumed = await take(new MulticropBatcher(options({ start: run[1]!.next })), 1);
    expect(Array.from(resumed[0]!.indices)).toEqual(Array.from(run[2]!.indices));
    expect(bytesOf(resumed[0]!).equals(bytesOf(run[2]!))).toBe(true);
    expect(first.cursor()).toEqual(run[2]!.next);
  });

  it('skips and counts undecodable samples with their source key, without stopping the epoch', async () => {
    const perm = visit(0);
    const bad = perm[1]!;
    const bad2 = perm[6]!;
    const reported: SkippedSample[] = [];
    const batcher = new MulticropBatcher(
      options({
        source: memorySource((i) => (i === bad || i === bad2 ? Buffer.from('definitely not a jpeg') : samples[i]!)),
        onSkip: (s) => reported.push(s),
        endEpoch: 1,
      }),
    );
    const batches = await take(batcher, 10);
    expect(batches).toHaveLength(2);
    expect(Array.from(batches[0]!.indices)).toEqual(perm.slice(0, 4).filter((i) => i !== bad));
    expect(Array.from(batches[1]!.indices)).toEqual(perm.slice(4, 8).filter((i) => i !== bad2));
    expect(batches[0]!.groups[0]!.data.length).toBe(2 * 3 * 24 * 24 * 3);
    expect(reported.map((s) => [s.index, s.sourceKey])).toEqual([
      [bad, `corpus/${bad}.jpg`],
      [bad2, `corpus/${bad2}.jpg`],
    ]);
    expect(batcher.stats()).toEqual({ batches: 2, skipped: 2 });
    // the packed batch still equals multicrop() for its remaining samples
    const single = await multicrop(
      samples[batches[0]!.indices[2]!]!,
      { seed: 9, epoch: 0, index: batches[0]!.indices[2]! },
      { specs: SPECS },
    );
    const plane = 12 * 12 * 3;
    const got = batches[0]!.groups[1]!.data.subarray((2 * 3 + 2) * plane, (2 * 3 + 3) * plane);
    expect(
      Buffer.from(got.slice().buffer).equals(Buffer.from(single.groups[1]!.data.slice(2 * plane, 3 * plane).buffer)),
    ).toBe(true);
  });

  it('a read error of the source ends the iteration instead of a short batch', async () => {
    const failing: EpochSource = {
      stepsPerEpoch: 2,
      async *epoch() {
        yield [{ position: 0, index: 0, bytes: samples[0]! }];
        throw new Error('tar part unreadable after 6 attempts');
      },
    };
    await expect(take(new MulticropBatcher(options({ source: failing })), 2)).rejects.toThrow(/unreadable/);
  });

  it('stops at endEpoch', async () => {
    const batches = await take(new MulticropBatcher(options({ endEpoch: 1 })), 10);
    expect(batches.map((b) => b.indices.length)).toEqual([4, 4]);
    expect(batches[1]!.next).toEqual({ epoch: 1, position: 0 });
  });

  it('fetches at most prefetch batches ahead of the consumer', async () => {
    let fetched = 0;
    const batcher = new MulticropBatcher(
      options({
        prefetch: 2,
        source: memorySource(
          (i) => samples[i]!,
          () => fetched++,
        ),
      }),
    );
    const it = batcher[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setTimeout(r, 200));
    // one consumed + two in flight
    expect(fetched).toBeLessThanOrEqual(3 * 4);
    await it.next();
    await new Promise((r) => setTimeout(r, 200));
    expect(fetched).toBeLessThanOrEqual(4 * 4);
    await it.return!();
  });

  it('renders bit-identical batches in worker threads', async () => {
    const inProcess = await take(new MulticropBatcher(options()), 3);
    const pooled = new MulticropBatcher(options({ workers: 2 }));
    const viaWorkers = await take(pooled, 3);
    for (let k = 0; k < 3; k++) {
      expect(Array.from(viaWorkers[k]!.indices)).toEqual(Array.from(inProcess[k]!.indices));
      expect(bytesOf(viaWorkers[k]!).equals(bytesOf(inProcess[k]!))).toBe(true);
    }
    await pooled.close();
  }, 60_000);

  it('validates its options', () => {
    expect(() => new MulticropBatcher(options({ batchSize: 0 }))).toThrow(RangeError);
    expect(() => new MulticropBatcher(options({ start: { epoch: -1, position: 0 } }))).toThrow(RangeError);
    expect(() => new MulticropBatcher(options({ start: { epoch: 0, position: 3 } }))).toThrow(RangeError);
  });
});
