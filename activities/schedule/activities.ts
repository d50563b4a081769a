/**
 * The run registry of a schedule, in the run's bucket. Each successful run writes its own record
 * (`schedules/<id>/runs/<runName>.json`, one key per run, so overlapping runs never overwrite each other), then
 * rebuilds the lineage index `schedules/<id>/runs.json` from the records.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { scheduleKeys, type ScheduledRunRecord, type ScheduleRegistry } from '../../contracts/schedule';
import { getJson, putJson } from '../../infra/s3';
import { rethrowS3 } from '../shared/failure';

export interface ScheduleActivityDeps {
  s3: S3Client;
}

/** Keys of every per-run record of a schedule, in run-name (= scheduled time) order. */
async function listRunKeys(s3: S3Client, bucket: string, scheduleId: string): Promise<string[]> {
  const prefix = scheduleKeys.runsPrefix(scheduleId);
  const keys: string[] = [];
  let token: string | undefined;
  try {
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
      );
      for (const o of page.Contents ?? []) if (o.Key?.endsWith('.json')) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } catch (err) {
    rethrowS3(err, { bucket }); // a missing bucket or denied access is typed; anything else stays retryable
  }
  // Run names end in a fixed-width UTC timestamp, so byte order is time order.
  return keys.sort();
}

/**
 * The lineage of a schedule, oldest first: the index, plus any record the index has not caught up with yet.
 * Used by `seerflow schedule describe`; reads only the records missing from the index.
 */
export async function readScheduleRegistry(
  s3: S3Client,
  bucket: string,
  scheduleId: string,
): Promise<ScheduleRegistry> {
  const index = await getJson<ScheduleRegistry>(s3, bucket, scheduleKeys.registry(scheduleId));
  const byName = new Map((index?.runs ?? []).map((r) => [r.runName, r]));
  for (const key of await listRunKeys(s3, bucket, scheduleId)) {
    const runName = key.slice(scheduleKeys.runsPrefix(scheduleId).length, -'.json'.length);
    if (byName.has(runName)) continue;
    const rec = await getJson<ScheduledRunRecord>(s3, bucket, key);
    if (rec) byName.set(runName, rec);
  }
  const runs = [...byName.values()].sort((a, b) => (a.runName < b.runName ? -1 : a.runName > b.runName ? 1 : 0));
  return { schema: 'seerflow.schedule-runs/1', scheduleId, runs };
}

export function createScheduleActivities(deps: ScheduleActivityDeps) {
  const { s3 } = deps;
  return {
    /** The newest successful run of the schedule (by scheduled time), or null before the first one. */
    async lastSuccessfulRun(input: { bucket: string; scheduleId: string }): Promise<ScheduledRunRecord | null> {
      const newest = (await listRunKeys(s3, input.bucket, input.scheduleId)).at(-1);
      if (!newest) return null;
      return (await getJson<ScheduledRunRecord>(s3, input.bucket, newest)) ?? null;
    },

    /**
     * Adds a successful run to the registry. Idempotent per run name: a retry rewrites the same record and
     * rebuilds the same index.
     */
    async recordScheduledRun(input: {
      bucket: string;
      record: ScheduledRunRecord;
    }): Promise<{ registryKey: string; runs: number }> {
      const { bucket, record } = input;
      await putJson(s3, bucket, scheduleKeys.run(record.scheduleId, record.runName), record);
      const registry = await readScheduleRegistry(s3, bucket, record.scheduleId);
      // The record just written wins over a stale index entry of the same run.
      registry.runs = registry.runs.map((r) => (r.runName === record.runName ? record : r));
      const registryKey = scheduleKeys.registry(record.scheduleId);
      await putJson(s3, bucket, registryKey, registry);
      return { registryKey, runs: registry.runs.length };
    },
  };
}

export type ScheduleActivities = ReturnType<typeof createScheduleActivities>;
