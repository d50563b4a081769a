/**
 * Summary statistics over seeds for evaluation reports: mean and sample standard deviation (n - 1 in the
 * denominator, as numpy's `std(ddof=1)`; 0 for a single value), plus grouping of classification runs into the
 * protocol x initialisation table and of detection runs into the per-initialisation AP table. The one
 * implementation: the evaluation stage, `seerflow detection run` and the report all use it.
 */
import type { ClassificationRun, DetectionRun, EvaluationResult, SeedStat } from '../contracts/evaluate';

/**
 * Mean and sample std of `values` (kept in the order given). Throws a RangeError on an empty input (there is no
 * mean of no runs: callers decide what "no runs" means) and on a non-finite value.
 */
export function seedStat(values: readonly number[]): SeedStat {
  if (values.length === 0) throw new RangeError('seedStat needs at least one value (no runs)');
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

/**
 * `EvaluationResult.detectionSummary`: per initialisation that has runs, AP / AP50 / AP75 over seeds (seed order),
 * as fractions like `DetectionRun.stats` (the report scales by 100). An initialisation without runs has no entry;
 * a run without its stats is refused, never counted as 0 AP.
 */
export function summarizeDetection(runs: readonly DetectionRun[]): NonNullable<EvaluationResult['detectionSummary']> {
  const out: NonNullable<EvaluationResult['detectionSummary']> = {};
  for (const init of ['pretrained', 'scratch'] as const) {
    const list = runs.filter((r) => r.init === init).sort((a, b) => a.seed - b.seed);
    if (list.length === 0) continue;
    // `DetectionRun.stats` is in pycocotools order: AP, AP50, AP75 first.
    const stat = (name: string, i: number) =>
      seedStat(
        list.map((r) => {
          const v = r.stats[i];
          if (v === undefined) throw new RangeError(`detection run ${init}/seed${r.seed} has no ${name} stat`);
          return v;
        }),
      );
    out[init] = { AP: stat('AP', 0), AP50: stat('AP50', 1), AP75: stat('AP75', 2) };
  }
  return out;
}

/** "mean ± std" with `digits` decimals. */
export function formatSeedStat(s: SeedStat, digits = 1): string {
  return `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}`;
}
