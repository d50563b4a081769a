/**
 * Ingest activities: plan partitions of the key space, ingest one partition (list, validate, write manifest and
 * quarantine shards, heartbeat a resume pointer), and reconcile everything into one summary.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
  type S3ServiceException,
} from '@aws-sdk/client-s3';
import { activityInfo, ApplicationFailure, CancelledFailure, Context, heartbeat } from '@temporalio/activity';
import sharp from 'sharp';
import type { IngestConfig } from '../../config/schema';
import { ErrorType } from '../../contracts/errors';
import { addCounts, emptyCounts } from '../../contracts/ingest';
import type {
  IngestCounts,
  IngestResult,
  IngestSummary,
  KeyRange,
  ManifestEntry,
  PartitionInput,
  PartitionPlanRef,
  PartitionResult,
  PartitionSummary,
  QuarantineEntry,
} from '../../contracts/ingest';
import { getJson, getText, putJson, putText } from '../../infra/s3';
import { compareKeys, startAfterFor } from './key-order';
import { ingestKeys, ingestRoot, manifestLine, parseJsonl, quarantineLine, toJsonl } from './layout';
import { checkPrefixesDisjoint, inRange, planRanges } from './partition-plan';
import { validateObject, type DimensionProbe, type ListedObject, type RangeReader } from './validate-object';
import { mapLimited } from '../shared/map-limited';

export interface IngestDeps {
  s3: S3Client;
  /** Overrides the libvips dimension probe (tests). */
  probe?: DimensionProbe;
  /** Page size of ListObjectsV2 (S3's maximum is 1000). */
  listPageSize?: number;
}

/** Heartbeat details of ingestPartition: the last committed chunk plus live progress. */
export interface PartitionProgress {
  /** Next chunk index to write. */
  chunk: number;
  /** Last key of the last committed chunk; listing resumes right after it. */
  resumeAfter?: string;
  totals: IngestCounts;
  quarantineChunks: number[];
  shardRanges: PartitionSummary['shardRanges'];
  /** Objects listed in the chunk in progress (informational). */
  listedInChunk: number;
}

export { addCounts, emptyCounts };

/** The part of the config that determines ingest outputs; a change invalidates cached partitions. */
export function ingestFingerprint(cfg: IngestConfig): string {
  const relevant = {
    bucket: cfg.bucket,
    prefixes: cfg.prefixes,
    formats: cfg.formats,
    headerBytes: cfg.headerBytes,
    maxObjectBytes: cfg.maxObjectBytes,
    maxPixels: cfg.maxPixels,
    minSide: cfg.minSide,
    manifestShardSize: cfg.manifestShardSize,
    previousManifest: cfg.previousManifest ?? null,
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}

function s3Status(err: unknown): number | undefined {
  return (err as S3ServiceException).$metadata?.httpStatusCode;
}

/** Map S3 errors that retrying cannot fix to typed non-retryable failures; rethrow the rest for retry. */
function classifyS3Error(err: unknown, bucket: string): never {
  const name = (err as Error).name;
  if (name === 'NoSuchBucket') {
    throw ApplicationFailure.create({
      type: ErrorType.BucketMissing,
      message: `bucket "${bucket}" does not exist`,
      nonRetryable: true,
    });
  }
  if (
    name === 'AccessDenied' ||
    name === 'InvalidAccessKeyId' ||
    name === 'SignatureDoesNotMatch' ||
    s3Status(err) === 403
  ) {
    throw ApplicationFailure.create({
      type: ErrorType.AccessDenied,
      message: `access to bucket "${bucket}" denied: ${(err as Error).message}`,
      nonRetryable: true,
    });
  }
  throw err;
}

const sharpProbe: DimensionProbe = async (bytes) => {
  const meta = await sharp(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
    limitInputPixels: false,
  }).metadata();
  if (!meta.width || !meta.height) throw new Error('no dimensions in header');
  return { width: meta.width, height: meta.height };
};

interface PreviousIndex {
  summaryKey: string;
  shards: { key: string; first?: string; last?: string; kind: 'manifest' | 'quarantine' }[];
}

