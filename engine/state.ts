/**
 * Full training state <-> bytes, so a checkpoint written to S3 and loaded in a fresh process continues exactly:
 * every model tensor (weights, BN running statistics, prototypes), every LARS momentum buffer, the feature queue
 * and the step counter. Layout (all integers little-endian):
 *
 *   "SEERFLOWSTATE\0\0\0" (16 bytes) | u32 format version | u32 header length | header JSON (UTF-8)
 *   | zero padding to a multiple of 4 | float32 data of every tensor, in header order | SHA-256 of all before (32)
 *
 * The header lists each tensor's name, shape and offset in a fixed order (model store order, then momentum in
 * parameter order, then the queue), so the same state always serialises to the same bytes.
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import { ErrorType } from '../contracts/errors';
import { assignValues } from './params';
import { FeatureQueue } from './swav-model';
import type { SwavTrainer } from './swav-step';

const MAGIC = Buffer.from('SEERFLOWSTATE\0\0\0', 'latin1');
/** Version of the byte layout; bump on incompatible changes. */
export const STATE_FORMAT_VERSION = 1;

/** One tensor in a state file. */
export interface StateTensor {
  name: string;
  shape: number[];
  /** Offset in float32 elements from the start of the data section. */
  offset: number;
}

/** The JSON header of a state file. */
export interface StateHeader {
  format: 'seerflow-engine-state';
  version: number;
  /** Completed training steps. */
  step: number;
  /** Rows of the feature queue filled so far (0 without a queue). */
  queueFilled: number;
  tensors: StateTensor[];
  /** Free-form metadata from the writer (backend, config digest). Not interpreted on restore. */
  meta: unknown;
}

/** A state blob is corrupt or does not fit the model it is loaded into. */
export class StateFormatError extends Error {
  readonly type = ErrorType.IncompatibleCheckpoint;
  constructor(message: string) {
    super(message);
    this.name = 'StateFormatError';
  }
}

function requireLittleEndian(): void {
  // Float32Array views are written as-is; every supported platform is little-endian.
  if (os.endianness() !== 'LE') throw new Error('engine state serialisation needs a little-endian platform');
}

/** One named tensor of the state: where its values come from and go to. */
interface StateItem {
  name: string;
  shape: readonly number[];
  read(): Float32Array;
}

/** The tensors of a trainer's state, in serialisation order (model store, momentum, queue). */
function stateItems(trainer: SwavTrainer): StateItem[] {
  const out: StateItem[] = trainer.model.store.entries().map((e) => ({
    name: e.name,
    shape: e.shape,
    read: () => e.variable.dataSync() as Float32Array,
  }));
  const momentum = trainer.optimizer.momentumSlots();
  let cached: Float32Array[] | undefined;
  momentum.forEach((m, i) =>
    out.push({
      name: `optim.momentum.${m.name}`,
      shape: m.shape,
      read: () => (cached ??= trainer.optimizer.exportMomentum())[i] as Float32Array,
    }),
  );
  const q = trainer.queue;
  if (q) out.push({ name: 'queue', shape: q.data.shape, read: () => q.data.dataSync() as Float32Array });
  return out;
}

