/**
 * RegNet design space: turns the few generator parameters (depth, w0, wa, wm, group width, ...) into stages and
 * per-block specs. Pure data, no tensors: the tfjs model builder and the complexity counter both walk this spec,
 * so what is built and what is counted cannot drift apart (the pycls build/complexity symmetry).
 */
import { makeDivisible, roundHalfEven } from './rounding';

/** Widths are quantised to multiples of this before the group-width adjustment. */
export const WIDTH_QUANTUM = 8;

/** Group-width rounding convention: torchvision `_make_divisible` or pycls/ClassyVision `round` (half to even). */
export type RegNetRounding = 'torchvision' | 'pycls';

/** Generator inputs of a RegNet (pycls `REGNET.*` / torchvision `BlockParams.from_init_params`). */
export interface RegNetParams {
  /** Total number of blocks d (>= 1). */
  depth: number;
  /** Initial width w0 (> 0, multiple of 8). */
  w0: number;
  /** Width slope wa (>= 0). */
  wa: number;
  /** Width multiplier wm (> 1): the base of the log-space quantisation. */
  wm: number;
  /** Requested group width g of the 3x3 group convolutions (positive integer). */
  groupWidth: number;
  /** Bottleneck multiplier b; 1 for every RegNet of the papers. @default 1 */
  bottleneckMultiplier?: number;
  /** Squeeze-and-excitation ratio relative to the block input width; 0 disables SE (RegNetX). @default 0.25 */
  seRatio?: number;
  /** Group-width rounding convention. @default 'pycls' */
  rounding?: RegNetRounding;
  /** Output channels of the 3x3/stride-2 stem. @default 32 */
  stemWidth?: number;
}

/** One stage: `depth` blocks of the same output width; the first block has stride 2. */
export interface RegNetStage {
  depth: number;
  /** Output width of every block of the stage (after the group-width adjustment). */
  width: number;
  /** Width of the bottleneck (3x3 group conv) = round(width * b). */
  bottleneckWidth: number;
  /** Adjusted group width g_i = min(g, bottleneck width), so that it divides the bottleneck width. */
  groupWidth: number;
  /** Number of groups of the 3x3 conv = bottleneckWidth / groupWidth. */
  groups: number;
  /** Stride of the first block. */
  stride: number;
}

/** One residual bottleneck block (1x1 -> 3x3 group conv [-> SE] -> 1x1, plus shortcut). */
export interface RegNetBlockSpec {
  /** 0-based stage index. */
  stage: number;
  /** 0-based index of the block inside its stage. */
  index: number;
  wIn: number;
  wOut: number;
  /** Bottleneck width. */
  wB: number;
  /** Groups of the 3x3 conv. */
  groups: number;
  /** Stride of the 3x3 conv (and of the projection shortcut). */
  stride: number;
  /** Channels of the SE squeeze layer, round(seRatio * wIn); 0 = no SE. */
  seWidth: number;
  /** True when the shortcut is a 1x1 conv + BN (wIn != wOut or stride != 1). */
  projection: boolean;
}

/** A fully resolved RegNet trunk: stem, stages and blocks in forward order. */
export interface RegNetSpec {
  stemWidth: number;
  seRatio: number;
  stages: RegNetStage[];
  blocks: RegNetBlockSpec[];
  /** Channels of the trunk output (last stage width). */
  outWidth: number;
}

