/**
 * Runs `fn` over `items` with at most `limit` calls in flight and returns the results in input order (S3 requests,
 * image decodes). The first rejection rejects the whole call; calls already started run to completion.
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!(limit >= 1)) throw new RangeError(`mapLimited: limit must be >= 1, got ${limit}`);
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i] as T, i);
      }
    }),
  );
  return out;
}
