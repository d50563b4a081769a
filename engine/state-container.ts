/**
 * The one byte format of every training state (SwAV trainer, classifier, detector), specified in
 * docs/training-kit.md so an engine in another language can read and write it. All integers little-endian:
 *
 *   magic "SEERFLOWSTATE\0\0\0" (16 bytes) | u32 version (2) | u32 header length | header JSON (UTF-8)
 *   | zero padding to a multiple of 4 | float32 data of every tensor, in header order | SHA-256 of all before (32)
 *
 * Header: {format: 'seerflow-state', version, kind, step, tensors: [{name, shape, dtype: 'float32', offset}],
 * kindMeta?, meta}; `offset` counts float32 elements from the start of the data section. The layout is streamable
 * (header first, tensors in order, hash last) and the same content always gives the same bytes. Each kind's module
 * (engine/state.ts, engine/classifier.ts, engine/detector.ts) decides only which tensors, in which order.
 * Version 1 was the SwAV-only layout of the same shape; it is still read (as kind 'swav').
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import { ErrorType, SeerflowError } from '../contracts/errors';

export const STATE_MAGIC = Buffer.from('SEERFLOWSTATE\0\0\0', 'latin1');
/** Version of the byte layout written; bump on incompatible changes. */
export const STATE_CONTAINER_VERSION = 2;
/** The SwAV-only layout of earlier releases (header `seerflow-engine-state`), still readable. */
const LEGACY_SWAV_VERSION = 1;
/** Magics of the retired classifier and detector layouts: named in the error, not read. */
const RETIRED_MAGICS: Record<string, string> = {
  SEERFLOWCLSSTATE: 'seerflow-classifier-state v1',
  'SEERFLOWDETECT\0\0': 'seerflow-detector-state v1',
};
const PREFIX_BYTES = STATE_MAGIC.length + 8;
const HASH_BYTES = 32;

export type StateKind = 'swav' | 'classifier' | 'detector';
const KINDS: readonly StateKind[] = ['swav', 'classifier', 'detector'];

/** One tensor of a state. */
export interface StateTensor {
  name: string;
  shape: number[];
  dtype: 'float32';
  /** Offset in float32 elements from the start of the data section. */
  offset: number;
}

/** The JSON header of a state. */
export interface StateContainerHeader {
  format: 'seerflow-state';
  version: number;
  kind: StateKind;
  /** Completed training steps. */
  step: number;
  tensors: StateTensor[];
  /** What the kind needs besides its tensors to restore (SwAV: `queueFilled`; classifier: `mode`). */
  kindMeta?: Record<string, unknown>;
  /** Free-form metadata of the writer (checkpoint stamp, backend, cursor); not interpreted on restore. */
  meta: unknown;
}

/** A tensor to write: its name, shape and where its values come from (read once, in order). */
export interface TensorSource {
  name: string;
  shape: readonly number[];
  read(): Float32Array;
}

/** Everything a state holds. */
export interface StateContent {
  kind: StateKind;
  step: number;
  tensors: readonly TensorSource[];
  kindMeta?: Record<string, unknown>;
  meta?: unknown;
}

/** A parsed, verified state: its header and the data section (float32, aligned). */
export interface ParsedState {
  header: StateContainerHeader;
  data: Float32Array;
}

/** A state is corrupt, of another format or kind, or does not fit the model it is loaded into. */
export class StateFormatError extends SeerflowError {
  constructor(message: string) {
    super(ErrorType.IncompatibleCheckpoint, message);
    this.name = 'StateFormatError';
  }
}

function requireLittleEndian(): void {
  // Float32Array views are written and read as-is; every supported platform is little-endian.
  if (os.endianness() !== 'LE') throw new Error('engine state serialisation needs a little-endian platform');
}

const elements = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * The state as a sequence of chunks (prefix with header, each tensor's bytes, hash) and its total size: a writer
 * can stream them (multipart upload) without holding the whole state.
 */
export function encodeStateContainer(content: StateContent): { byteLength: number; chunks(): Generator<Uint8Array> } {
  requireLittleEndian();
  let offset = 0;
  const tensors: StateTensor[] = content.tensors.map(({ name, shape }) => {
    const t: StateTensor = { name, shape: [...shape], dtype: 'float32', offset };
    offset += elements(shape);
    return t;
  });
  const header: StateContainerHeader = {
    format: 'seerflow-state',
    version: STATE_CONTAINER_VERSION,
    kind: content.kind,
    step: content.step,
    tensors,
    ...(content.kindMeta ? { kindMeta: content.kindMeta } : {}),
    meta: content.meta ?? null,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(Math.ceil((PREFIX_BYTES + json.length) / 4) * 4);
  STATE_MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(STATE_CONTAINER_VERSION, STATE_MAGIC.length);
  prefix.writeUInt32LE(json.length, STATE_MAGIC.length + 4);
  json.copy(prefix, PREFIX_BYTES);
  return {
    byteLength: prefix.length + offset * 4 + HASH_BYTES,
    *chunks() {
      const hash = createHash('sha256');
      hash.update(prefix);
      yield prefix;
      for (const [i, source] of content.tensors.entries()) {
        const values = source.read();
        const t = tensors[i] as StateTensor;
        if (values.length !== elements(t.shape))
          throw new Error(`state tensor ${t.name}: ${values.length} values for shape ${t.shape.join('x')}`);
        const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        hash.update(bytes);
        yield bytes;
      }
      yield hash.digest();
    },
  };
}

/** The state as one byte array; the same content always gives the same bytes. */
export function writeStateContainer(content: StateContent): Uint8Array {
  const encoded = encodeStateContainer(content);
  const out = new Uint8Array(encoded.byteLength);
  let pos = 0;
  for (const chunk of encoded.chunks()) {
    out.set(chunk, pos);
    pos += chunk.length;
  }
  return out;
}

/** Header of the SwAV-only layout (version 1). */
interface LegacySwavHeader {
  format: 'seerflow-engine-state';
  step: number;
  queueFilled: number;
  tensors: { name: string; shape: number[]; offset: number }[];
  meta: unknown;
}

function parseHeader(json: string, version: number): StateContainerHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new StateFormatError('state header is not valid JSON');
  }
  if (version === LEGACY_SWAV_VERSION) {
    const h = raw as LegacySwavHeader;
    if (h?.format !== 'seerflow-engine-state') throw new StateFormatError('state v1 header is not a SwAV state');
    return {
      format: 'seerflow-state',
      version,
      kind: 'swav',
      step: h.step,
      tensors: h.tensors.map((t) => ({ ...t, dtype: 'float32' as const })),
      kindMeta: { queueFilled: h.queueFilled },
      meta: h.meta,
    };
  }
  const h = raw as StateContainerHeader;
  if (h?.format !== 'seerflow-state' || h.version !== version || !KINDS.includes(h.kind) || !Array.isArray(h.tensors))
    throw new StateFormatError('state header is not a seerflow-state header');
  for (const t of h.tensors)
    if (t.dtype !== 'float32') throw new StateFormatError(`state tensor ${t.name}: unsupported dtype ${t.dtype}`);
  return h;
}

