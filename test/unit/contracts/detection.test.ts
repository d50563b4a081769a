import { resolveDetectionSettings } from '../../../contracts/detection';
describe('detection training settings', () => {
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