export function createIngestActivities(deps: IngestDeps) {
  const { s3 } = deps;
  const probe = deps.probe ?? sharpProbe;
  const pageSize = deps.listPageSize ?? 1000;
  const previousCache = new Map<string, PreviousIndex>();

  const readRange =
    (bucket: string, signal?: AbortSignal): RangeReader =>
    async (obj: ListedObject, start: number, end: number) => {
      try {
        const res = await s3.send(
          new GetObjectCommand({
            Bucket: bucket,
            Key: obj.key,
            Range: `bytes=${start}-${end}`,
            IfMatch: `"${obj.etag}"`,
          }),
          signal ? { abortSignal: signal } : {},
        );
        return res.Body ? await res.Body.transformToByteArray() : new Uint8Array();
      } catch (err) {
        if (signal?.aborted) throwIfCancelled(signal); // an aborted request surfaces as the cancellation it is
        const status = s3Status(err);
        if (status === 404 || status === 412 || (err as Error).name === 'NoSuchKey') return 'vanished';
        return classifyS3Error(err, bucket);
      }
    };

  /**
   * The object whose key equals `key` exactly, if the listing has one. Asked by LIST (not HEAD) because some
   * servers answer HEAD for a directory-like key that no listing contains.
   */
  async function listedExactly(bucket: string, key: string, signal: AbortSignal): Promise<ListedObject | undefined> {
    try {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }), {
        abortSignal: signal,
      });
      const o = page.Contents?.[0];
      return o && o.Key === key ? { key, size: o.Size ?? 0, etag: (o.ETag ?? '').replace(/"/g, '') } : undefined;
    } catch (err) {
      return classifyS3Error(err, bucket);
    }
  }

  /** Lists keys in [range.startAt, range.endBefore) after `resumeAfter`, page by page. */
  async function* listRange(bucket: string, range: KeyRange, resumeAfter: string | undefined, signal: AbortSignal) {
    let token: string | undefined;
    const startAfter = resumeAfter ?? (range.startAt !== undefined ? startAfterFor(range.startAt) : undefined);
    if (resumeAfter === undefined && range.startAt !== undefined) {
      // StartAfter excludes the boundary key itself; an object with exactly that key is fetched on its own.
      const marker = await listedExactly(bucket, range.startAt, signal);
      if (marker) yield [marker];
    }
    for (;;) {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await s3.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: range.prefix,
            MaxKeys: pageSize,
            ...(token ? { ContinuationToken: token } : startAfter !== undefined ? { StartAfter: startAfter } : {}),
          }),
          { abortSignal: signal },
        );
      } catch (err) {
        if (signal.aborted) throwIfCancelled(signal);
        classifyS3Error(err, bucket);
      }
      const objects: ListedObject[] = [];
      let pastEnd = false;
      for (const o of page.Contents ?? []) {
        const key = o.Key as string;
        if (range.endBefore !== undefined && compareKeys(key, range.endBefore) >= 0) {
          pastEnd = true;
          break;
        }
        if (!inRange(key, range)) continue; // keys between startAfter and startAt belong to the previous range
        if (resumeAfter !== undefined && compareKeys(key, resumeAfter) <= 0) continue;
        objects.push({ key, size: o.Size ?? 0, etag: (o.ETag ?? '').replace(/"/g, '') });
      }
      yield objects;
      if (pastEnd || !page.IsTruncated || !page.NextContinuationToken) return;
      token = page.NextContinuationToken;
    }
  }

  async function loadPrevious(summaryKey: string, bucket: string): Promise<PreviousIndex> {
    const cached = previousCache.get(summaryKey);
    if (cached) return cached;
    const summary = await getJson<IngestSummary & { shardIndex?: PreviousIndex['shards'] }>(s3, bucket, summaryKey);
    if (!summary) {
      throw ApplicationFailure.create({
        type: ErrorType.ManifestMissing,
        message: `previous ingest summary s3://${bucket}/${summaryKey} not found`,
        nonRetryable: true,
      });
    }
    const index: PreviousIndex = { summaryKey, shards: summary.shardIndex ?? [] };
    previousCache.set(summaryKey, index);
    return index;
  }

  /** key -> etag of every object of the previous run (accepted or quarantined) inside this range. */
  async function previousEtags(summaryKey: string, bucket: string, range: KeyRange): Promise<Map<string, string>> {
    const index = await loadPrevious(summaryKey, bucket);
    const out = new Map<string, string>();
    for (const shard of index.shards) {
      if (shard.first === undefined || shard.last === undefined) continue;
      // [first, last] intersects [startAt or prefix, endBefore or end of prefix) in S3 key order
      const lo = range.startAt ?? range.prefix;
      const overlaps =
        compareKeys(shard.last, lo) >= 0 &&
        (range.endBefore === undefined || compareKeys(shard.first, range.endBefore) < 0) &&
        (compareKeys(shard.first, range.prefix) < 0 || shard.first.startsWith(range.prefix));
      if (!overlaps) continue;
      const text = await getText(s3, bucket, shard.key);
      if (text === undefined) {
        throw ApplicationFailure.create({
          type: ErrorType.ManifestMissing,
          message: `previous manifest shard s3://${bucket}/${shard.key} is missing`,
          nonRetryable: true,
        });
      }
      for (const e of parseJsonl<{ key: string; etag: string }>(text))
        if (inRange(e.key, range)) out.set(e.key, e.etag);
    }
    return out;
  }

  return {
    /** Discover the key space by delimiter listing and store a partition plan in S3 (claim check). */
    async planIngestPartitions(input: { runName: string; config: IngestConfig }): Promise<PartitionPlanRef> {
      const cfg = input.config;
      const overlap = checkPrefixesDisjoint(cfg.prefixes);
      if (overlap)
        throw ApplicationFailure.create({ type: ErrorType.InvalidConfig, message: overlap, nonRetryable: true });
      const root = ingestRoot(cfg.outputPrefix, input.runName);
      const fingerprint = ingestFingerprint(cfg);
      const planKey = ingestKeys.plan(root);
      const existing = await getJson<{ fingerprint: string; ranges: KeyRange[] }>(s3, cfg.bucket, planKey).catch(
        (e: unknown) => classifyS3Error(e, cfg.bucket),
      );
      if (existing && existing.fingerprint === fingerprint) {
        return { planKey, partitions: existing.ranges.length, fingerprint };
      }
      const signal = Context.current().cancellationSignal;
      setMaxListeners(0, signal); // one listener per in-flight S3 request is expected, not a leak
      const perPrefix = Math.max(1, Math.ceil(cfg.partitionTarget / cfg.prefixes.length));
      const ranges: KeyRange[] = [];
      let requests = 0;
      for (const prefix of cfg.prefixes) {
        // Breadth-first delimiter discovery, a level deeper until there are enough boundaries.
        let level = [prefix];
        let boundaries: string[] = [];
        for (let depth = 0; depth < 4 && level.length > 0; depth++) {
          const found: string[] = [];
          for (const p of level) {
            let token: string | undefined;
            do {
              let page: ListObjectsV2CommandOutput;
              try {
                page = await s3.send(
                  new ListObjectsV2Command({
                    Bucket: cfg.bucket,
                    Prefix: p,
                    Delimiter: '/',
                    MaxKeys: 1000,
                    ...(token ? { ContinuationToken: token } : {}),
                  }),
                  { abortSignal: signal },
                );
              } catch (err) {
                classifyS3Error(err, cfg.bucket);
              }
              requests++;
              for (const cp of page.CommonPrefixes ?? []) if (cp.Prefix) found.push(cp.Prefix);
              token = page.IsTruncated ? page.NextContinuationToken : undefined;
              heartbeat({ requests, prefixesFound: found.length });
            } while (token && found.length < perPrefix * 64);
          }
          boundaries = boundaries.filter((b) => !level.includes(b)).concat(found);
          if (boundaries.length + 1 >= perPrefix || found.length === 0) break;
          level = found;
        }
        ranges.push(...planRanges(prefix, boundaries, perPrefix));
      }
      await putJson(s3, cfg.bucket, planKey, { fingerprint, prefixes: cfg.prefixes, ranges });
      return { planKey, partitions: ranges.length, fingerprint };
    },

    /** The ranges of a plan, a slice at a time (keeps payloads small for huge plans). */
    async readPlanSlice(input: { bucket: string; planKey: string; from: number; count: number }): Promise<KeyRange[]> {
      const plan = await getJson<{ ranges: KeyRange[] }>(s3, input.bucket, input.planKey);
      if (!plan) {
        throw ApplicationFailure.create({
          type: ErrorType.ManifestMissing,
          message: `plan ${input.planKey} is missing`,
          nonRetryable: true,
        });
      }
      return plan.ranges.slice(input.from, input.from + input.count);
    },

    /**
     * Ingest one key range: list, validate with bounded concurrency, and commit a manifest shard (and a
     * quarantine shard when needed) every `manifestShardSize` listed objects. Heartbeats carry the last committed
     * key, so a retry resumes right after the last committed chunk and writes byte-identical shards.
     */
    async ingestPartition(input: PartitionInput): Promise<PartitionResult> {
      const cfg = input.config;
      const root = input.outputRoot;
      const bucket = input.bucket;
      const summaryKey = ingestKeys.partitionSummary(root, input.partition);
      const done = await getJson<PartitionSummary>(s3, bucket, summaryKey).catch((e: unknown) =>
        classifyS3Error(e, bucket),
      );
      if (
        done &&
        done.fingerprint === input.fingerprint &&
        JSON.stringify(done.range) === JSON.stringify(input.range)
      ) {
        return toResult(done, summaryKey, true);
      }
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      setMaxListeners(0, signal); // one listener per in-flight S3 request is expected, not a leak
      const resumed = activityInfo().heartbeatDetails as PartitionProgress | undefined;
      const progress: PartitionProgress = resumed
        ? { ...resumed, listedInChunk: 0 }
        : { chunk: 0, totals: emptyCounts(), quarantineChunks: [], shardRanges: [], listedInChunk: 0 };
      const previous = input.previousSummaryKey
        ? await previousEtags(input.previousSummaryKey, bucket, input.range)
        : undefined;
      const read = readRange(bucket, signal);

      let pending: ListedObject[] = [];
      const commitChunk = async (objects: ListedObject[]) => {
        let validated = 0;
        const verdicts = await mapLimited(objects, cfg.validateConcurrency, async (obj) => {
          if (previous && previous.get(obj.key) === obj.etag) return 'unchanged' as const;
          const verdict = await validateObject(obj, read, cfg, probe);
          // Liveness while a large chunk validates (the SDK throttles the actual sends); the details still name
          // only the last committed chunk, so a retry never skips uncommitted work.
          heartbeat({ ...progress, listedInChunk: ++validated });
          return verdict;
        });
        const accepted: ManifestEntry[] = [];
        const quarantined: QuarantineEntry[] = [];
        const counts = emptyCounts();
        counts.listed = objects.length;
        for (const v of verdicts) {
          if (v === 'unchanged') counts.unchanged++;
          else if (v.accepted) {
            accepted.push(v.accepted);
            counts.accepted++;
            counts.bytes += v.accepted.size;
          } else {
            quarantined.push(v.quarantined);
            counts.quarantined++;
            counts.quarantineByReason[v.quarantined.reason] =
              (counts.quarantineByReason[v.quarantined.reason] ?? 0) + 1;
          }
        }
        // Shards first, then the heartbeat that commits them: a crash in between rewrites the same bytes.
        const mKey = ingestKeys.manifest(root, input.partition, progress.chunk);
        await putText(s3, bucket, mKey, toJsonl(accepted.map(manifestLine)), 'application/x-ndjson');
        progress.shardRanges.push({
          key: mKey,
          kind: 'manifest',
          ...(accepted.length ? { first: accepted[0]!.key, last: accepted[accepted.length - 1]!.key } : {}),
        });
        if (quarantined.length > 0) {
          const qKey = ingestKeys.quarantine(root, input.partition, progress.chunk);
          await putText(s3, bucket, qKey, toJsonl(quarantined.map(quarantineLine)), 'application/x-ndjson');
          progress.quarantineChunks.push(progress.chunk);
          progress.shardRanges.push({
            key: qKey,
            kind: 'quarantine',
            first: quarantined[0]!.key,
            last: quarantined[quarantined.length - 1]!.key,
          });
        }
        progress.totals = addCounts(progress.totals, counts);
        progress.chunk++;
        progress.resumeAfter = objects[objects.length - 1]?.key ?? progress.resumeAfter;
        progress.listedInChunk = 0;
        heartbeat(progress);
        throwIfCancelled(signal);
      };

      for await (const page of listRange(bucket, input.range, progress.resumeAfter, signal)) {
        pending = pending.concat(page);
        while (pending.length >= cfg.manifestShardSize) {
          await commitChunk(pending.slice(0, cfg.manifestShardSize));
          pending = pending.slice(cfg.manifestShardSize);
        }
        progress.listedInChunk = pending.length;
        heartbeat(progress);
        throwIfCancelled(signal);
      }
      // The last chunk; an empty partition still gets one (empty) manifest shard so its layout is uniform.
      if (pending.length > 0 || progress.chunk === 0) await commitChunk(pending);

      const summary: PartitionSummary = {
        partition: input.partition,
        range: input.range,
        fingerprint: input.fingerprint,
        ...progress.totals,
        manifestKeys: progress.shardRanges.filter((s) => s.kind === 'manifest').map((s) => s.key),
        quarantineKeys: progress.shardRanges.filter((s) => s.kind === 'quarantine').map((s) => s.key),
        shardRanges: progress.shardRanges,
      };
      await putJson(s3, bucket, summaryKey, summary);
      return toResult(summary, summaryKey, false);
    },

    /** Merge the partition summaries into one summary and check that the counts reconcile. */
    async finalizeIngest(input: {
      runName: string;
      config: IngestConfig;
      plan: PartitionPlanRef;
    }): Promise<IngestResult> {
      const cfg = input.config;
      const root = ingestRoot(cfg.outputPrefix, input.runName);
      let totals = emptyCounts();
      const manifestKeys: string[] = [];
      const quarantineKeys: string[] = [];
      const partitionSummaryKeys: string[] = [];
      const shardIndex: PartitionSummary['shardRanges'] = [];
      for (let p = 0; p < input.plan.partitions; p++) {
        const key = ingestKeys.partitionSummary(root, p);
        const s = await getJson<PartitionSummary>(s3, cfg.bucket, key);
        if (!s || s.fingerprint !== input.plan.fingerprint) {
          throw ApplicationFailure.create({
            type: ErrorType.ManifestMissing,
            message: `partition ${p} has no finished summary at ${key}`,
            nonRetryable: false,
          });
        }
        totals = addCounts(totals, s);
        manifestKeys.push(...s.manifestKeys);
        quarantineKeys.push(...s.quarantineKeys);
        partitionSummaryKeys.push(key);
        shardIndex.push(...s.shardRanges);
        if (p % 100 === 0) heartbeat({ partition: p });
      }
      const reconciled = totals.listed === totals.accepted + totals.quarantined + totals.unchanged;
      const summaryKey = ingestKeys.summary(root);
      // Incremental runs carry the previous index forward (oldest first, so a newer ETag of the same key wins when
      // it is loaded into a map): the next run then compares against everything seen so far, not one run back.
      if (cfg.previousManifest) shardIndex.unshift(...(await loadPrevious(cfg.previousManifest, cfg.bucket)).shards);
      const summary: IngestSummary & { shardIndex: typeof shardIndex } = {
        runName: input.runName,
        bucket: cfg.bucket,
        prefixes: cfg.prefixes,
        partitions: input.plan.partitions,
        ...totals,
        reconciled,
        manifestKeys,
        quarantineKeys,
        partitionSummaryKeys,
        ...(cfg.previousManifest ? { previousSummaryKey: cfg.previousManifest } : {}),
        fingerprint: input.plan.fingerprint,
        summaryKey,
        shardIndex,
      };
      await putJson(s3, cfg.bucket, summaryKey, summary);
      if (!reconciled) {
        throw ApplicationFailure.create({
          type: 'CountsDoNotReconcile',
          message: `listed ${totals.listed} != accepted ${totals.accepted} + quarantined ${totals.quarantined} + unchanged ${totals.unchanged}`,
          nonRetryable: true,
        });
      }
      return {
        runName: input.runName,
        ...totals,
        partitions: input.plan.partitions,
        cachedPartitions: 0,
        reconciled,
        summaryKey,
        manifestShards: manifestKeys.length,
        coordinatorRuns: 0,
      };
    },
  };
}

function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted)
    throw signal.reason instanceof Error ? signal.reason : new CancelledFailure(String(signal.reason ?? 'cancelled'));
}

function toResult(s: PartitionSummary, summaryKey: string, cached: boolean): PartitionResult {
  return {
    partition: s.partition,
    listed: s.listed,
    accepted: s.accepted,
    quarantined: s.quarantined,
    unchanged: s.unchanged,
    bytes: s.bytes,
    quarantineByReason: s.quarantineByReason,
    summaryKey,
    manifestShards: s.manifestKeys.length,
    quarantineShards: s.quarantineKeys.length,
    cached,
  };
}

export type IngestActivities = ReturnType<typeof createIngestActivities>;
