import sharp from 'sharp';
import {
  validateObject,
  type DimensionProbe,
  type ListedObject,
  type RangeReader,
} from '../../../../activities/ingest/validate-object';
import { IngestSchema } from '../../../../config/schema';

const limits = IngestSchema.parse({});

/** Serves byte ranges from in-memory objects, the way S3 answers Range GETs; counts bytes read. */
function store(objects: Record<string, Uint8Array>) {
  let bytesRead = 0;
  const read: RangeReader = async (obj, start, end) => {
    const data = objects[obj.key];
    if (!data) return 'vanished';
    bytesRead += Math.min(end, data.length - 1) - start + 1;
    return data.subarray(start, end + 1);
  };
  const listed = (key: string): ListedObject => ({ key, size: objects[key]?.length ?? 0, etag: 'e' });
  return { read, listed, bytesRead: () => bytesRead };
}

const probe: DimensionProbe = async (bytes) => {
  const m = await sharp(Buffer.from(bytes)).metadata();
  return { width: m.width ?? 0, height: m.height ?? 0 };
};

function pngHeaderDeclaring(width: number, height: number): Uint8Array {
  const { crc32 } = require('node:zlib') as typeof import('node:zlib');
  const b = Buffer.alloc(33 + 12);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'ascii');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  b.set([8, 2, 0, 0, 0], 24);
  b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
  b.set([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82], 33);
  return new Uint8Array(b);
}

describe('validateObject', () => {
  it('accepts a real image and reads only its header and tail', async () => {
    const big = new Uint8Array(
      await sharp({ create: { width: 900, height: 700, channels: 3, background: '#336699' } })
        .jpeg()
        .toBuffer(),
    );
    const noisy = new Uint8Array(
      await sharp(Buffer.from(Array.from({ length: 900 * 700 * 3 }, (_, i) => (i * 2654435761) % 251)), {
        raw: { width: 900, height: 700, channels: 3 },
      })
        .jpeg({ quality: 95 })
        .toBuffer(),
    );
    const s = store({ 'a.jpg': big, 'n.jpg': noisy });
    const v = await validateObject(s.listed('a.jpg'), s.read, limits, probe);
    expect(v.accepted).toMatchObject({ key: 'a.jpg', format: 'jpeg', width: 900, height: 700, size: big.length });
    const before = s.bytesRead();
    expect((await validateObject(s.listed('n.jpg'), s.read, limits, probe)).accepted?.width).toBe(900);
    expect(noisy.length).toBeGreaterThan(limits.headerBytes * 2);
    expect(s.bytesRead() - before).toBeLessThanOrEqual(limits.headerBytes + 32);
  });

  it('quarantines each kind of bad object with its reason', async () => {
    const png = new Uint8Array(
      await sharp({ create: { width: 40, height: 30, channels: 3, background: '#000' } })
        .png()
        .toBuffer(),
    );
    const tiny = new Uint8Array(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } })
        .png()
        .toBuffer(),
    );
    const tiff = new Uint8Array(
      await sharp({ create: { width: 40, height: 30, channels: 3, background: '#000' } })
        .tiff()
        .toBuffer(),
    );
    const s = store({
      empty: new Uint8Array(),
      text: new TextEncoder().encode('not an image at all, just words'),
      tiff,
      bomb: pngHeaderDeclaring(50000, 50000),
      truncated: png.subarray(0, png.length - 30),
      headerOnly: png.subarray(0, 20),
      tiny,
    });
    const reason = async (k: string) => (await validateObject(s.listed(k), s.read, limits, probe)).quarantined?.reason;
    expect(await reason('empty')).toBe('empty-object');
    expect(await reason('text')).toBe('not-an-image');
    expect(await reason('tiff')).toBe('unsupported-format');
    expect(await reason('bomb')).toBe('pixel-limit');
    expect(await reason('truncated')).toBe('truncated');
    expect(await reason('headerOnly')).toBe('truncated');
    expect(await reason('tiny')).toBe('too-small');
    const tooLarge = await validateObject(
      { key: 'x', size: limits.maxObjectBytes + 1, etag: 'e' },
      s.read,
      limits,
      probe,
    );
    expect(tooLarge.quarantined?.reason).toBe('too-large');
    const gone = await validateObject({ key: 'missing', size: 10, etag: 'e' }, s.read, limits, probe);
    expect(gone.quarantined?.reason).toBe('vanished');
  });
});
