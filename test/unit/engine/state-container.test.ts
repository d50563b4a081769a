/**
 * The one state format (engine/state-container.ts): round trip, deterministic bytes, streamable chunks, and a
 * clear StateFormatError (an IncompatibleCheckpoint) for a corrupt, truncated, foreign-kind, unknown-version or
 * retired-format state; the SwAV-only version 1 layout is still read.
 */
import { createHash } from 'node:crypto';
import { ErrorType } from '../../../contracts/errors';
import {
  encodeStateContainer,
  readStateContainer,
  STATE_CONTAINER_VERSION,
  StateFormatError,
  takeTensors,
  writeStateContainer,
  type StateContent,
} from '../../../engine/state-container';

const a = Float32Array.from({ length: 6 }, (_, i) => i * 0.5 - 1);
const b = Float32Array.of(3.25, -7);
const content: StateContent = {
  kind: 'detector',
  step: 42,
  kindMeta: { note: 'x' },
  meta: { checkpoint: { fingerprint: 'f', pointer: { epoch: 2 } } },
  tensors: [
    { name: 'w', shape: [2, 3], read: () => a },
    { name: 'b', shape: [2], read: () => b },
  ],
};

/** What the docs say a reader does, by hand: magic, u32 version, u32 header length, JSON, pad 4, data, SHA-256. */
function readByHand(bytes: Uint8Array) {
  const buf = Buffer.from(bytes);
  const version = buf.readUInt32LE(16);
  const len = buf.readUInt32LE(20);
  const header = JSON.parse(buf.subarray(24, 24 + len).toString('utf8'));
  const dataStart = Math.ceil((24 + len) / 4) * 4;
  const data: number[] = [];
  for (let o = dataStart; o < buf.length - 32; o += 4) data.push(buf.readFloatLE(o));
  const hashOk = createHash('sha256')
    .update(buf.subarray(0, buf.length - 32))
    .digest()
    .equals(buf.subarray(buf.length - 32));
  return { magic: buf.subarray(0, 16).toString('latin1'), version, header, data, hashOk };
}

function expectFormatError(fn: () => unknown, message: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(StateFormatError);
  expect((err as StateFormatError).type).toBe(ErrorType.IncompatibleCheckpoint);
  expect((err as Error).message).toMatch(message);
}

