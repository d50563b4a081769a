/**
 * Classifies one listed object as accepted (with format and size) or quarantined (with a reason), reading only
 * the header and the last few bytes. Full pixel decoding happens later, in canonicalisation.
 */
import type { IngestConfig } from '../../config/schema';
import {
  QuarantineReason,
  type ManifestEntry,
  type QuarantineEntry,
  type QuarantineReasonCode,
} from '../../contracts/ingest';
import {
  detectFormat,
  hasEndMarker,
  headerDimensions,
  HeaderError,
  NeedMoreBytes,
  TAIL_BYTES,
  type Dimensions,
  type ImageFormat,
} from './image-header';

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
}

/** Reads bytes [start, end] (inclusive) of the listed version of an object; 'vanished' if it changed or is gone. */
export type RangeReader = (obj: ListedObject, start: number, end: number) => Promise<Uint8Array | 'vanished'>;

/** Asks a full image library for dimensions (formats whose header we do not parse ourselves). */
export type DimensionProbe = (bytes: Uint8Array, format: ImageFormat) => Promise<Dimensions>;

export type Verdict =
  { accepted: ManifestEntry; quarantined?: undefined } | { quarantined: QuarantineEntry; accepted?: undefined };

export type ValidationLimits = Pick<
  IngestConfig,
  'headerBytes' | 'maxObjectBytes' | 'maxPixels' | 'minSide' | 'formats'
>;

const MAX_HEADER_BYTES = 1 << 20;

function quarantine(obj: ListedObject, reason: QuarantineReasonCode, detail: string): Verdict {
  return { quarantined: { key: obj.key, size: obj.size, etag: obj.etag, reason, detail } };
}

export async function validateObject(
  obj: ListedObject,
  read: RangeReader,
  limits: ValidationLimits,
  probe: DimensionProbe,
): Promise<Verdict> {
  if (obj.size === 0) return quarantine(obj, QuarantineReason.Empty, 'object has 0 bytes');
  if (obj.size > limits.maxObjectBytes) {
    return quarantine(obj, QuarantineReason.TooLarge, `${obj.size} bytes > maxObjectBytes ${limits.maxObjectBytes}`);
  }
  let head = await read(obj, 0, Math.min(obj.size, limits.headerBytes) - 1);
  if (head === 'vanished') return quarantine(obj, QuarantineReason.Vanished, 'changed or deleted after listing');
  const format = detectFormat(head);
  if (!format) return quarantine(obj, QuarantineReason.NotAnImage, 'no known image signature in the first bytes');
  if (!(limits.formats as string[]).includes(format)) {
    return quarantine(obj, QuarantineReason.UnsupportedFormat, `${format} is not one of ${limits.formats.join(', ')}`);
  }

  let dims: Dimensions | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      dims = headerDimensions(format, head);
      break;
    } catch (err) {
      if (err instanceof HeaderError) return quarantine(obj, QuarantineReason.Corrupt, err.message);
      if (!(err instanceof NeedMoreBytes)) throw err;
      if (head.length >= obj.size)
        return quarantine(obj, QuarantineReason.Truncated, `file ends inside the ${format} header`);
      if (attempt > 0 || head.length >= MAX_HEADER_BYTES) {
        return quarantine(obj, QuarantineReason.Corrupt, `${format} header longer than ${head.length} bytes`);
      }
      const more = await read(obj, 0, Math.min(obj.size, MAX_HEADER_BYTES) - 1);
      if (more === 'vanished') return quarantine(obj, QuarantineReason.Vanished, 'changed or deleted after listing');
      head = more;
    }
  }
  if (!dims) {
    try {
      dims = await probe(head, format);
    } catch (err) {
      return quarantine(obj, QuarantineReason.Corrupt, `header not readable: ${(err as Error).message}`);
    }
  }
  const { width, height } = dims;
  if (width === 0 || height === 0) return quarantine(obj, QuarantineReason.Corrupt, `declared size ${width}x${height}`);
  if (width * height > limits.maxPixels) {
    return quarantine(
      obj,
      QuarantineReason.PixelLimit,
      `declared ${width}x${height} = ${width * height} pixels > maxPixels ${limits.maxPixels}`,
    );
  }
  if (Math.min(width, height) < limits.minSide) {
    return quarantine(obj, QuarantineReason.TooSmall, `${width}x${height} has a side below minSide ${limits.minSide}`);
  }

  let tail: Uint8Array | 'vanished';
  if (head.length >= obj.size) tail = head.subarray(Math.max(0, head.length - TAIL_BYTES));
  else tail = await read(obj, Math.max(0, obj.size - TAIL_BYTES), obj.size - 1);
  if (tail === 'vanished') return quarantine(obj, QuarantineReason.Vanished, 'changed or deleted after listing');
  if (!hasEndMarker(format, tail)) return quarantine(obj, QuarantineReason.Truncated, `no ${format} end marker`);

  return { accepted: { key: obj.key, size: obj.size, etag: obj.etag, format, width, height } };
}
