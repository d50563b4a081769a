/**
 * The evaluation input: complete (no optional field), every default from the schema, one mapping
 * (`evaluationInputFor`) for the pipeline and `seerflow eval`; and the tiny demo's values pinned to what they were
 * before the defaults moved into the schema, so the demo computes the same numbers.
 */
import { loadConfig } from '../../../config/load';
import { SeerConfigSchema } from '../../../config/schema';
import { detectionDatasetOf } from '../../../contracts/detection';
import { evaluationInputFor, type EvaluationInput } from '../../../contracts/evaluate';
import type { CheckpointPointer } from '../../../contracts/pretrain';
import { datasetVersion, resolveDatasetOptions } from '../../../datasets/detection/build-dataset';

const checkpoint: CheckpointPointer = {
  key: 'runs/r/pretrain/checkpoints/step-00000010-a1.state',
  step: 10,
  cursor: { epoch: 1, position: 0 },
  sha256: 'ab',
  bytes: 1,
  loss: 3,
  backend: 'test',
};

const TRAIN_DEFAULTS = {
  batchSize: 16,
  lr: 0.002,
  finalLr: 0.00002,
  warmupEpochs: 1,
  weightDecay: 1e-4,
  headWidth: 32,
  flip: true,
  scoreThreshold: 0.01,
};

/** Every field of the input, recursively: none may be undefined. */
function undefinedPaths(v: unknown, at = 'input'): string[] {
  if (v === undefined) return [at];
  if (v === null || typeof v !== 'object') return [];
  return Object.entries(v).flatMap(([k, x]) => undefinedPaths(x, `${at}.${k}`));
}

describe('evaluationInputFor', () => {
  it('{} parses to a complete evaluation input', () => {
    const cfg = SeerConfigSchema.parse({});
    expect(cfg.eval).toEqual({
      enabled: true,
      seeds: [0, 1, 2],
      labelFractions: [0.01, 0.1],
      epochs: 20,
      batchSize: 256,
      detection: { enabled: true, images: 1000, testImages: 250, size: 64, epochs: 20, train: TRAIN_DEFAULTS },
    });
    const input = evaluationInputFor(cfg, 'demo', checkpoint);
    expect(undefinedPaths(input)).toEqual([]);
    const keys: (keyof EvaluationInput)[] = [
      'runName',
      'bucket',
      'checkpoint',
      'regnet',
      'swav',
      'seeds',
      'labelFractions',
      'epochs',
      'shortSide',
      'jpegQuality',
      'batchSize',
      'detection',
    ];
    expect(Object.keys(input).sort()).toEqual([...keys].sort());
    expect(input).toMatchObject({ shortSide: 256, jpegQuality: 90, batchSize: 256 });
    expect(input.detection).toEqual({
      images: 1000,
      testImages: 250,
      size: 64,
      seed: 0,
      epochs: 20,
      train: TRAIN_DEFAULTS,
    });
  });

  it('takes the classification batch size and the dataset seed from the config', () => {
    const input = evaluationInputFor(loadConfig({ set: ['eval.batchSize=64', 'run.seed=5'] }), 'r', checkpoint);
    expect(input.batchSize).toBe(64);
    expect(input.detection?.seed).toBe(5);
    expect(() => loadConfig({ set: ['eval.batchSize=1'] })).toThrow(/eval\.batchSize/);
    expect(() => loadConfig({ set: ['eval.detection.train.lr=-1'] })).toThrow(/eval\.detection\.train\.lr/);
  });

  it('resolves testImages once: the resolved config carries a number, and re-parsing it keeps it', () => {
    const cfg = loadConfig({ set: ['eval.detection.images=10'] });
    expect(cfg.eval.detection.testImages).toBe(3);
    expect(SeerConfigSchema.parse(JSON.parse(JSON.stringify(cfg))).eval.detection.testImages).toBe(3);
  });
});

describe('the tiny preset, pinned', () => {
  const tiny = loadConfig({ preset: 'tiny' });
  const input = evaluationInputFor(tiny, 'demo', checkpoint);

  it('evaluates as before: classification settings and the detection spec', () => {
    expect(tiny.eval).toEqual({
      enabled: true,
      seeds: [0, 1, 2],
      labelFractions: [0.01, 0.1],
      epochs: 10,
      batchSize: 256,
      detection: { enabled: true, images: 500, testImages: 125, size: 64, epochs: 8, train: TRAIN_DEFAULTS },
    });
    expect(input).toMatchObject({
      bucket: 'seerflow',
      seeds: [0, 1, 2],
      labelFractions: [0.01, 0.1],
      epochs: 10,
      shortSide: 40,
      jpegQuality: 90,
      batchSize: 256,
    });
    expect(input.detection).toEqual({
      images: 500,
      testImages: 125,
      size: 64,
      seed: 0,
      epochs: 8,
      train: TRAIN_DEFAULTS,
    });
  });

  it('builds the same detection dataset (same version, same resolved options)', () => {
    const dataset = detectionDatasetOf(present(input.detection));
    // The versions the demo and `seerflow detection build` wrote before (docs/detection.md, docs/evaluation.md).
    expect(datasetVersion(dataset)).toBe('fmnist64-n500-t125-s0-68c70334');
    expect(
      datasetVersion(
        detectionDatasetOf(present(evaluationInputFor(SeerConfigSchema.parse({}), 'd', checkpoint).detection)),
      ),
    ).toBe('fmnist64-n1000-t250-s0-767f57f7');
    expect(resolveDatasetOptions(dataset)).toEqual({
      images: 500,
      testImages: 125,
      seed: 0,
      size: 64,
      minObjects: 1,
      maxObjects: 3,
      minSide: 16,
      maxSide: 40,
      alphaThreshold: 24,
      minVisible: 0.3,
      photos: 19,
    });
  });
});

function present<T>(v: T | null): T {
  if (v === null) throw new Error('expected a detection spec');
  return v;
}
