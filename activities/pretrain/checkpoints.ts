/**
 * Checkpoints in S3, committed atomically: the state object first, then the small `latest.json` pointer that
 * lists the newest K checkpoints. Loading verifies the SHA-256 and falls back to older checkpoints when the
 * newest is corrupt or missing. Keys carry the attempt number, so a zombie attempt never overwrites another's.
 */
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { pretrainKeys, type CheckpointPointer, type PretrainJob } from '../../contracts/pretrain';
import { getBytes, getJson, putJson } from '../../infra/s3';
import { DATA_ORDER_VERSION } from '../../ml/data-order';

export interface LatestFile {
  runName: string;
  /** What the checkpoints were trained on and with (dataset + training config); see pretrainFingerprint. */
  fingerprint: string;
  /** newest first */
  history: CheckpointPointer[];
}

export interface LoadedCheckpoint {
  pointer: CheckpointPointer;
  /** newer candidates that were skipped, with the reason */
  skipped: { key: string; reason: string }[];
}

export class NoUsableCheckpointError extends Error {
  override readonly name = 'NoUsableCheckpointError';
}

export class IncompatibleRunError extends Error {
  override readonly name = 'IncompatibleRunError';
}

/** Identity of a training run's inputs: the dataset and every setting that changes the trained weights. */
export function pretrainFingerprint(
  job: Pick<PretrainJob, 'datasetKey' | 'seed' | 'regnet' | 'swav' | 'optim' | 'train' | 'warmStartFrom'>,
  datasetFingerprint: string,
): string {
  const { segmentSteps: _s, heartbeatTimeoutSeconds: _h, keepCheckpoints: _k, partsInFlight: _p, ...train } = job.train;
  const relevant = {
    dataset: datasetFingerprint,
    order: DATA_ORDER_VERSION,
    seed: job.seed,
    regnet: job.regnet,
    swav: job.swav,
    optim: job.optim,
    train,
    warm: job.warmStartFrom ?? null,
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class CheckpointStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly runName: string,
    private readonly keep: number,
    private readonly fingerprint: string,
  ) {}

  /** Checkpoints of this run, newest first. A run name reused with another dataset or config is refused. */
  async history(): Promise<CheckpointPointer[]> {
    const latest = await getJson<LatestFile>(this.s3, this.bucket, pretrainKeys.latest(this.runName));
    if (latest && latest.fingerprint !== this.fingerprint) {
      throw new IncompatibleRunError(
        `run "${this.runName}" already has checkpoints trained with another dataset or config (fingerprint ${latest.fingerprint}, now ${this.fingerprint}); use a new run name`,
      );
    }
    return latest?.history ?? [];
  }

  /** Write the state, then commit it in latest.json; prune checkpoints beyond the newest `keep`. */
  async save(
    state: Uint8Array,
    meta: Omit<CheckpointPointer, 'key' | 'sha256' | 'bytes'>,
    attempt: number,
  ): Promise<CheckpointPointer> {
    const key = pretrainKeys.checkpoint(this.runName, meta.step, attempt);
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: state,
        ContentLength: state.length,
        ContentType: 'application/octet-stream',
      }),
    );
    const pointer: CheckpointPointer = { ...meta, key, sha256: sha256Hex(state), bytes: state.length };
    const previous = (await this.history()).filter((p) => p.key !== key && p.step < pointer.step);
    const history = [pointer, ...previous];
    await putJson(this.s3, this.bucket, pretrainKeys.latest(this.runName), {
      runName: this.runName,
      fingerprint: this.fingerprint,
      history: history.slice(0, this.keep),
    } satisfies LatestFile);
    for (const old of history.slice(this.keep)) {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: old.key })).catch(() => undefined);
    }
    return pointer;
  }

  /**
   * Load the newest usable checkpoint: candidates from latest.json plus `hint` (the workflow's pointer), newest
   * step first; each must match its SHA-256 and be accepted by `apply` (which throws on an incompatible state).
   * Returns undefined when there is no checkpoint at all; throws NoUsableCheckpointError when none is usable.
   */
  async loadNewest(
    apply: (bytes: Uint8Array, pointer: CheckpointPointer) => void,
    hint?: CheckpointPointer,
  ): Promise<LoadedCheckpoint | undefined> {
    const byKey = new Map<string, CheckpointPointer>();
    for (const p of [...(await this.history()), ...(hint ? [hint] : [])]) byKey.set(p.key, p);
    const candidates = [...byKey.values()].sort((a, b) => b.step - a.step);
    if (candidates.length === 0) return undefined;
    const skipped: LoadedCheckpoint['skipped'] = [];
    for (const pointer of candidates) {
      const bytes = await getBytes(this.s3, this.bucket, pointer.key);
      if (!bytes) {
        skipped.push({ key: pointer.key, reason: 'object missing' });
        continue;
      }
      if (sha256Hex(bytes) !== pointer.sha256) {
        skipped.push({ key: pointer.key, reason: 'checksum mismatch (corrupt object)' });
        continue;
      }
      try {
        apply(bytes, pointer);
        return { pointer, skipped };
      } catch (err) {
        skipped.push({ key: pointer.key, reason: (err as Error).message });
      }
    }
    throw new NoUsableCheckpointError(
      `no usable checkpoint among ${candidates.length}: ${skipped.map((s) => `${s.key}: ${s.reason}`).join('; ')}`,
    );
  }
}
