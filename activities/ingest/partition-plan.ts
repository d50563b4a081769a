/**
 * Turns the common prefixes discovered by delimiter listing into contiguous, disjoint key ranges that together
 * cover every key under the ingest prefixes, whatever lies between the discovered prefixes.
 */
import type { KeyRange } from '../../contracts/ingest';
import { compareKeys } from './key-order';

/**
 * Split one prefix into about `target` ranges using sorted boundary keys (discovered common prefixes).
 * Range i covers keys k with startAt_i <= k < endBefore_i; the first starts at the prefix, the last is open.
 */
export function planRanges(prefix: string, boundaries: readonly string[], target: number): KeyRange[] {
  if (target < 1) throw new RangeError('target must be >= 1');
  const sorted = [...new Set(boundaries)].filter((b) => b.startsWith(prefix) && b !== prefix).sort(compareKeys);
  const parts = Math.min(target, sorted.length + 1);
  if (parts <= 1) return [{ prefix }];
  // Cut points: evenly spaced boundaries, so each range holds about the same number of discovered prefixes.
  const cuts: string[] = [];
  for (let i = 1; i < parts; i++) {
    const idx = Math.round((i * sorted.length) / parts);
    const cut = sorted[Math.min(idx, sorted.length - 1)] as string;
    if (cuts[cuts.length - 1] !== cut) cuts.push(cut);
  }
  const ranges: KeyRange[] = [];
  let startAt: string | undefined;
  for (const cut of cuts) {
    ranges.push({ prefix, ...(startAt !== undefined ? { startAt } : {}), endBefore: cut });
    startAt = cut;
  }
  ranges.push({ prefix, ...(startAt !== undefined ? { startAt } : {}) });
  return ranges;
}

/** Is `key` inside the range? (prefix match, startAt inclusive, endBefore exclusive, UTF-8 order) */
export function inRange(key: string, range: KeyRange): boolean {
  if (!key.startsWith(range.prefix)) return false;
  if (range.startAt !== undefined && compareKeys(key, range.startAt) < 0) return false;
  if (range.endBefore !== undefined && compareKeys(key, range.endBefore) >= 0) return false;
  return true;
}

/** Rejects overlapping ingest prefixes: each key must belong to exactly one prefix. */
export function checkPrefixesDisjoint(prefixes: readonly string[]): string | undefined {
  for (const a of prefixes) {
    for (const b of prefixes) {
      if (a !== b && b.startsWith(a)) return `prefix "${b}" is inside prefix "${a}"; objects would be ingested twice`;
    }
  }
  if (new Set(prefixes).size !== prefixes.length) return 'the same prefix is listed twice';
  return undefined;
}
