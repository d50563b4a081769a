import { createClassifier, type ClassifierConfig } from '../../../engine/classifier';
import { createSwavEngine, StateFormatError } from '../../../engine/index';
import { Rng } from '../../../ml/rng';
import { maxAbsDiff, syntheticBatch, tinyConfig } from './helpers';

const swavCfg = tinyConfig();
const S = 16; // image side
const cls = (mode: ClassifierConfig['mode'], over: Partial<ClassifierConfig> = {}): ClassifierConfig => ({
  regnet: swavCfg.regnet,
  numClasses: 5,
  mode,
  weightDecay: 1e-4,
  ...over,
});

function images(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const rng = Rng.keyed(seed, 77);
  const x = new Float32Array(n * S * S * 3);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return { x, y: Int32Array.from({ length: n }, (_, i) => i % 5) };
}

/** A SwAV state after two training steps (weights and BN statistics differ from any init). */
function swavState(): { bytes: Uint8Array; embed: (x: Float32Array, n: number) => Float32Array; dispose: () => void } {
  const e = createSwavEngine(swavCfg);
  e.init(11);
  for (let s = 0; s < 2; s++) e.step(syntheticBatch(swavCfg, 4, 3, s), 0.5);
  return { bytes: e.saveState(), embed: (x, n) => e.embed(x, n, S), dispose: () => e.dispose() };
}

describe('RegNet classifier', () => {
  const { x, y } = images(8, 1);
  const lr = { trunk: 0.05, head: 0.5 };

  it('takes the trunk of a SwAV state: identical trunk outputs', () => {
    const swav = swavState();
    const c = createClassifier(cls('linear'));
    const info = c.initFromSwavState(swav.bytes, 0);
    expect(info.step).toBe(2);
    expect(maxAbsDiff(c.embed(x, 8, S), swav.embed(x, 8))).toBe(0);
    // A state of another architecture is refused.
    const other = createClassifier(cls('linear', { regnet: { ...swavCfg.regnet, w0: 24 } }));
    expect(() => other.initFromSwavState(swav.bytes, 0)).toThrow(StateFormatError);
    other.dispose();
    c.dispose();
    swav.dispose();
  });

  it('linear probe: trunk (weights and BN statistics) bit-identical after training, classifier trained', () => {
    const swav = swavState();
    const c = createClassifier(cls('linear'));
    c.initFromSwavState(swav.bytes, 0);
    const before = c.trunkValues();
    const logitsBefore = c.predictLogits(x, 8, S);
    const losses = [0, 1, 2, 3].map(() => c.step(x, y, 8, S, lr).loss);
    expect(c.trunkValues()).toEqual(before);
    expect(maxAbsDiff(c.predictLogits(x, 8, S), logitsBefore)).toBeGreaterThan(0);
    expect(losses[3]).toBeLessThan(losses[0] as number);
    c.dispose();
    swav.dispose();
  });

  it('finetune changes the trunk; deterministic; save/load continues bit-for-bit', () => {
    const run = (steps: number, from?: Uint8Array) => {
      const c = createClassifier(cls('finetune'));
      c.init(5);
      if (from) c.loadState(from);
      for (let s = c.stepCount; s < steps; s++)
        c.step(...(Object.values(images(8, 10 + s)) as [Float32Array, Int32Array]), 8, S, lr);
      return c;
    };
    const a = run(4);
    const b = run(4);
    expect(Buffer.from(a.saveState()).equals(Buffer.from(b.saveState()))).toBe(true);
    const init = createClassifier(cls('finetune'));
    init.init(5);
    expect(maxAbsDiff(init.trunkValues()[0] as Float32Array, a.trunkValues()[0] as Float32Array)).toBeGreaterThan(0);
    const mid = run(2);
    const resumed = run(4, mid.saveState());
    expect(resumed.stepCount).toBe(4);
    expect(Buffer.from(resumed.saveState()).equals(Buffer.from(a.saveState()))).toBe(true);
    // A linear-mode model refuses a finetune state.
    const lin = createClassifier(cls('linear'));
    expect(() => lin.loadState(mid.saveState())).toThrow(StateFormatError);
    for (const m of [a, b, init, mid, resumed, lin]) m.dispose();
  });
});
