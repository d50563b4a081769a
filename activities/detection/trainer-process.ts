/**
 * Detection training + COCO evaluation in its own process (forked by the runDetection activity or the CLI), so
 * TensorFlow never blocks the worker's event loop: heartbeats and cancellation keep flowing. IPC as the pretrain
 * trainer:
 *   in:  {type:'run', job, attempt, resumeFrom?} | {type:'stop', atEpochEnd?}
 *   out: {type:'progress'|'checkpoint'|'done'|'stopped'|'error', ...}
 * A checkpoint is committed after every epoch (state object, then latest.json); a rerun of the same job resumes
 * from the newest one, and a finished run returns its stored result. Exits when the parent disappears.
 */
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import sharp from 'sharp';
import { ErrorType } from '../../contracts/errors';
import { DetectorNonFiniteLossError, DetectorTrainer, normalizeImages, type TrainBox } from '../../engine/detector';
import { detectionKeys, type DetectionCoco, type DetectionManifest } from '../../datasets/detection/build-dataset';
import { createS3Client, getBytes, getJson, putJson } from '../../infra/s3';
import { loadServiceSettings } from '../../infra/settings';
import { cocoEvaluate, type CocoDetection } from '../../ml/coco-eval';
import { permutation, Rng } from '../../ml/rng';
import { lrAt } from '../../ml/schedules';
import {
  detectionRunKeys,
  resolveDetectionSettings,
  type DetectionCheckpointPointer,
  type DetectionJob,
  type DetectionLatestFile,
  type DetectionRunResult,
  type DetectionTrainSettings,
} from '../../contracts/detection';

/** Messages from the trainer to its parent. */
export type DetectionTrainerMessage =
  | {
      type: 'progress';
      epoch: number;
      step: number;
      loss: number;
      lr: number;
      imagesPerSec: number;
      phase: 'training' | 'evaluating';
    }
  | { type: 'checkpoint'; pointer: DetectionCheckpointPointer }
  | { type: 'done'; result: DetectionRunResult }
  | { type: 'stopped'; pointer?: DetectionCheckpointPointer }
  | { type: 'error'; errorType?: string; message: string; nonRetryable: boolean };

/** Messages from the parent. */
export type DetectionTrainerCommand =
  | { type: 'run'; job: DetectionJob; attempt: number; resumeFrom?: DetectionCheckpointPointer }
  /** Stop at the next step (cancellation), or after committing the current epoch (`atEpochEnd`: worker shutdown). */
  | { type: 'stop'; atEpochEnd?: boolean };

/** Checkpoints kept per run. */
const KEEP_CHECKPOINTS = 2;

let stopRequested = false;
let stopAtEpochEnd = false;

function send(msg: DetectionTrainerMessage): void {
  process.send?.(msg);
}

