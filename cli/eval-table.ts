/** The evaluation summary as a table (used by `seerflow run` and `seerflow eval`). */
import type { EvaluationResult } from '../contracts/evaluate';
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
    `  checkpoint  ${r.checkpointKey}`,
    `  result      ${r.resultKey}`,
  ].join('\n');
}
