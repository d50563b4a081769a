/** Deterministic S3 key layout of one ingest run. Re-runs and retries write to exactly the same keys. */
import type { ManifestEntry, QuarantineEntry } from '../../contracts/ingest';

const pad = (n: number, w: number) => String(n).padStart(w, '0');

export function ingestRoot(outputPrefix: string, runName: string): string {
  const p = outputPrefix === '' || outputPrefix.endsWith('/') ? outputPrefix : `${outputPrefix}/`;
  return `${p}${runName}/ingest/`;
}

export const ingestKeys = {
  plan: (root: string) => `${root}plan.json`,
  manifest: (root: string, partition: number, chunk: number) =>
    `${root}manifest/p${pad(partition, 5)}/m-${pad(chunk, 6)}.jsonl`,
  quarantine: (root: string, partition: number, chunk: number) =>
    `${root}quarantine/p${pad(partition, 5)}/q-${pad(chunk, 6)}.jsonl`,
  partitionSummary: (root: string, partition: number) => `${root}partitions/p${pad(partition, 5)}.json`,
  summary: (root: string) => `${root}summary.json`,
};

/** One manifest line with a fixed field order, so identical inputs give byte-identical shards. */
export function manifestLine(e: ManifestEntry): string {
  return JSON.stringify({ key: e.key, size: e.size, etag: e.etag, format: e.format, width: e.width, height: e.height });
}

export function quarantineLine(e: QuarantineEntry): string {
  return JSON.stringify({ key: e.key, size: e.size, etag: e.etag, reason: e.reason, detail: e.detail });
}

export function toJsonl(lines: string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export function parseJsonl<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}
