import { regnetComplexity } from '../../../ml/complexity';
import { adjustGroupCompatibility, regnetBlockWidths, regnetSpec, type RegNetParams } from '../../../ml/regnet';
import { loadFixture } from './fixture-helpers';

interface Counts {
  params: number;
  flops: number;
  acts: number;
}
interface RegnetCase {
  name: string;
  rounding: 'torchvision' | 'pycls';
  params: Required<Omit<RegNetParams, 'rounding'>>;
  stageDepths: number[];
  stageWidths: number[];
  groupWidths: number[];
  groups: number[];
  trunk: Counts;
  fc1000: Counts;
  trunkAt96: Counts;
}
const fixture = loadFixture<{ cases: RegnetCase[] }>('regnet.json');

const Y200: RegNetParams = { depth: 13, w0: 24, wa: 36.44, wm: 2.49, groupWidth: 8, seRatio: 0.25 };
const X200: RegNetParams = { ...Y200, seRatio: 0 };
const Y400: RegNetParams = { depth: 16, w0: 48, wa: 27.89, wm: 2.09, groupWidth: 8, seRatio: 0.25 };
const SEER_256GF: RegNetParams = { depth: 27, w0: 640, wa: 230.83, wm: 2.53, groupWidth: 373, seRatio: 0.25 };

describe('regnetSpec + regnetComplexity: golden table (pycls dev/model_complexity.json, torchvision num_params)', () => {
  // Published values, reference §5 "Golden values"; identical under both rounding conventions.
  const golden = [
    {
      name: 'RegNetY-200MF',
      p: Y200,
      depths: [1, 1, 4, 7],
      widths: [24, 56, 152, 368],
      groups: [3, 7, 19, 46],
      trunk: 2_793_996,
      fc: 3_162_996,
      flops: 199_519_076,
      acts: 2_168_052,
    },
    {
      name: 'RegNetX-200MF',
      p: X200,
      depths: [1, 1, 4, 7],
      widths: [24, 56, 152, 368],
      groups: [3, 7, 19, 46],
      trunk: 2_315_792,
      fc: 2_684_792,
      flops: 199_040_872,
      acts: 2_164_056,
    },
    {
      name: 'RegNetY-400MF',
      p: Y400,
      depths: [1, 3, 6, 6],
      widths: [48, 104, 208, 440],
      groups: [6, 13, 26, 55],
      trunk: 3_903_144,
      fc: 4_344_144,
      flops: 401_849_056,
      acts: undefined,
    },
  ];
  for (const g of golden) {
    for (const rounding of ['torchvision', 'pycls'] as const) {
      it(`${g.name} (${rounding})`, () => {
        const spec = regnetSpec({ ...g.p, rounding });
        expect(spec.stages.map((s) => s.depth)).toEqual(g.depths);
        expect(spec.stages.map((s) => s.width)).toEqual(g.widths);
        expect(spec.stages.map((s) => s.groups)).toEqual(g.groups);
        expect(regnetComplexity(spec).params).toBe(g.trunk);
        const full = regnetComplexity(spec, { resolution: 224, numClasses: 1000 });
        expect(full.params).toBe(g.fc);
        expect(full.flops).toBe(g.flops);
        if (g.acts !== undefined) expect(full.acts).toBe(g.acts);
      });
    }
  }
});

describe('group-width rounding conventions (reference illustrative numbers)', () => {
  it('tie rounding: w_bot 40, g 16 -> torchvision 48, pycls 32', () => {
    expect(adjustGroupCompatibility(40, 1, 16, 'torchvision')).toEqual({ width: 48, groupWidth: 16 });
    expect(adjustGroupCompatibility(40, 1, 16, 'pycls')).toEqual({ width: 32, groupWidth: 16 });
  });

  it('10% rule: w_bot 72, g 32 -> torchvision 96, pycls 64', () => {
    expect(adjustGroupCompatibility(72, 1, 32, 'torchvision')).toEqual({ width: 96, groupWidth: 32 });
    expect(adjustGroupCompatibility(72, 1, 32, 'pycls')).toEqual({ width: 64, groupWidth: 32 });
  });

  it('clamps the group width to the bottleneck width', () => {
    expect(adjustGroupCompatibility(24, 1, 56, 'pycls')).toEqual({ width: 24, groupWidth: 24 });
    expect(adjustGroupCompatibility(24, 1, 56, 'torchvision')).toEqual({ width: 24, groupWidth: 24 });
  });

  it('the conventions give different stages for RegNetY-800MF, -4.0GF, -8.0GF and RegNetX-400MF only', () => {
    const names = new Set(fixture.cases.map((c) => c.name));
    const differing: string[] = [];
    for (const name of names) {
      const [a, b] = (['torchvision', 'pycls'] as const).map((rounding) => {
        const c = fixture.cases.find((x) => x.name === name && x.rounding === rounding) as RegnetCase;
        return regnetSpec({ ...c.params, rounding }).stages.map((s) => s.width);
      });
      if (JSON.stringify(a) !== JSON.stringify(b)) differing.push(name);
    }
    expect(differing.sort()).toEqual(['RegNetX-400MF', 'RegNetY-4.0GF', 'RegNetY-8.0GF', 'RegNetY-800MF']);
  });
});

