import { readTar, writeTar, type TarMember } from '../../../../activities/preprocess/tar';
import { TarStreamError, TarStreamParser } from '../../../../activities/shared/tar-stream';
import { Rng } from '../../../../ml/rng';

function archive(): { members: TarMember[]; bytes: Buffer } {
  const rng = Rng.keyed(11);
  const members: TarMember[] = [];
  for (let i = 0; i < 9; i++) {
    const size = [0, 1, 511, 512, 513, 1500, 3000, 7, 1024][i]!;
    const data = new Uint8Array(size).map(() => rng.int(256));
    members.push({ name: `s${i}.${i % 2 ? 'json' : 'jpg'}`, data });
  }
  return { members, bytes: writeTar(members) };
}

function parseInChunks(bytes: Uint8Array, sizes: () => number): TarMember[] {
  const p = new TarStreamParser();
  const out: TarMember[] = [];
  for (let o = 0; o < bytes.length;) {
    const n = Math.min(bytes.length - o, sizes());
    out.push(...p.push(bytes.subarray(o, o + n)));
    o += n;
  }
  p.end();
  return out;
}

describe('TarStreamParser', () => {
  it('hands out the members readTar finds, whatever the chunk boundaries', () => {
    const { members, bytes } = archive();
    expect(readTar(bytes)).toEqual(members);
    const rng = Rng.keyed(5);
    for (const sizes of [() => bytes.length, () => 1, () => 512, () => 1 + rng.int(2000)]) {
      expect(parseInChunks(bytes, sizes)).toEqual(members);
    }
  });

  it('ignores bytes after the end-of-archive blocks', () => {
    const { members, bytes } = archive();
    expect(parseInChunks(Buffer.concat([bytes, Buffer.alloc(4096)]), () => 700)).toEqual(members);
  });

  it('reports a truncated archive and a damaged header instead of returning fewer members', () => {
    const { bytes } = archive();
    expect(() => parseInChunks(bytes.subarray(0, bytes.length - 1024 - 100), () => 999)).toThrow(TarStreamError);
    expect(() => parseInChunks(bytes.subarray(0, bytes.length - 1024), () => 999)).toThrow(/end-of-archive/);
    const damaged = Buffer.from(bytes);
    damaged[10] = damaged[10]! ^ 0xff;
    expect(() => parseInChunks(damaged, () => 999)).toThrow(/checksum/);
  });
});
