/**
 * Detection training + COCO evaluation in its own process, started by the runDetection activity (or the CLI)
 * through the training kit's supervisor (activities/training-kit/), so TensorFlow never blocks the worker's event
 * loop: heartbeats and cancellation keep flowing. A checkpoint is committed after every epoch (the kit's
 * checkpoint store: state object, then latest.json); a rerun of the same job resumes from the newest one, and a
 * finished run returns its stored result. A `cancel` stop ends the run at the next step; a `shutdown` stop lets it
 * commit the epoch it is in first. Exits when the parent disappears.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { ErrorType, NonFiniteLossError, SeerflowError, type ErrorTypeName } from '../../contracts/errors';
import { DetectorTrainer, normalizeImages, type TrainBox } from '../../engine/detector';
import { detectionKeys, type DetectionCoco, type DetectionManifest } from '../../datasets/detection/build-dataset';
import { getBytes, getJson, putJson } from '../../infra/s3';
import { cocoEvaluate, type CocoDetection } from '../../ml/coco-eval';
import { permutation, Rng } from '../../ml/rng';
import { lrAt } from '../../ml/schedules';
import { runTrainingChild, type TrainingContext, type TrainingOutcome } from '../training-kit/child';
import { CheckpointStore, sha256Hex } from '../training-kit/checkpoint-store';
import { s3ObjectStorage } from '../training-kit/object-storage';
import type { EngineEvent } from '../training-kit/protocol';
import {
  detectionRunKeys,
  resolveDetectionSettings,
  type DetectionCheckpointPointer,
  type DetectionJob,
  type DetectionRunResult,
  type DetectionTrainSettings,
} from '../../contracts/detection';

/** Events of the detection trainer (the kit's protocol with its pointer and result types). */
export type DetectionTrainerMessage = EngineEvent<DetectionCheckpointPointer, DetectionRunResult>;

/** Checkpoints kept per run. */
const KEEP_CHECKPOINTS = 2;

function fail(type: ErrorTypeName, message: string): never {
  throw new SeerflowError(type, message);
}

const log = (line: string) => process.stderr.write(`detection trainer: ${line}\n`);

/**
 * Identity of a detection run's inputs (dataset content, init and its checkpoint, seed, model and training
 * settings): the run's S3 folder is named by it, so a changed input never resumes a stale checkpoint.
 */
export function detectionFingerprint(
  job: DetectionJob,
  manifest: Pick<DetectionManifest, 'train' | 'test'>,
  settings: DetectionTrainSettings,
): string {
  const relevant = {
    dataset: [manifest.train.sha256, manifest.test.sha256],
    init: job.init,
    checkpoint: job.init === 'pretrained' ? (job.checkpoint?.sha256 ?? null) : null,
    seed: job.seed,
    epochs: job.epochs,
    regnet: job.regnet,
    settings,
  };
  return sha256Hex(JSON.stringify(relevant)).slice(0, 16);
}

interface LoadedSplit {
  coco: DetectionCoco;
  /** Normalised NHWC pixels of every image, in `coco.images` order. */
  pixels: Float32Array;
  rgb: Uint8Array;
  boxes: TrainBox[][];
  size: number;
}

async function loadSplit(
  s3: S3Client,
  bucket: string,
  prefix: string,
  split: 'train' | 'test',
  size: number,
): Promise<LoadedSplit> {
  const coco = await getJson<DetectionCoco>(s3, bucket, detectionKeys.instances(prefix, split));
  if (!coco) fail(ErrorType.DatasetMissing, `s3://${bucket}/${detectionKeys.instances(prefix, split)} not found`);
  const n = coco.images.length;
  const px = size * size * 3;
  const rgb = new Uint8Array(n * px);
  const byImage = new Map<number, TrainBox[]>();
  for (const a of coco.annotations) {
    const list = byImage.get(a.image_id) ?? [];
    list.push({ bbox: a.bbox, label: a.category_id - 1 });
    byImage.set(a.image_id, list);
  }
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const img = coco.images[i];
      if (!img) continue;
      const bytes = await getBytes(s3, bucket, prefix + img.file_name);
      if (!bytes) fail(ErrorType.DatasetMissing, `image s3://${bucket}/${prefix}${img.file_name} not found`);
      const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      if (info.width !== size || info.height !== size || info.channels !== 3)
        fail(
          ErrorType.DatasetMissing,
          `${img.file_name} is ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`,
        );
      rgb.set(data, i * px);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { coco, rgb, pixels: normalizeImages(rgb), boxes: coco.images.map((img) => byImage.get(img.id) ?? []), size };
}

