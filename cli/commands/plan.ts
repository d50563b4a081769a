/**
 * `seerflow plan`: print the RegNet stages, parameter count and FLOPs of a preset or of explicit generator
 * parameters, without building a model.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig } from '../../config/load';
import { PRESET_NAMES } from '../../config/presets';
import { regnetComplexity, regnetSpec, type RegNetParams, type RegNetRounding, type RegNetSpec } from '../../ml';
import { CliError, EXIT } from '../exit-codes';

/** Parsed options of `seerflow plan` (commander's camelCase keys). */
export interface PlanOptions {
  preset?: string;
  depth?: number;
  w0?: number;
  wa?: number;
  wm?: number;
  groupWidth?: number;
  bottleneckMultiplier?: number;
  /** SE ratio; `false` from `--no-se`. */
  se?: number | false;
  rounding?: string;
  stemWidth?: number;
  numClasses?: number;
  resolution?: number;
  json?: boolean;
}

/** Everything the command reports. */
export interface PlanResult {
  regnet: Required<RegNetParams>;
  spec: RegNetSpec;
  resolution: number;
  numClasses?: number;
  stageDepths: number[];
  stageWidths: number[];
  groupWidths: number[];
  /** Trainable parameters of the trunk, plus the classifier when `numClasses` is set. */
  params: number;
  /** Multiply-adds for one image at `resolution` (pycls convention), classifier included when present. */
  flops: number;
}

function usage(message: string): CliError {
  return new CliError(message, EXIT.usage);
}

/**
 * Resolve the options into a plan: preset (or schema defaults) first, then each explicit flag.
 *
 * @throws CliError with exit code 2 for an unknown preset or invalid RegNet parameters.
 */
export function computePlan(opts: PlanOptions): PlanResult {
  let base;
  try {
    base = loadConfig(opts.preset !== undefined ? { preset: opts.preset } : {}).model.regnet;
  } catch (err) {
    if (err instanceof ConfigError) throw usage(err.message);
    throw err;
  }
  if (opts.rounding !== undefined && opts.rounding !== 'torchvision' && opts.rounding !== 'pycls') {
    throw usage(`--rounding must be torchvision or pycls, got "${opts.rounding}"`);
  }
  const regnet: Required<RegNetParams> = {
    depth: opts.depth ?? base.depth,
    w0: opts.w0 ?? base.w0,
    wa: opts.wa ?? base.wa,
    wm: opts.wm ?? base.wm,
    groupWidth: opts.groupWidth ?? base.groupWidth,
    bottleneckMultiplier: opts.bottleneckMultiplier ?? base.bottleneckMultiplier,
    seRatio: opts.se === false ? 0 : (opts.se ?? base.seRatio),
    rounding: (opts.rounding as RegNetRounding | undefined) ?? base.rounding,
    stemWidth: opts.stemWidth ?? base.stemWidth,
  };
  const resolution = opts.resolution ?? 224;
  try {
    const spec = regnetSpec(regnet);
    const cx = regnetComplexity(spec, { resolution, numClasses: opts.numClasses });
    const result: PlanResult = {
      regnet,
      spec,
      resolution,
      stageDepths: spec.stages.map((s) => s.depth),
      stageWidths: spec.stages.map((s) => s.width),
      groupWidths: spec.stages.map((s) => s.groupWidth),
      params: cx.params,
      flops: cx.flops,
    };
    if (opts.numClasses !== undefined) result.numClasses = opts.numClasses;
    return result;
  } catch (err) {
    if (err instanceof RangeError) throw usage(err.message);
    throw err;
  }
}

/** The `--json` line: exactly these keys, in this order. */
export function formatPlanJson(p: PlanResult): string {
  const { stageDepths, stageWidths, groupWidths, params, flops } = p;
  return `${JSON.stringify({ stageDepths, stageWidths, groupWidths, params, flops })}\n`;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** Human-readable table of the plan. */
export function formatPlanTable(p: PlanResult): string {
  const r = p.regnet;
  const lines = [
    `RegNet d=${r.depth} w0=${r.w0} wa=${r.wa} wm=${r.wm} g=${r.groupWidth} b=${r.bottleneckMultiplier} ` +
      `se=${r.seRatio === 0 ? 'off' : r.seRatio} rounding=${r.rounding} stem=${r.stemWidth}`,
    '',
  ];
  const header = ['stage', 'depth', 'width', 'bottleneck', 'group width', 'groups', 'stride'];
  const rows = p.spec.stages.map((s, i) =>
    [i + 1, s.depth, s.width, s.bottleneckWidth, s.groupWidth, s.groups, s.stride].map(String),
  );
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => (row[c] ?? '').length)));
  for (const row of [header, ...rows]) lines.push(row.map((cell, c) => cell.padStart(widths[c] ?? 0)).join('  '));
  const head = p.numClasses !== undefined ? ` (trunk + ${p.numClasses}-way classifier)` : ' (trunk)';
  lines.push('');
  lines.push(`params  ${fmt(p.params)}${head}`);
  lines.push(
    `flops   ${fmt(p.flops)} multiply-adds at ${p.resolution}x${p.resolution} (${(p.flops / 1e9).toFixed(3)} G)`,
  );
  return `${lines.join('\n')}\n`;
}

/** The command's handler: compute and print. Exported so tests can call it without a process. */
export function runPlan(opts: PlanOptions, write: (text: string) => void = (t) => process.stdout.write(t)): PlanResult {
  const plan = computePlan(opts);
  write(opts.json ? formatPlanJson(plan) : formatPlanTable(plan));
  return plan;
}

function numberArg(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} expects a number.`);
    return n;
  };
}

/** Adds `plan` to the program. */
export function register(program: Command): void {
  program
    .command('plan')
    .description('print RegNet stages, parameter count and FLOPs for a preset or explicit generator parameters')
    .addOption(new Option('--preset <name>', 'start from a preset').choices(PRESET_NAMES))
    .option('--depth <d>', 'number of blocks', numberArg('--depth'))
    .option('--w0 <w>', 'initial width (multiple of 8)', numberArg('--w0'))
    .option('--wa <a>', 'width slope', numberArg('--wa'))
    .option('--wm <m>', 'width multiplier (> 1)', numberArg('--wm'))
    .option('--group-width <g>', 'group width of the 3x3 convs', numberArg('--group-width'))
    .option('--bottleneck-multiplier <b>', 'bottleneck multiplier', numberArg('--bottleneck-multiplier'))
    .option('--se <ratio>', 'squeeze-excitation ratio', numberArg('--se'))
    .option('--no-se', 'disable squeeze-excitation (RegNetX)')
    .addOption(new Option('--rounding <mode>', 'group-width rounding').choices(['torchvision', 'pycls']))
    .option('--stem-width <w>', 'stem output channels', numberArg('--stem-width'))
    .option('--num-classes <n>', 'add a Linear classifier with n outputs', numberArg('--num-classes'))
    .option('--resolution <px>', 'input side for FLOPs', numberArg('--resolution'), 224)
    .option('--json', 'print one JSON line')
    .action((opts: PlanOptions) => {
      runPlan(opts);
    });
}
