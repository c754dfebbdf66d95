/**
 * How long a rule's attempt may take, and when it tries again after failures: exponential, capped, so a
 * receiver that is down for a minute is asked about twice a minute at most
 * and gets everything within one cap of coming back.
 */

/** One attempt may take this long before it counts as failed (a receiver that never answers). */
export const AttemptTimeoutMs = 10_000;

export const FirstRetryMs = 100;
export const MaxRetryMs = 30_000;

/** The wait after `failures` consecutive failures (1 → 100 ms, 2 → 200 ms, … capped at 30 s). */
export function retryDelayMs(failures: number): number {
  if (failures <= 0) return 0;
  // 2^n overflows nothing here: the cap is reached at n = 9.
  return Math.min(MaxRetryMs, FirstRetryMs * 2 ** Math.min(failures - 1, 20));
}

/** A rule's retry state: consecutive failures (what the wait grows with, and why only one message is tried) and no attempt before `retryAt`. */
export interface RetryState {
  failures: number;
  retryAt: number;
}

/**
 * The rule's retry state after a window with failures. A transient failure
 * (kept for a retry, or out of attempts and now a dead letter: either way
 * the target may be down) makes the wait grow, so a target that is down is
 * asked once per step whichever message is at the head. Refusals alone say
 * the target is up and answering: the rule goes on at once, window open.
 */
export function retryAfterFailures(previous: RetryState, transientFailures: number, now: number): RetryState {
  if (transientFailures === 0) return { failures: 0, retryAt: 0 };
  const failures = previous.failures + 1;
  return { failures, retryAt: now + retryDelayMs(failures) };
}
