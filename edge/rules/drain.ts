/**
 * Empties the outbox, off the delivery path: one worker per rule sends its
 * rows oldest first, a few at a time, and stops at a failure, so a receiver
 * that is down is asked once per backoff step rather than once per message.
 * Rules are independent: one stuck webhook holds up only its own rule.
 *
 * It wakes three ways: right after a message is appended (a zero-delay
 * timer, after the publish's turn), on a short in-memory timer for a near
 * retry, and through the namespace's one alarm (DeadlineSource) for a far
 * retry and after a wake or restart, when memory held nothing.
 */
import { AlarmSpacingMs, type DeadlineSource } from '../core/deadlines.ts';
import { callWithTimeout } from '../core/hooks.ts';
import { describeError, type Logger } from '../core/log.ts';
import { AttemptTimeoutMs, retryDelayMs } from './backoff.ts';
import type { RuleMessage } from './body.ts';
import type { Rule } from './config.ts';
import type { RuleOutbox } from './outbox.ts';

/** Retries sooner than this wait on an in-memory timer; later ones on the alarm, so an idle namespace with a dead receiver can hibernate. */
const InMemoryRetryMs = 2_000;
/** How soon the alarm comes back for rows appended just before the object went away. */
const RestartSafetyMs = 5_000;
/** Attempts of one rule at once while its target answers. */
export const MaxInFlight = 8;

export interface DrainDeps {
  rules: readonly Rule[];
  outbox: RuleOutbox;
  send(rule: Rule, message: RuleMessage): Promise<void>;
  log: Logger;
  now(): number;
  requestAlarm(at: number): void;
  /** An in-memory timer; without one (some tests), only the alarm wakes the drain. */
  setTimer?: (ms: number, callback: () => void) => void;
}

export class RuleDrain implements DeadlineSource {
  private readonly active = new Set<string>();
  private kickPending = false;
  /** The earliest in-memory timer set, so retries of many rules share one. */
  private timerAt: number | undefined;

  constructor(private readonly deps: DrainDeps) {}

  /** Rules have work: start their workers after this turn, never inside it (the publish path awaits nothing). */
  soon(): void {
    if (this.kickPending) return;
    // Should the object go away before the timer fires, the alarm brings it back for these rows.
    this.deps.requestAlarm(this.deps.now() + RestartSafetyMs);
    const setTimer = this.deps.setTimer;
    if (setTimer === undefined) {
      // Without a timer the alarm is the only way back: ask for it.
      this.deps.requestAlarm(this.deps.now());
      return;
    }
    this.kickPending = true;
    setTimer(0, () => {
      this.kickPending = false;
      this.kick();
    });
  }

  /** Starts a worker for every rule with rows that is not waiting out a backoff. */
  kick(): void {
    for (const rule of this.deps.rules) this.start(rule);
  }

  /** Whether any rule is sending now (tests, shutdown). */
  get isActive(): boolean {
    return this.active.size > 0;
  }

  nextDeadline(now: number): number | undefined {
    let next: number | undefined;
    for (const rule of this.deps.rules) {
      if (this.active.has(rule.name) || this.deps.outbox.pending(rule.name) === 0) continue;
      const at = Math.max(now, this.deps.outbox.countersOf(rule.name).retryAt);
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  onAlarm(): void {
    this.kick();
  }

  private start(rule: Rule): void {
    if (this.active.has(rule.name) || this.deps.outbox.pending(rule.name) === 0) return;
    const retryAt = this.deps.outbox.countersOf(rule.name).retryAt;
    if (retryAt > this.deps.now()) {
      this.wakeAt(retryAt);
      return;
    }
    this.active.add(rule.name);
    void this.work(rule)
      .catch((error: unknown) => this.deps.log.log('error', 'rule_drain_failed', { rule: rule.name, error: describeError(error) }))
      .finally(() => this.active.delete(rule.name));
  }

  /**
   * Sends the rule's rows, oldest first, until none are left or an attempt
   * fails. A target that answers gets up to MaxInFlight at once (one by one,
   * a webhook 50 ms away would take 20 messages a second); one that fails is
   * probed with a single message per backoff step until it answers again.
   */
  private async work(rule: Rule): Promise<void> {
    for (;;) {
      const window = this.deps.outbox.countersOf(rule.name).failures > 0 ? 1 : MaxInFlight;
      const batch = this.deps.outbox.next(rule.name, window);
      if (batch.length === 0) return;
      const results = await Promise.allSettled(batch.map((message) => callWithTimeout(`rule ${rule.name}`, AttemptTimeoutMs, () => this.deps.send(rule, message))));
      const failedIds: number[] = [];
      let firstError: unknown;
      results.forEach((result, index) => {
        const id = (batch[index] as RuleMessage).id;
        if (result.status === 'fulfilled') {
          this.deps.outbox.delivered(rule.name, id);
          return;
        }
        failedIds.push(id);
        firstError ??= result.reason;
      });
      if (failedIds.length === 0) continue;
      const retryAt = this.deps.outbox.failed(rule.name, failedIds, firstError instanceof Error ? firstError.message : String(firstError), this.deps.now(), retryDelayMs);
      this.deps.log.log('warn', 'rule_delivery_failed', { rule: rule.name, messages: failedIds.length, error: describeError(firstError), retryInMs: retryAt - this.deps.now() });
      this.wakeAt(retryAt);
      return;
    }
  }

  /** Comes back at `at`: on a timer if that is soon and one is there, and on the alarm in any case (memory may not last). */
  private wakeAt(at: number): void {
    const now = this.deps.now();
    this.deps.requestAlarm(Math.max(at, now + AlarmSpacingMs));
    const setTimer = this.deps.setTimer;
    if (setTimer === undefined || at - now > InMemoryRetryMs || (this.timerAt !== undefined && this.timerAt <= at)) return;
    this.timerAt = at;
    setTimer(Math.max(0, at - now), () => {
      this.timerAt = undefined;
      this.kick();
    });
  }
}
