import { appendHistory, MAX_HISTORY_POINTS } from '../../../contracts/pretrain';

describe('appendHistory', () => {
  it('keeps every point up to the bound', () => {
    let h: number[] = [];
    for (let i = 0; i < 10; i++) h = appendHistory(h, i, 16);
    expect(h).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('stays bounded over a million segments, keeping the first and the newest point in order', () => {
    let h: number[] = [];
    for (let i = 0; i < 1_000_000; i++) h = appendHistory(h, i);
    expect(h.length).toBeLessThanOrEqual(MAX_HISTORY_POINTS);
    expect(h.length).toBeGreaterThan(MAX_HISTORY_POINTS / 2);
    expect(h[0]).toBe(0);
    expect(h[h.length - 1]).toBe(999_999);
    for (let i = 1; i < h.length; i++) expect(h[i]!).toBeGreaterThan(h[i - 1]!);
    // 38k segments of {step, loss, lr} passed Temporal's 2 MB payload limit before: now it is a few kB
    expect(JSON.stringify(h.map((step) => ({ step, loss: 4.123456789, lr: 0.0123456789 }))).length).toBeLessThan(
      40_000,
    );
  });
});
