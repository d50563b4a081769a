/**
 * One classification run (protocol x initialisation x seed): data, model, epochs, per-epoch test top-1 and a
 * checkpoint after every epoch (the training kit's checkpoint store, one kept). Runs inside the classifier engine
 * process (classify-process.ts); everything it needs from outside comes through {@link ClassifyIo}, so it also
 * runs in-process (tests).
 *
 * Determinism: the sample order of epoch e is a concatenation of permutations keyed by (seed, e, pass), the
 * augmentation of the sample at position p of epoch e is drawn from Rng.keyed(seed, e, p), and the model's
 * initialisation from the seed. A run resumed from its epoch-k checkpoint therefore ends bit-identical to an
 * uninterrupted one.
 */
import { ErrorType, SeerflowError } from '../../contracts/errors';
import type { ClassificationRun } from '../../contracts/evaluate';
import { createClassifier, type RegNetClassifier } from '../../engine/classifier';
import { Rng } from '../../ml/rng';
import { decodeImage, type DecodedImage } from '../../multicrop';
import { classifierRunDir, type ClassificationJob, type ClassifierPointer } from '../../contracts/evaluate';
import { checkpointLayout, CheckpointStore, sha256Hex } from '../training-kit/checkpoint-store';
import type { ObjectStorage } from '../training-kit/object-storage';
import { classificationFingerprint } from './fingerprint';
import { protocolSettings } from './protocols';
import { evalViewInto, trainViewInto } from './transforms';
import { unpackImages } from './eval-data';
import type { LabelSubset } from './subsets';

/** What the run reads and writes, and where it reports. */
export interface ClassifyIo extends ObjectStorage {
  getJson<T>(key: string): Promise<T | undefined>;
  putJson(key: string, value: unknown): Promise<void>;
  /** after every committed epoch */
  onEpoch?(p: ClassifierPointer, info: { loss: number; top1: number }): void;
  /** true when the run should checkpoint and stop (cancellation) */
  stopRequested?(): boolean;
}

/** A run stopped on request after committing `pointer`. */
export class ClassifyStopped extends Error {
  constructor(readonly pointer: ClassifierPointer | undefined) {
    super(`classification stopped after epoch ${pointer?.epochsDone ?? 0}`);
    this.name = 'ClassifyStopped';
  }
}

/** The classification run could not start (missing inputs, incompatible checkpoint). Not worth retrying. */
export class ClassifyInputError extends SeerflowError {
  constructor(message: string) {
    super(ErrorType.InvalidInput, message);
    this.name = 'ClassifyInputError';
  }
}

interface LabelledImage {
  img: DecodedImage;
  label: number;
}

async function loadSplit(io: ClassifyIo, key: string, keep?: ReadonlySet<string>): Promise<LabelledImage[]> {
  const bytes = await io.getBytes(key);
  if (!bytes) throw new ClassifyInputError(`eval data ${key} not found`);
  const items = unpackImages(bytes).filter((it) => !keep || keep.has(it.key));
  return Promise.all(items.map(async (it) => ({ img: await decodeImage(it.jpeg), label: it.label })));
}

/** Sample order of one epoch: `count` indices into [0, n), from permutations keyed by (seed, epoch, pass). */
export function epochOrder(n: number, count: number, seed: number, epoch: number): Uint32Array {
  const out = new Uint32Array(count);
  let filled = 0;
  for (let pass = 0; filled < count; pass++) {
    const idx = Array.from({ length: n }, (_, i) => i);
    Rng.keyed(seed, epoch, pass, 0xe7a1).shuffle(idx);
    for (let i = 0; i < n && filled < count; i++) out[filled++] = idx[i] as number;
  }
  return out;
}