function fail(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

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

async function run(job: DetectionJob, attempt: number, hint?: DetectionCheckpointPointer): Promise<void> {
  const started = Date.now();
  const s3 = createS3Client(loadServiceSettings().s3);
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
  if (finished) {
    send({ type: 'done', result: { ...finished, cached: true } });
    return;
  }

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
  const latest = await getJson<DetectionLatestFile>(s3, job.bucket, detectionRunKeys.latest(root));
  const candidates = [...(latest?.history ?? []), ...(hint && hint.key.startsWith(root) ? [hint] : [])].sort(
    (a, b) => b.epoch - a.epoch,
  );
  let pointer: DetectionCheckpointPointer | undefined;
  let meta: CheckpointMeta = { epoch: 0, computeSeconds: 0, epochLoss: [], resumedFromEpoch: 0 };
  for (const c of candidates) {
    const bytes = await getBytes(s3, job.bucket, c.key);
    if (!bytes || sha256Hex(bytes) !== c.sha256) {
      process.stderr.write(
        `detection trainer: skipping checkpoint ${c.key} (${bytes ? 'checksum mismatch' : 'missing'})\n`,
      );
      continue;
    }
    try {
      const header = trainer.loadState(bytes);
      meta = { ...(header.meta as CheckpointMeta), resumedFromEpoch: c.epoch };
      pointer = c;
      break;
    } catch (err) {
      process.stderr.write(`detection trainer: skipping checkpoint ${c.key} (${(err as Error).message})\n`);
    }
  }
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
  let history = latest?.history ?? [];
  let lastLoss = pointer?.loss ?? Number.NaN;
  let reportAt = Date.now();
  let imagesSince = 0;
  let imagesPerSec = 0;
  for (let epoch = startEpoch; epoch < job.epochs; epoch++) {
    const order = permutation(nTrain, job.seed, epoch, 0xde7);
    let sum = 0;
    for (let b = 0; b < spe; b++) {
      if (stopRequested) {
        send({ type: 'stopped', ...(pointer ? { pointer } : {}) });
        return;
      }
      const { x, boxes } = makeBatch(train, order, b, batch, job.seed, epoch, settings.flip);
      const lr = lrAt(trainer.stepCount, lrOpts);
      let r;
      try {
        r = trainer.step(x, batch, boxes, lr);
      } catch (err) {
        if (err instanceof DetectorNonFiniteLossError)
          fail(ErrorType.NonFiniteLoss, `${err.message}; newest good checkpoint ${pointer?.key ?? 'none'}`);
        throw err;
      }
      sum += r.loss;
      lastLoss = r.loss;
      // Steps are synchronous: yield so a 'stop' message (and a dead parent) is noticed within one step.
      await new Promise<void>((resolve) => setImmediate(resolve));
      imagesSince += batch;
      const now = Date.now();
      if (now - reportAt >= 1000) {
        imagesPerSec = (imagesSince * 1000) / (now - reportAt);
        imagesSince = 0;
        reportAt = now;
        send({ type: 'progress', phase: 'training', epoch, step: trainer.stepCount, loss: r.loss, lr, imagesPerSec });
      }
    }
    // Commit the epoch: state object first, then latest.json names it; older checkpoints are pruned.
    const epochLoss = [...meta.epochLoss, sum / spe];
    const computeSeconds = meta.computeSeconds + (Date.now() - started) / 1000;
    const state = trainer.saveState({
      epoch: epoch + 1,
      computeSeconds,
      epochLoss,
      resumedFromEpoch: meta.resumedFromEpoch,
    } satisfies CheckpointMeta);
    const key = detectionRunKeys.checkpoint(root, epoch + 1, attempt);
    await s3.send(
      new PutObjectCommand({
        Bucket: job.bucket,
        Key: key,
        Body: state,
        ContentLength: state.length,
        ContentType: 'application/octet-stream',
      }),
    );
    const committed: DetectionCheckpointPointer = {
      key,
      epoch: epoch + 1,
      step: trainer.stepCount,
      sha256: sha256Hex(state),
      bytes: state.length,
      loss: lastLoss,
    };
    pointer = committed;
    const all = [committed, ...history.filter((h) => h.key !== key && h.epoch < committed.epoch)];
    history = all.slice(0, KEEP_CHECKPOINTS);
    await putJson(s3, job.bucket, detectionRunKeys.latest(root), {
      fingerprint,
      history,
    } satisfies DetectionLatestFile);
    for (const old of all.slice(KEEP_CHECKPOINTS))
      await s3.send(new DeleteObjectCommand({ Bucket: job.bucket, Key: old.key })).catch(() => undefined);
    meta = { ...meta, epochLoss, computeSeconds: meta.computeSeconds };
    send({ type: 'checkpoint', pointer });
    if (stopAtEpochEnd && epoch + 1 < job.epochs) {
      send({ type: 'stopped', pointer });
      return;
    }
  }

  // Evaluation on the held-out split (its items are unseen instances).
  send({
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
  send({ type: 'done', result });
  trainer.dispose();
}

if (require.main === module) {
  process.on('disconnect', () => process.exit(3)); // the parent died: do not keep training as an orphan
  process.on('message', (msg: DetectionTrainerCommand) => {
    if (msg.type === 'stop' && msg.atEpochEnd) stopAtEpochEnd = true;
    else if (msg.type === 'stop') stopRequested = true;
    if (msg.type === 'run') {
      run(msg.job, msg.attempt, msg.resumeFrom).then(
        () => process.exit(0),
        (err: unknown) => {
          const e = err as Error & { type?: string; nonRetryable?: boolean };
          send({
            type: 'error',
            ...(e.type ? { errorType: e.type } : {}),
            message: e.message ?? String(err),
            nonRetryable: e.nonRetryable ?? false,
          });
          setTimeout(() => process.exit(1), 50);
        },
      );
    }
  });
}
