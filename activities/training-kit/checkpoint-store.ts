/**
 * The one checkpoint store of pretraining, classification and detection (their pointer types differ; the store is
 * generic over them). Layout and guarantees, for any engine: docs/training-kit.md.
 *
 * - Commit: the state object first (its key carries the attempt number, so a zombie attempt never overwrites
 *   another attempt's object), then the small `latest.json` naming the newest `keep` checkpoints; older ones are
 *   deleted after latest.json moved past them.
 * - `latest.json` carries the run's fingerprint (a run name reused with another config is refused) and a SHA-256
 *   over its own bytes. When it is unreadable (truncated, corrupt, checksum mismatch) the store lists the state
 *   objects under the run's prefix and takes the newest that verifies: state containers are self-checksummed and
 *   carry a stamp (fingerprint + pointer) in their header, so a pointer can be rebuilt from the object alone.
 * - Which checkpoint is newest is decided by contracts/checkpoints.ts, as everywhere else.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { newestFirst } from '../../contracts/checkpoints';
import { ErrorType, SeerflowError } from '../../contracts/errors';
import { readStateContainer } from '../../engine/state-container';
import type { ObjectStorage } from './object-storage';

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What every pointer has: the state object's key and SHA-256 (most also have `bytes`). */
export interface StoredPointer {
  key: string;
  sha256: string;
}

/** A pointer without what the store fills in from the written object. */
export type PointerBody<P> = Omit<P, 'key' | 'sha256' | 'bytes'>;

/** Recorded in the meta of every committed state (as `meta.checkpoint`): enough to rebuild its pointer. */
export interface CheckpointStamp<P> {
  fingerprint: string;
  pointer: Partial<PointerBody<P>>;
}

/** Where a run's checkpoints live. */
export interface CheckpointLayout {
  /** Folder of the state objects (listed when latest.json is unreadable); ends with '/'. */
  prefix: string;
  latestKey: string;
  /**
   * Key of the state committed at `progress` by `attempt`, under `prefix`. Its file name must begin with the
   * zero-padded progress (`step-00000012-a1.state`), so file names sort like progress.
   */
  stateKey(progress: number, attempt: number): string;
}

/** The usual layout: `<prefix>latest.json` and `<prefix><unit>-<progress>-a<attempt>.state` (or `a<attempt>/…`). */
export function checkpointLayout(
  prefix: string,
  unit: 'step' | 'epoch',
  digits: number,
  attemptAt: 'suffix' | 'folder' = 'suffix',
): CheckpointLayout {
  return {
    prefix,
    latestKey: `${prefix}latest.json`,
    stateKey: (progress, attempt) => {
      const n = `${unit}-${String(progress).padStart(digits, '0')}`;
      return attemptAt === 'suffix' ? `${prefix}${n}-a${attempt}.state` : `${prefix}a${attempt}/${n}.state`;
    },
  };
}

/** The content of `latest.json`; `sha256` is first, over the file's bytes with its own 64 digits zeroed. */
export interface CheckpointsFile<P> {
  sha256: string;
  format: 'seerflow-checkpoints';
  version: 1;
  fingerprint: string;
  /** newest first */
  history: P[];
}

export interface CheckpointStoreOptions<P> {
  storage: ObjectStorage;
  layout: CheckpointLayout;
  /** Checkpoints kept, newest first. */
  keep: number;
  /** Identity of the run's inputs (dataset, config): latest.json and every stamp carry it. */
  fingerprint: string;
  /** Completed steps or epochs of a pointer: what orders checkpoints. */
  progress(pointer: PointerBody<P>): number;
  /** Whose checkpoints, in messages: `run "demo"`. */
  owner: string;
  /** Extra fields of latest.json (pretraining: `runName`). */
  extra?: Record<string, unknown>;
  /**
   * Pointer fields that differ between otherwise identical runs (timings): left out of the stamp, so equal states
   * stay byte-identical, and given these values in a pointer rebuilt from a state.
   */
  volatile?: Partial<PointerBody<P>>;
  /** One line per event worth a log (fallbacks, recoveries). @default stderr */
  log?: (line: string) => void;
}

/** What {@link CheckpointStore.loadNewest} found. */
export interface LoadedCheckpoint<P> {
  /** The checkpoint loaded; undefined when none was usable (or there was none). */
  pointer?: P;
  /** Newer candidates that were skipped, with the reason. */
  skipped: { key: string; reason: string }[];
  candidates: number;
  /** latest.json was unreadable and the pointer was rebuilt from the state object. */
  recovered: boolean;
}

