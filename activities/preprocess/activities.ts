/**
 * Canonicalisation activities: one canonical shard per ingest manifest shard, content-addressed by the manifest's
 * bytes and the preprocessing config, so re-runs and later runs over the same manifests are cache hits.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { GetObjectCommand, PutObjectCommand, type S3Client, type S3ServiceException } from '@aws-sdk/client-s3';
import { activityInfo, ApplicationFailure, CancelledFailure, Context, heartbeat } from '@temporalio/activity';
import type { PreprocessConfig } from '../../config/schema';
import { ErrorType } from '../../contracts/errors';
import { QuarantineReason, type IngestSummary, type ManifestEntry, type QuarantineEntry } from '../../contracts/ingest';
import type {
  CanonicalShardIndex,
  CanonicalShardInput,
  CanonicalShardResult,
  DatasetIndex,
  PreprocessPlanRef,
  PreprocessResult,
} from '../../contracts/preprocess';
import { getBytes, getJson, putJson, putText } from '../../infra/s3';
import { parseJsonl, quarantineLine, toJsonl } from '../ingest/layout';
import { canonicalizeImage, DecodeError } from './canonicalize';
import { writeTar, type TarMember } from './tar';
import { mapLimited } from '../shared/map-limited';

export interface PreprocessDeps {
  s3: S3Client;
  /** Images decoded at once per activity (sharp runs them on libuv's thread pool, off the event loop). */
  decodeConcurrency?: number;
}

/** Bump when the canonical output changes for the same inputs (e.g. a new resize kernel). */
const CANONICAL_FORMAT_VERSION = 1;

