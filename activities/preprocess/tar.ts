/**
 * Minimal POSIX ustar writer and reader for WebDataset-style shards (`<id>.jpg` + `<id>.json` pairs).
 * Deterministic: fixed mtime, mode, owner, so equal members give byte-identical archives.
 */

const BLOCK = 512;

export interface TarMember {
  name: string;
  data: Uint8Array;
}

function writeOctal(buf: Buffer, value: number, offset: number, length: number): void {
  buf.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

function header(name: string, size: number): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length > 100) throw new RangeError(`tar member name longer than 100 bytes: ${name}`);
  const h = Buffer.alloc(BLOCK);
  nameBytes.copy(h, 0);
  writeOctal(h, 0o644, 100, 8); // mode
  writeOctal(h, 0, 108, 8); // uid
  writeOctal(h, 0, 116, 8); // gid
  writeOctal(h, size, 124, 12);
  writeOctal(h, 0, 136, 12); // mtime: fixed for reproducible archives
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h.write('0', 156, 1, 'ascii'); // regular file
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** Serialise members in the given order, followed by the two zero blocks that end an archive. */
export function writeTar(members: readonly TarMember[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    parts.push(header(m.name, m.data.length), Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
    const pad = (BLOCK - (m.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

/** Parse a ustar archive (regular files only), verifying header checksums. */
export function readTar(archive: Uint8Array): TarMember[] {
  const buf = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  const out: TarMember[] = [];
  let o = 0;
  while (o + BLOCK <= buf.length) {
    const h = buf.subarray(o, o + BLOCK);
    if (h.every((b) => b === 0)) break;
    const stored = parseInt(h.toString('ascii', 148, 156).replace(/\0.*$/, '').trim(), 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
    if (stored !== sum) throw new TarFormatError(`bad header checksum at offset ${o}`);
    const name = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
    const size = parseInt(h.toString('ascii', 124, 136).replace(/\0.*$/, '').trim(), 8);
    if (!Number.isFinite(size) || o + BLOCK + size > buf.length)
      throw new TarFormatError(`member ${name} runs past the end`);
    const type = h.toString('ascii', 156, 157);
    if (type === '0' || type === '\0')
      out.push({ name, data: new Uint8Array(buf.subarray(o + BLOCK, o + BLOCK + size)) });
    o += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}

/** Group WebDataset members by sample id (the name up to the first dot). */
export function groupSamples(members: readonly TarMember[]): Map<string, Map<string, Uint8Array>> {
  const samples = new Map<string, Map<string, Uint8Array>>();
  for (const m of members) {
    const dot = m.name.indexOf('.');
    const id = dot < 0 ? m.name : m.name.slice(0, dot);
    const ext = dot < 0 ? '' : m.name.slice(dot + 1);
    let s = samples.get(id);
    if (!s) samples.set(id, (s = new Map()));
    s.set(ext, m.data);
  }
  return samples;
}
