/**
 * Incremental ustar reader: feed it the chunks of an HTTP body as they arrive and it hands out whole members, so
 * a tar part is parsed while it downloads (no second copy of the archive). Same rules as the canonical shard
 * writer and reader in activities/preprocess/tar.ts: regular files only, header checksums verified.
 */
const BLOCK = 512;

export interface StreamedTarMember {
  name: string;
  data: Uint8Array;
}

export class TarStreamError extends Error {
  override readonly name = 'TarStreamError';
}

function parseOctal(h: Buffer, from: number, to: number): number {
  return parseInt(h.toString('ascii', from, to).replace(/\0.*$/s, '').trim() || '0', 8);
}

/** Push chunks with {@link push}; call {@link end} after the last one to check the archive is complete. */
export class TarStreamParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** bytes still to skip (padding) or to collect (member data) */
  private member: { name: string; size: number; regular: boolean } | undefined;
  private skip = 0;
  private finished = false;
  private offset = 0;

  /** Members completed by this chunk, in archive order. */
  push(chunk: Uint8Array): StreamedTarMember[] {
    if (this.finished) return []; // bytes after the end-of-archive blocks (some writers pad to a record size)
    this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.pendingBytes += chunk.byteLength;
    const out: StreamedTarMember[] = [];
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.pendingBytes);
        this.take(n);
        this.skip -= n;
        if (this.skip > 0) return out;
      }
      if (this.member) {
        const m = this.member;
        if (this.pendingBytes < m.size) return out;
        const data = this.take(m.size);
        if (m.regular) out.push({ name: m.name, data: new Uint8Array(data) });
        this.member = undefined;
        this.skip = (BLOCK - (m.size % BLOCK)) % BLOCK;
        continue;
      }
      if (this.pendingBytes < BLOCK) return out;
      const at = this.offset;
      const h = this.take(BLOCK);
      if (h.every((b) => b === 0)) {
        this.finished = true;
        return out;
      }
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
      if (parseOctal(h, 148, 156) !== sum) throw new TarStreamError(`bad tar header checksum at offset ${at}`);
      const size = parseOctal(h, 124, 136);
      if (!Number.isFinite(size) || size < 0) throw new TarStreamError(`bad member size at offset ${at}`);
      const type = h.toString('ascii', 156, 157);
      this.member = {
        name: h.toString('utf8', 0, 100).replace(/\0.*$/s, ''),
        size,
        regular: type === '0' || type === '\0',
      };
    }
  }

  /** Throws when the archive stopped inside a member or before its end-of-archive block. */
  end(): void {
    if (this.member || this.skip > 0) throw new TarStreamError(`archive truncated at offset ${this.offset}`);
    if (!this.finished) throw new TarStreamError('archive has no end-of-archive block (truncated?)');
  }

  /** Remove and return the first `n` pending bytes (a copy only when they span chunks). */
  private take(n: number): Buffer {
    this.offset += n;
    this.pendingBytes -= n;
    const first = this.pending[0];
    if (first && first.length >= n) {
      const head = first.subarray(0, n);
      if (first.length === n) this.pending.shift();
      else this.pending[0] = first.subarray(n);
      return head;
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const c = this.pending[0] as Buffer;
      const k = Math.min(c.length, n - o);
      c.copy(out, o, 0, k);
      o += k;
      if (k === c.length) this.pending.shift();
      else this.pending[0] = c.subarray(k);
    }
    return out;
  }
}
