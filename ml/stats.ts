/**
 * Summary statistics over seeds for evaluation reports: mean and sample standard deviation (n - 1 in the
 * denominator, as numpy's `std(ddof=1)`; 0 for a single value), plus grouping of classification runs into the
 * protocol x initialisation table.
 */
import type { ClassificationRun, EvaluationResult, SeedStat } from '../contracts/evaluate';

/** Mean and sample std of `values` (kept in the order given). Throws on an empty or non-finite input. */
export function seedStat(values: readonly number[]): SeedStat {
  if (values.length === 0) throw new RangeError('seedStat needs at least one value');
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`seedStat: non-finite value ${v}`);
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  // Two-pass: sum of squared deviations from the mean (no cancellation for values far from 0).
  const ss = values.reduce((a, b) => a + (b - mean) * (b - mean), 0);
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, values: [...values] };
}

/** protocol -> init -> SeedStat of the best-epoch top-1, values in seed order. */
export function summarizeClassification(runs: readonly ClassificationRun[]): EvaluationResult['summary'] {
  const groups = new Map<string, ClassificationRun[]>();
  for (const r of runs) {
    const k = `${r.protocol}\u0000${r.init}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const out: EvaluationResult['summary'] = {};
  for (const list of groups.values()) {
    const { protocol, init } = list[0] as ClassificationRun;
    const sorted = [...list].sort((a, b) => a.seed - b.seed);
    (out[protocol] ??= {})[init] = seedStat(sorted.map((r) => r.top1));
  }
  return out;
}

/** "mean ± std" with `digits` decimals. */
export function formatSeedStat(s: SeedStat, digits = 1): string {
  return `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}`;
}
