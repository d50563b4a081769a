import type { ClassificationRun, DetectionRun } from '../../../contracts/evaluate';
import { formatSeedStat, seedStat, summarizeClassification, summarizeDetection } from '../../../ml/stats';

describe('seedStat', () => {
  it('mean and sample std (n - 1), as numpy std(ddof=1)', () => {
    // numpy: np.std([70.1, 72.4, 69.8], ddof=1) = 1.42243...
    const s = seedStat([70.1, 72.4, 69.8]);
    expect(s.mean).toBeCloseTo(70.76666666666667, 12);
    expect(s.std).toBeCloseTo(1.42243921955679, 12);
    expect(s.values).toEqual([70.1, 72.4, 69.8]);
  });

  it('one value has std 0; equal values have std 0', () => {
    expect(seedStat([42])).toEqual({ mean: 42, std: 0, values: [42] });
    expect(seedStat([5, 5, 5]).std).toBe(0);
  });

  it('is stable far from zero (two-pass)', () => {
    expect(seedStat([1e9 + 1, 1e9 + 2, 1e9 + 3]).std).toBeCloseTo(1, 6);
  });

  it('refuses empty and non-finite inputs', () => {
    expect(() => seedStat([])).toThrow(RangeError);
    expect(() => seedStat([])).toThrow(/no runs/);
    expect(() => seedStat([1, Number.NaN])).toThrow(RangeError);
  });

  it('formats mean ± std', () => {
    expect(formatSeedStat(seedStat([1, 2, 3]))).toBe('2.0 ± 1.0');
  });
});

describe('summarizeClassification', () => {
  const run = (
    protocol: ClassificationRun['protocol'],
    init: ClassificationRun['init'],
    seed: number,
    top1: number,
  ): ClassificationRun => ({
    protocol,
    init,
    seed,
    labelFraction: protocol === 'lowshot-1' ? 0.01 : 1,
    trainImages: 10,
    testImages: 10,
    epochs: 1,
    top1,
    finalTop1: top1,
    curve: [top1],
    computeSeconds: 1,
  });

  it('groups by protocol and init, values in seed order', () => {
    const s = summarizeClassification([
      run('lowshot-1', 'scratch', 2, 30),
      run('lowshot-1', 'pretrained', 1, 52),
      run('lowshot-1', 'scratch', 0, 40),
      run('lowshot-1', 'pretrained', 0, 50),
      run('linear', 'pretrained', 0, 60),
    ]);
    expect(s['lowshot-1']?.pretrained).toEqual(seedStat([50, 52]));
    expect(s['lowshot-1']?.scratch?.values).toEqual([40, 30]);
    expect(s.linear?.pretrained?.mean).toBe(60);
    expect(s.linear?.scratch).toBeUndefined();
    expect(s.finetune).toBeUndefined();
  });
});

describe('summarizeDetection', () => {
  function run(init: DetectionRun['init'], seed: number, ap: number, ap50: number, ap75: number): DetectionRun {
    return {
      init,
      seed,
      trainImages: 10,
      testImages: 5,
      epochs: 1,
      stats: [ap, ap50, ap75, -1, -1, -1, 0, 0, 0, 0, 0, 0],
      computeSeconds: 1,
    };
  }

  it('gives mean and sample std (n - 1) per init, as fractions, in seed order', () => {
    const s = summarizeDetection([
      run('scratch', 2, 0.3, 0.5, 0.2),
      run('scratch', 0, 0.1, 0.3, 0.0),
      run('scratch', 1, 0.2, 0.4, 0.1),
      run('pretrained', 0, 0.25, 0.5, 0.1),
    ]);
    expect(s.scratch?.AP.values).toEqual([0.1, 0.2, 0.3]);
    expect(s.scratch?.AP.mean).toBeCloseTo(0.2, 12);
    expect(s.scratch?.AP.std).toBeCloseTo(0.1, 12);
    expect(s.scratch?.AP50.mean).toBeCloseTo(0.4, 12);
    expect(s.pretrained?.AP).toEqual({ mean: 0.25, std: 0, values: [0.25] });
    expect(s.scratch?.AP75).toEqual(seedStat([0.0, 0.1, 0.2]));
    expect(seedStat([1, 2, 3, 4]).std).toBeCloseTo(Math.sqrt(5 / 3), 12);
  });

  it('skips an initialisation without runs; no runs at all is an empty summary', () => {
    expect(Object.keys(summarizeDetection([run('scratch', 0, 0.1, 0.2, 0.05)]))).toEqual(['scratch']);
    expect(summarizeDetection([])).toEqual({});
  });

  it('refuses a run without its stats instead of counting it as 0 AP', () => {
    const failed: DetectionRun = { ...run('pretrained', 1, 0, 0, 0), stats: [] };
    expect(() => summarizeDetection([run('pretrained', 0, 0.3, 0.5, 0.2), failed])).toThrow(
      /pretrained\/seed1 has no AP/,
    );
  });
});

describe('summarizeClassification of no runs', () => {
  it('is an empty table: no group without runs', () => {
    expect(summarizeClassification([])).toEqual({});
  });
});
