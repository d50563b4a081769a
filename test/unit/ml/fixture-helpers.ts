/** Shared helpers of the ml golden tests: fixture loading and elementwise tolerance checks. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Read test/fixtures/ml/<name> (written by scripts/fixtures/make-ml-fixtures.py). */
export function loadFixture<T>(name: string): T {
  return JSON.parse(readFileSync(join(__dirname, '..', '..', 'fixtures', 'ml', name), 'utf8')) as T;
}

/**
 * Assert |actual - expected| <= atol + rtol * |expected| elementwise (numpy.allclose semantics), reporting the
 * worst element so a failure says where and by how much.
 */
export function expectAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { rtol: number; atol: number },
  label = '',
): void {
  expect(actual.length).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${label}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(rtol ${tol.rtol}, atol ${tol.atol}; excess ${worstExcess})`,
    );
  }
}
