/**
 * Cheap image validation from a few bytes: format by signature, dimensions from the header, and the end-of-image
 * marker from the tail. Pure functions over byte arrays; nothing here decodes pixels, so a 50000x50000 "pixel bomb"
 * costs the same as a thumbnail.
 */
import { crc32 } from 'node:zlib';

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'bmp' | 'avif' | 'heif';

export class HeaderError extends Error {
  override readonly name = 'HeaderError';
}

/** Thrown when the header continues past the bytes we read (e.g. a huge EXIF block): read more and retry. */
export class NeedMoreBytes extends Error {
  override readonly name = 'NeedMoreBytes';
  constructor(readonly needed: number) {
    super(`header needs at least ${needed} bytes`);
  }
}

function ascii(b: Uint8Array, start: number, len: number): string {
  return String.fromCharCode(...b.subarray(start, start + len));
}

export function detectFormat(b: Uint8Array): ImageFormat | undefined {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && ascii(b, 1, 3) === 'PNG' && b[4] === 0x0d && b[5] === 0x0a) return 'png';
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return 'webp';
  if (
    b.length >= 4 &&
    ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) ||
      (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a))
  )
    return 'tiff';
  if (b.length >= 14 && b[0] === 0x42 && b[1] === 0x4d) return 'bmp';
  if (b.length >= 12 && ascii(b, 4, 4) === 'ftyp') {
    const brand = ascii(b, 8, 4);
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'mif1', 'msf1', 'hevc'].includes(brand)) return 'heif';
  }
  return undefined;
}

const be16 = (b: Uint8Array, o: number) => ((b[o] as number) << 8) | (b[o + 1] as number);
const be32 = (b: Uint8Array, o: number) =>
  (((b[o] as number) << 24) >>> 0) +
  (((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number));
const le16 = (b: Uint8Array, o: number) => (b[o] as number) | ((b[o + 1] as number) << 8);
const le24 = (b: Uint8Array, o: number) => le16(b, o) | ((b[o + 2] as number) << 16);

export interface Dimensions {
  width: number;
  height: number;
}

function pngDimensions(b: Uint8Array): Dimensions {
  if (b.length < 33) throw new NeedMoreBytes(33);
  if (be32(b, 8) !== 13 || ascii(b, 12, 4) !== 'IHDR') throw new HeaderError('PNG does not start with an IHDR chunk');
  const crc = be32(b, 29);
  if (crc32(b.subarray(12, 29)) !== crc) throw new HeaderError('PNG IHDR checksum mismatch');
  return { width: be32(b, 16), height: be32(b, 20) };
}

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

function jpegDimensions(b: Uint8Array): Dimensions {
  let o = 2;
  for (;;) {
    if (o + 4 > b.length) throw new NeedMoreBytes(o + 4);
    if (b[o] !== 0xff) throw new HeaderError(`JPEG marker expected at byte ${o}`);
    const marker = b[o + 1] as number;
    if (marker === 0xff) {
      o += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      o += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) throw new HeaderError('JPEG has no frame header before its scan data');
    const len = be16(b, o + 2);
    if (len < 2) throw new HeaderError(`JPEG segment 0x${marker.toString(16)} has invalid length ${len}`);
    if (SOF_MARKERS.has(marker)) {
      if (o + 9 > b.length) throw new NeedMoreBytes(o + 9);
      return { height: be16(b, o + 5), width: be16(b, o + 7) };
    }
    o += 2 + len;
  }
}

function gifDimensions(b: Uint8Array): Dimensions {
  if (b.length < 10) throw new NeedMoreBytes(10);
  return { width: le16(b, 6), height: le16(b, 8) };
}

function webpDimensions(b: Uint8Array): Dimensions {
  if (b.length < 30) throw new NeedMoreBytes(30);
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8 ') {
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) throw new HeaderError('WebP VP8 frame tag missing');
    return { width: le16(b, 26) & 0x3fff, height: le16(b, 28) & 0x3fff };
  }
  if (chunk === 'VP8L') {
    if (b[20] !== 0x2f) throw new HeaderError('WebP VP8L signature missing');
    const bits = (b[21] as number) | ((b[22] as number) << 8) | ((b[23] as number) << 16) | ((b[24] as number) << 24);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') return { width: le24(b, 24) + 1, height: le24(b, 27) + 1 };
  throw new HeaderError(`unknown WebP chunk "${chunk}"`);
}

/**
 * Dimensions declared by the header, for the formats whose header we parse ourselves; undefined for the others
 * (the caller then asks libvips). Throws HeaderError for a malformed header, NeedMoreBytes when truncated early.
 */
export function headerDimensions(format: ImageFormat, b: Uint8Array): Dimensions | undefined {
  switch (format) {
    case 'png':
      return pngDimensions(b);
    case 'jpeg':
      return jpegDimensions(b);
    case 'gif':
      return gifDimensions(b);
    case 'webp':
      return webpDimensions(b);
    default:
      return undefined;
  }
}

const PNG_IEND = Uint8Array.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

/**
 * Does the object end the way a complete file of this format must? `tail` is the last bytes of the object.
 * Formats without a fixed trailer return true.
 */
export function hasEndMarker(format: ImageFormat, tail: Uint8Array): boolean {
  if (format === 'png') {
    if (tail.length < PNG_IEND.length) return false;
    const end = tail.subarray(tail.length - PNG_IEND.length);
    return end.every((v, i) => v === PNG_IEND[i]);
  }
  if (format === 'jpeg') {
    // EOI, allowing a little zero padding some encoders and uploaders append.
    let i = tail.length - 1;
    while (i > 0 && tail[i] === 0 && tail.length - i < 16) i--;
    return i > 0 && tail[i - 1] === 0xff && tail[i] === 0xd9;
  }
  if (format === 'gif') return tail.length > 0 && tail[tail.length - 1] === 0x3b;
  return true;
}

/** How many tail bytes `hasEndMarker` wants. */
export const TAIL_BYTES = 32;
