/** The evaluation summary as tables (used by `seerflow run`, `seerflow eval` and `seerflow detection run`). */
import type { EvaluationResult, SeedStat } from '../contracts/evaluate';
import { COCO_STAT_NAMES } from '../ml/coco-eval';
import { formatSeedStat } from '../ml/stats';

/** One row per protocol, one column per initialisation: best-epoch top-1, mean ± std over seeds. */
export function formatEvaluation(r: EvaluationResult): string {
  const inits = ['pretrained', 'scratch'] as const;
  const seeds = new Set(r.classification.map((c) => c.seed)).size;
  const order = ['linear', 'finetune', 'lowshot-1', 'lowshot-10'];
  const protocols = Object.keys(r.summary).sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const rows = protocols.map((protocol) => {
    const byInit = r.summary[protocol as keyof EvaluationResult['summary']];
    const cells = inits.map((i) => (byInit?.[i] ? formatSeedStat(byInit[i]) : '-').padEnd(14));
    const run = r.classification.find((c) => c.protocol === protocol);
    const labels = run ? `${run.trainImages}` : '';
    return `  ${protocol.padEnd(11)} ${labels.padStart(6)}  ${cells.join(' ')}`;
  });
  return [
    `evaluate ${r.runName}: test top-1 % (best epoch), mean ± std over ${seeds} seed(s)`,
    `  ${'protocol'.padEnd(11)} ${'labels'.padStart(6)}  ${inits.map((i) => i.padEnd(14)).join(' ')}`,
    ...rows,
    ...(r.detectionSummary
      ? [
          `detection: COCO box AP in points, mean ± std over seeds (${r.detection.length} runs)`,
          formatDetectionSummary(r.detectionSummary),
        ]
      : []),
    `  checkpoint  ${r.checkpointKey}`,
    `  result      ${r.resultKey}`,
  ].join('\n');
}

/** AP / AP50 / AP75 per initialisation, in points, mean ± std over seeds. */
export function formatDetectionSummary(summary: NonNullable<EvaluationResult['detectionSummary']>): string {
  const f = (x: SeedStat) => `${(100 * x.mean).toFixed(1)} ± ${(100 * x.std).toFixed(1)}`.padStart(13);
  const lines = [
    `  init        ${COCO_STAT_NAMES.slice(0, 3)
      .map((n) => n.padStart(13))
      .join('')}`,
  ];
  for (const [init, s] of Object.entries(summary))
    lines.push(`  ${init.padEnd(11)} ${f(s.AP)}${f(s.AP50)}${f(s.AP75)}`);
  return lines.join('\n');
}
