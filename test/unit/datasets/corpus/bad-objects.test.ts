import sharp from 'sharp';
import { crc32 } from 'node:zlib';
import { QuarantineReason } from '../../../../contracts/ingest';
import {
  BAD_PREFIX,
  type BadObject,
  buildPlantedObjects,
  findJpegSof,
  type GreyImage,
  ODD_KEY,
  type PlantedObject,
} from '../../../../datasets/corpus/bad-objects';
import { loadFashionMnist } from '../../../../datasets/corpus/fashion-mnist';
import { plantSourceImage } from '../../../../datasets/corpus/seed';

let src: GreyImage;
let bad: BadObject[];
let oddKey: PlantedObject;

function get(name: string): BadObject {
  const b = bad.find((o) => o.key === `${BAD_PREFIX}${name}`);
  if (!b) throw new Error(`no planted object ${name}`);
  return b;
}

function pngChunks(buf: Buffer): { type: string; length: number; crcOk: boolean }[] {
  const out = [];
  let i = 8;
  while (i + 8 <= buf.length) {
    const length = buf.readUInt32BE(i);
    const type = buf.toString('latin1', i + 4, i + 8);
    const end = i + 12 + length;
    const crcOk = end <= buf.length && crc32(buf.subarray(i + 4, i + 8 + length)) >>> 0 === buf.readUInt32BE(end - 4);
    out.push({ type, length, crcOk });
    i = end;
  }
  return out;
}

beforeAll(async () => {
  src = plantSourceImage(await loadFashionMnist('train'));
  ({ bad, oddKey } = await buildPlantedObjects(src));
});

describe('planted bad objects', () => {
  it('cover every planned reason under corpus/zz/bad/ and are byte-deterministic', async () => {
    expect(src).toMatchObject({ width: 112, height: 112 });
    expect(bad.map((b) => [b.key.slice(BAD_PREFIX.length), b.expectedReason])).toEqual([
      ['corrupt-sof-zero-width.jpg', QuarantineReason.Corrupt],
      ['corrupt-garbage-markers.jpg', QuarantineReason.Corrupt],
      ['truncated.png', QuarantineReason.Truncated],
      ['empty.jpg', QuarantineReason.Empty],
      ['not-an-image.jpg', QuarantineReason.NotAnImage],
      ['bomb-50000x50000.png', QuarantineReason.PixelLimit],
      ['unsupported.tiff', QuarantineReason.UnsupportedFormat],
      ['unsupported.bmp', QuarantineReason.UnsupportedFormat],
    ]);
    const again = await buildPlantedObjects(src);
    expect(again.bad.map((b) => b.bytes.toString('hex'))).toEqual(bad.map((b) => b.bytes.toString('hex')));
    expect(again.oddKey.bytes.equals(oddKey.bytes)).toBe(true);
  });

  it('corrupt JPEG with a zero-width SOF: JPEG signature and EOI, but sharp cannot read the header', async () => {
    const b = get('corrupt-sof-zero-width.jpg').bytes;
    expect(b.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    expect(b.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
    const sof = findJpegSof(b);
    expect(sof).toBeGreaterThan(0);
    expect(b.readUInt16BE(sof + 7)).toBe(0); // width
    expect(b.readUInt16BE(sof + 5)).toBe(112); // height untouched
    await expect(sharp(b).metadata()).rejects.toThrow();
  });

  it('corrupt JPEG with garbage after APP0: no marker segments, no SOF, sharp fails', async () => {
    const b = get('corrupt-garbage-markers.jpg').bytes;
    expect(b.subarray(0, 4)).toEqual(Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
    expect(b.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
    expect(findJpegSof(b)).toBe(-1);
    expect(b.subarray(20, -2).includes(0xff)).toBe(false);
    await expect(sharp(b).metadata()).rejects.toThrow();
  });

  it('truncated PNG: a valid header (sharp reads 112x112), cut inside IDAT, no IEND, decoding fails', async () => {
    const b = get('truncated.png').bytes;
    const meta = await sharp(b).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 112, 112]);
    expect(b.includes('IEND', 0, 'latin1')).toBe(false);
    const chunks = pngChunks(b);
    expect(chunks[0]).toMatchObject({ type: 'IHDR', crcOk: true });
    expect(chunks[chunks.length - 1]).toMatchObject({ type: 'IDAT', crcOk: false });
    await expect(sharp(b).raw().toBuffer()).rejects.toThrow();
  });

  it('empty object and a text file named .jpg', async () => {
    expect(get('empty.jpg').bytes.length).toBe(0);
    const text = get('not-an-image.jpg').bytes;
    expect(text.toString('utf8')).toMatch(/plain text/);
    expect(text.subarray(0, 2)).not.toEqual(Buffer.from([0xff, 0xd8]));
    await expect(sharp(text).metadata()).rejects.toThrow();
  });

  it('PNG bomb: IHDR says 50000x50000 with a valid CRC, IEND present, file stays tiny', async () => {
    const b = get('bomb-50000x50000.png').bytes;
    expect(b.length).toBeLessThan(4096);
    const chunks = pngChunks(b);
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect(chunks.every((c) => c.crcOk)).toBe(true);
    const meta = await sharp(b, { limitInputPixels: false }).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 50_000, 50_000]);
    // sharp's own default pixel limit refuses to decode it.
    await expect(sharp(b).raw().toBuffer()).rejects.toThrow(/pixel limit/i);
  });

  it('unsupported formats are real images: a TIFF sharp decodes and a well-formed BMP', async () => {
    const tiff = get('unsupported.tiff').bytes;
    const meta = await sharp(tiff).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['tiff', 112, 112, 1]);
    const decoded = await sharp(tiff).toColourspace('b-w').raw().toBuffer();
    expect(decoded.equals(Buffer.from(src.pixels))).toBe(true);

    const bmp = get('unsupported.bmp').bytes;
    expect(bmp.toString('latin1', 0, 2)).toBe('BM');
    expect(bmp.readUInt32LE(2)).toBe(bmp.length);
    expect([bmp.readInt32LE(18), bmp.readInt32LE(22), bmp.readUInt16LE(28)]).toEqual([112, 112, 24]);
    // bottom-up rows: the last stored row is the top row of the image
    const top = bmp.subarray(bmp.length - 112 * 3);
    expect(top[3 * 5]).toBe(src.pixels[5]);
  });

  it('the odd-key image is a valid PNG that decodes, under a key with spaces and non-ASCII', async () => {
    expect(oddKey.key).toBe('corpus/zz/odd names/Straße café №1.png');
    expect(oddKey.key).toMatch(/ /);
    expect(Buffer.byteLength(oddKey.key)).toBeGreaterThan(oddKey.key.length);
    const meta = await sharp(oddKey.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 112, 112]);
    const px = await sharp(oddKey.bytes).toColourspace('b-w').raw().toBuffer();
    expect(px.equals(Buffer.from(src.pixels))).toBe(true);
    expect(ODD_KEY).toBe(oddKey.key);
  });
});