/**
 * Verify magic, checksum and version, parse the header and return it with the data section.
 * @param kind the kind the caller expects; another kind is refused.
 * @throws StateFormatError (an `IncompatibleCheckpoint`) on any of these.
 */
export function readStateContainer(bytes: Uint8Array, kind?: StateKind): ParsedState {
  requireLittleEndian();
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = buf.subarray(0, STATE_MAGIC.length);
  const retired = RETIRED_MAGICS[magic.toString('latin1')];
  if (retired)
    throw new StateFormatError(`state is in the retired ${retired} format, which this version does not read`);
  if (buf.length < PREFIX_BYTES + HASH_BYTES || !magic.equals(STATE_MAGIC))
    throw new StateFormatError('not a seerflow state (bad magic)');
  const digest = createHash('sha256')
    .update(buf.subarray(0, buf.length - HASH_BYTES))
    .digest();
  if (!digest.equals(buf.subarray(buf.length - HASH_BYTES)))
    throw new StateFormatError('state checksum mismatch (corrupt or truncated object)');
  const version = buf.readUInt32LE(STATE_MAGIC.length);
  if (version !== STATE_CONTAINER_VERSION && version !== LEGACY_SWAV_VERSION)
    throw new StateFormatError(`unsupported state version ${version} (this build reads 1 and 2)`);
  const jsonLen = buf.readUInt32LE(STATE_MAGIC.length + 4);
  const dataStart = Math.ceil((PREFIX_BYTES + jsonLen) / 4) * 4;
  const dataBytes = buf.length - HASH_BYTES - dataStart;
  if (dataBytes < 0 || dataBytes % 4 !== 0) throw new StateFormatError('state header length out of range');
  const header = parseHeader(buf.subarray(PREFIX_BYTES, PREFIX_BYTES + jsonLen).toString('utf8'), version);
  if (kind && header.kind !== kind) throw new StateFormatError(`a ${header.kind} state, not a ${kind} state`);
  const count = dataBytes / 4;
  for (const t of header.tensors)
    if (t.offset < 0 || t.offset + elements(t.shape) > count)
      throw new StateFormatError(`${t.name}: data out of range`);
  const at = buf.byteOffset + dataStart;
  // A view when aligned; otherwise a copy (the input may sit at any byte offset).
  const data =
    at % 4 === 0
      ? new Float32Array(buf.buffer, at, count)
      : new Float32Array(Uint8Array.from(buf.subarray(dataStart, dataStart + dataBytes)).buffer);
  return { header, data };
}

/** A tensor the reader wants: name and shape. */
export interface TensorSpec {
  name: string;
  shape: readonly number[];
}

/**
 * The values of `wanted`, in its order, checked against the state's tensors: `exact` (every tensor of the state,
 * in the same order) or `byName` (a subset, any order). Nothing is assigned here, so a caller can check everything
 * before changing its model. `what` names the state in messages.
 * @throws StateFormatError on a missing, extra or mis-shaped tensor.
 */
export function takeTensors(
  state: ParsedState,
  wanted: readonly TensorSpec[],
  match: 'exact' | 'byName',
  what = 'state',
): Float32Array[] {
  const have = state.header.tensors;
  if (match === 'exact' && have.length !== wanted.length)
    throw new StateFormatError(`${what} has ${have.length} tensors, the model expects ${wanted.length}`);
  const byName = new Map(have.map((t) => [t.name, t]));
  return wanted.map((w, i) => {
    const t = match === 'exact' ? have[i] : byName.get(w.name);
    if (!t || t.name !== w.name)
      throw new StateFormatError(
        match === 'exact'
          ? `${what} tensor ${i} is ${t?.name}, the model expects ${w.name}`
          : `${what} lacks ${w.name}`,
      );
    if (t.shape.join('x') !== w.shape.join('x'))
      throw new StateFormatError(`${t.name}: ${what} shape ${t.shape.join('x')} != model shape ${w.shape.join('x')}`);
    return state.data.subarray(t.offset, t.offset + elements(t.shape));
  });
}
