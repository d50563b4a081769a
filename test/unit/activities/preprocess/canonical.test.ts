import sharp from 'sharp';
import { canonicalizeImage, canonicalSize, DecodeError } from '../../../../activities/preprocess/canonicalize';
import { groupSamples, readTar, TarFormatError, writeTar } from '../../../../activities/preprocess/tar';

const opts = { shortSide: 64, jpegQuality: 90, maxPixels: 40_000_000 };

async function decoded(jpeg: Buffer) {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  return { data, info };
}

describe('canonicalizeImage', () => {
  it('resizes the shorter side and keeps the aspect ratio', async () => {
    const src = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#204080' } })
      .png()
      .toBuffer();
    const c = await canonicalizeImage(src, opts);
    expect([c.width, c.height]).toEqual([96, 64]);
    expect(canonicalSize(200, 300, 64)).toEqual({ width: 64, height: 96 });
    const { info } = await decoded(c.jpeg);
    expect([info.width, info.height, info.channels]).toEqual([96, 64, 3]);
  });

  it('applies EXIF orientation (a 90-degree tag swaps the axes)', async () => {
    // Left half red, right half blue, stored with orientation 6 (rotate 90 degrees clockwise to display).
    const raw = Buffer.alloc(120 * 60 * 3);
    for (let y = 0; y < 60; y++)
      for (let x = 0; x < 120; x++) raw.set(x < 60 ? [255, 0, 0] : [0, 0, 255], (y * 120 + x) * 3);
    const src = await sharp(raw, { raw: { width: 120, height: 60, channels: 3 } })
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toBuffer();
    const c = await canonicalizeImage(src, opts);
    expect(c.orientation).toBe(6);
    expect([c.width, c.height]).toEqual([64, 128]); // displayed upright: portrait
    const { data } = await decoded(c.jpeg);
    const top = data.subarray((10 * 64 + 32) * 3, (10 * 64 + 32) * 3 + 3);
    const bottom = data.subarray((118 * 64 + 32) * 3, (118 * 64 + 32) * 3 + 3);
    expect(top[0]).toBeGreaterThan(200); // red on top after rotating clockwise
    expect(bottom[2]).toBeGreaterThan(200); // blue at the bottom
  });

  it('converts greyscale, CMYK and alpha images to 3-channel sRGB', async () => {
    const grey = await sharp(Buffer.alloc(40 * 40, 128), { raw: { width: 40, height: 40, channels: 1 } })
      .png()
      .toBuffer();
    const cmyk = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#ff0000' } })
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer();
    const alpha = await sharp({
      create: { width: 40, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } },
    })
      .png()
      .toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    for (const src of [grey, cmyk, alpha]) {
      const c = await canonicalizeImage(src, opts);
      expect((await decoded(c.jpeg)).info.channels).toBe(3);
    }
    const red = await decoded((await canonicalizeImage(cmyk, opts)).jpeg);
    expect(red.data[0]).toBeGreaterThan(200); // CMYK red is still red in sRGB
    expect(red.data[2]).toBeLessThan(60);
    const flat = await decoded((await canonicalizeImage(alpha, opts)).jpeg);
    expect(Math.min(...flat.data.subarray(0, 30))).toBeGreaterThan(240); // transparent -> white background
  });

  it('is deterministic', async () => {
    const src = await sharp({ create: { width: 90, height: 70, channels: 3, background: '#a0b0c0' } })
      .jpeg()
      .toBuffer();
    const a = await canonicalizeImage(src, opts);
    const b = await canonicalizeImage(src, opts);
    expect(Buffer.compare(a.jpeg, b.jpeg)).toBe(0);
  });

  it('throws DecodeError for a file whose header is fine but whose data is cut off', async () => {
    const noise = Buffer.from(Array.from({ length: 200 * 200 * 3 }, (_, i) => (i * 2654435761) % 251));
    const full = await sharp(noise, { raw: { width: 200, height: 200, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
    const cut = full.subarray(0, Math.floor(full.length / 2));
    await expect(canonicalizeImage(cut, opts)).rejects.toBeInstanceOf(DecodeError);
    await expect(canonicalizeImage(Buffer.from('hello'), opts)).rejects.toBeInstanceOf(DecodeError);
  });
});

describe('tar', () => {
  it('round-trips members and groups WebDataset samples', () => {
    const members = [
      { name: 'abc-000001.jpg', data: new Uint8Array([1, 2, 3]) },
      { name: 'abc-000001.json', data: new TextEncoder().encode('{"k":1}') },
      { name: 'abc-000002.jpg', data: new Uint8Array(1000).fill(7) },
      { name: 'abc-000002.json', data: new TextEncoder().encode('{}') },
    ];
    const tar = writeTar(members);
    expect(tar.length % 512).toBe(0);
    const back = readTar(tar);
    expect(back.map((m) => m.name)).toEqual(members.map((m) => m.name));
    expect(back.map((m) => Buffer.from(m.data).toString('hex'))).toEqual(
      members.map((m) => Buffer.from(m.data).toString('hex')),
    );
    const samples = groupSamples(back);
    expect([...samples.keys()]).toEqual(['abc-000001', 'abc-000002']);
    expect(Buffer.compare(writeTar(members), tar)).toBe(0); // reproducible bytes
  });

  it('rejects a damaged header', () => {
    const tar = writeTar([{ name: 'x.jpg', data: new Uint8Array([9]) }]);
    tar[10] = 0x41;
    expect(() => readTar(tar)).toThrow(TarFormatError);
  });

  it('is readable by the system tar', () => {
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
    const tar = writeTar([
      { name: 's-1.jpg', data: new Uint8Array([1, 2]) },
      { name: 's-1.json', data: new TextEncoder().encode('{}') },
    ]);
    const r = spawnSync('tar', ['-tvf', '-'], { input: tar, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/s-1\.jpg/);
    expect(r.stdout).toMatch(/s-1\.json/);
  });
});
