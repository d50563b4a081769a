/**
 * Named starting points. A preset is a partial config; the schema fills in the rest.
 * `tiny` fits the 2-core demo and the tests; `seer-256gf` carries the SEER paper's settings.
 */
import type { SeerConfigInput } from './schema';

export const PRESETS = {
  tiny: {
    preset: 'tiny',
    ingest: { partitionTarget: 8, maxParallelPartitions: 4, manifestShardSize: 2000, validateConcurrency: 8 },
    preprocess: { shortSide: 40, jpegQuality: 90, shardTargetBytes: 1 << 20 },
    model: { regnet: { depth: 4, w0: 16, wa: 8, wm: 2.0, groupWidth: 8, seRatio: 0.25, stemWidth: 16 } },
    swav: {
      hiddenDims: [128],
      featureDim: 32,
      prototypes: 30,
      epsilon: 0.05,
      sinkhornIterations: 3,
      // Milder crop scales than SEER's (0.14-1 / 0.05-0.14): on 28x28 Fashion-MNIST upsampled to 40 px, small crops
      // of 5-14% are mostly flat background, and SwAV collapsed to the uniform solution (loss ln K); docs/evaluation.md.
      crops: [
        { size: 32, count: 2, minScale: 0.4, maxScale: 1 },
        { size: 16, count: 4, minScale: 0.15, maxScale: 0.4 },
      ],
      freezePrototypesIters: 20,
    },
    // SwAV's batch-4096 LR (4.8 with LARS): at 0.3 the loss stayed at ln K (3.40) through 4 epochs (docs/evaluation.md).
    optim: { baseLr: 4.8, finalLr: 0.0048, warmupEpochs: 0, weightDecay: 1e-6 },
    train: { epochs: 10, batchSize: 32, checkpointEverySteps: 10, keepCheckpoints: 3, segmentSteps: 500 },
    // Detection at half the benchmark's images and fewer epochs (docs/detection.md): ~30 s per run on 2 cores.
    eval: { seeds: [0, 1, 2], labelFractions: [0.01, 0.1], epochs: 10, detection: { images: 500, epochs: 8 } },
  },
  'seer-256gf': {
    preset: 'seer-256gf',
    model: {
      regnet: { depth: 27, w0: 640, wa: 230.83, wm: 2.53, groupWidth: 373, seRatio: 0.25, bottleneckMultiplier: 1 },
    },
    preprocess: { shortSide: 256 },
    swav: {
      hiddenDims: [8192, 8192],
      headBatchNorm: false,
      featureDim: 256,
      prototypes: 16_000,
      temperature: 0.1,
      epsilon: 0.05,
      sinkhornIterations: 10,
      crops: [
        { size: 224, count: 2, minScale: 0.14, maxScale: 1 },
        { size: 96, count: 4, minScale: 0.05, maxScale: 0.14 },
      ],
    },
    optim: { baseLr: 9.6, finalLr: 0.0096, startWarmupLr: 0.3, weightDecay: 1e-5, larsTrustCoefficient: 0.001 },
    train: { epochs: 1, batchSize: 8192, checkpointEverySteps: 1000 },
  },
} satisfies Record<string, SeerConfigInput>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
