/**
 * Digest of a resolved config (or of a workflow input built from one): the same value gives the same digest
 * whatever the order its keys were set in. The CLI stores it on the executions it starts, so reusing a run name
 * can tell "the same run again" from "a different run under the same name".
 */
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level (undefined members dropped, as JSON.stringify does). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** First 16 hex digits of the SHA-256 of {@link canonicalJson}. */
export function configDigest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}
