/**
 * Publish rates (MQTT_MAX_PUBLISH_RATE per client, MQTT_NAMESPACE_PUBLISH_RATE
 * for the namespace): a client over them is slowed, not thrown out. A QoS
 * 1/2 PUBLISH waits for its turn before it is routed and acknowledged (the
 * client stops at its window, as TCP's backpressure would stop it); a QoS 0
 * PUBLISH, which nothing can slow, is dropped and counted. Waiting input
 * still counts against MQTT_MAX_PENDING_BYTES, so a client that never waits
 * for its acknowledgements ends there (DISCONNECT 0x96).
 */

/**
 * A token bucket that hands out tokens in the order they were asked for:
 * whoever waits is served before anyone who asks later, so clients sharing
 * the namespace's rate take turns. The rate is read at every use: a quota
 * changed at run time holds from the next message.
 */
export class RateGate {
  private tokens: number;
  private updatedAt: number;
  private readonly waiters: Array<() => void> = [];
  private timerPending = false;

  constructor(
    private readonly rate: () => number,
    /** Tokens the bucket holds at most, for a rate. */
    private readonly burst: (rate: number) => number,
    private readonly now: () => number,
    private readonly setTimer: (ms: number, callback: () => void) => void,
  ) {
    this.updatedAt = now();
    this.tokens = burst(Math.max(0, rate()));
  }

  /** Whether anyone waits. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes a token now if one is there and no one waits for it; false otherwise. 0 (no limit): always. */
  tryTake(): boolean {
    const rate = this.rate();
    if (rate <= 0) return true;
    if (this.waiters.length > 0) return false;
    this.refill(rate);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Puts back a token taken with tryTake and not used. */
  giveBack(): void {
    const rate = this.rate();
    if (rate > 0) this.tokens = Math.min(this.burst(rate), this.tokens + 1);
  }

  /** Resolves when the caller's token is there (at once, when one is and no one waits). */
  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      this.schedule();
    });
  }

  /** The rate changed: waiters are served by the new one (all at once when it is 0). */
  changed(): void {
    if (this.waiters.length > 0) this.serve();
  }

  private refill(rate: number): void {
    const now = this.now();
    this.tokens = Math.min(this.burst(rate), this.tokens + ((now - this.updatedAt) / 1000) * rate);
    this.updatedAt = now;
  }

  private serve(): void {
    const rate = this.rate();
    if (rate > 0) this.refill(rate);
    while (this.waiters.length > 0 && (rate <= 0 || this.tokens >= 1)) {
      if (rate > 0) this.tokens -= 1;
      (this.waiters.shift() as () => void)();
    }
    this.schedule();
  }

  /** One timer at a time, due when the next token will be there. */
  private schedule(): void {
    if (this.timerPending || this.waiters.length === 0) return;
    const rate = this.rate();
    const wait = rate <= 0 ? 0 : Math.max(1, Math.ceil(((1 - this.tokens) / rate) * 1000));
    this.timerPending = true;
    this.setTimer(wait, () => {
      this.timerPending = false;
      this.serve();
    });
  }
}

/** A client's bucket holds two seconds' worth (at least 10): its bursts pass. */
export const clientBurst = (rate: number): number => Math.max(10, rate * 2);
/** The namespace's holds one second's worth (at least 10): a quota of N msgs/s lets through about N in any second. */
export const namespaceBurst = (rate: number): number => Math.max(10, rate);