/** Training batch `b` of epoch `epoch`: images in a seeded order, each mirrored with probability 1/2. */
function makeBatch(
  d: LoadedSplit,
  order: Uint32Array,
  b: number,
  batch: number,
  seed: number,
  epoch: number,
  flip: boolean,
): { x: Float32Array; boxes: TrainBox[][] } {
  const S = d.size;
  const px = S * S * 3;
  const x = new Float32Array(batch * px);
  const boxes: TrainBox[][] = [];
  for (let j = 0; j < batch; j++) {
    const i = order[b * batch + j] as number;
    const src = d.pixels.subarray(i * px, (i + 1) * px);
    const mirror = flip && Rng.keyed(seed, epoch, i, 0xf11).next() < 0.5;
    if (!mirror) {
      x.set(src, j * px);
      boxes.push(d.boxes[i] ?? []);
      continue;
    }
    for (let y = 0; y < S; y++) {
      for (let xx = 0; xx < S; xx++) {
        const s = (y * S + (S - 1 - xx)) * 3;
        const t = j * px + (y * S + xx) * 3;
        x[t] = src[s] as number;
        x[t + 1] = src[s + 1] as number;
        x[t + 2] = src[s + 2] as number;
      }
    }
    boxes.push(
      (d.boxes[i] ?? []).map((bx) => ({
        label: bx.label,
        bbox: [S - (bx.bbox[0] ?? 0) - (bx.bbox[2] ?? 0), bx.bbox[1] ?? 0, bx.bbox[2] ?? 0, bx.bbox[3] ?? 0],
      })),
    );
  }
  return { x, boxes };
}

interface CheckpointMeta {
  epoch: number;
  computeSeconds: number;
  epochLoss: number[];
  resumedFromEpoch: number;
}

