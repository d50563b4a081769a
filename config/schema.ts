/**
 * The one typed run configuration. The schema is also the defaults table: every leaf has a default and a
 * description. Parsed once at the edge (CLI, schedule creation); workflows receive the resolved plain JSON.
 */
import * as z from 'zod';

const cropSpec = z
  .object({
    size: z.number().int().min(8).max(1024).describe('output side in pixels'),
    count: z.number().int().min(1).max(16).describe('number of crops of this size'),
    minScale: z.number().gt(0).max(1).describe('RandomResizedCrop lower area fraction'),
    maxScale: z.number().gt(0).max(1).describe('RandomResizedCrop upper area fraction'),
  })
  .refine((c) => c.minScale <= c.maxScale, { message: 'minScale must be <= maxScale' });

export const RunSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, at most 63 characters')
      .default('demo')
      .describe('run name; workflow IDs and S3 prefixes derive from it'),
    seed: z.number().int().min(0).default(0).describe('global seed for every random choice'),
  })
  .prefault({});

export const IngestSchema = z
  .object({
    bucket: z.string().min(3).default('seerflow').describe('bucket holding the raw corpus and all outputs'),
    prefixes: z.array(z.string()).min(1).default(['corpus/']).describe('key prefixes to ingest'),
    outputPrefix: z.string().default('runs/').describe('where manifests, quarantine lists and summaries go'),
    partitionTarget: z
      .number()
      .int()
      .min(1)
      .max(4096)
      .default(16)
      .describe('how many key-range partitions to aim for (discovered by delimiter listing)'),
    maxParallelPartitions: z.number().int().min(1).max(500).default(8).describe('child workflows in flight'),
    partitionsPerRun: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(200)
      .describe('partitions a coordinator run handles before it continues as new'),
    manifestShardSize: z.number().int().min(10).max(1_000_000).default(10_000).describe('lines per manifest shard'),
    validateConcurrency: z.number().int().min(1).max(256).default(16).describe('objects validated at once'),
    headerBytes: z
      .number()
      .int()
      .min(1024)
      .max(1 << 20)
      .default(65_536)
      .describe('bytes read to validate a header'),
    maxObjectBytes: z
      .number()
      .int()
      .min(1)
      .default(50 * 1024 * 1024)
      .describe('larger objects are quarantined'),
    maxPixels: z.number().int().min(1).default(40_000_000).describe('images declaring more pixels are quarantined'),
    minSide: z.number().int().min(1).default(16).describe('images smaller than this on either side are quarantined'),
    formats: z
      .array(z.enum(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']))
      .default(['jpeg', 'png', 'webp'])
      .describe('accepted image formats'),
    heartbeatTimeoutSeconds: z
      .number()
      .int()
      .min(5)
      .max(3600)
      .default(60)
      .describe('how fast a dead ingest worker is detected and its partition retried elsewhere'),
    previousManifest: z
      .string()
      .optional()
      .describe('S3 key of a previous ingest summary; unchanged objects (same ETag) are not validated again'),
  })
  .prefault({});

export const PreprocessSchema = z
  .object({
    shortSide: z.number().int().min(16).max(1024).default(256).describe('canonical shorter side in pixels'),
    jpegQuality: z.number().int().min(50).max(100).default(90).describe('JPEG quality of canonical images'),
    shardTargetBytes: z
      .number()
      .int()
      .min(1 << 12)
      .default(64 << 20)
      .describe('target tar part size'),
    maxParallelShards: z.number().int().min(1).max(500).default(4).describe('canonical shards processed at once'),
    shardsPerRun: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(200)
      .describe('shards a coordinator run handles before it continues as new'),
  })
  .prefault({});

export const RegNetSchema = z
  .object({
    depth: z.number().int().min(1).max(64).default(13),
    w0: z.number().int().min(8).default(24).describe('initial width, a multiple of 8'),
    wa: z.number().min(0).default(36.44).describe('width slope'),
    wm: z.number().gt(1).default(2.49).describe('width multiplier (quantisation base)'),
    groupWidth: z.number().int().min(1).default(8),
    bottleneckMultiplier: z.number().gt(0).default(1),
    seRatio: z.number().min(0).max(1).default(0.25).describe('squeeze-excitation ratio; 0 disables (RegNetX)'),
    rounding: z.enum(['torchvision', 'pycls']).default('pycls').describe('group-width rounding convention'),
    stemWidth: z.number().int().min(1).default(32),
  })
  .refine((r) => r.w0 % 8 === 0, { message: 'w0 must be a multiple of 8', path: ['w0'] })
  .prefault({});

export const SwavSchema = z
  .object({
    hiddenDims: z.array(z.number().int().min(1)).default([512]).describe('projection MLP hidden widths'),
    headBatchNorm: z.boolean().default(true).describe('BN + ReLU between projection layers (false: ReLU only)'),
    featureDim: z.number().int().min(2).default(128),
    prototypes: z.number().int().min(2).default(300),
    temperature: z.number().gt(0).default(0.1),
    epsilon: z.number().gt(0).default(0.05),
    sinkhornIterations: z.number().int().min(1).max(100).default(3),
    crops: z
      .array(cropSpec)
      .min(1)
      .default([
        { size: 224, count: 2, minScale: 0.14, maxScale: 1 },
        { size: 96, count: 4, minScale: 0.05, maxScale: 0.14 },
      ]),
    cropsForAssign: z.array(z.number().int().min(0)).min(1).default([0, 1]),
    freezePrototypesIters: z.number().int().min(0).default(313),
    queueLength: z.number().int().min(0).default(0),
    epochQueueStarts: z.number().int().min(0).default(15),
  })
  .superRefine((s, ctx) => {
    const total = s.crops.reduce((n, c) => n + c.count, 0);
    for (const [i, a] of s.cropsForAssign.entries()) {
      if (a >= total) ctx.addIssue({ code: 'custom', path: ['cropsForAssign', i], message: `crop ${a} >= ${total}` });
    }
    if (total < 2) ctx.addIssue({ code: 'custom', path: ['crops'], message: 'swapped prediction needs >= 2 crops' });
  })
  .prefault({});

export const OptimSchema = z
  .object({
    baseLr: z.number().gt(0).default(0.6),
    finalLr: z.number().min(0).default(0.0006),
    startWarmupLr: z.number().min(0).default(0),
    warmupEpochs: z.number().min(0).default(0),
    momentum: z.number().min(0).max(1).default(0.9),
    weightDecay: z.number().min(0).default(1e-6),
    larsTrustCoefficient: z.number().min(0).default(0.001).describe('0 disables LARS (plain SGD)'),
  })
  .prefault({});

export const TrainSchema = z
  .object({
    epochs: z.number().int().min(1).default(100),
    batchSize: z.number().int().min(2).default(256),
    checkpointEverySteps: z.number().int().min(1).default(100),
    keepCheckpoints: z.number().int().min(1).default(3),
    segmentSteps: z.number().int().min(1).default(1000).describe('steps per training activity before it returns'),
    heartbeatTimeoutSeconds: z
      .number()
      .int()
      .min(5)
      .max(3600)
      .default(120)
      .describe('how fast a dead training worker is detected'),
    shuffleWindow: z
      .number()
      .int()
      .min(1)
      .max(1 << 20)
      .default(4096)
      .describe('samples shuffled together (docs/data-order.md); the loader holds about this many encoded images'),
    partsInFlight: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(2)
      .describe('tar parts the training loader downloads ahead of the window it assembles'),
  })
  .prefault({});

/** How a detector trains (`runDetection`); `seerflow detection run` and the evaluation stage share these defaults. */
export const DetectionTrainSchema = z
  .object({
    batchSize: z
      .number()
      .int()
      .min(2)
      .max(4096)
      .default(16)
      .describe('images per detector step (the last partial batch of an epoch is dropped)'),
    lr: z.number().gt(0).default(0.002).describe('AdamW peak learning rate'),
    finalLr: z.number().min(0).default(0.00002).describe('learning rate at the end of the cosine'),
    warmupEpochs: z
      .number()
      .min(0)
      .default(1)
      .describe('linear warmup epochs (at most epochs - 1: none for a single-epoch run)'),
    weightDecay: z.number().min(0).default(1e-4).describe('AdamW decoupled weight decay (conv/linear weights only)'),
    headWidth: z.number().int().min(1).max(1024).default(32).describe('channels of the fused map and head towers'),
    flip: z.boolean().default(true).describe('random horizontal flips of training images'),
    scoreThreshold: z.number().min(0).max(1).default(0.01).describe('detections below this score are not reported'),
  })
  .prefault({});

/** The detection benchmark's fields: its copy-paste dataset and how long its detectors train. */
const detectionFields = {
  images: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(1000)
    .describe('training images of the copy-paste detection dataset'),
  testImages: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .optional()
    .describe('test images (default: images / 4, rounded, at least 1)'),
  size: z.number().int().min(16).max(1024).default(64).describe('detection image side in pixels'),
  photos: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('use only the first N allow-listed photos as backgrounds (tests)'),
  epochs: z.number().int().min(1).default(20).describe('detector training epochs'),
  train: DetectionTrainSchema,
};

/** The detection dataset's default test split: a quarter of the training images, rounded, at least 1. */
export function defaultTestImages(images: number): number {
  return Math.max(1, Math.round(images / 4));
}

/** Resolves `testImages` once, here: the resolved config and everything built from it carry a number. */
function withTestImages<T extends { images: number; testImages?: number | undefined }>(d: T) {
  const { testImages, ...rest } = d;
  return { ...rest, testImages: testImages ?? defaultTestImages(d.images) };
}

/**
 * A detection benchmark on its own (`seerflow detection`): the same fields and defaults as `eval.detection`, plus
 * the dataset seed, which the pipeline takes from `run.seed`.
 */
export const DetectionSpecSchema = z
  .object({
    ...detectionFields,
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0)
      .describe('seed of the dataset (the pipeline uses run.seed)'),
  })
  .transform(withTestImages);

export const EvalSchema = z
  .object({
    enabled: z.boolean().default(true),
    seeds: z.array(z.number().int()).min(1).default([0, 1, 2]),
    labelFractions: z.array(z.number().gt(0).max(1)).default([0.01, 0.1]),
    epochs: z.number().int().min(1).default(20),
    batchSize: z
      .number()
      .int()
      .min(2)
      .default(256)
      .describe('classification batch size (256 as the reference; learning rates scale linearly with it)'),
    detection: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe('run the detection benchmark (pretrained vs scratch trunk, every seed) after classification'),
        ...detectionFields,
      })
      .transform(withTestImages)
      .prefault({}),
  })
  .prefault({});

export const SeerConfigSchema = z.object({
  preset: z.string().default('custom').describe('name of the preset this config started from'),
  run: RunSchema,
  ingest: IngestSchema,
  preprocess: PreprocessSchema,
  model: z.object({ regnet: RegNetSchema }).prefault({}),
  swav: SwavSchema,
  optim: OptimSchema,
  train: TrainSchema,
  eval: EvalSchema,
});

export type SeerConfig = z.output<typeof SeerConfigSchema>;
export type SeerConfigInput = z.input<typeof SeerConfigSchema>;
export type IngestConfig = SeerConfig['ingest'];
export type PreprocessConfig = SeerConfig['preprocess'];
export type RegNetConfig = SeerConfig['model']['regnet'];
export type SwavConfig = SeerConfig['swav'];
export type OptimConfig = SeerConfig['optim'];
export type TrainConfig = SeerConfig['train'];
export type EvalConfig = SeerConfig['eval'];
export type EvalDetectionConfig = EvalConfig['detection'];
/** The detection benchmark, one shape from the config to the trainer (see `contracts/detection.ts`). */
export type DetectionSpec = z.output<typeof DetectionSpecSchema>;
export type DetectionTrainSettings = z.output<typeof DetectionTrainSchema>;
