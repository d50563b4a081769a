import { createSwavEngine, StateFormatError } from '../../../engine/index';
import { readStateHeader } from '../../../engine/state';
import { maxAbsDiff, syntheticBatch, tinyConfig } from './helpers';

const B = 4;
const lr = (s: number) => 0.6 * (1 - s / 10); // a changing rate, as the schedule will give

describe('engine state round trip', () => {
  // Queue on (from epoch 0, fills after 2 steps) and prototypes frozen for 2 steps, so every part of the state
  // (BN running stats, momentum, queue, step counter, freeze logic) matters for the continuation.
  const cfg = tinyConfig({ queueLength: 8, epochQueueStarts: 0, freezePrototypesIters: 2 });
  const n = 6;
  const k = 3;

  it(`train ${n} steps == train ${k}, save, restore into a fresh engine, train to ${n} (bit-for-bit)`, () => {
    const a = createSwavEngine(cfg);
    a.init(42);
    const lossesA: number[] = [];
    for (let s = 0; s < n; s++) lossesA.push(a.step(syntheticBatch(cfg, B, 9, s), lr(s)).loss);
    const finalA = a.saveState();
    a.dispose();

    const b = createSwavEngine(cfg);
    b.init(42);
    for (let s = 0; s < k; s++) b.step(syntheticBatch(cfg, B, 9, s), lr(s));
    const mid = b.saveState({ note: 'mid' });
    expect(b.saveState({ note: 'mid' })).toEqual(mid); // deterministic bytes
    b.dispose();

    const c = createSwavEngine(cfg);
    c.init(7); // different weights, overwritten by the restore
    const header = c.loadState(mid);
    expect(header.step).toBe(k);
    expect(header.meta).toEqual({ note: 'mid' });
    expect(c.stepCount).toBe(k);
    const lossesC: number[] = [];
    for (let s = k; s < n; s++) lossesC.push(c.step(syntheticBatch(cfg, B, 9, s), lr(s)).loss);
    const finalC = c.saveState();
    c.dispose();

    expect(lossesC).toEqual(lossesA.slice(k));
    // Stated bound: every tensor (weights, BN stats, momentum, queue) equal to 0 ulp on the same machine/backend.
    const ra = readStateHeader(finalA);
    const rc = readStateHeader(finalC);
    expect(rc.header.tensors).toEqual(ra.header.tensors);
    expect(rc.header.tensors.map((t) => t.name)).toContain('queue');
    expect(maxAbsDiff(rc.data, ra.data)).toBe(0);
    expect(Buffer.from(finalC).equals(Buffer.from(finalA))).toBe(true);
  });

  it('rejects corrupt and incompatible states without changing the model', () => {
    const e = createSwavEngine(cfg);
    e.init(1);
    const good = e.saveState();
    const bad = good.slice();
    bad[200] = (bad[200] as number) ^ 1;
    expect(() => e.loadState(bad)).toThrow(StateFormatError);
    expect(() => e.loadState(good.subarray(0, 100))).toThrow(/checksum|magic/);
    const other = createSwavEngine(tinyConfig({ prototypes: 13 }));
    other.init(1);
    expect(() => e.loadState(other.saveState())).toThrow(/prototypes.weight/);
    expect(Buffer.from(e.saveState()).equals(Buffer.from(good))).toBe(true);
    e.dispose();
    other.dispose();
  });
});