type LatestRead<P> = { state: 'missing' } | { state: 'ok'; history: P[] } | { state: 'unreadable'; reason: string };

const ZERO_SHA = '0'.repeat(64);

export class CheckpointStore<P extends StoredPointer> {
  /** The history rebuilt from state objects while latest.json is unreadable (until the next commit rewrites it). */
  private recovered: P[] | undefined;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: CheckpointStoreOptions<P>) {
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** Checkpoints of the run, newest first (from latest.json, or recovered from the state objects). */
  async history(): Promise<P[]> {
    const latest = await this.readLatest();
    if (latest.state === 'ok') return latest.history;
    if (latest.state === 'missing') return [];
    if (!this.recovered) await this.loadNewest(() => undefined);
    return this.recovered ?? [];
  }

  /**
   * Load the newest usable checkpoint: candidates from latest.json (or, when it is unreadable, the state objects
   * under the prefix) plus `hint` (a pointer the caller knows of, under this run's prefix), newest first. Each must
   * verify and be accepted by `apply`, which throws on a state that does not fit (leaving its model unchanged).
   * @param required throw IncompatibleCheckpoint when there are candidates but none is usable (else start over).
   */
  async loadNewest(
    apply: (bytes: Uint8Array, pointer: P) => void,
    { hint, required = false }: { hint?: P; required?: boolean } = {},
  ): Promise<LoadedCheckpoint<P>> {
    const latest = await this.readLatest();
    const usableHint = hint && hint.key.startsWith(this.opts.layout.prefix) ? hint : undefined;
    let candidates: { key: string; pointer?: P }[];
    if (latest.state === 'unreadable') {
      this.log(`${this.opts.layout.latestKey} is unreadable (${latest.reason}); recovering from the state objects`);
      candidates = (await this.listStates()).map((key) => ({
        key,
        ...(usableHint?.key === key ? { pointer: usableHint } : {}),
      }));
    } else {
      const known = latest.state === 'ok' ? latest.history : [];
      const byKey = new Map<string, P>();
      for (const p of newestFirst([...known, usableHint], (q) => this.opts.progress(q))) {
        if (!byKey.has(p.key)) byKey.set(p.key, p);
      }
      candidates = [...byKey.values()].map((p) => ({ key: p.key, pointer: p }));
    }
    const skipped: LoadedCheckpoint<P>['skipped'] = [];
    for (const c of candidates) {
      const bytes = await this.opts.storage.getBytes(c.key);
      if (!bytes) {
        skipped.push({ key: c.key, reason: 'object missing' });
        continue;
      }
      let pointer: P;
      if (c.pointer) {
        if (sha256Hex(bytes) !== c.pointer.sha256) {
          skipped.push({ key: c.key, reason: 'checksum mismatch (corrupt object)' });
          continue;
        }
        pointer = c.pointer;
      } else {
        const rebuilt = this.pointerFromState(c.key, bytes);
        if (typeof rebuilt === 'string') {
          skipped.push({ key: c.key, reason: rebuilt });
          continue;
        }
        pointer = rebuilt;
      }
      try {
        apply(bytes, pointer);
      } catch (err) {
        skipped.push({ key: c.key, reason: (err as Error).message });
        continue;
      }
      if (skipped.length > 0) this.log(`fell back past ${describe(skipped)}`);
      const recovered = latest.state === 'unreadable';
      if (recovered) {
        this.recovered = [pointer];
        this.log(`recovered checkpoint ${pointer.key}`);
      }
      return { pointer, skipped, candidates: candidates.length, recovered };
    }
    if (candidates.length > 0) {
      const message = `no usable checkpoint among ${candidates.length}: ${describe(skipped, '; ')}`;
      if (required) throw new SeerflowError(ErrorType.IncompatibleCheckpoint, message);
      this.log(message);
    }
    return { skipped, candidates: candidates.length, recovered: false };
  }

  /**
   * Commit a checkpoint: `write(stamp)` gives the state bytes (the stamp goes into its meta as `checkpoint`),
   * stored under this attempt's key, then latest.json names it; checkpoints beyond the newest `keep` are deleted.
   */
  async commit(body: PointerBody<P>, attempt: number, write: (stamp: CheckpointStamp<P>) => Uint8Array): Promise<P> {
    const { storage, layout, keep, progress } = this.opts;
    const key = layout.stateKey(progress(body), attempt);
    const recorded: Record<string, unknown> = { ...body };
    for (const field of Object.keys(this.opts.volatile ?? {})) delete recorded[field];
    const state = write({ fingerprint: this.opts.fingerprint, pointer: recorded as Partial<PointerBody<P>> });
    await storage.putBytes(key, state);
    const pointer = { ...body, key, sha256: sha256Hex(state), bytes: state.length } as unknown as P;
    const latest = await this.readLatest();
    const known = latest.state === 'ok' ? latest.history : latest.state === 'unreadable' ? (this.recovered ?? []) : [];
    const history = [pointer, ...known.filter((p) => p.key !== key && progress(p) < progress(body))];
    await this.writeLatest(history.slice(0, keep));
    this.recovered = undefined;
    for (const old of history.slice(keep)) await storage.deleteKey(old.key).catch(() => undefined);
    return pointer;
  }

  private async writeLatest(history: P[]): Promise<void> {
    const file: CheckpointsFile<P> = {
      sha256: ZERO_SHA,
      format: 'seerflow-checkpoints',
      version: 1,
      ...this.opts.extra,
      fingerprint: this.opts.fingerprint,
      history,
    };
    const zeroed = `${JSON.stringify(file, null, 2)}\n`;
    const text = zeroed.replace(ZERO_SHA, sha256Hex(zeroed));
    await this.opts.storage.putBytes(this.opts.layout.latestKey, Buffer.from(text, 'utf8'), 'application/json');
  }

  /** latest.json, verified; another run's fingerprint is refused (IncompatibleCheckpoint). */
  private async readLatest(): Promise<LatestRead<P>> {
    const bytes = await this.opts.storage.getBytes(this.opts.layout.latestKey);
    if (!bytes) return { state: 'missing' };
    const text = Buffer.from(bytes).toString('utf8');
    let file: Partial<CheckpointsFile<P>>;
    try {
      file = JSON.parse(text) as Partial<CheckpointsFile<P>>;
    } catch {
      return { state: 'unreadable', reason: `not valid JSON (${bytes.length} bytes; truncated?)` };
    }
    if (
      typeof file !== 'object' ||
      file === null ||
      !Array.isArray(file.history) ||
      typeof file.fingerprint !== 'string'
    )
      return { state: 'unreadable', reason: 'not a checkpoints file' };
    // Files of earlier releases have no checksum and no format field; they are read as they are.
    if (file.sha256 !== undefined || file.format !== undefined) {
      if (typeof file.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(file.sha256))
        return { state: 'unreadable', reason: 'no checksum' };
      if (sha256Hex(text.replace(file.sha256, ZERO_SHA)) !== file.sha256)
        return { state: 'unreadable', reason: 'checksum mismatch' };
      if (file.format !== 'seerflow-checkpoints' || file.version !== 1)
        return { state: 'unreadable', reason: `unknown format ${String(file.format)} v${String(file.version)}` };
    }
    this.checkFingerprint(file.fingerprint);
    return { state: 'ok', history: file.history };
  }

  private checkFingerprint(found: string): void {
    if (found !== this.opts.fingerprint)
      throw new SeerflowError(
        ErrorType.IncompatibleCheckpoint,
        `${this.opts.owner} already has checkpoints trained with another dataset or config (fingerprint ${found}, now ${this.opts.fingerprint}); use a new run name`,
      );
  }

  /** State objects under the prefix, newest first (file names begin with the zero-padded progress). */
  private async listStates(): Promise<string[]> {
    const { storage, layout } = this.opts;
    if (!storage.listKeys) {
      this.log(`cannot list ${layout.prefix}: no state object to recover from`);
      return [];
    }
    const keys = (await storage.listKeys(layout.prefix)).filter((k) => k.endsWith('.state'));
    const name = (k: string) => path.posix.basename(k);
    return keys.sort((a, b) => (name(a) < name(b) ? 1 : name(a) > name(b) ? -1 : a < b ? 1 : -1));
  }

  /** The pointer of a state object from its stamp, or why there is none. */
  private pointerFromState(key: string, bytes: Uint8Array): P | string {
    let meta: unknown;
    try {
      meta = readStateContainer(bytes).header.meta;
    } catch (err) {
      return (err as Error).message;
    }
    const stamp = (meta as { checkpoint?: CheckpointStamp<P> } | null)?.checkpoint;
    if (!stamp || typeof stamp.fingerprint !== 'string' || typeof stamp.pointer !== 'object')
      return 'state has no checkpoint stamp';
    this.checkFingerprint(stamp.fingerprint);
    return {
      ...this.opts.volatile,
      ...stamp.pointer,
      key,
      sha256: sha256Hex(bytes),
      bytes: bytes.length,
    } as unknown as P;
  }
}

function describe(skipped: { key: string; reason: string }[], sep = ', '): string {
  return skipped.map((s) => `${s.key} (${s.reason})`).join(sep);
}
