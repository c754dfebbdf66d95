/**
 * Empties the outbox, off the delivery path: one worker per rule sends its
 * rows oldest first, a few at a time, and stops at a failure, so a receiver
 * that is down is asked once per backoff step rather than once per message.
 * Rules are independent: one stuck webhook holds up only its own rule, and
 * one message never holds up its rule for ever: refused for good, or failed
 * MQTT_RULES_MAX_ATTEMPTS times, it becomes a dead letter (dead-letters.ts).
 *
 * It wakes three ways: right after a message is appended (a zero-delay
 * timer, after the publish's turn), on a short in-memory timer for a near
 * retry, and through the namespace's one alarm (DeadlineSource) for a far
 * retry and after a wake or restart, when memory held nothing.
 */
import { AlarmSpacingMs, type DeadlineSource } from '../core/deadlines.ts';
import { callWithTimeout } from '../core/hooks.ts';
import { describeError, type Logger } from '../core/log.ts';
import { AttemptTimeoutMs, retryAfterFailures } from './backoff.ts';
import type { RuleMessage } from './body.ts';
import type { Rule } from './config.ts';
import type { DeadLetterStore } from './dead-letters.ts';
import { classifyFailure } from './failure.ts';
import type { OutboxRow, RuleOutbox } from './outbox.ts';

/** Retries sooner than this wait on an in-memory timer; later ones on the alarm, so an idle namespace with a dead receiver can hibernate. */
const InMemoryRetryMs = 2_000;
/** How soon the alarm comes back for rows appended just before the object went away. */
const RestartSafetyMs = 5_000;
/** Attempts of one rule at once while its target answers. */
export const MaxInFlight = 8;

/** Why a message became a dead letter: its target refused it, or it ran out of attempts. */
export type DeadLetterReason = 'refused' | 'attempts';

interface FailedAttempt {
  row: OutboxRow;
  error: unknown;
}

export interface DrainDeps {
  rules: readonly Rule[];
  outbox: RuleOutbox;
  deadLetters: DeadLetterStore;
  /** Attempts of a message before a transient failure makes it a dead letter too (MQTT_RULES_MAX_ATTEMPTS). */
  maxAttempts: number;
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
   *
   * A window's results are settled together, in one turn after all of them
   * are in (so they commit together): delivered rows go, refused ones become
   * dead letters, the rest stay under their ids for the next window. No row
   * changes place, so a failure among several reorders and loses nothing.
   */
  private async work(rule: Rule): Promise<void> {
    for (;;) {
      const window = this.deps.outbox.countersOf(rule.name).failures > 0 ? 1 : MaxInFlight;
      const batch = this.deps.outbox.next(rule.name, window);
      if (batch.length === 0) return;
      const results = await Promise.allSettled(batch.map((message) => callWithTimeout(`rule ${rule.name}`, AttemptTimeoutMs, () => this.deps.send(rule, message))));
      const failures: FailedAttempt[] = [];
      results.forEach((result, index) => {
        const row = batch[index] as OutboxRow;
        if (result.status === 'fulfilled') this.deps.outbox.delivered(rule.name, row.id);
        else failures.push({ row, error: result.reason });
      });
      if (failures.length === 0) continue;
      const retryAt = this.settleFailures(rule, failures);
      // Only refusals: the target is up, the rule goes on with its next messages now.
      if (retryAt === 0) continue;
      this.wakeAt(retryAt);
      return;
    }
  }

  /** Classifies a window's failed attempts, moves the hopeless ones to the dead letters, and sets the rule's retry state; returns its retryAt (0: go on). */
  private settleFailures(rule: Rule, failures: readonly FailedAttempt[]): number {
    const now = this.deps.now();
    const retried: number[] = [];
    let transient = 0;
    for (const { row, error } of failures) {
      const attempts = row.attempts + 1;
      const permanent = classifyFailure(rule.target.kind, error) === 'permanent';
      if (!permanent) transient++;
      if (permanent || attempts >= this.deps.maxAttempts) this.deadLetter(rule, row.id, attempts, error, permanent ? 'refused' : 'attempts', now);
      else retried.push(row.id);
    }
    this.deps.outbox.attempted(retried);
    const firstError = (failures[0] as FailedAttempt).error;
    const retry = retryAfterFailures(this.deps.outbox.countersOf(rule.name), transient, now);
    this.deps.outbox.failed(rule.name, failures.length, errorText(firstError), now, retry);
    if (transient > 0) this.deps.log.log('warn', 'rule_delivery_failed', { rule: rule.name, messages: transient, error: describeError(firstError), retryInMs: retry.retryAt - now });
    return retry.retryAt;
  }

  /** Moves one row from the outbox to the dead letters, in this turn; logged without its payload (it may be anyone's data). */
  private deadLetter(rule: Rule, id: number, attempts: number, error: unknown, reason: DeadLetterReason, now: number): void {
    const row = this.deps.outbox.take(rule.name, id);
    if (row === undefined) return;
    const dropped = this.deps.deadLetters.add({ ...row, attempts }, errorText(error), now);
    this.deps.log.log('warn', 'rule_dead_lettered', { rule: rule.name, id, topic: row.topic, attempts, reason, error: describeError(error) });
    for (const gone of dropped) {
      this.deps.log.log('warn', 'rule_dead_letter_dropped', { rule: gone.rule, id: gone.id, topic: gone.topic, why: 'the dead letters are full (MQTT_RULES_DEAD_LETTERS_MAX_MESSAGES / _MAX_BYTES)' });
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

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