export function preprocessFingerprint(cfg: PreprocessConfig, maxPixels: number): string {
  const relevant = {
    v: CANONICAL_FORMAT_VERSION,
    shortSide: cfg.shortSide,
    q: cfg.jpegQuality,
    part: cfg.shardTargetBytes,
    maxPixels,
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}

export const preprocessKeys = {
  shardBase: (fingerprint: string, manifestSha: string) => `canonical/${fingerprint}/${manifestSha.slice(0, 24)}`,
  plan: (runName: string) => `runs/${runName}/preprocess/plan.json`,
  dataset: (runName: string) => `runs/${runName}/preprocess/dataset.json`,
};

interface ShardProgress {
  next: number;
  parts: CanonicalShardIndex['parts'];
  quarantined: QuarantineEntry[];
  images: number;
  bytes: number;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function createPreprocessActivities(deps: PreprocessDeps) {
  const { s3 } = deps;
  const decodeConcurrency = deps.decodeConcurrency ?? 2;

  async function fetchObject(bucket: string, e: ManifestEntry, signal: AbortSignal): Promise<Uint8Array | 'vanished'> {
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: e.key, IfMatch: `"${e.etag}"` }), {
        abortSignal: signal,
      });
      return res.Body ? await res.Body.transformToByteArray() : new Uint8Array();
    } catch (err) {
      const status = (err as S3ServiceException).$metadata?.httpStatusCode;
      if (status === 404 || status === 412 || (err as Error).name === 'NoSuchKey') return 'vanished';
      throw err;
    }
  }

  return {
    /** Collect the manifest shards of an ingest summary and of its predecessors (incremental lineage). */
    async planPreprocess(input: {
      bucket: string;
      runName: string;
      ingestSummaryKey: string;
      config: PreprocessConfig;
      maxPixels: number;
    }): Promise<PreprocessPlanRef> {
      const fingerprint = preprocessFingerprint(input.config, input.maxPixels);
      const items: { manifestKey: string; generation: number }[] = [];
      const seen = new Set<string>();
      let key: string | undefined = input.ingestSummaryKey;
      for (let generation = 0; key; generation++) {
        if (seen.has(key))
          throw ApplicationFailure.create({
            type: ErrorType.InvalidInput,
            message: `ingest lineage loops at ${key}`,
            nonRetryable: true,
          });
        seen.add(key);
        const summary: IngestSummary | undefined = await getJson<IngestSummary>(s3, input.bucket, key);
        if (!summary) {
          throw ApplicationFailure.create({
            type: ErrorType.ManifestMissing,
            message: `ingest summary s3://${input.bucket}/${key} not found`,
            nonRetryable: true,
          });
        }
        for (const m of summary.manifestKeys) items.push({ manifestKey: m, generation });
        key = summary.previousSummaryKey;
      }
      const planKey = preprocessKeys.plan(input.runName);
      await putJson(s3, input.bucket, planKey, { fingerprint, ingestSummaryKey: input.ingestSummaryKey, items });
      return { planKey, shards: items.length, fingerprint };
    },

    async readPreprocessSlice(input: {
      bucket: string;
      planKey: string;
      from: number;
      count: number;
    }): Promise<{ manifestKey: string; generation: number }[]> {
      const plan = await getJson<{ items: { manifestKey: string; generation: number }[] }>(
        s3,
        input.bucket,
        input.planKey,
      );
      if (!plan)
        throw ApplicationFailure.create({
          type: ErrorType.ManifestMissing,
          message: `plan ${input.planKey} is missing`,
          nonRetryable: true,
        });
      return plan.items.slice(input.from, input.from + input.count);
    },

    /**
     * Decode, canonicalise and pack the images of one manifest shard into tar parts of about
     * `shardTargetBytes`; quarantine what does not decode. Heartbeats the next entry and the committed parts,
     * so a retry resumes after the last written part.
     */
    async canonicalizeShard(input: CanonicalShardInput): Promise<CanonicalShardResult> {
      const { bucket, config: cfg } = input;
      const manifestBytes = await getBytes(s3, bucket, input.manifestKey);
      if (manifestBytes === undefined) {
        throw ApplicationFailure.create({
          type: ErrorType.ManifestMissing,
          message: `manifest ${input.manifestKey} is missing`,
          nonRetryable: true,
        });
      }
      const manifestSha = sha256(manifestBytes);
      const base = preprocessKeys.shardBase(input.fingerprint, manifestSha);
      const indexKey = `${base}/index.json`;
      const existing = await getJson<CanonicalShardIndex>(s3, bucket, indexKey);
      if (existing) {
        return {
          manifestKey: input.manifestKey,
          indexKey,
          entries: existing.entries,
          images: existing.images,
          quarantined: existing.quarantined,
          parts: existing.parts.length,
          bytes: existing.bytes,
          cached: true,
        };
      }
      const entries = parseJsonl<ManifestEntry>(Buffer.from(manifestBytes).toString('utf8'));
      const signal = Context.current().cancellationSignal;
      setMaxListeners(0, signal); // one listener per in-flight S3 request is expected, not a leak
      const resumed = activityInfo().heartbeatDetails as ShardProgress | undefined;
      const progress: ShardProgress = resumed ?? { next: 0, parts: [], quarantined: [], images: 0, bytes: 0 };
      const idPrefix = manifestSha.slice(0, 12);

      // The open part: its samples and quarantined entries count only once the part is committed.
      let members: TarMember[] = [];
      let memberBytes = 0;
      let count = 0;
      let pendingQuarantine: QuarantineEntry[] = [];
      const flush = async (nextEntry: number) => {
        if (count > 0) {
          const tar = writeTar(members);
          const key = `${base}/part-${String(progress.parts.length).padStart(4, '0')}.tar`;
          await s3.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: tar,
              ContentLength: tar.length,
              ContentType: 'application/x-tar',
            }),
          );
          progress.parts.push({ key, count, bytes: tar.length });
          progress.bytes += tar.length;
          progress.images += count;
        }
        progress.quarantined.push(...pendingQuarantine);
        pendingQuarantine = [];
        members = [];
        memberBytes = 0;
        count = 0;
        progress.next = nextEntry;
        heartbeat(progress);
        if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new CancelledFailure('cancelled');
      };

      // Decode a window of entries concurrently, then append them in manifest order (deterministic parts).
      const window = Math.max(decodeConcurrency * 4, 8);
      for (let start = progress.next; start < entries.length; start += window) {
        const batch = entries.slice(start, start + window);
        const results = await mapLimited(batch, decodeConcurrency, async (e) => {
          const bytes = await fetchObject(bucket, e, signal);
          if (bytes === 'vanished')
            return {
              e,
              error: { reason: QuarantineReason.Vanished, detail: 'changed or deleted since ingest' },
            } as const;
          try {
            return {
              e,
              img: await canonicalizeImage(bytes, {
                shortSide: cfg.shortSide,
                jpegQuality: cfg.jpegQuality,
                maxPixels: input.maxPixels,
              }),
            } as const;
          } catch (err) {
            if (err instanceof DecodeError)
              return { e, error: { reason: QuarantineReason.DecodeFailed, detail: err.message } } as const;
            throw err;
          }
        });
        for (const [j, r] of results.entries()) {
          const index = start + j;
          if ('error' in r && r.error) {
            pendingQuarantine.push({
              key: r.e.key,
              size: r.e.size,
              etag: r.e.etag,
              reason: r.error.reason,
              detail: r.error.detail,
            });
            continue;
          }
          const img = r.img;
          const id = `${idPrefix}-${String(index).padStart(6, '0')}`;
          const meta = {
            key: r.e.key,
            etag: r.e.etag,
            width: img.width,
            height: img.height,
            sourceFormat: img.sourceFormat,
            sourceWidth: img.sourceWidth,
            sourceHeight: img.sourceHeight,
            sourceSpace: img.sourceSpace,
            orientation: img.orientation,
            hadAlpha: img.hadAlpha,
          };
          const json = Buffer.from(JSON.stringify(meta), 'utf8');
          members.push({ name: `${id}.jpg`, data: img.jpeg }, { name: `${id}.json`, data: json });
          memberBytes += img.jpeg.length + json.length + 1024;
          count++;
          // A part closes at a sample boundary once it reaches the target size.
          if (memberBytes >= cfg.shardTargetBytes) await flush(index + 1);
        }
        // Liveness only: the resume pointer stays at the last committed part, whose samples a retry skips.
        heartbeat(progress);
      }
      await flush(entries.length);

      let quarantineKey: string | undefined;
      if (progress.quarantined.length > 0) {
        quarantineKey = `${base}/quarantine.jsonl`;
        await putText(
          s3,
          bucket,
          quarantineKey,
          toJsonl(progress.quarantined.map(quarantineLine)),
          'application/x-ndjson',
        );
      }
      const index: CanonicalShardIndex = {
        manifestKey: input.manifestKey,
        manifestSha256: manifestSha,
        fingerprint: input.fingerprint,
        entries: entries.length,
        images: progress.images,
        quarantined: progress.quarantined.length,
        bytes: progress.bytes,
        parts: progress.parts,
        ...(quarantineKey ? { quarantineKey } : {}),
      };
      if (index.images + index.quarantined !== index.entries) {
        throw ApplicationFailure.create({
          type: 'CountsDoNotReconcile',
          message: `${index.entries} entries != ${index.images} images + ${index.quarantined} quarantined`,
          nonRetryable: true,
        });
      }
      await putJson(s3, bucket, indexKey, index);
      return {
        manifestKey: input.manifestKey,
        indexKey,
        entries: index.entries,
        images: index.images,
        quarantined: index.quarantined,
        parts: index.parts.length,
        bytes: index.bytes,
        cached: false,
      };
    },

    /** Merge the shard indexes of a plan into the run's dataset index. */
    async finalizePreprocess(input: {
      bucket: string;
      runName: string;
      plan: PreprocessPlanRef;
    }): Promise<Omit<PreprocessResult, 'cachedShards' | 'coordinatorRuns'>> {
      const plan = await getJson<{ ingestSummaryKey: string; items: { manifestKey: string; generation: number }[] }>(
        s3,
        input.bucket,
        input.plan.planKey,
      );
      if (!plan)
        throw ApplicationFailure.create({
          type: ErrorType.ManifestMissing,
          message: `plan ${input.plan.planKey} is missing`,
          nonRetryable: true,
        });
      const dataset: DatasetIndex = {
        runName: input.runName,
        bucket: input.bucket,
        fingerprint: input.plan.fingerprint,
        ingestSummaryKey: plan.ingestSummaryKey,
        entries: 0,
        images: 0,
        quarantined: 0,
        bytes: 0,
        reconciled: false,
        parts: [],
        quarantineKeys: [],
        shardIndexKeys: [],
        datasetKey: preprocessKeys.dataset(input.runName),
      };
      for (const [i, item] of plan.items.entries()) {
        const manifestBytes = await getBytes(s3, input.bucket, item.manifestKey);
        if (manifestBytes === undefined)
          throw ApplicationFailure.create({
            type: ErrorType.ManifestMissing,
            message: `manifest ${item.manifestKey} is missing`,
            nonRetryable: true,
          });
        const indexKey = `${preprocessKeys.shardBase(input.plan.fingerprint, sha256(manifestBytes))}/index.json`;
        const idx = await getJson<CanonicalShardIndex>(s3, input.bucket, indexKey);
        if (!idx)
          throw ApplicationFailure.create({
            type: ErrorType.ManifestMissing,
            message: `canonical shard ${indexKey} is missing`,
            nonRetryable: false,
          });
        dataset.entries += idx.entries;
        dataset.images += idx.images;
        dataset.quarantined += idx.quarantined;
        dataset.bytes += idx.bytes;
        dataset.parts.push(...idx.parts.map((p) => ({ key: p.key, count: p.count, generation: item.generation })));
        if (idx.quarantineKey) dataset.quarantineKeys.push(idx.quarantineKey);
        dataset.shardIndexKeys.push(indexKey);
        if (i % 100 === 0) heartbeat({ shard: i });
      }
      dataset.reconciled = dataset.entries === dataset.images + dataset.quarantined;
      await putJson(s3, input.bucket, dataset.datasetKey, dataset);
      return {
        runName: input.runName,
        datasetKey: dataset.datasetKey,
        entries: dataset.entries,
        images: dataset.images,
        quarantined: dataset.quarantined,
        bytes: dataset.bytes,
        parts: dataset.parts.length,
        shards: plan.items.length,
        reconciled: dataset.reconciled,
      };
    },
  };
}

export type PreprocessActivities = ReturnType<typeof createPreprocessActivities>;
