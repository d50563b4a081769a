import { classBalancedSubset } from '../../../../activities/evaluate/subsets';
import { cosineEpoch, multiStep, protocolSettings, scaledMilestones } from '../../../../activities/evaluate/protocols';
import { classificationPlan, lowShotPlan } from '../../../../workflows/evaluate';

describe('protocol settings', () => {
  it('keep the reference values at the reference batch and scale schedules to the epochs', () => {
    const lin = protocolSettings('linear', 10, 256);
    expect(lin.mode).toBe('linear');
    expect(lin.weightDecay).toBe(1e-6);
    expect(lin.lr(0).head).toBeCloseTo(0.3, 12);
    expect(lin.lr(5).head).toBeCloseTo(0.15, 12);
    expect(lin.lr(0).trunk).toBe(0);
    const one = protocolSettings('lowshot-1', 20, 256);
    expect(one.lr(0)).toEqual({ trunk: 0.02, head: 5 });
    expect(one.lr(12).head).toBeCloseTo(1, 12);
    expect(one.lr(16).head).toBeCloseTo(0.2, 12);
    expect(protocolSettings('lowshot-10', 20, 256).lr(0)).toEqual({ trunk: 0.01, head: 0.2 });
    expect(protocolSettings('lowshot-10', 20, 128).lr(0).head).toBeCloseTo(0.1, 12); // linear scaling rule
    const ft = protocolSettings('finetune', 105, 256);
    expect(ft.lr(29).trunk).toBeCloseTo(0.1, 12);
    expect(ft.lr(30).trunk).toBeCloseTo(0.01, 12);
  });

  it('schedule helpers match PyTorch MultiStepLR and CosineAnnealingLR (per epoch)', () => {
    expect(scaledMilestones([12, 16], 20, 5)).toEqual([3, 4]);
    expect(scaledMilestones([30, 60, 90, 100], 105, 10)).toEqual([3, 6, 9, 10]);
    expect(multiStep(1, [3, 4], 0.2, 2)).toBe(1);
    expect(multiStep(1, [3, 4], 0.2, 4)).toBeCloseTo(0.04, 12);
    expect(cosineEpoch(1, 4, 0)).toBe(1);
    expect(cosineEpoch(1, 4, 2)).toBeCloseTo(0.5, 12);
  });

  it('maps label fractions to the low-shot protocols', () => {
    expect(lowShotPlan([0.1, 0.01])).toEqual([
      { protocol: 'lowshot-1', fraction: 0.01 },
      { protocol: 'lowshot-10', fraction: 0.1 },
    ]);
    expect(lowShotPlan([0.02, 0.015, 1])).toEqual([{ protocol: 'lowshot-1', fraction: 0.02 }]);
    expect(classificationPlan({ labelFractions: [0.01] }).map((p) => p.protocol)).toEqual([
      'linear',
      'finetune',
      'lowshot-1',
    ]);
  });
});

describe('class-balanced subsets', () => {
  // 3 classes with 50, 40 and 10 images
  const lines = Array.from({ length: 100 }, (_, i) => ({
    key: `k/${String(i).padStart(3, '0')}`,
    index: i,
    label: i < 50 ? 0 : i < 90 ? 1 : 2,
  }));

  it('draws the same count from every class, reproducibly, independent of line order', () => {
    const a = classBalancedSubset(lines, 0.15, 3, 'sha');
    expect(a.perClass).toBe(5);
    expect(a.counts).toEqual({ '0': 5, '1': 5, '2': 5 });
    expect(a.keys).toHaveLength(15);
    expect(new Set(a.keys).size).toBe(15);
    expect(classBalancedSubset([...lines].reverse(), 0.15, 3, 'sha')).toEqual(a);
    expect(classBalancedSubset(lines, 0.15, 4, 'sha').keys).not.toEqual(a.keys);
  });

  it('takes at least one per class and at most what a class has', () => {
    expect(classBalancedSubset(lines, 0.001, 0, 'sha').counts).toEqual({ '0': 1, '1': 1, '2': 1 });
    expect(classBalancedSubset(lines, 0.6, 0, 'sha').counts).toEqual({ '0': 20, '1': 20, '2': 10 });
  });
});