/** Run (or resume, or return the finished result of) one classification job as Temporal attempt `attempt`. */
export async function runClassificationJob(
  job: ClassificationJob,
  io: ClassifyIo,
  resumeHint?: ClassifierPointer,
  attempt = 1,
): Promise<ClassificationRun> {
  const started = Date.now();
  const fingerprint = classificationFingerprint(job);
  const dir = classifierRunDir(job, fingerprint);
  const done = await io.getJson<ClassificationRun & { fingerprint: string; losses?: number[] }>(`${dir}result.json`);
  if (done && done.fingerprint === fingerprint) {
    const { fingerprint: _f, losses: _l, ...run } = done; // a finished run is a cache hit
    return run;
  }
  const size = Math.max(...job.swav.crops.map((c) => c.size));

  let subset: LabelSubset | undefined;
  if (job.subsetKey) {
    subset = await io.getJson<LabelSubset>(job.subsetKey);
    if (!subset) throw new ClassifyInputError(`label subset ${job.subsetKey} not found`);
  }
  const train = await loadSplit(io, job.data.trainKey, subset ? new Set(subset.keys) : undefined);
  const test = await loadSplit(io, job.data.testKey);
  if (train.length === 0)
    throw new ClassifyInputError(`no training images for ${job.protocol} (subset ${job.subsetKey ?? 'none'})`);
  const plane = size * size * 3;
  const testX = new Float32Array(test.length * plane);
  test.forEach((t, i) => evalViewInto(t.img, size, testX, i));
  const testY = Int32Array.from(test, (t) => t.label);

  // Every protocol's epoch has the step count of one pass over the full labelled set (docs/evaluation.md).
  const batch = Math.min(job.batchSize, job.data.trainImages);
  const stepsPerEpoch = Math.max(1, Math.floor(job.data.trainImages / batch));
  const settings = protocolSettings(job.protocol, job.epochs, batch);

  const model: RegNetClassifier = createClassifier({
    regnet: job.regnet,
    numClasses: job.data.numClasses,
    mode: settings.mode,
    weightDecay: settings.weightDecay,
  });
  try {
    // Resume: the newest committed epoch among the heartbeat's pointer and latest.json; none usable: start over.
    const store = new CheckpointStore<ClassifierPointer>({
      storage: io,
      // `a<attempt>/epoch-0003.state`: the file name ends like the epoch, the attempt fences the object.
      layout: checkpointLayout(dir, 'epoch', 4, 'folder'),
      keep: 1,
      fingerprint,
      progress: (p) => p.epochsDone,
      owner: `classification run ${dir}`,
      volatile: { computeSeconds: 0 },
    });
    let pointer = (await store.loadNewest((bytes) => model.loadState(bytes), resumeHint ? { hint: resumeHint } : {}))
      .pointer;
    if (!pointer) {
      if (job.init === 'pretrained') {
        const bytes = await io.getBytes(job.checkpoint.key);
        if (!bytes) throw new ClassifyInputError(`checkpoint ${job.checkpoint.key} not found`);
        if (job.checkpoint.sha256 && sha256Hex(bytes) !== job.checkpoint.sha256)
          throw new ClassifyInputError(`checkpoint ${job.checkpoint.key} does not match its SHA-256`);
        try {
          model.initFromSwavState(bytes, job.seed);
        } catch (err) {
          throw new ClassifyInputError(`checkpoint ${job.checkpoint.key}: ${(err as Error).message}`);
        }
      } else model.init(job.seed);
    }

    const curve = [...(pointer?.curve ?? [])];
    const losses = [...(pointer?.losses ?? [])];
    let seconds = pointer?.computeSeconds ?? 0;
    let epochStart = started; // this attempt's data loading counts towards its first epoch
    const x = new Float32Array(batch * plane);
    const y = new Int32Array(batch);
    for (let epoch = pointer?.epochsDone ?? 0; epoch < job.epochs; epoch++) {
      const lr = settings.lr(epoch);
      const order = epochOrder(train.length, stepsPerEpoch * batch, job.seed, epoch);
      let lossSum = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        for (let j = 0; j < batch; j++) {
          const pos = s * batch + j;
          const sample = train[order[pos] as number] as LabelledImage;
          trainViewInto(sample.img, size, Rng.keyed(job.seed, epoch, pos), x, j);
          y[j] = sample.label;
        }
        lossSum += model.step(x, y, batch, size, lr).loss;
      }
      const pred = model.predict(testX, test.length, size);
      let correct = 0;
      for (let i = 0; i < pred.length; i++) if (pred[i] === testY[i]) correct++;
      curve.push((100 * correct) / test.length);
      losses.push(lossSum / stepsPerEpoch);
      const now = Date.now();
      seconds += (now - epochStart) / 1000;
      epochStart = now;
      // Commit: state object, then the small pointer; the previous state is deleted after the pointer moved.
      const next = await store.commit(
        { fingerprint, epochsDone: epoch + 1, curve: [...curve], losses: [...losses], computeSeconds: seconds },
        attempt,
        (checkpoint) => model.saveState({ fingerprint, epochsDone: epoch + 1, checkpoint }),
      );
      pointer = next;
      io.onEpoch?.(next, { loss: losses[losses.length - 1] as number, top1: curve[curve.length - 1] as number });
      if (io.stopRequested?.() && epoch + 1 < job.epochs) throw new ClassifyStopped(pointer);
    }
    const run: ClassificationRun = {
      protocol: job.protocol,
      init: job.init,
      seed: job.seed,
      labelFraction: job.fraction,
      trainImages: train.length,
      testImages: test.length,
      epochs: job.epochs,
      top1: Math.max(...curve),
      finalTop1: curve[curve.length - 1] as number,
      curve,
      ...(job.subsetKey ? { subsetKey: job.subsetKey } : {}),
      computeSeconds: pointer?.computeSeconds ?? (Date.now() - started) / 1000,
    };
    await io.putJson(`${dir}result.json`, { ...run, fingerprint, losses });
    return run;
  } finally {
    model.dispose();
  }
}
