import { formatEvaluation } from '../../../cli/eval-table';
import type { EvaluationResult } from '../../../contracts/evaluate';

const stat = (values: number[]) => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
  return { mean, std, values };
};

function result(withDetection: boolean): EvaluationResult {
  const run = {
    protocol: 'lowshot-1' as const,
    init: 'pretrained' as const,
    seed: 0,
    labelFraction: 0.01,
    trainImages: 600,
    testImages: 1000,
    epochs: 2,
    top1: 48,
    finalTop1: 47,
    curve: [40, 48],
    computeSeconds: 1,
  };
  return {
    runName: 'r1',
    checkpointKey: 'runs/r1/pretrain/checkpoints/x.state',
    resultKey: 'runs/r1/evaluate/evaluation.json',
    classification: [run, { ...run, seed: 1, top1: 49 }],
    summary: { 'lowshot-1': { pretrained: stat([48, 49]) } },
    detection: withDetection
      ? [0, 1].flatMap((seed) =>
          (['pretrained', 'scratch'] as const).map((init) => ({
            init,
            seed,
            trainImages: 10,
            testImages: 5,
            epochs: 1,
            stats: Array(12).fill(0.1),
            computeSeconds: 1,
          })),
        )
      : [],
    ...(withDetection
      ? {
          detectionSummary: {
            pretrained: { AP: stat([0.055, 0.053]), AP50: stat([0.17, 0.18]), AP75: stat([0.03, 0.04]) },
            scratch: { AP: stat([0.008, 0.01]), AP50: stat([0.02, 0.03]), AP75: stat([0, 0.01]) },
          },
        }
      : {}),
  };
}

describe('formatEvaluation', () => {
  it('prints the classification table and, when detection ran, the AP table in points', () => {
    const text = formatEvaluation(result(true));
    expect(text).toContain('lowshot-1');
    expect(text).toMatch(/48\.5 ± 0\.7/);
    expect(text).toContain('detection: COCO box AP in points, mean ± std over seeds (4 runs)');
    expect(text).toMatch(/pretrained\s+5\.4 ± 0\.1\s+17\.5 ± 0\.7\s+3\.5 ± 0\.7/);
    expect(text).toMatch(/scratch\s+0\.9 ± 0\.1/);
  });

  it('has no detection section when detection did not run', () => {
    expect(formatEvaluation(result(false))).not.toContain('detection:');
  });
});
