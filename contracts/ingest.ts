/**
 * The ingest stage's durable interface: inputs, outputs and the on-S3 formats. Safe to import from workflows.
 */
import { defineQuery } from '@temporalio/workflow';
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
  /** the header looked fine but the pixels do not decode (found when canonicalising) */
  DecodeFailed: 'decode-failed',
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

/** A contiguous slice of the key space under `prefix`: startAt <= key < endBefore, in UTF-8 byte order. */
export interface KeyRange {
  prefix: string;
  startAt?: string;
  endBefore?: string;
}

export interface IngestInput {
  /** Names the output folder `${outputPrefix}${runName}/ingest/`. */
  runName: string;
  config: IngestConfig;
  /** Coordinator state carried across continue-as-new; absent on the first run. */
  resume?: IngestCoordinatorState;
}

export interface IngestCounts {
  listed: number;
  accepted: number;
  quarantined: number;
  unchanged: number;
  bytes: number;
  quarantineByReason: Record<string, number>;
}

/** Where the plan of one ingest lives and how big it is (the plan itself is in S3: claim check). */
export interface PartitionPlanRef {
  planKey: string;
  partitions: number;
  /** Hash of the ingest config slice and prefixes; part of every partition's cache key. */
  fingerprint: string;
}

export interface PartitionInput {
  bucket: string;
  runName: string;
  outputRoot: string;
  partition: number;
  range: KeyRange;
  fingerprint: string;
  config: IngestConfig;
  /** S3 key of the previous run's ingest summary, for incremental mode. */
  previousSummaryKey?: string;
}

/** What a partition returns: small. Shard keys are in its summary object in S3. */
export interface PartitionResult extends IngestCounts {
  partition: number;
  summaryKey: string;
  manifestShards: number;
  quarantineShards: number;
  /** true when a finished summary from an earlier attempt or run was reused */
  cached: boolean;
}

/** Per-partition summary object in S3. */
export interface PartitionSummary extends IngestCounts {
  partition: number;
  range: KeyRange;
  fingerprint: string;
  manifestKeys: string[];
  quarantineKeys: string[];
  /** first and last key of each manifest shard (for incremental lookups by range) */
  shardRanges: { key: string; first?: string; last?: string; kind: 'manifest' | 'quarantine' }[];
}

export interface IngestCoordinatorState {
  plan: PartitionPlanRef;
  nextPartition: number;
  totals: IngestCounts;
  cachedPartitions: number;
  runsSoFar: number;
}

/** The ingest summary object written to S3 (holds every shard key; can be large). */
export interface IngestSummary extends IngestCounts {
  runName: string;
  bucket: string;
  prefixes: string[];
  partitions: number;
  reconciled: boolean;
  manifestKeys: string[];
  quarantineKeys: string[];
  partitionSummaryKeys: string[];
  previousSummaryKey?: string;
  fingerprint: string;
  summaryKey: string;
}

/** What the ingest workflow returns: counts and the claim-check key of the summary. */
export interface IngestResult extends IngestCounts {
  runName: string;
  partitions: number;
  cachedPartitions: number;
  reconciled: boolean;
  summaryKey: string;
  manifestShards: number;
  coordinatorRuns: number;
}

export function emptyCounts(): IngestCounts {
  return { listed: 0, accepted: 0, quarantined: 0, unchanged: 0, bytes: 0, quarantineByReason: {} };
}

/** Sum of two count records (reasons sorted, so summaries serialise identically). Pure: safe in workflows. */
export function addCounts(a: IngestCounts, b: IngestCounts): IngestCounts {
  const byReason = { ...a.quarantineByReason };
  for (const [r, n] of Object.entries(b.quarantineByReason)) byReason[r] = (byReason[r] ?? 0) + n;
  return {
    listed: a.listed + b.listed,
    accepted: a.accepted + b.accepted,
    quarantined: a.quarantined + b.quarantined,
    unchanged: a.unchanged + b.unchanged,
    bytes: a.bytes + b.bytes,
    quarantineByReason: Object.fromEntries(Object.entries(byReason).sort(([x], [y]) => (x < y ? -1 : 1))),
  };
}

/** What `ingestProgress` answers. */
export interface IngestProgress {
  partitions: number;
  partitionsDone: number;
  partitionsInFlight: number;
  cachedPartitions: number;
  coordinatorRun: number;
  totals: IngestCounts;
  finished: boolean;
}

/** Progress of an ingest coordinator (the CLI's bar, the UI's Queries tab). */
export const ingestProgressQuery = defineQuery<IngestProgress>('ingestProgress');
