import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { constantTimeEqual } from '../../../edge/auth/constant-time.ts';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

/** A view of `array` that records which indices were read. */
function counting(array: Uint8Array): { view: Uint8Array; reads: Set<number> } {
  const reads = new Set<number>();
  const view = new Proxy(array, {
    get(target, property) {
      if (typeof property === 'string' && /^[0-9]+$/.test(property)) reads.add(Number(property));
      // Typed array getters (length) need the real array as `this`.
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { view, reads };
}

describe('constantTimeEqual', () => {
  it.each([
    { name: 'equal bytes', a: bytes(1, 2, 3), b: bytes(1, 2, 3), equal: true },
    { name: 'two empty arrays', a: bytes(), b: bytes(), equal: true },
    { name: 'first byte differs', a: bytes(9, 2, 3), b: bytes(1, 2, 3), equal: false },
    { name: 'last byte differs', a: bytes(1, 2, 3), b: bytes(1, 2, 4), equal: false },
    { name: 'a is a prefix of b', a: bytes(1, 2), b: bytes(1, 2, 3), equal: false },
    { name: 'b is a prefix of a', a: bytes(1, 2, 0), b: bytes(1, 2), equal: false },
    { name: 'empty against a zero byte', a: bytes(), b: bytes(0), equal: false },
  ])('$name', ({ a, b, equal }) => {
    expect(constantTimeEqual(a, b)).toBe(equal);
  });

  it('reads every byte of both arrays even when the first byte differs', () => {
    const a = counting(bytes(0, 1, 2, 3, 4, 5, 6, 7));
    const b = counting(bytes(9, 1, 2, 3, 4, 5, 6, 7));
    expect(constantTimeEqual(a.view, b.view)).toBe(false);
    expect([...a.reads].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...b.reads].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('walks the longer length when the lengths differ', () => {
    const a = counting(bytes(1, 2));
    const b = counting(bytes(1, 2, 3, 4, 5));
    expect(constantTimeEqual(a.view, b.view)).toBe(false);
    expect(b.reads.size).toBe(5);
  });

  it('agrees with a plain comparison on random inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (a, b) => {
        const expected = a.length === b.length && a.every((byte, i) => byte === b[i]);
        expect(constantTimeEqual(a, b)).toBe(expected);
        expect(constantTimeEqual(a, a.slice())).toBe(true);
      }),
    );
  });
});
