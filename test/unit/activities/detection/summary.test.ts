import { resolveDetectionSettings, seedStat, summarizeDetection } from '../../../../activities/detection/types';
import type { DetectionRun } from '../../../../contracts/evaluate';

function run(init: DetectionRun['init'], seed: number, ap: number, ap50: number, ap75: number): DetectionRun {
  return {
    init,
    seed,
    trainImages: 10,
    testImages: 5,
    epochs: 1,
    stats: [ap, ap50, ap75, -1, -1, -1, 0, 0, 0, 0, 0, 0],
    computeSeconds: 1,
  };
}

describe('detection summary', () => {
  it('gives mean and sample std (n - 1) per init, as fractions, in seed order', () => {
    const s = summarizeDetection([
      run('scratch', 2, 0.3, 0.5, 0.2),
      run('scratch', 0, 0.1, 0.3, 0.0),
      run('scratch', 1, 0.2, 0.4, 0.1),
      run('pretrained', 0, 0.25, 0.5, 0.1),
    ]);
    expect(s.scratch?.AP.values).toEqual([0.1, 0.2, 0.3]);
    expect(s.scratch?.AP.mean).toBeCloseTo(0.2, 12);
    expect(s.scratch?.AP.std).toBeCloseTo(0.1, 12);
    expect(s.scratch?.AP50.mean).toBeCloseTo(0.4, 12);
    expect(s.pretrained?.AP).toEqual({ mean: 0.25, std: 0, values: [0.25] });
    expect(seedStat([1, 2, 3, 4]).std).toBeCloseTo(Math.sqrt(5 / 3), 12);
  });

  it('resolves training defaults; a single-epoch run has no warmup', () => {
    expect(resolveDetectionSettings({ epochs: 20 })).toMatchObject({
      batchSize: 16,
      lr: 0.002,
      warmupEpochs: 1,
      headWidth: 32,
    });
    expect(resolveDetectionSettings({ epochs: 1 }).warmupEpochs).toBe(0);
    expect(resolveDetectionSettings({ epochs: 5, train: { lr: 0.01, warmupEpochs: 2 } })).toMatchObject({
      lr: 0.01,
      warmupEpochs: 2,
    });
  });
});