/** Serialise the full training state of `trainer`; `meta` must be JSON-serialisable. */
export function serializeState(trainer: SwavTrainer, meta: unknown = null): Uint8Array {
  requireLittleEndian();
  const list = stateItems(trainer);
  let offset = 0;
  const tensors: StateTensor[] = list.map(({ name, shape }) => {
    const t = { name, shape: [...shape], offset };
    offset += shape.reduce((a, b) => a * b, 1);
    return t;
  });
  const header: StateHeader = {
    format: 'seerflow-engine-state',
    version: STATE_FORMAT_VERSION,
    step: trainer.iteration,
    queueFilled: trainer.queue?.filled ?? 0,
    tensors,
    meta,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const pre = MAGIC.length + 8 + json.length;
  const dataStart = Math.ceil(pre / 4) * 4;
  const total = dataStart + offset * 4 + 32;
  const buf = Buffer.alloc(total);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(STATE_FORMAT_VERSION, MAGIC.length);
  buf.writeUInt32LE(json.length, MAGIC.length + 4);
  json.copy(buf, MAGIC.length + 8);
  const data = new Float32Array(buf.buffer, buf.byteOffset + dataStart, offset);
  list.forEach((item, i) => data.set(item.read(), (tensors[i] as StateTensor).offset));
  createHash('sha256')
    .update(buf.subarray(0, total - 32))
    .digest()
    .copy(buf, total - 32);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** Verify magic, version and checksum and parse the header. */
export function readStateHeader(bytes: Uint8Array): { header: StateHeader; data: Float32Array } {
  requireLittleEndian();
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < MAGIC.length + 8 + 32 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new StateFormatError('not a seerflow engine state (bad magic)');
  }
  const digest = createHash('sha256')
    .update(buf.subarray(0, buf.length - 32))
    .digest();
  if (!digest.equals(buf.subarray(buf.length - 32))) throw new StateFormatError('engine state checksum mismatch');
  const version = buf.readUInt32LE(MAGIC.length);
  if (version !== STATE_FORMAT_VERSION) throw new StateFormatError(`unsupported engine state version ${version}`);
  const jsonLen = buf.readUInt32LE(MAGIC.length + 4);
  const header = JSON.parse(buf.subarray(MAGIC.length + 8, MAGIC.length + 8 + jsonLen).toString('utf8')) as StateHeader;
  const dataStart = Math.ceil((MAGIC.length + 8 + jsonLen) / 4) * 4;
  const count = (buf.length - 32 - dataStart) / 4;
  // Copy into an aligned array: the input may sit at any byte offset.
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(buf.subarray(dataStart, dataStart + count * 4));
  return { header, data };
}

/**
 * Load a state into `trainer` (same model and optimizer configuration). Every tensor must match by name and
 * shape; nothing is changed unless all do.
 * @throws StateFormatError on corruption or any mismatch.
 */
export function restoreState(trainer: SwavTrainer, bytes: Uint8Array): StateHeader {
  const { header, data } = readStateHeader(bytes);
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const queueT = byName.get('queue');
  if (queueT && queueT.shape.length !== 3) throw new StateFormatError('queue tensor must be rank 3');
  if (queueT && trainer.cfg.queueLength === 0) throw new StateFormatError('state has a queue, the config has none');
  const expected = stateItems(trainer).filter((t) => t.name !== 'queue');
  const want = expected.length + (queueT ? 1 : 0);
  if (header.tensors.length !== want) {
    throw new StateFormatError(`state has ${header.tensors.length} tensors, model expects ${want}`);
  }
  const slice = (t: StateTensor, shape: readonly number[]): Float32Array => {
    const size = shape.reduce((a, b) => a * b, 1);
    if (t.shape.join('x') !== shape.join('x')) {
      throw new StateFormatError(`${t.name}: state shape ${t.shape.join('x')} != model shape ${shape.join('x')}`);
    }
    if (t.offset < 0 || t.offset + size > data.length) throw new StateFormatError(`${t.name}: data out of range`);
    return data.subarray(t.offset, t.offset + size);
  };
  const values = expected.map(({ name, shape }) => {
    const t = byName.get(name);
    if (!t) throw new StateFormatError(`state lacks tensor ${name}`);
    return slice(t, shape);
  });
  let queueValues: Float32Array | undefined;
  if (queueT) {
    const [crops, length, dim] = queueT.shape as [number, number, number];
    const fits = crops === trainer.cfg.cropsForAssign.length && dim === trainer.model.head.featureDim;
    if (!fits || length > trainer.cfg.queueLength) {
      throw new StateFormatError(`queue shape ${queueT.shape.join('x')} does not fit the config`);
    }
    queueValues = slice(queueT, queueT.shape);
  }
  const entries = trainer.model.store.entries();
  entries.forEach((e, i) => assignValues(e.variable, values[i] as Float32Array));
  trainer.optimizer.importMomentum(values.slice(entries.length));
  trainer.queue?.dispose();
  trainer.queue = undefined;
  if (queueT && queueValues) {
    const [crops, length, dim] = queueT.shape as [number, number, number];
    const q = new FeatureQueue(crops, length, dim, 1);
    assignValues(q.data, queueValues);
    q.filled = header.queueFilled;
    trainer.queue = q;
  }
  trainer.iteration = header.step;
  return header;
}
