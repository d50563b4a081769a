import { Command, CommanderError } from 'commander';
import { computePlan, register, runPlan, type PlanOptions } from '../../../cli/commands/plan';
import { CliError, EXIT } from '../../../cli/exit-codes';
import { loadFixture } from '../ml/fixture-helpers';

function capture(opts: PlanOptions): string {
  let out = '';
  runPlan(opts, (t) => {
    out += t;
  });
  return out;
}

describe('seerflow plan handler', () => {
  it('--json prints exactly the documented keys (RegNetY-200MF flags + 1000 classes)', () => {
    const out = capture({ depth: 13, w0: 24, wa: 36.44, wm: 2.49, groupWidth: 8, numClasses: 1000, json: true });
    expect(out).toBe(
      '{"stageDepths":[1,1,4,7],"stageWidths":[24,56,152,368],"groupWidths":[8,8,8,8],"params":3162996,"flops":199519076}\n',
    );
  });

  it('counts the trunk only without --num-classes, and --no-se gives RegNetX-200MF', () => {
    expect(computePlan({}).params).toBe(2_793_996); // schema defaults are RegNetY-200MF
    const x = computePlan({ se: false, numClasses: 1000 });
    expect(x.params).toBe(2_684_792);
    expect(x.flops).toBe(199_040_872);
  });

  it('--preset seer-256gf takes the RegNet parameters from config/presets.ts', () => {
    const numpy = loadFixture<{
      cases: {
        name: string;
        rounding: string;
        stageWidths: number[];
        stageDepths: number[];
        trunk: { params: number };
      }[];
    }>('regnet.json').cases.find((c) => c.name === 'SEER RegNetY-256GF' && c.rounding === 'pycls')!;
    const out = JSON.parse(capture({ preset: 'seer-256gf', json: true })) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['stageDepths', 'stageWidths', 'groupWidths', 'params', 'flops']);
    expect(out.stageDepths).toEqual(numpy.stageDepths);
    expect(out.stageWidths).toEqual(numpy.stageWidths);
    expect(out.groupWidths).toEqual([373, 373, 373, 373]);
    expect(out.params).toBe(numpy.trunk.params);
  });

  it('--preset tiny uses the preset stem width and flags override preset values', () => {
    const tiny = computePlan({ preset: 'tiny' });
    expect(tiny.regnet.stemWidth).toBe(16);
    expect(tiny.stageDepths).toEqual([1, 3]);
    expect(tiny.stageWidths).toEqual([16, 32]);
    expect(computePlan({ preset: 'tiny', depth: 6 }).stageDepths.reduce((a, b) => a + b, 0)).toBe(6);
  });

  it('--rounding torchvision changes RegNetY-800MF widths', () => {
    const p = { depth: 14, w0: 56, wa: 38.84, wm: 2.4, groupWidth: 16 };
    expect(computePlan({ ...p, rounding: 'torchvision' }).stageWidths).toEqual([64, 144, 320, 784]);
    expect(computePlan({ ...p, rounding: 'pycls' }).stageWidths).toEqual([64, 128, 320, 768]);
  });

  it('prints a readable table without --json', () => {
    const out = capture({ numClasses: 1000 });
    expect(out).toMatch(/stage\s+depth\s+width/);
    expect(out).toContain('3,162,996');
    expect(out).toContain('199,519,076');
    expect(out.split('\n').filter((l) => /^\s+\d+\s+\d+\s+\d+/.test(l))).toHaveLength(4);
  });

  it.each<[PlanOptions, RegExp]>([
    [{ w0: 20 }, /w0/],
    [{ depth: 0 }, /depth/],
    [{ wm: 0.5 }, /wm/],
    [{ preset: 'huge' }, /unknown preset/],
    [{ rounding: 'numpy' }, /rounding/],
    [{ numClasses: -3 }, /numClasses/],
  ])('invalid input %j -> CliError with exit code 2', (opts, msg) => {
    let err: unknown;
    try {
      computePlan(opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.usage);
    expect((err as CliError).message).toMatch(msg);
  });
});

describe('seerflow plan command wiring (commander)', () => {
  function program(): Command {
    const p = new Command('seerflow').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    register(p);
    return p;
  }

  it('parses flags into the handler options', async () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await program().parseAsync(
        [
          'plan',
          '--depth',
          '13',
          '--w0',
          '24',
          '--wa',
          '36.44',
          '--wm',
          '2.49',
          '--group-width',
          '8',
          '--no-se',
          '--num-classes',
          '1000',
          '--json',
        ],
        { from: 'user' },
      );
      const printed = write.mock.calls.map((c) => String(c[0])).join('');
      expect(JSON.parse(printed)).toMatchObject({ params: 2_684_792, flops: 199_040_872 });
    } finally {
      write.mockRestore();
    }
  });

  it('rejects a non-numeric value and an unknown preset as usage errors', async () => {
    await expect(program().parseAsync(['plan', '--depth', 'x'], { from: 'user' })).rejects.toBeInstanceOf(
      CommanderError,
    );
    await expect(program().parseAsync(['plan', '--preset', 'huge'], { from: 'user' })).rejects.toBeInstanceOf(
      CommanderError,
    );
    await expect(program().parseAsync(['plan', '--w0', '20', '--json'], { from: 'user' })).rejects.toMatchObject({
      exitCode: EXIT.usage,
    });
  });
});
