/**
 * S3 lists keys in UTF-8 byte order, which differs from JavaScript's UTF-16 string order for characters above
 * U+FFFF and between some ranges. Every range decision in ingestion compares keys this way.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A key strictly below `key` and as close to it as cheaply possible, for ListObjectsV2 `StartAfter`. */
export function startAfterFor(key: string): string | undefined {
  // Dropping the last character gives a proper prefix, which sorts before the key itself. Keys between the two
  // (e.g. "ab-x" when key is "ab/") are filtered out by the caller, which also checks `key >= startAt`.
  return key.length > 1 ? key.slice(0, -1) : undefined;
}
