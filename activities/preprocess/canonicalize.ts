/**
 * One image to its canonical form: EXIF orientation applied, alpha flattened on white, any colour space
 * (CMYK, greyscale, palette, 16-bit) converted to 8-bit sRGB RGB, shorter side resized to `shortSide`,
 * re-encoded as baseline JPEG. Deterministic for a given libvips build.
 */
import sharp from 'sharp';

export interface CanonicalOptions {
  shortSide: number;
  jpegQuality: number;
  /** Decode guard: images with more pixels are refused (decompression bombs). */
  maxPixels: number;
}

export interface CanonicalImage {
  jpeg: Buffer;
  width: number;
  height: number;
  sourceWidth: number;
  sourceHeight: number;
  sourceFormat: string;
  sourceSpace: string;
  orientation: number;
  hadAlpha: boolean;
}

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

/** Output size for a source of w x h (after orientation) whose shorter side becomes `shortSide`. */
export function canonicalSize(w: number, h: number, shortSide: number): { width: number; height: number } {
  if (w <= h) return { width: shortSide, height: Math.max(1, Math.round((h * shortSide) / w)) };
  return { width: Math.max(1, Math.round((w * shortSide) / h)), height: shortSide };
}

export async function canonicalizeImage(bytes: Uint8Array, opts: CanonicalOptions): Promise<CanonicalImage> {
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(input, { limitInputPixels: opts.maxPixels }).metadata();
  } catch (err) {
    throw new DecodeError(`header: ${(err as Error).message}`);
  }
  const orientation = meta.orientation ?? 1;
  const swap = orientation >= 5 && orientation <= 8; // 90/270 degree EXIF rotations swap the axes
  const w0 = meta.width ?? 0;
  const h0 = meta.height ?? 0;
  if (!w0 || !h0) throw new DecodeError('no dimensions');
  const [w, h] = swap ? [h0, w0] : [w0, h0];
  const size = canonicalSize(w, h, opts.shortSide);
  try {
    // failOn 'warning': libjpeg reports corrupt entropy-coded data only as a warning (and fills the rest with grey);
    // for training data a damaged scan is a decode failure, not an image.
    const { data, info } = await sharp(input, { limitInputPixels: opts.maxPixels, failOn: 'warning' })
      .rotate()
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .resize(size.width, size.height, { fit: 'fill', kernel: 'lanczos3' })
      .jpeg({ quality: opts.jpegQuality, chromaSubsampling: '4:2:0', mozjpeg: false, progressive: false })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new DecodeError(`expected 3 channels after conversion, got ${info.channels}`);
    return {
      jpeg: data,
      width: info.width,
      height: info.height,
      sourceWidth: w,
      sourceHeight: h,
      sourceFormat: meta.format ?? 'unknown',
      sourceSpace: meta.space ?? 'unknown',
      orientation,
      hadAlpha: meta.hasAlpha ?? false,
    };
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    throw new DecodeError(`decode: ${(err as Error).message}`);
  }
}
