import { mapLimited } from '../../../../activities/shared/map-limited';

describe('mapLimited', () => {
  it('keeps input order, passes indices and never exceeds the limit', async () => {
    let inFlight = 0;
    let peak = 0;
    const delays = [30, 5, 20, 1, 15, 2, 9];
    const out = await mapLimited(delays, 3, async (ms, i) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, ms));
      inFlight--;
      return `${i}:${ms}`;
    });
    expect(out).toEqual(delays.map((ms, i) => `${i}:${ms}`));
    expect(peak).toBe(3);
  });

  it('rejects with the first failure and handles empty input and bad limits', async () => {
    await expect(
      mapLimited([1, 2, 3], 2, async (x) => (x === 2 ? Promise.reject(new Error('boom 2')) : x)),
    ).rejects.toThrow('boom 2');
    await expect(mapLimited([], 4, async (x: number) => x)).resolves.toEqual([]);
    await expect(mapLimited([1], 0, async (x) => x)).rejects.toThrow(RangeError);
  });
});
