/**
 * Exponentially weighted moving averages of a counter's rate, as mosquitto
 * computes its `$SYS/broker/load/...` topics: every update takes the rate
 * over the interval since the last one (per minute) and moves each average
 * towards it by `1 - e^(-interval / window)`.
 *
 * @example
 * const load = new LoadAverage();
 * load.update(0, 0);                 // first sample: nothing to compare with yet
 * load.update(600, 10_000);          // 600 in 10 s = 3600 per minute
 * load.averages;                     // ≈ { '1min': 552.7, '5min': 118.0, '15min': 39.8 }
 */

/** The windows mosquitto publishes, in seconds. */
export const LoadWindows = { '1min': 60, '5min': 300, '15min': 900 } as const;
export type LoadWindow = keyof typeof LoadWindows;
export type LoadAverages = Record<LoadWindow, number>;

export class LoadAverage {
  private last: { value: number; at: number } | undefined;
  private current: LoadAverages | undefined;

  /**
   * @param seed Per-minute rate to start from on the first sample, instead
   *   of 0 (mosquitto's start). After a Durable Object wakes, the namespace's
   *   counters are old but this instance has seen no interval yet; starting
   *   from the rate since the namespace was created is closer than 0.
   */
  constructor(private readonly seed?: (value: number, at: number) => number) {}

  /** The averages, per minute; undefined until there is something to average. */
  get averages(): LoadAverages | undefined {
    return this.current === undefined ? undefined : { ...this.current };
  }

  /** Feeds the counter's value at time `at` (ms). */
  update(value: number, at: number): void {
    const last = this.last;
    this.last = { value, at };
    if (last === undefined) {
      if (this.seed !== undefined) {
        const rate = Math.max(0, this.seed(value, at));
        this.current = { '1min': rate, '5min': rate, '15min': rate };
      }
      return;
    }
    const elapsedSeconds = (at - last.at) / 1000;
    // A counter read back from storage after a restart can be a little behind; never a negative rate.
    if (elapsedSeconds <= 0) return;
    const rate = (Math.max(0, value - last.value) * 60) / elapsedSeconds;
    const previous = this.current ?? { '1min': 0, '5min': 0, '15min': 0 };
    const next = { ...previous };
    for (const window of Object.keys(LoadWindows) as LoadWindow[]) {
      const decay = Math.exp(-elapsedSeconds / LoadWindows[window]);
      next[window] = rate + decay * (previous[window] - rate);
    }
    this.current = next;
  }
}
