/**
 * Rounding helpers that reproduce Python/NumPy integer rounding exactly. JavaScript's `Math.round` rounds halves
 * towards +Infinity (2.5 -> 3, -2.5 -> -2), which matches neither Python's `round` nor `np.round`; RegNet width
 * generation rounds exact halves, so the convention changes the resulting architecture.
 */

/**
 * Round to the nearest integer, ties to the even neighbour (banker's rounding), like Python 3 `round(x)` and
 * `numpy.round(x)` (including NumPy's signed zero). NaN and +/-Infinity pass through unchanged.
 *
 * @example roundHalfEven(2.5) === 2; roundHalfEven(3.5) === 4; roundHalfEven(-2.5) === -2
 */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const lower = Math.floor(x);
  // x - floor(x) is exact in binary floating point, so the tie test below is exact too.
  const diff = x - lower;
  const r = diff < 0.5 ? lower : diff > 0.5 ? lower + 1 : lower % 2 === 0 ? lower : lower + 1;
  return r === 0 && x < 0 ? -0 : r; // numpy keeps the sign of zero: np.round(-0.4) is -0.0
}

/**
 * torchvision's `_make_divisible(v, divisor, min_value)`: round `v` to the nearest multiple of `divisor` (halves
 * round up), at least `minValue` (default `divisor`), and add one more `divisor` when rounding down lost more than
 * 10 % of `v`.
 *
 * @example makeDivisible(40, 16) === 48 (tie rounds up); makeDivisible(72, 32) === 96 (64 < 0.9 * 72)
 * @throws RangeError when `divisor` is not a positive integer or `v` is not a finite non-negative number.
 */
export function makeDivisible(v: number, divisor: number, minValue?: number): number {
  if (!Number.isInteger(divisor) || divisor <= 0) {
    throw new RangeError(`makeDivisible: divisor must be a positive integer, got ${divisor}`);
  }
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`makeDivisible: v must be finite and >= 0, got ${v}`);
  const floorTo = minValue ?? divisor;
  // Python: int(v + divisor / 2) // divisor * divisor; int() truncates, v >= 0 so floor is the same.
  let out = Math.max(floorTo, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * v) out += divisor;
  return out;
}
