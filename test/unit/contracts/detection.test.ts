import { DetectionSpecSchema, DetectionTrainSchema } from '../../../config/schema';
import { detectionDatasetOf, resolveDetectionSettings } from '../../../contracts/detection';

describe('detection training settings', () => {
  const defaults = DetectionTrainSchema.parse({});

  it('resolves training defaults; a single-epoch run has no warmup', () => {
    expect(resolveDetectionSettings({ epochs: 20, train: defaults })).toMatchObject({
      batchSize: 16,
      lr: 0.002,
      warmupEpochs: 1,
      headWidth: 32,
    });
    expect(resolveDetectionSettings({ epochs: 1, train: defaults }).warmupEpochs).toBe(0);
    expect(resolveDetectionSettings({ epochs: 5, train: { ...defaults, lr: 0.01, warmupEpochs: 2 } })).toMatchObject({
      lr: 0.01,
      warmupEpochs: 2,
    });
  });

  it('gives the settings the run fingerprint hashes, in a fixed key order', () => {
    // The JSON the trainer hashed before the defaults moved into the schema: finished runs stay cache hits.
    expect(JSON.stringify(resolveDetectionSettings({ epochs: 8, train: defaults }))).toBe(
      '{"batchSize":16,"lr":0.002,"finalLr":0.00002,"warmupEpochs":1,"weightDecay":0.0001,"headWidth":32,"flip":true,"scoreThreshold":0.01}',
    );
    const shuffled = Object.fromEntries(Object.entries(defaults).reverse()) as typeof defaults;
    expect(JSON.stringify(resolveDetectionSettings({ epochs: 8, train: shuffled }))).toBe(
      JSON.stringify(resolveDetectionSettings({ epochs: 8, train: defaults })),
    );
  });
});

describe('detection spec', () => {
  it('{} parses to the benchmark of docs/detection.md, testImages resolved', () => {
    expect(DetectionSpecSchema.parse({})).toEqual({
      images: 1000,
      testImages: 250,
      size: 64,
      seed: 0,
      epochs: 20,
      train: {
        batchSize: 16,
        lr: 0.002,
        finalLr: 0.00002,
        warmupEpochs: 1,
        weightDecay: 1e-4,
        headWidth: 32,
        flip: true,
        scoreThreshold: 0.01,
      },
    });
  });

  it('keeps the images / 4 rule (rounded, at least 1) unless testImages is given', () => {
    expect(DetectionSpecSchema.parse({ images: 500 }).testImages).toBe(125);
    expect(DetectionSpecSchema.parse({ images: 2 }).testImages).toBe(1);
    expect(DetectionSpecSchema.parse({ images: 10 }).testImages).toBe(3);
    expect(DetectionSpecSchema.parse({ images: 10, testImages: 7 }).testImages).toBe(7);
    expect(() => DetectionSpecSchema.parse({ train: { lr: 0 } })).toThrow(/lr/);
  });

  it('names the dataset with its dataset fields only', () => {
    const spec = DetectionSpecSchema.parse({ images: 48, testImages: 16, seed: 3, size: 32, photos: 2 });
    expect(detectionDatasetOf(spec)).toEqual({ images: 48, testImages: 16, size: 32, seed: 3, photos: 2 });
    expect('photos' in detectionDatasetOf(DetectionSpecSchema.parse({}))).toBe(false);
  });
});
