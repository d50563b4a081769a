/**
 * Planted bad objects for the sample corpus, each with the QuarantineReason the ingest stage must give it, plus
 * one valid image under an awkward key (spaces, non-ASCII) that must be accepted. All bytes are deterministic.
 */
import { crc32, deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { QuarantineReason, type QuarantineReasonCode } from '../../contracts/ingest';

/** Outside the hex fan-out (`corpus/<hh>/<hh>/`), so planted objects never collide with real items. */
export const BAD_PREFIX = 'corpus/zz/bad/';
/** NFC so the key is the same bytes whatever the source file's normalisation. */
export const ODD_KEY = 'corpus/zz/odd names/Stra\u00dfe caf\u00e9 \u21161.png'.normalize('NFC');

export const BOMB_SIDE = 50_000;

/** One greyscale (1 channel) image in memory. */
export interface GreyImage {
  width: number;
  height: number;
  pixels: Uint8Array;
}

export interface PlantedObject {
  key: string;
  bytes: Buffer;
  contentType: string;
  description: string;
}

export interface BadObject extends PlantedObject {
  expectedReason: QuarantineReasonCode;
}

function rawInput(img: GreyImage): Sharp {
  if (img.pixels.length !== img.width * img.height) throw new Error('GreyImage: pixels length != width*height');
  // Without b-w, sharp writes 1-channel input out as 3-channel sRGB.
  return sharp(img.pixels, { raw: { width: img.width, height: img.height, channels: 1 } }).toColourspace('b-w');
}

async function baselineJpeg(img: GreyImage): Promise<Buffer> {
  return rawInput(img).jpeg({ quality: 90, progressive: false }).toBuffer();
}

/** Offset of the first SOFn marker (FFC0..FFCF except DHT C4, JPG C8, DAC CC), walking the segments. */
export function findJpegSof(buf: Uint8Array): number {
  let i = 2;
  while (i + 4 <= buf.length && buf[i] === 0xff) {
    const m = buf[i + 1] ?? 0;
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return i;
    if (m === 0xda || m === 0xd9) return -1;
    i += 2 + (((buf[i + 2] ?? 0) << 8) | (buf[i + 3] ?? 0));
  }
  return -1;
}

/** A real JPEG whose SOF declares width 0 (height kept): the header cannot yield dimensions. EOI intact. */
export async function corruptJpegZeroWidth(img: GreyImage): Promise<Buffer> {
  const buf = Buffer.from(await baselineJpeg(img));
  const sof = findJpegSof(buf);
  if (sof < 0) throw new Error('encoder produced a JPEG without SOF');
  // SOF payload: length(2) precision(1) height(2) width(2) ...
  buf.writeUInt16BE(0, sof + 7);
  return buf;
}

/** SOI + APP0/JFIF, then bytes that are not a marker segment, then EOI: a marker walk fails, no SOF exists. */
export function corruptJpegGarbageMarkers(): Buffer {
  const soiApp0 = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex'); // JFIF 1.1, 1:1 aspect
  const garbage = Buffer.alloc(1024);
  let x = 0x2545f491;
  for (let i = 0; i < garbage.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    garbage[i] = (x >>> 16) % 0xff; // never 0xFF, so no marker can be found inside
  }
  return Buffer.concat([soiApp0, garbage, Buffer.from([0xff, 0xd9])]);
}

/** A real PNG cut in the middle of its image data: the header is valid, IEND is missing. */
export async function truncatedPng(img: GreyImage): Promise<Buffer> {
  const png = await rawInput(img).png({ compressionLevel: 9 }).toBuffer();
  const idat = png.indexOf('IDAT', 8, 'latin1');
  if (idat < 0) throw new Error('encoder produced a PNG without IDAT');
  const dataStart = idat + 4;
  const dataLen = png.readUInt32BE(idat - 4);
  return Buffer.from(png.subarray(0, dataStart + Math.floor(dataLen / 2)));
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A decompression bomb by header: IHDR declares width x height 8-bit grey (valid CRC), the IDAT holds a few
 * zero rows only and IEND is present, so the file is small and structurally complete; decoding it must not start.
 */
export function pngBomb(width = BOMB_SIDE, height = BOMB_SIDE): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // colour type: greyscale
  // compression, filter, interlace = 0
  const rows = Buffer.alloc(4 * (width + 1)); // 4 rows, filter byte 0 + zero pixels
  const idat = deflateSync(rows, { level: 9 });
  const iend = pngChunk('IEND', Buffer.alloc(0));
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), iend]);
}

