import { describe, expect, it } from 'vitest';
import { MaxRetryMs, retryAfterFailures, retryDelayMs } from '../../../edge/rules/backoff.ts';

describe('the rules backoff', () => {
  it('doubles from 100 ms up to the cap', () => {
    expect([0, 1, 2, 3, 9, 10, 50].map(retryDelayMs)).toEqual([0, 100, 200, 400, 25_600, MaxRetryMs, MaxRetryMs]);
  });

  it('grows after a window with a transient failure, and starts again after refusals alone', () => {
    expect(retryAfterFailures({ failures: 2, retryAt: 0 }, 1, 1_000)).toEqual({ failures: 3, retryAt: 1_400 });
    expect(retryAfterFailures({ failures: 0, retryAt: 0 }, 8, 1_000)).toEqual({ failures: 1, retryAt: 1_100 });
    // Only refusals: the target answered, so it is up.
    expect(retryAfterFailures({ failures: 5, retryAt: 9_999 }, 0, 1_000)).toEqual({ failures: 0, retryAt: 0 });
  });
});
