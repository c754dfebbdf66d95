/**
 * Byte comparison whose running time does not depend on where the inputs
 * differ, for comparing password digests: an early exit would tell an
 * attacker, through response times, how many leading bytes they got right.
 */

/**
 * True when `a` and `b` hold the same bytes. Always walks the longer of the
 * two arrays (lengths are not secret: digests have fixed sizes), folding
 * every difference into one accumulator; different lengths give false
 * after the same walk.
 *
 * @example
 * constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])); // true
 * constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1]));    // false
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const length = Math.max(a.length, b.length);
  let difference = a.length ^ b.length;
  for (let i = 0; i < length; i++) {
    // `?? 0` stands in past the end of the shorter array: it depends on the lengths only, not the bytes.
    difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  }
  return difference === 0;
}
