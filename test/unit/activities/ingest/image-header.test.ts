import sharp from 'sharp';
import {
  detectFormat,
  hasEndMarker,
  headerDimensions,
  HeaderError,
  NeedMoreBytes,
} from '../../../../activities/ingest/image-header';

async function image(format: 'png' | 'jpeg' | 'webp' | 'gif' | 'tiff', w = 37, h = 21): Promise<Uint8Array> {
  const img = sharp({ create: { width: w, height: h, channels: 3, background: { r: 200, g: 30, b: 90 } } });
  return new Uint8Array(await img.toFormat(format).toBuffer());
}

describe('image headers', () => {
  it.each(['png', 'jpeg', 'webp', 'gif'] as const)('reads %s dimensions from the header alone', async (fmt) => {
    const bytes = await image(fmt);
    expect(detectFormat(bytes)).toBe(fmt);
    expect(headerDimensions(fmt, bytes.subarray(0, Math.min(bytes.length, 512)))).toEqual({ width: 37, height: 21 });
    expect(hasEndMarker(fmt, bytes.subarray(bytes.length - 32))).toBe(true);
  });

  it('detects TIFF and BMP signatures (formats we may not accept)', async () => {
    expect(detectFormat(await image('tiff'))).toBe('tiff');
    const bmp = new Uint8Array(64);
    bmp.set([0x42, 0x4d]);
    expect(detectFormat(bmp)).toBe('bmp');
    expect(detectFormat(new TextEncoder().encode('hello, this is text'))).toBeUndefined();
  });

  it('flags a PNG with a damaged IHDR checksum and a JPEG with broken markers as malformed', async () => {
    const png = await image('png');
    const bad = png.slice();
    bad[17] = (bad[17] as number) ^ 0xff; // width byte changed, CRC not updated
    expect(() => headerDimensions('png', bad)).toThrow(HeaderError);
    const jpeg = await image('jpeg');
    const broken = jpeg.slice();
    broken[2 + 2 + ((broken[4]! << 8) | broken[5]!)] = 0x12; // the byte where the next marker must start
    expect(() => headerDimensions('jpeg', broken)).toThrow(HeaderError);
  });

  it('asks for more bytes when the header is cut short, and sees a missing end marker', async () => {
    const jpeg = await image('jpeg');
    expect(() => headerDimensions('jpeg', jpeg.subarray(0, 10))).toThrow(NeedMoreBytes);
    const png = await image('png');
    expect(hasEndMarker('png', png.subarray(0, png.length - 20).subarray(-32))).toBe(false);
    expect(hasEndMarker('jpeg', jpeg.subarray(0, jpeg.length - 2).subarray(-32))).toBe(false);
  });
});
