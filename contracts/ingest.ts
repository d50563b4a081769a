/**
 * The ingest stage's durable interface: inputs, outputs and the on-S3 formats. Safe to import from workflows.
 */
import type { IngestConfig } from '../config/schema';

/** Why an object was quarantined. Stable strings: they are written to S3 and asserted by tests. */
export const QuarantineReason = {
  /** zero bytes */
  Empty: 'empty-object',
  /** larger than ingest.maxObjectBytes */
  TooLarge: 'too-large',
  /** no known image signature (e.g. a text file named *.jpg) */
  NotAnImage: 'not-an-image',
  /** a real image format that is not in ingest.formats (e.g. TIFF, BMP) */
  UnsupportedFormat: 'unsupported-format',
  /** the header cannot be parsed (broken markers, bad dimensions) */
  Corrupt: 'corrupt',
  /** the end-of-image marker is missing (PNG IEND, JPEG EOI) */
  Truncated: 'truncated',
  /** declared width*height above ingest.maxPixels (decompression bomb) */
  PixelLimit: 'pixel-limit',
  /** a side below ingest.minSide */
  TooSmall: 'too-small',
  /** the object disappeared or changed between listing and validation */
  Vanished: 'vanished',
} as const;
export type QuarantineReasonCode = (typeof QuarantineReason)[keyof typeof QuarantineReason];

/** One accepted image, one JSON line in a manifest shard. */
export interface ManifestEntry {
  key: string;
  size: number;
  etag: string;
  format: string;
  width: number;
  height: number;
}

/** One quarantined object, one JSON line in a quarantine shard. */
export interface QuarantineEntry {
  key: string;
  size: number;
  etag: string;
  reason: QuarantineReasonCode;
  detail: string;
}

/** A contiguous slice of the key space: keys k with startAfter < k <= endAt (open ends when undefined). */
export interface KeyRange {
  prefix: string;
  startAfter?: string;
  endAt?: string;
}

export interface IngestInput {
  /** Names the output folder `${outputPrefix}${runName}/ingest/`. */
  runName: string;
  config: IngestConfig;
}

export interface PartitionSummary {
  partition: number;
  range: KeyRange;
  listed: number;
  accepted: number;
  quarantined: number;
  unchanged: number;
  bytes: number;
  manifestKeys: string[];
  quarantineKeys: string[];
}

export interface IngestSummary {
  runName: string;
  bucket: string;
  prefixes: string[];
  partitions: number;
  listed: number;
  accepted: number;
  quarantined: number;
  unchanged: number;
  bytes: number;
  /** accepted + quarantined + unchanged === listed */
  reconciled: boolean;
  quarantineByReason: Record<string, number>;
  manifestKeys: string[];
  quarantineKeys: string[];
  /** Manifest shards of the previous run that hold the unchanged objects, when incremental. */
  previousManifest?: string;
  summaryKey: string;
}
