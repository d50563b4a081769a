/**
 * Incremental ustar reader: feed it the chunks of an HTTP body as they arrive and it hands out every member as
 * soon as its bytes are in, so a tar part is parsed while it downloads. A member that lies inside one network
 * chunk is handed out as a view of it (no copy); only members that span chunks are copied once. Same rules as the canonical shard writer in activities/preprocess/tar.ts: regular files only, header
 * checksums verified.
 */
const BLOCK = 512;

export interface StreamedTarMember {
  name: string;
  /** a view into the archive buffer (valid as long as the member is referenced) */
  data: Uint8Array;
}

export class TarStreamError extends Error {
  override readonly name = 'TarStreamError';
}

function parseOctal(h: Buffer, from: number, to: number): number {
  return parseInt(h.toString('latin1', from, to).replace(/\0.*$/s, '').trim() || '0', 8);
}

function isZeroBlock(buf: Buffer, at: number): boolean {
  for (let i = at; i < at + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Push chunks with {@link push}; call {@link end} after the last one to check the archive is complete. */
export class TarStreamParser {
  /** received chunks not yet fully consumed, and the archive offset of the first one */
  private chunks: Uint8Array[] = [];
  private chunksStart = 0;
  private filled = 0;
  /** offset of the next header to parse */
  private next = 0;
  private finished = false;

  /** Bytes received so far. */
  get bytes(): number {
    return this.filled;
  }

  /** Members completed by this chunk, in archive order. */
  push(chunk: Uint8Array): StreamedTarMember[] {
    this.chunks.push(chunk);
    this.filled += chunk.byteLength;
    const out: StreamedTarMember[] = [];
    while (!this.finished && this.next + BLOCK <= this.filled) {
      const at = this.next;
      const h = this.read(at, BLOCK);
      if (isZeroBlock(h, 0)) {
        this.finished = true; // bytes after the end-of-archive blocks (record padding) are ignored
        this.chunks = [];
        break;
      }
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
      if (parseOctal(h, 148, 156) !== sum) throw new TarStreamError(`bad tar header checksum at offset ${at}`);
      const size = parseOctal(h, 124, 136);
      if (!Number.isFinite(size) || size < 0) throw new TarStreamError(`bad member size at offset ${at}`);
      if (at + BLOCK + size > this.filled) break; // the member's bytes are still on their way
      const type = h.toString('latin1', 156, 157);
      if (type === '0' || type === '\0') {
        const name = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
        out.push({ name, data: this.read(at + BLOCK, size) });
      }
      this.next = at + BLOCK + Math.ceil(size / BLOCK) * BLOCK;
      this.release();
    }
    return out;
  }

  /** Throws when the archive stopped inside a member or before its end-of-archive block. */
  end(): void {
    if (!this.finished) {
      throw new TarStreamError(
        this.next < this.filled
          ? `archive truncated inside the member at offset ${this.next}`
          : 'archive has no end-of-archive block (truncated?)',
      );
    }
  }

  /**
   * Bytes [at, at + n) of the archive: a view when they lie in one chunk (the common case for members smaller
   * than a network chunk), else a copy.
   */
  private read(at: number, n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    let offset = this.chunksStart;
    let k = 0;
    while (offset + (this.chunks[k] as Uint8Array).byteLength <= at)
      offset += (this.chunks[k++] as Uint8Array).byteLength;
    const first = this.chunks[k] as Uint8Array;
    const from = at - offset;
    if (from + n <= first.byteLength) return Buffer.from(first.buffer, first.byteOffset + from, n);
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    for (let c = first, start = from; o < n; c = this.chunks[++k] as Uint8Array, start = 0) {
      const len = Math.min(c.byteLength - start, n - o);
      out.set(c.subarray(start, start + len), o);
      o += len;
    }
    return out;
  }

  /** Drop chunks that lie wholly before the next header (views handed out keep their own memory alive). */
  private release(): void {
    while (this.chunks.length > 0 && this.chunksStart + (this.chunks[0] as Uint8Array).byteLength <= this.next) {
      this.chunksStart += (this.chunks.shift() as Uint8Array).byteLength;
    }
  }
}