/** A real, small, valid TIFF (LZW): a genuine image format that ingest does not accept by default. */
export async function tiffImage(img: GreyImage): Promise<Buffer> {
  return rawInput(img).tiff({ compression: 'lzw' }).toBuffer();
}

/** A valid 24-bit BMP (BITMAPINFOHEADER, bottom-up rows padded to 4 bytes); sharp cannot write BMP. */
export function bmpImage(img: GreyImage): Buffer {
  const stride = Math.ceil((img.width * 3) / 4) * 4;
  const dataSize = stride * img.height;
  const buf = Buffer.alloc(54 + dataSize);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(54, 10); // pixel data offset
  buf.writeUInt32LE(40, 14); // info header size
  buf.writeInt32LE(img.width, 18);
  buf.writeInt32LE(img.height, 22);
  buf.writeUInt16LE(1, 26); // planes
  buf.writeUInt16LE(24, 28); // bits per pixel
  buf.writeUInt32LE(0, 30); // BI_RGB
  buf.writeUInt32LE(dataSize, 34);
  buf.writeInt32LE(2835, 38); // 72 dpi
  buf.writeInt32LE(2835, 42);
  for (let y = 0; y < img.height; y++) {
    const row = 54 + (img.height - 1 - y) * stride;
    for (let x = 0; x < img.width; x++) {
      const v = img.pixels[y * img.width + x] ?? 0;
      buf[row + 3 * x] = v;
      buf[row + 3 * x + 1] = v;
      buf[row + 3 * x + 2] = v;
    }
  }
  return buf;
}

/** A valid greyscale PNG (the one for the odd key). */
export async function validPng(img: GreyImage): Promise<Buffer> {
  return rawInput(img).png().toBuffer();
}

/**
 * All planted objects, built from one real source image (e.g. a tile of Fashion-MNIST items, at least 16 px a
 * side so that only the planted defect can trigger a quarantine).
 */
export async function buildPlantedObjects(img: GreyImage): Promise<{ bad: BadObject[]; oddKey: PlantedObject }> {
  const R = QuarantineReason;
  const bad = (name: string, expectedReason: QuarantineReasonCode, contentType: string, bytes: Buffer, d: string) => ({
    key: `${BAD_PREFIX}${name}`,
    bytes,
    contentType,
    expectedReason,
    description: d,
  });
  const list: BadObject[] = [
    bad('corrupt-sof-zero-width.jpg', R.Corrupt, 'image/jpeg', await corruptJpegZeroWidth(img), 'JPEG, SOF width 0'),
    bad('corrupt-garbage-markers.jpg', R.Corrupt, 'image/jpeg', corruptJpegGarbageMarkers(), 'JPEG, no SOF'),
    bad('truncated.png', R.Truncated, 'image/png', await truncatedPng(img), 'PNG cut inside IDAT, no IEND'),
    bad('empty.jpg', R.Empty, 'image/jpeg', Buffer.alloc(0), 'zero bytes'),
    bad('not-an-image.jpg', R.NotAnImage, 'image/jpeg', notAnImageText(), 'plain text named .jpg'),
    bad('bomb-50000x50000.png', R.PixelLimit, 'image/png', pngBomb(), `PNG IHDR ${BOMB_SIDE}x${BOMB_SIDE}`),
    bad('unsupported.tiff', R.UnsupportedFormat, 'image/tiff', await tiffImage(img), 'valid TIFF'),
    bad('unsupported.bmp', R.UnsupportedFormat, 'image/bmp', bmpImage(img), 'valid 24-bit BMP'),
  ];
  const oddKey: PlantedObject = {
    key: ODD_KEY,
    bytes: await validPng(img),
    contentType: 'image/png',
    description: 'valid PNG under a key with spaces and non-ASCII characters; must be accepted',
  };
  return { bad: list, oddKey };
}

export function notAnImageText(): Buffer {
  return Buffer.from('This is a plain text file, not an image.\nIt only has a .jpg name.\n', 'utf8');
}
