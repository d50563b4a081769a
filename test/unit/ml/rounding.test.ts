import { makeDivisible, roundHalfEven } from '../../../ml/rounding';

describe('roundHalfEven (Python round / numpy.round parity)', () => {
  it('rounds exact halves to the even neighbour, unlike Math.round', () => {
    const cases: [number, number][] = [
      [0.5, 0],
      [1.5, 2],
      [2.5, 2],
      [3.5, 4],
      [-0.5, -0],
      [-1.5, -2],
      [-2.5, -2],
      [1e15 + 0.5, 1e15],
      [4503599627370495.5, 4503599627370496],
    ];
    for (const [x, want] of cases) expect(roundHalfEven(x)).toBe(want);
    expect(Math.round(2.5)).toBe(3); // the trap this function exists for
  });

  it('rounds non-ties to the nearest integer', () => {
    expect(roundHalfEven(2.4999999999999996)).toBe(2);
    expect(roundHalfEven(2.5000000000000004)).toBe(3);
    expect(roundHalfEven(-2.6)).toBe(-3);
    expect(roundHalfEven(-2.4)).toBe(-2);
    expect(Object.is(roundHalfEven(-0.4), -0)).toBe(true);
    expect(roundHalfEven(7)).toBe(7);
    // Float products that land exactly on a tie round like Python does on the same double.
    expect(roundHalfEven(2.675 * 100)).toBe(268); // the product is exactly 267.5; Python round() also gives 268
    expect(roundHalfEven(0.1 * 25)).toBe(2); // exactly 2.5 after rounding of the product; Python gives 2
  });

  it('passes non-finite values through', () => {
    expect(roundHalfEven(Infinity)).toBe(Infinity);
    expect(roundHalfEven(-Infinity)).toBe(-Infinity);
    expect(roundHalfEven(Number.NaN)).toBeNaN();
  });
});

describe('makeDivisible (torchvision _make_divisible)', () => {
  it('rounds ties up to the next multiple (reference: 40 with g=16 -> 48)', () => {
    expect(makeDivisible(40, 16)).toBe(48);
    expect(roundHalfEven(40 / 16) * 16).toBe(32); // the pycls convention gives 32 here
  });

  it('adds one divisor when rounding down lost more than 10% (reference: 72 with g=32 -> 96)', () => {
    expect(Math.floor((72 + 16) / 32) * 32).toBe(64);
    expect(makeDivisible(72, 32)).toBe(96);
    expect(roundHalfEven(72 / 32) * 32).toBe(64);
  });

  it('honours the minimum value and leaves multiples alone', () => {
    expect(makeDivisible(3, 8)).toBe(8);
    expect(makeDivisible(3, 8, 4)).toBe(4);
    expect(makeDivisible(368, 8)).toBe(368);
    expect(makeDivisible(100, 1)).toBe(100);
  });

  it('rejects a non-positive or fractional divisor and negative values', () => {
    expect(() => makeDivisible(10, 0)).toThrow(/divisor/);
    expect(() => makeDivisible(10, 2.5)).toThrow(/divisor/);
    expect(() => makeDivisible(-1, 8)).toThrow(/v must/);
  });
});
