/**
 * Which topics are busy: message rates of at most MaxTrackedTopics topics,
 * in memory only (a dashboard view, not a record; hibernation resets it).
 *
 * The publish path does one Map lookup and an increment (or an insert while
 * there is room); it never reads the clock. Rates are worked out when the
 * counts are folded in: on every counter flush (every few seconds while
 * there is traffic) and when someone asks. A fold turns each count into an
 * exponentially weighted rate, forgets topics gone quiet, and when the map
 * is full drops the slowest quarter, so new busy topics get in.
 */

export const MaxTrackedTopics = 256;
/** How fast a rate forgets: a topic that stops publishing halves its rate every this many ms. */
const HalfLifeMs = 30_000;
/** Counts are folded no more often than this (a shorter window makes a noisy rate). */
const MinFoldMs = 1000;
/** Below this many messages per second a topic no longer counts as active. */
const QuietRate = 0.001;

interface TopicCounter {
  /** Messages since the last fold. */
  count: number;
  /** Messages per second, weighted towards the recent past. */
  rate: number;
  /** Messages counted since the topic was first tracked. */
  total: number;
  firstSeen: number;
  lastSeen: number;
}

export interface TopicRate {
  topic: string;
  /** Messages per second, exponentially weighted (half-life 30 s). */
  rate: number;
  /** Messages since the topic was first tracked (this wake of the namespace). */
  messages: number;
  lastSeen: number;
}

export class TopicRates {
  private readonly counters = new Map<string, TopicCounter>();
  private foldedAt: number;
  /** Messages on topics that found the map full: what the list does not show. */
  private untracked = 0;

  constructor(now: number) {
    this.foldedAt = now;
  }

  /** One message on `topic`. The hot path: keep it a lookup and an increment. */
  note(topic: string): void {
    const counter = this.counters.get(topic);
    if (counter !== undefined) counter.count++;
    else if (this.counters.size < MaxTrackedTopics) this.counters.set(topic, { count: 1, rate: 0, total: 0, firstSeen: 0, lastSeen: 0 });
    else this.untracked++;
  }

  /** Folds the counts in (see the file's comment); cheap enough for every counter flush. */
  fold(now: number): void {
    const elapsed = now - this.foldedAt;
    if (elapsed < MinFoldMs) return;
    const keep = Math.pow(0.5, elapsed / HalfLifeMs);
    for (const [topic, counter] of this.counters) {
      if (counter.count > 0) {
        // A topic's first count has no history: its rate starts at what this window saw.
        if (counter.firstSeen === 0) counter.firstSeen = now;
        counter.lastSeen = now;
      }
      const windowRate = (counter.count / elapsed) * 1000;
      counter.rate = counter.total === 0 && counter.count > 0 ? windowRate : counter.rate * keep + windowRate * (1 - keep);
      counter.total += counter.count;
      counter.count = 0;
      if (counter.rate < QuietRate) this.counters.delete(topic);
    }
    if (this.counters.size >= MaxTrackedTopics) this.dropSlowest();
    this.foldedAt = now;
  }

  /** The busiest topics first, at most `limit`. */
  list(now: number, limit: number): { topics: TopicRate[]; untracked: number } {
    this.fold(now);
    const topics = [...this.counters.entries()]
      .filter(([, counter]) => counter.total > 0)
      .sort(([, a], [, b]) => b.rate - a.rate)
      .slice(0, limit)
      .map(([topic, counter]) => ({ topic, rate: counter.rate, messages: counter.total, lastSeen: counter.lastSeen }));
    return { topics, untracked: this.untracked };
  }

  private dropSlowest(): void {
    const bySpeed = [...this.counters.entries()].sort(([, a], [, b]) => a.rate - b.rate);
    for (const [topic] of bySpeed.slice(0, Math.ceil(MaxTrackedTopics / 4))) this.counters.delete(topic);
  }
}
