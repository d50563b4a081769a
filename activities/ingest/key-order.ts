/**
 * S3 lists keys in UTF-8 byte order, which differs from JavaScript's UTF-16 string order for characters above
 * U+FFFF and between some ranges. Every range decision in ingestion compares keys this way.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * `StartAfter` for a range that starts at `startAt` (a discovered common prefix such as "corpus/2e/").
 * Using the boundary itself is exact for every key below it except an object named exactly like the boundary
 * (a folder marker), which the caller fetches separately. Shorter values such as "corpus/2e" would be correct on
 * AWS S3, but SeaweedFS treats a StartAfter that names a directory as "skip that whole directory".
 */
export function startAfterFor(startAt: string): string {
  return startAt;
}
