/** The canonicalisation stage's durable interface. Safe to import from workflows. */
import { defineQuery } from '@temporalio/workflow';
import type { PreprocessConfig } from '../config/schema';

export interface PreprocessInput {
  runName: string;
  bucket: string;
  /** S3 key of the ingest summary whose manifests (and those of its predecessors) are canonicalised. */
  ingestSummaryKey: string;
  config: PreprocessConfig;
  /** Decode guard, from the ingest config. */
  maxPixels: number;
  /** Canonical shards in flight at once. */
  maxParallelShards: number;
  /** Shards one coordinator run handles before it continues as new. */
  shardsPerRun: number;
  resume?: PreprocessState;
}

export interface PreprocessPlanRef {
  planKey: string;
  shards: number;
  fingerprint: string;
}

export interface CanonicalShardInput {
  bucket: string;
  manifestKey: string;
  fingerprint: string;
  config: PreprocessConfig;
  maxPixels: number;
}

export interface CanonicalShardResult {
  manifestKey: string;
  indexKey: string;
  entries: number;
  images: number;
  quarantined: number;
  parts: number;
  bytes: number;
  cached: boolean;
}

/** `canonical/<fingerprint>/<manifest content hash>/index.json` */
export interface CanonicalShardIndex {
  manifestKey: string;
  manifestSha256: string;
  fingerprint: string;
  entries: number;
  images: number;
  quarantined: number;
  bytes: number;
  parts: { key: string; count: number; bytes: number }[];
  quarantineKey?: string;
}

export interface PreprocessState {
  plan: PreprocessPlanRef;
  next: number;
  totals: { entries: number; images: number; quarantined: number; bytes: number; cached: number };
  runsSoFar: number;
}

/** `runs/<run>/preprocess/dataset.json`: what training reads. */
export interface DatasetIndex {
  runName: string;
  bucket: string;
  fingerprint: string;
  ingestSummaryKey: string;
  entries: number;
  images: number;
  quarantined: number;
  bytes: number;
  reconciled: boolean;
  /** generation 0 = this run's own manifests, 1 = the previous ingest's, ... (incremental lineage) */
  parts: { key: string; count: number; generation: number }[];
  quarantineKeys: string[];
  shardIndexKeys: string[];
  datasetKey: string;
}

export interface PreprocessResult {
  runName: string;
  datasetKey: string;
  entries: number;
  images: number;
  quarantined: number;
  bytes: number;
  parts: number;
  shards: number;
  cachedShards: number;
  reconciled: boolean;
  coordinatorRuns: number;
}

/** What `preprocessProgress` answers. */
export interface PreprocessProgress {
  shards: number;
  shardsDone: number;
  images: number;
  quarantined: number;
  cachedShards: number;
  finished: boolean;
}

export const preprocessProgressQuery = defineQuery<PreprocessProgress>('preprocessProgress');