function requireFinite(name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite number, got ${v}`);
}

function requirePositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Per-block quantised widths w_j of the RegNet generator (before grouping into stages and before the group-width
 * adjustment): u_j = w0 + wa*j, s_j = round(log(u_j/w0)/log(wm)), w_j = round(w0*wm^s_j / 8) * 8, with NumPy's
 * half-to-even rounding.
 */
export function regnetBlockWidths(depth: number, w0: number, wa: number, wm: number): number[] {
  requirePositiveInt('depth', depth);
  requireFinite('w0', w0);
  requireFinite('wa', wa);
  requireFinite('wm', wm);
  if (w0 <= 0 || w0 % WIDTH_QUANTUM !== 0) throw new RangeError(`w0 must be a positive multiple of 8, got ${w0}`);
  if (wa < 0) throw new RangeError(`wa must be >= 0, got ${wa}`);
  if (wm <= 1) throw new RangeError(`wm must be > 1, got ${wm}`);
  const logWm = Math.log(wm);
  const widths: number[] = [];
  for (let j = 0; j < depth; j++) {
    const u = w0 + wa * j;
    const s = roundHalfEven(Math.log(u / w0) / logWm);
    widths.push(roundHalfEven((w0 * Math.pow(wm, s)) / WIDTH_QUANTUM) * WIDTH_QUANTUM);
  }
  return widths;
}

/**
 * Make a stage's bottleneck width divisible by its group width, as torchvision or pycls does it. Returns the
 * adjusted stage width and group width.
 */
export function adjustGroupCompatibility(
  width: number,
  bottleneckMultiplier: number,
  groupWidth: number,
  rounding: RegNetRounding,
): { width: number; groupWidth: number } {
  if (rounding === 'torchvision') {
    const wBot = Math.trunc(width * bottleneckMultiplier);
    if (wBot < 1) throw new RangeError(`bottleneckMultiplier ${bottleneckMultiplier} gives an empty bottleneck`);
    const g = Math.min(groupWidth, wBot);
    return { width: Math.trunc(makeDivisible(wBot, g) / bottleneckMultiplier), groupWidth: g };
  }
  // pycls adjust_block_compatibility: the bottleneck must also stay a multiple of b when b is an integer > 1.
  const wBot = Math.trunc(Math.max(1, width * bottleneckMultiplier));
  const g = Math.trunc(Math.min(groupWidth, wBot));
  const b = Math.trunc(bottleneckMultiplier);
  const m = bottleneckMultiplier > 1 ? (g * b) / gcd(g, b) : g;
  const adjusted = Math.max(m, Math.trunc(roundHalfEven(wBot / m) * m));
  return { width: Math.trunc(adjusted / bottleneckMultiplier), groupWidth: g };
}

/**
 * Resolve RegNet generator parameters into stages and blocks. Stages are runs of equal consecutive block widths;
 * each starts with a stride-2 block. SE width is round(seRatio * block INPUT width) (half to even), as in
 * torchvision, pycls and ClassyVision.
 *
 * @throws RangeError naming the offending parameter when an input is out of range.
 */
export function regnetSpec(p: RegNetParams): RegNetSpec {
  const b = p.bottleneckMultiplier ?? 1;
  const seRatio = p.seRatio ?? 0.25;
  const rounding = p.rounding ?? 'pycls';
  const stemWidth = p.stemWidth ?? 32;
  requirePositiveInt('groupWidth', p.groupWidth);
  requireFinite('bottleneckMultiplier', b);
  if (b <= 0) throw new RangeError(`bottleneckMultiplier must be > 0, got ${b}`);
  requireFinite('seRatio', seRatio);
  if (seRatio < 0 || seRatio > 1) throw new RangeError(`seRatio must be in [0, 1], got ${seRatio}`);
  if (rounding !== 'torchvision' && rounding !== 'pycls') {
    throw new RangeError(`rounding must be 'torchvision' or 'pycls', got ${String(rounding)}`);
  }
  requirePositiveInt('stemWidth', stemWidth);

  const blockWidths = regnetBlockWidths(p.depth, p.w0, p.wa, p.wm);
  const runs: { width: number; depth: number }[] = [];
  for (const w of blockWidths) {
    const last = runs[runs.length - 1];
    if (last && last.width === w) last.depth += 1;
    else runs.push({ width: w, depth: 1 });
  }

  const stages: RegNetStage[] = runs.map((run) => {
    const adj = adjustGroupCompatibility(run.width, b, p.groupWidth, rounding);
    const bottleneckWidth = roundHalfEven(adj.width * b);
    return {
      depth: run.depth,
      width: adj.width,
      bottleneckWidth,
      groupWidth: adj.groupWidth,
      groups: Math.floor(bottleneckWidth / adj.groupWidth),
      stride: 2,
    };
  });

  const blocks: RegNetBlockSpec[] = [];
  let wIn = stemWidth;
  stages.forEach((st, stage) => {
    for (let index = 0; index < st.depth; index++) {
      const stride = index === 0 ? st.stride : 1;
      const seWidth = seRatio > 0 ? roundHalfEven(seRatio * wIn) : 0;
      if (seRatio > 0 && seWidth < 1) {
        throw new RangeError(`seRatio ${seRatio} gives an SE width of 0 for block input width ${wIn}`);
      }
      blocks.push({
        stage,
        index,
        wIn,
        wOut: st.width,
        wB: st.bottleneckWidth,
        groups: st.groups,
        stride,
        seWidth,
        projection: wIn !== st.width || stride !== 1,
      });
      wIn = st.width;
    }
  });

  return { stemWidth, seRatio, stages, blocks, outWidth: wIn };
}