describe('state container', () => {
  it('round-trips header and tensors, byte for byte as documented', () => {
    const bytes = writeStateContainer(content);
    expect(Buffer.from(writeStateContainer(content)).equals(Buffer.from(bytes))).toBe(true);
    const parsed = readStateContainer(bytes, 'detector');
    expect(parsed.header).toEqual({
      format: 'seerflow-state',
      version: STATE_CONTAINER_VERSION,
      kind: 'detector',
      step: 42,
      tensors: [
        { name: 'w', shape: [2, 3], dtype: 'float32', offset: 0 },
        { name: 'b', shape: [2], dtype: 'float32', offset: 6 },
      ],
      kindMeta: { note: 'x' },
      meta: content.meta,
    });
    const [w, bias] = takeTensors(parsed, content.tensors, 'exact');
    expect(Array.from(w as Float32Array)).toEqual(Array.from(a));
    expect(Array.from(bias as Float32Array)).toEqual(Array.from(b));

    const hand = readByHand(bytes);
    expect(hand.magic).toBe('SEERFLOWSTATE\0\0\0');
    expect(hand.version).toBe(2);
    expect(hand.header).toEqual(parsed.header);
    expect(hand.data).toEqual([...a, ...b]);
    expect(hand.hashOk).toBe(true);
  });

  it('streams as chunks (header first, tensors in order, hash last) that concatenate to the same bytes', () => {
    const enc = encodeStateContainer(content);
    const chunks = [...enc.chunks()];
    expect(chunks).toHaveLength(4);
    expect(chunks[3]).toHaveLength(32);
    const joined = Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
    expect(joined.length).toBe(enc.byteLength);
    expect(joined.equals(Buffer.from(writeStateContainer(content)))).toBe(true);
  });

  it('reads a state at an odd byte offset (copied into aligned memory)', () => {
    const bytes = writeStateContainer(content);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const parsed = readStateContainer(shifted.subarray(1));
    expect(Array.from(parsed.data)).toEqual([...a, ...b]);
  });

  it('refuses a checksum mismatch, a truncated object, another kind and an unknown version', () => {
    const bytes = writeStateContainer(content);
    const flipped = Uint8Array.from(bytes);
    flipped[flipped.length - 40] = (flipped[flipped.length - 40] as number) ^ 1;
    expectFormatError(() => readStateContainer(flipped), /checksum mismatch/);
    expectFormatError(() => readStateContainer(bytes.subarray(0, bytes.length - 9)), /checksum mismatch.*truncated/);
    expectFormatError(() => readStateContainer(bytes.subarray(0, 20)), /bad magic/);
    expectFormatError(() => readStateContainer(bytes, 'swav'), /a detector state, not a swav state/);

    const v9 = Buffer.from(bytes.slice(0, bytes.length - 32));
    v9.writeUInt32LE(9, 16);
    const rehashed = Buffer.concat([v9, createHash('sha256').update(v9).digest()]);
    expectFormatError(() => readStateContainer(rehashed), /unsupported state version 9/);
  });

  it('names the retired classifier and detector formats', () => {
    const cls = Buffer.concat([Buffer.from('SEERFLOWCLSSTATE', 'latin1'), Buffer.alloc(64)]);
    expectFormatError(() => readStateContainer(cls), /retired seerflow-classifier-state v1 format/);
    const det = Buffer.concat([Buffer.from('SEERFLOWDETECT\0\0', 'latin1'), Buffer.alloc(64)]);
    expectFormatError(() => readStateContainer(det), /retired seerflow-detector-state v1 format/);
  });

  it('reads the SwAV-only version 1 layout as kind swav', () => {
    const header = {
      format: 'seerflow-engine-state',
      version: 1,
      step: 7,
      queueFilled: 3,
      tensors: [{ name: 'w', shape: [2, 3], offset: 0 }],
      meta: { backend: 'old' },
    };
    const json = Buffer.from(JSON.stringify(header));
    const pre = Buffer.alloc(Math.ceil((24 + json.length) / 4) * 4);
    pre.write('SEERFLOWSTATE\0\0\0', 0, 'latin1');
    pre.writeUInt32LE(1, 16);
    pre.writeUInt32LE(json.length, 20);
    json.copy(pre, 24);
    const body = Buffer.concat([pre, Buffer.from(a.buffer)]);
    const v1 = Buffer.concat([body, createHash('sha256').update(body).digest()]);
    const parsed = readStateContainer(v1, 'swav');
    expect(parsed.header).toMatchObject({ kind: 'swav', version: 1, step: 7, kindMeta: { queueFilled: 3 } });
    expect(parsed.header.meta).toEqual({ backend: 'old' });
    expect(Array.from(parsed.data)).toEqual(Array.from(a));
  });

  it('matches tensors exactly or by name, and says which one does not fit', () => {
    const parsed = readStateContainer(writeStateContainer(content));
    expect(takeTensors(parsed, [{ name: 'b', shape: [2] }], 'byName')[0]).toEqual(b);
    expectFormatError(
      () => takeTensors(parsed, [{ name: 'b', shape: [2] }], 'exact'),
      /has 2 tensors, the model expects 1/,
    );
    expectFormatError(
      () => takeTensors(parsed, [{ name: 'w', shape: [3, 2] }], 'byName'),
      /w: state shape 2x3 != model/,
    );
    expectFormatError(
      () => takeTensors(parsed, [{ name: 'q', shape: [1] }], 'byName', 'SwAV state'),
      /SwAV state lacks q/,
    );
  });
});