async function train(
  ctx: TrainingContext<DetectionJob, DetectionCheckpointPointer>,
): Promise<TrainingOutcome<DetectionCheckpointPointer, DetectionRunResult>> {
  const { job, attempt } = ctx;
  const started = Date.now();
  const s3 = ctx.env.s3;
  const prefix = job.datasetPrefix.endsWith('/') ? job.datasetPrefix : `${job.datasetPrefix}/`;
  if (!Number.isInteger(job.epochs) || job.epochs < 1)
    fail(ErrorType.InvalidInput, `epochs must be a positive integer, got ${job.epochs}`);
  if (job.init === 'pretrained' && !job.checkpoint)
    fail(ErrorType.InvalidInput, "init 'pretrained' needs a SwAV checkpoint");
  const manifest = await getJson<DetectionManifest>(s3, job.bucket, detectionKeys.manifest(prefix));
  if (!manifest)
    fail(
      ErrorType.DatasetMissing,
      `detection dataset s3://${job.bucket}/${detectionKeys.manifest(prefix)} not found; build it with \`seerflow detection build\``,
    );
  const settings = resolveDetectionSettings(job);
  const fingerprint = detectionFingerprint(job, manifest, settings);
  const root = detectionRunKeys.root(prefix, job.init, job.seed, fingerprint);
  const resultKey = detectionRunKeys.result(root);

  const finished = await getJson<DetectionRunResult>(s3, job.bucket, resultKey);
  if (finished) return { type: 'done', result: { ...finished, cached: true } };

  const size = manifest.options.size;
  const [train, test] = await Promise.all([
    loadSplit(s3, job.bucket, prefix, 'train', size),
    loadSplit(s3, job.bucket, prefix, 'test', size),
  ]);
  const cats = train.coco.categories.map((c) => c.id).sort((a, b) => a - b);
  if (cats.some((id, i) => id !== i + 1))
    fail(ErrorType.InvalidInput, `category ids must be 1..${cats.length}, got ${cats.join(',')}`);
  const nTrain = train.coco.images.length;
  const batch = Math.min(settings.batchSize, nTrain);
  if (batch < 2) fail(ErrorType.DatasetMissing, `${nTrain} training image(s): batch norm needs at least 2 per step`);
  const spe = Math.floor(nTrain / batch);
  const trainer = new DetectorTrainer(
    { regnet: job.regnet, numClasses: train.coco.categories.length, imageSize: size, headWidth: settings.headWidth },
    { weightDecay: settings.weightDecay },
  );
  const backend = `${trainer.info.name}${trainer.info.device ? `:${trainer.info.device}` : ''}`;

  // Resume: the newest checkpoint of this run (latest.json, or the pointer of a previous attempt's heartbeat).
  const store = new CheckpointStore<DetectionCheckpointPointer>({
    storage: s3ObjectStorage(s3, job.bucket),
    layout: {
      prefix: `${root}checkpoints/`,
      latestKey: detectionRunKeys.latest(root),
      stateKey: (epoch, a) => detectionRunKeys.checkpoint(root, epoch, a),
    },
    keep: KEEP_CHECKPOINTS,
    fingerprint,
    progress: (p) => p.epoch,
    owner: `detection run ${root}`,
    log,
  });
  let meta: CheckpointMeta = { epoch: 0, computeSeconds: 0, epochLoss: [], resumedFromEpoch: 0 };
  let pointer = (
    await store.loadNewest(
      (bytes, c) => {
        const saved = trainer.loadState(bytes).meta as CheckpointMeta;
        meta = {
          epoch: saved.epoch,
          computeSeconds: saved.computeSeconds,
          epochLoss: saved.epochLoss,
          resumedFromEpoch: c.epoch,
        };
      },
      ctx.resume ? { hint: ctx.resume } : {},
    )
  ).pointer;
  if (!pointer) {
    trainer.model.init(job.seed);
    if (job.init === 'pretrained' && job.checkpoint) {
      const bytes = await getBytes(s3, job.bucket, job.checkpoint.key);
      if (!bytes)
        fail(ErrorType.CheckpointMissing, `SwAV checkpoint s3://${job.bucket}/${job.checkpoint.key} not found`);
      if (sha256Hex(bytes) !== job.checkpoint.sha256)
        fail(ErrorType.IncompatibleCheckpoint, `SwAV checkpoint ${job.checkpoint.key}: checksum mismatch`);
      try {
        trainer.model.loadTrunkFromSwavState(bytes);
      } catch (err) {
        fail(ErrorType.IncompatibleCheckpoint, `SwAV checkpoint ${job.checkpoint.key}: ${(err as Error).message}`);
      }
    }
  }
  const startEpoch = pointer?.epoch ?? 0;
  if (trainer.stepCount !== startEpoch * spe)
    fail(
      ErrorType.IncompatibleCheckpoint,
      `checkpoint step ${trainer.stepCount} does not match epoch ${startEpoch} x ${spe} steps`,
    );

  const lrOpts = {
    baseLr: settings.lr,
    finalLr: settings.finalLr,
    startWarmupLr: 0,
    warmupEpochs: settings.warmupEpochs,
    epochs: job.epochs,
    itersPerEpoch: spe,
  };
  let lastLoss = pointer?.loss ?? Number.NaN;
  let reportAt = Date.now();
  let imagesSince = 0;
  let imagesPerSec = 0;
  for (let epoch = startEpoch; epoch < job.epochs; epoch++) {
    const order = permutation(nTrain, job.seed, epoch, 0xde7);
    let sum = 0;
    for (let b = 0; b < spe; b++) {
      if (ctx.stopRequested() === 'cancel') return { type: 'stopped', ...(pointer ? { pointer } : {}) };
      const { x, boxes } = makeBatch(train, order, b, batch, job.seed, epoch, settings.flip);
      const lr = lrAt(trainer.stepCount, lrOpts);
      let r;
      try {
        r = trainer.step(x, batch, boxes, lr);
      } catch (err) {
        if (err instanceof NonFiniteLossError)
          fail(ErrorType.NonFiniteLoss, `${err.message}; newest good checkpoint ${pointer?.key ?? 'none'}`);
        throw err;
      }
      sum += r.loss;
      lastLoss = r.loss;
      // Steps are synchronous: yield so a stop request (and a dead parent) is noticed within one step.
      await new Promise<void>((resolve) => setImmediate(resolve));
      imagesSince += batch;
      const now = Date.now();
      if (now - reportAt >= 1000) {
        imagesPerSec = (imagesSince * 1000) / (now - reportAt);
        imagesSince = 0;
        reportAt = now;
        ctx.emit({
          type: 'progress',
          phase: 'training',
          epoch,
          step: trainer.stepCount,
          loss: r.loss,
          lr,
          imagesPerSec,
        });
      }
    }
    // Commit the epoch: state object first, then latest.json names it; older checkpoints are pruned.
    const epochLoss = [...meta.epochLoss, sum / spe];
    const computeSeconds = meta.computeSeconds + (Date.now() - started) / 1000;
    const saved: CheckpointMeta = {
      epoch: epoch + 1,
      computeSeconds,
      epochLoss,
      resumedFromEpoch: meta.resumedFromEpoch,
    };
    pointer = await store.commit({ epoch: epoch + 1, step: trainer.stepCount, loss: lastLoss }, attempt, (checkpoint) =>
      trainer.saveState({ ...saved, checkpoint }),
    );
    meta = { ...meta, epochLoss, computeSeconds: meta.computeSeconds };
    ctx.emit({ type: 'checkpoint', pointer });
    if (ctx.stopRequested() === 'shutdown' && epoch + 1 < job.epochs) return { type: 'stopped', pointer };
  }

  // Evaluation on the held-out split (its items are unseen instances).
  ctx.emit({
    type: 'progress',
    phase: 'evaluating',
    epoch: job.epochs,
    step: trainer.stepCount,
    loss: lastLoss,
    lr: 0,
    imagesPerSec: 0,
  });
  const px = size * size * 3;
  const dets: CocoDetection[] = [];
  const nTest = test.coco.images.length;
  for (let i = 0; i < nTest; i += 32) {
    const n = Math.min(32, nTest - i);
    const out = trainer.detect(test.pixels.subarray(i * px, (i + n) * px), n, {
      scoreThreshold: settings.scoreThreshold,
    });
    out.forEach((list, j) => {
      const img = test.coco.images[i + j];
      if (!img) return;
      for (const d of list) {
        dets.push({
          image_id: img.id,
          category_id: d.label + 1,
          bbox: d.bbox.map((v) => Math.round(v * 1000) / 1000),
          score: Math.round(d.score * 1e6) / 1e6,
        });
      }
    });
  }
  const evalResult = cocoEvaluate(test.coco, dets, { iouType: 'bbox' });
  const detectionsKey = detectionRunKeys.detections(root);
  await putJson(s3, job.bucket, detectionsKey, dets);
  const thisAttempt = (Date.now() - started) / 1000;
  const result: DetectionRunResult = {
    init: job.init,
    seed: job.seed,
    trainImages: nTrain,
    testImages: nTest,
    epochs: job.epochs,
    stats: evalResult.stats,
    computeSeconds: Math.round((meta.computeSeconds + thisAttempt) * 10) / 10,
    datasetPrefix: prefix,
    resultKey,
    detectionsKey,
    ...(job.init === 'pretrained' && job.checkpoint ? { checkpointKey: job.checkpoint.key } : {}),
    resumedFromEpoch: startEpoch,
    epochLoss: meta.epochLoss,
    backend,
    cached: false,
  };
  await putJson(s3, job.bucket, resultKey, result);
  trainer.dispose();
  return { type: 'done', result };
}

if (require.main === module) runTrainingChild({ engine: 'seerflow-detection', train });
