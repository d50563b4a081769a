import { lrAt, lrSchedule, lrScheduleLength, type LrScheduleOptions } from '../../../ml/schedules';
import { expectAllClose, loadFixture } from './fixture-helpers';

type SchedCase = LrScheduleOptions & { lr: number[] };
const { schedules } = loadFixture<{ schedules: SchedCase[] }>('optim.json');

// NumPy linspace and math.cos vs JS: same formulas, at most a few ulps apart (fixture stores 13 digits).
const TOL = { rtol: 1e-12, atol: 1e-15 };

describe('SwAV LR schedule vs NumPy (linspace warmup + cosine)', () => {
  it.each(schedules.map((s) => [JSON.stringify({ ...s, lr: undefined }), s] as const))('%s', (_label, s) => {
    const arr = lrSchedule(s);
    expect(arr).toHaveLength(s.lr.length);
    expectAllClose(arr, s.lr, TOL, 'schedule');
    for (let i = 0; i < s.lr.length; i += 3) expect(lrAt(i, s)).toBe(arr[i]);
  });
});

describe('schedule end points', () => {
  const o: LrScheduleOptions = {
    baseLr: 4.8,
    finalLr: 0.0048,
    startWarmupLr: 0.3,
    warmupEpochs: 10,
    epochs: 100,
    itersPerEpoch: 312,
  };

  it('warmup includes both ends, then the cosine starts at baseLr and approaches finalLr', () => {
    expect(lrScheduleLength(o)).toBe(31_200);
    expect(lrAt(0, o)).toBe(0.3);
    expect(lrAt(3119, o)).toBe(4.8); // last warmup iteration is exactly baseLr
    expect(lrAt(3120, o)).toBe(4.8); // first cosine iteration (t = 0) is baseLr again, as in SwAV
    expect(lrAt(1560, o)).toBeCloseTo(0.3 + (1560 * 4.5) / 3119, 12);
    const last = lrAt(31_199, o);
    expect(last).toBeGreaterThan(0.0048);
    expect(last).toBeCloseTo(0.0048 + 0.5 * 4.7952 * (1 + Math.cos((Math.PI * 28_079) / 28_080)), 12);
  });

  it('is monotone: rising during warmup, falling afterwards', () => {
    const arr = lrSchedule(o);
    for (let i = 1; i < 3120; i++) expect(arr[i]! >= arr[i - 1]!).toBe(true);
    let falling = true;
    for (let i = 3121; i < arr.length; i++) falling &&= arr[i]! <= arr[i - 1]!;
    expect(falling).toBe(true);
  });

  it('rejects out-of-range iterations and fractional iteration counts', () => {
    expect(() => lrAt(31_200, o)).toThrow(RangeError);
    expect(() => lrAt(-1, o)).toThrow(/iteration/);
    expect(() => lrAt(0, { ...o, warmupEpochs: 0.5, itersPerEpoch: 3 })).toThrow(/warmupEpochs/);
    expect(() => lrAt(0, { ...o, warmupEpochs: 200 })).toThrow(/warmupEpochs/);
    expect(() => lrAt(0, { ...o, itersPerEpoch: 0 })).toThrow(/itersPerEpoch/);
    expect(() => lrAt(0, { ...o, baseLr: Number.NaN })).toThrow(/baseLr/);
  });

  it('accepts fractional warmup epochs that give whole iterations (SEER-style 8k-iteration warmup)', () => {
    const seer = {
      baseLr: 9.6,
      finalLr: 0.0096,
      startWarmupLr: 0.3,
      warmupEpochs: 0.08,
      epochs: 1,
      itersPerEpoch: 100_000,
    };
    expect(lrAt(7999, seer)).toBe(9.6);
    expect(lrAt(0, seer)).toBe(0.3);
  });
});