describe('regnetSpec vs the independent NumPy generator (test/fixtures/ml/regnet.json)', () => {
  it.each(fixture.cases.map((c) => [`${c.name} (${c.rounding})`, c] as const))('%s', (_label, c) => {
    const spec = regnetSpec({ ...c.params, rounding: c.rounding });
    expect(spec.stages.map((s) => s.depth)).toEqual(c.stageDepths);
    expect(spec.stages.map((s) => s.width)).toEqual(c.stageWidths);
    expect(spec.stages.map((s) => s.groupWidth)).toEqual(c.groupWidths);
    expect(spec.stages.map((s) => s.groups)).toEqual(c.groups);
    expect(regnetComplexity(spec)).toEqual(c.trunk);
    expect(regnetComplexity(spec, { numClasses: 1000 })).toEqual(c.fc1000);
    expect(regnetComplexity(spec, { resolution: 96 })).toEqual(c.trunkAt96);
  });
});

describe('SEER RegNetY-256GF (d=27 w0=640 wa=230.83 wm=2.53 g=373)', () => {
  const spec = regnetSpec(SEER_256GF);
  const numpy = fixture.cases.find((c) => c.name === 'SEER RegNetY-256GF' && c.rounding === 'pycls') as RegnetCase;

  it('matches the NumPy stages; widths are multiples of 373, not of 8', () => {
    expect(spec.stages.map((s) => s.depth)).toEqual(numpy.stageDepths);
    expect(spec.stages.map((s) => s.width)).toEqual(numpy.stageWidths);
    expect(spec.stages.reduce((n, s) => n + s.depth, 0)).toBe(27);
    for (const s of spec.stages) expect(s.width % 373).toBe(0);
    expect(spec.stages.some((s) => s.width % 8 !== 0)).toBe(true);
  });

  it('has about 1.3 billion trunk parameters and about 256 GFLOPs at 224 px', () => {
    const cx = regnetComplexity(spec);
    expect(cx.params).toBe(numpy.trunk.params);
    expect(cx.params).toBeGreaterThan(1.2e9);
    expect(cx.params).toBeLessThan(1.4e9);
    expect(cx.flops / 1e9).toBeGreaterThan(240);
    expect(cx.flops / 1e9).toBeLessThan(270);
  });
});

describe('block specs', () => {
  const spec = regnetSpec(Y200);

  it('SE width is round(0.25 * block INPUT width): 8 for the first block (stem width 32)', () => {
    const first = spec.blocks[0];
    expect(first).toMatchObject({ stage: 0, index: 0, wIn: 32, wOut: 24, wB: 24, groups: 3, stride: 2, seWidth: 8 });
    expect(first?.projection).toBe(true);
    for (const b of spec.blocks) expect(b.seWidth).toBe(Math.round(0.25 * b.wIn)); // wIn is a multiple of 8 here
  });

  it('strides 2 and projects only on the first block of each stage', () => {
    expect(spec.blocks).toHaveLength(13);
    for (const b of spec.blocks) {
      expect(b.stride).toBe(b.index === 0 ? 2 : 1);
      expect(b.projection).toBe(b.index === 0);
      expect(b.wB % b.groups).toBe(0);
    }
    expect(spec.outWidth).toBe(368);
  });

  it('RegNetX has no SE', () => {
    expect(regnetSpec(X200).blocks.every((b) => b.seWidth === 0)).toBe(true);
  });

  it('SE width uses half-to-even rounding when 0.25 * wIn is a tie', () => {
    // stem 18: 0.25 * 18 = 4.5 -> 4 (Python round), Math.round would give 5
    expect(regnetSpec({ ...Y200, stemWidth: 18 }).blocks[0]?.seWidth).toBe(4);
    // stem 22: 5.5 -> 6
    expect(regnetSpec({ ...Y200, stemWidth: 22 }).blocks[0]?.seWidth).toBe(6);
  });

  it('block widths follow the quantised linear rule', () => {
    expect(regnetBlockWidths(13, 24, 36.44, 2.49)).toEqual([
      24, 56, 152, 152, 152, 152, 368, 368, 368, 368, 368, 368, 368,
    ]);
    expect(regnetBlockWidths(3, 32, 0, 2)).toEqual([32, 32, 32]);
  });
});

describe('input validation', () => {
  const bad: [Partial<RegNetParams>, RegExp][] = [
    [{ depth: 0 }, /depth/],
    [{ depth: 2.5 }, /depth/],
    [{ w0: 20 }, /w0/],
    [{ w0: -8 }, /w0/],
    [{ wa: -1 }, /wa/],
    [{ wm: 1 }, /wm/],
    [{ wm: Number.NaN }, /wm/],
    [{ groupWidth: 0 }, /groupWidth/],
    [{ bottleneckMultiplier: 0 }, /bottleneckMultiplier/],
    [{ seRatio: 1.5 }, /seRatio/],
    [{ seRatio: 0.001 }, /seRatio/],
    [{ stemWidth: 0 }, /stemWidth/],
    [{ rounding: 'numpy' as 'pycls' }, /rounding/],
  ];
  it.each(bad)('rejects %j', (patch, msg) => {
    expect(() => regnetSpec({ ...Y200, ...patch })).toThrow(RangeError);
    expect(() => regnetSpec({ ...Y200, ...patch })).toThrow(msg);
  });

  it('rejects a bad resolution or class count', () => {
    const spec = regnetSpec(Y200);
    expect(() => regnetComplexity(spec, { resolution: 0 })).toThrow(/resolution/);
    expect(() => regnetComplexity(spec, { numClasses: 1.5 })).toThrow(/numClasses/);
  });
});
