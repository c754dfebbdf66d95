/**
 * A namespace's rules: what the core calls. On the publish path it only
 * matches and appends to the outbox (synchronous SQLite, no network); the
 * drain sends later. Also the rules' readout for the admin API and /metrics,
 * and the admin API's dead-letter actions.
 */
import type { DeadlineSource } from '../core/deadlines.ts';
import { describeError, type Logger } from '../core/log.ts';
import type { BrokerMessage } from '../core/message.ts';
import type { SqlExecutor } from '../core/session-store.ts';
import type { RuleMessage } from './body.ts';
import type { Rule, RulesConfig } from './config.ts';
import { DeadLetterStore, type DeadLetterView } from './dead-letters.ts';
import { RuleDrain } from './drain.ts';
import { matchingRules, type RuleOrigin } from './match.ts';
import { RuleOutbox } from './outbox.ts';
import { sendToTarget, type TargetServices } from './targets.ts';

/** One rule's numbers, as `GET /admin/<ns>/rules` and the dashboard show them. */
export interface RuleReport {
  name: string;
  filter: string;
  to: string;
  /** Messages that matched: delivered + dropped + pending + dead letters kept, dropped and deleted. */
  matched: number;
  delivered: number;
  /** Failed attempts (a message is retried until delivered or a dead letter). */
  failed: number;
  /** Messages not kept because the outbox was full. */
  dropped: number;
  pending: number;
  /** Messages moved to the dead letters so far (refused, or out of attempts). */
  deadLettered: number;
  /** Dead letters kept now. */
  deadLetters: number;
  /** Dead letters dropped to make room for newer ones. */
  deadLettersDropped: number;
  /** Dead letters deleted through the admin API. */
  deadLettersDeleted: number;
  lastError: string | null;
  lastErrorAt: number | null;
}

/** Which dead letters an admin action is about: one (by id) or all of a rule. */
export type DeadLetterSelection = { id: number } | { rule: string };

/** What a retry or delete did: of `selected` dead letters, `done` were moved back to the outbox (or deleted); `rule` is the one they belong to. */
export interface DeadLetterOutcome {
  selected: number;
  done: number;
  rule?: string;
}

export interface RulesDeps {
  namespace: string;
  config: RulesConfig;
  sql: SqlExecutor;
  /** The Worker's bindings and fetch; absent (some tests): only republish can succeed. */
  env?: Record<string, unknown>;
  fetch?: (request: Request) => Promise<Response>;
  log: Logger;
  now(): number;
  requestAlarm(at: number): void;
  setTimer?: (ms: number, callback: () => void) => void;
  /** Routes a message a rule republishes, as the broker's own. */
  republish(message: BrokerMessage, origin: RuleOrigin): void | Promise<void>;
}

export class Rules implements DeadlineSource {
  private readonly outbox: RuleOutbox;
  private readonly deadLetters: DeadLetterStore;
  private readonly drain: RuleDrain;
  private readonly names: ReadonlySet<string>;

  constructor(private readonly deps: RulesDeps) {
    this.outbox = new RuleOutbox(deps.sql, deps.config.outbox);
    this.deadLetters = new DeadLetterStore(deps.sql, deps.config.deadLetters);
    this.names = new Set(deps.config.rules.map((rule) => rule.name));
    const forgotten = this.outbox.forgetRulesExcept(this.names);
    const forgottenDead = this.deadLetters.forgetRulesExcept(this.names);
    if (forgotten + forgottenDead > 0) deps.log.log('warn', 'rule_rows_forgotten', { rows: forgotten, deadLetters: forgottenDead, why: 'their rule is no longer in MQTT_RULES' });
    const services: TargetServices = {
      namespace: deps.namespace,
      env: deps.env ?? {},
      fetch: deps.fetch ?? ((request) => fetch(request)),
      republish: (rule, topic, message) => this.republish(rule, topic, message),
    };
    this.drain = new RuleDrain({
      rules: deps.config.rules,
      outbox: this.outbox,
      deadLetters: this.deadLetters,
      maxAttempts: deps.config.maxAttempts,
      send: (rule, message) => sendToTarget(services, rule, message),
      log: deps.log,
      now: () => deps.now(),
      requestAlarm: (at) => deps.requestAlarm(at),
      ...(deps.setTimer === undefined ? {} : { setTimer: deps.setTimer }),
    });
  }

