/**
 * How long a bridge waits before its next connection attempt, with
 * mosquitto's `restart_timeout` semantics: a constant delay, or
 * "decorrelated jitter" from a base up to a cap
 * (sleep = min(cap, random(base, previous × 3)),
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/),
 * back to the base once a connection succeeds.
 */
import type { RestartPolicy } from './config.ts';

export class RestartBackoff {
  readonly #policy: RestartPolicy;
  readonly #random: () => number;
  #previousMs: number;

  /** `random` returns [0, 1) (tests pass a fixed sequence). */
  constructor(policy: RestartPolicy, random: () => number = Math.random) {
    this.#policy = policy;
    this.#random = random;
    this.#previousMs = this.#baseMs;
  }

  get #baseMs(): number {
    return (this.#policy.kind === 'constant' ? this.#policy.seconds : this.#policy.baseSeconds) * 1000;
  }

  /** The delay before the next attempt; each call after a failure grows it (jitter policy). */
  next(): number {
    if (this.#policy.kind === 'constant') return this.#baseMs;
    const base = this.#baseMs;
    const upper = Math.max(base, this.#previousMs * 3);
    const delay = Math.min(this.#policy.capSeconds * 1000, Math.round(base + this.#random() * (upper - base)));
    this.#previousMs = delay;
    return delay;
  }

  /** A connection succeeded: the next outage starts from the base again. */
  reset(): void {
    this.#previousMs = this.#baseMs;
  }
}
