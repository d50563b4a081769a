import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DATA_ORDER_VERSION, RankEpochOrder, stepsPerEpochOf, type DataOrderOptions } from '../../../ml/data-order';
import { dataOrderFixture, DATA_ORDER_FIXTURE_CASES } from '../../fixtures/data-order/make-fixture';

const counts = [7, 0, 13, 5, 9, 11, 3, 8];
const total = counts.reduce((a, b) => a + b, 0);
const base: DataOrderOptions = { partCounts: counts, seed: 3, world: 1, rank: 0, batchSize: 4, window: 6 };

function visit(o: DataOrderOptions, epoch: number): number[] {
  const order = new RankEpochOrder(o, epoch);
  return Array.from({ length: order.plan.usable }, (_, p) => order.indexAt(p));
}

describe('data order (seerflow-order-v1)', () => {
  it('one rank visits distinct samples, floor(N / B) steps per epoch, deterministically', () => {
    const a = visit(base, 2);
    expect(a).toEqual(visit(base, 2));
    expect(new Set(a).size).toBe(a.length);
    expect(a.length).toBe(Math.floor(total / 4) * 4);
    expect(stepsPerEpochOf(base)).toBe(Math.floor(total / 4));
    for (const i of a) expect(i >= 0 && i < total).toBe(true);
    expect(visit(base, 3)).not.toEqual(a);
  });

  it('ranks see disjoint samples, together every sample but the remainder, and take the same steps', () => {
    for (const world of [2, 3, 4]) {
      const seen = new Map<number, number>();
      const steps = new Set<number>();
      for (let rank = 0; rank < world; rank++) {
        const o = { ...base, world, rank };
        const order = new RankEpochOrder(o, 1);
        steps.add(order.plan.steps);
        for (const i of visit(o, 1)) seen.set(i, (seen.get(i) ?? 0) + 1);
      }
      expect(steps.size).toBe(1);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      const slice = Math.floor(total / world);
      expect(seen.size).toBe(world * Math.floor(slice / 4) * 4);
    }
  });

  it('reads() lists part runs in stream order: the whole windows that hold the positions a rank visits', () => {
    for (const world of [1, 2, 3]) {
      for (let rank = 0; rank < world; rank++) {
        const order = new RankEpochOrder({ ...base, world, rank }, 4);
        const fromReads = order
          .reads()
          .flatMap((r) => Array.from({ length: r.count }, (_, m) => order.indexAtStream(r.streamStart + m)));
        const visited = visit({ ...base, world, rank }, 4);
        const read = new Set(fromReads);
        for (const i of visited) expect(read.has(i)).toBe(true);
        const lastWindow = order.windowOf(order.plan.usable - 1);
        expect(fromReads.length).toBe(lastWindow.end); // windows 0..last, read whole, nothing else
        const parts = order.reads().map((r) => r.part);
        expect(new Set(parts).size).toBe(parts.length); // each part at most once
      }
    }
  });

  it('shuffles only within windows, so a loader holds at most a window of samples per position', () => {
    const order = new RankEpochOrder(base, 0);
    for (let p = 0; p < order.plan.usable; p++) {
      const w = order.windowOf(p);
      const q = order.streamAt(p) - order.plan.sliceStart;
      expect(q >= w.start && q < w.end).toBe(true);
    }
  });

  it('a resumed reader starts at the part that holds its window and needs nothing before it', () => {
    const order = new RankEpochOrder(base, 5);
    const p = 13;
    const w = order.windowOf(p);
    const reads = order.reads(w.start);
    expect(reads[0]!.streamStart).toBe(order.plan.sliceStart + w.start);
  });

  it('rejects impossible options', () => {
    expect(() => new RankEpochOrder({ ...base, rank: 2, world: 2 }, 0)).toThrow(RangeError);
    expect(() => new RankEpochOrder({ ...base, window: 0 }, 0)).toThrow(RangeError);
    expect(() => new RankEpochOrder({ ...base, partCounts: [1.5] }, 0)).toThrow(RangeError);
  });

  it('matches the committed golden fixture that the PyTorch engine is tested against', () => {
    const file = path.join(__dirname, '../../fixtures/data-order/orders.json');
    const stored = JSON.parse(readFileSync(file, 'utf8')) as ReturnType<typeof dataOrderFixture>;
    expect(stored.version).toBe(DATA_ORDER_VERSION);
    expect(stored.cases.length).toBe(DATA_ORDER_FIXTURE_CASES.length);
    expect(stored).toEqual(dataOrderFixture());
  });
});
