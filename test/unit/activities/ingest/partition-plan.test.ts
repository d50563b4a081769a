import { compareKeys } from '../../../../activities/ingest/key-order';
import { checkPrefixesDisjoint, inRange, planRanges } from '../../../../activities/ingest/partition-plan';
import type { KeyRange } from '../../../../contracts/ingest';

const keys = [
  'corpus/00/a.png',
  'corpus/00/b.png',
  'corpus/01/x/y.png',
  'corpus/0a-odd.png', // a direct object between two discovered prefixes
  'corpus/ab/c.jpg',
  'corpus/ab-x/d.jpg', // sorts before corpus/ab/ in byte order ('-' < '/')
  'corpus/zz/odd names/Straße café №1.png',
  'corpus/zz/😀.png', // astral-plane character: UTF-16 and UTF-8 orders differ here
  'corpus/zz/\uffef.png',
  'corpus/top.png',
];

function owners(ranges: KeyRange[], key: string): number[] {
  return ranges.flatMap((r, i) => (inRange(key, r) ? [i] : []));
}

describe('planRanges', () => {
  it('covers every key under the prefix exactly once, for any target', () => {
    const boundaries = ['corpus/00/', 'corpus/01/', 'corpus/ab/', 'corpus/ab-x/', 'corpus/zz/', 'corpus/zz/odd names/'];
    for (let target = 1; target <= 10; target++) {
      const ranges = planRanges('corpus/', boundaries, target);
      expect(ranges.length).toBeLessThanOrEqual(target);
      for (const k of keys) expect(owners(ranges, k)).toHaveLength(1);
      expect(owners(ranges, 'other/00/a.png')).toHaveLength(0);
    }
  });

  it('produces ranges in key order with contiguous bounds', () => {
    const ranges = planRanges('p/', ['p/c/', 'p/a/', 'p/b/', 'p/d/'], 3);
    expect(ranges[0]?.startAt).toBeUndefined();
    expect(ranges[ranges.length - 1]?.endBefore).toBeUndefined();
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]?.startAt).toBe(ranges[i - 1]?.endBefore);
    const starts = ranges.slice(1).map((r) => r.startAt as string);
    expect([...starts].sort(compareKeys)).toEqual(starts);
  });

  it('is one open range without boundaries', () => {
    expect(planRanges('p/', [], 8)).toEqual([{ prefix: 'p/' }]);
  });
});

describe('compareKeys', () => {
  it('orders by UTF-8 bytes like S3, not by UTF-16 code units', () => {
    // U+FFEF is one UTF-16 unit above the surrogates used by U+1F600, but its UTF-8 bytes sort lower.
    expect('\uffef' > '😀').toBe(true);
    expect(compareKeys('\uffef', '😀')).toBeLessThan(0);
  });
});

describe('checkPrefixesDisjoint', () => {
  it('rejects nested or repeated prefixes and accepts disjoint ones', () => {
    expect(checkPrefixesDisjoint(['a/', 'a/b/'])).toMatch(/inside/);
    expect(checkPrefixesDisjoint(['a/', 'a/'])).toMatch(/twice/);
    expect(checkPrefixesDisjoint(['a/', 'b/'])).toBeUndefined();
  });
});