  /**
   * A message was accepted: one outbox row per rule it matches, in this
   * turn, so the rows commit with the message itself.
   */
  accepted(message: BrokerMessage, origin?: RuleOrigin): boolean {
    const matched = matchingRules(this.deps.config.rules, message.topic, origin);
    if (matched.length === 0) return false;
    const ts = this.deps.now();
    let appended = false;
    for (const rule of matched) {
      const row: Omit<RuleMessage, 'id'> = { rule: rule.name, topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain, ts, depth: origin?.depth ?? 0 };
      if (message.senderClientId !== undefined) row.clientId = message.senderClientId;
      try {
        if (this.outbox.append(row)) appended = true;
      } catch (error) {
        // Storage trouble in the outbox must not fail the PUBLISH it rides on: MQTT delivery goes on.
        this.deps.log.log('error', 'rule_append_failed', { rule: rule.name, topic: message.topic, error: describeError(error) });
      }
    }
    if (appended) this.drain.soon();
    return true;
  }

  /** After a wake or restart: rows left from before are sent again. */
  resume(): void {
    this.drain.kick();
  }

  nextDeadline(now: number): number | undefined {
    return this.drain.nextDeadline(now);
  }

  onAlarm(): void {
    this.drain.onAlarm();
  }

  report(): RuleReport[] {
    return this.deps.config.rules.map((rule) => {
      const counters = this.outbox.countersOf(rule.name);
      const pending = this.outbox.pending(rule.name);
      const dead = this.deadLetters.countersOf(rule.name);
      const deadLetters = this.deadLetters.count(rule.name);
      return {
        name: rule.name,
        filter: rule.filter,
        to: rule.to,
        // Each matched message is in exactly one of these places (outbox.ts).
        matched: counters.delivered + counters.dropped + pending + deadLetters + dead.dropped + dead.deleted,
        delivered: counters.delivered,
        failed: counters.failed,
        dropped: counters.dropped,
        pending,
        deadLettered: dead.deadLettered,
        deadLetters,
        deadLettersDropped: dead.dropped,
        deadLettersDeleted: dead.deleted,
        lastError: counters.lastError ?? null,
        lastErrorAt: counters.lastErrorAt ?? null,
      };
    });
  }

  /** Dead letters, oldest message first, of one rule or all; undefined when `rule` is not configured. */
  listDeadLetters(rule: string | undefined, limit: number): { deadLetters: DeadLetterView[]; truncated: boolean } | undefined {
    if (rule !== undefined && !this.names.has(rule)) return undefined;
    return this.deadLetters.list(rule, limit);
  }

  /**
   * Moves dead letters back into the outbox, oldest first, each under its
   * own id, so ahead of its rule's later messages, with its attempts
   * starting again; as many as the outbox has room for. Undefined when
   * `rule` is not configured.
   */
  retryDeadLetters(selection: DeadLetterSelection): DeadLetterOutcome | undefined {
    const picked = this.select(selection);
    if (picked === undefined) return undefined;
    let done = 0;
    for (const id of picked.ids) {
      const letter = this.deadLetters.get(id);
      if (letter === undefined) continue;
      // Room first, then the move: both in this turn, so the message is in exactly one of the two tables.
      if (!this.outbox.restore(letter)) break;
      this.deadLetters.release(id);
      done++;
    }
    if (done > 0) this.drain.soon();
    return { selected: picked.ids.length, done, ...(picked.rule === undefined ? {} : { rule: picked.rule }) };
  }

  /** Deletes dead letters for good (counted per rule); undefined when `rule` is not configured. */
  deleteDeadLetters(selection: DeadLetterSelection): DeadLetterOutcome | undefined {
    const picked = this.select(selection);
    if (picked === undefined) return undefined;
    const done = picked.ids.filter((id) => this.deadLetters.delete(id)).length;
    return { selected: picked.ids.length, done, ...(picked.rule === undefined ? {} : { rule: picked.rule }) };
  }

  /** The ids a selection names (none for an id that is not a dead letter), with their rule. */
  private select(selection: DeadLetterSelection): { ids: number[]; rule?: string } | undefined {
    if ('rule' in selection) return this.names.has(selection.rule) ? { ids: this.deadLetters.idsOf(selection.rule), rule: selection.rule } : undefined;
    const letter = this.deadLetters.get(selection.id);
    return letter === undefined ? { ids: [] } : { ids: [letter.id], rule: letter.rule };
  }

  /** The republish target: the same payload and QoS on another topic, not retained, one hop deeper. */
  private republish(rule: Rule, topic: string, message: RuleMessage): void | Promise<void> {
    return this.deps.republish({ topic, payload: message.payload, qos: message.qos, retain: false }, { rule: rule.name, depth: message.depth + 1 });
  }
}
