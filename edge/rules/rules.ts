/**
 * A namespace's rules: what the core calls. On the publish path it only
 * matches and appends to the outbox (synchronous SQLite, no network); the
 * drain sends later. Also the rules' readout for the admin API and /metrics.
 */
import type { DeadlineSource } from '../core/deadlines.ts';
import { describeError, type Logger } from '../core/log.ts';
import type { BrokerMessage } from '../core/message.ts';
import type { SqlExecutor } from '../core/session-store.ts';
import type { RuleMessage } from './body.ts';
import type { Rule, RulesConfig } from './config.ts';
import { RuleDrain } from './drain.ts';
import { matchingRules, type RuleOrigin } from './match.ts';
import { RuleOutbox } from './outbox.ts';
import { sendToTarget, type TargetServices } from './targets.ts';

/** One rule's numbers, as `GET /admin/<ns>/rules` and the dashboard show them. */
export interface RuleReport {
  name: string;
  filter: string;
  to: string;
  /** Messages that matched (delivered + dropped + pending). */
  matched: number;
  delivered: number;
  /** Failed attempts; a message is retried until delivered. */
  failed: number;
  /** Messages not kept because the outbox was full. */
  dropped: number;
  pending: number;
  lastError: string | null;
  lastErrorAt: number | null;
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
  private readonly drain: RuleDrain;

  constructor(private readonly deps: RulesDeps) {
    this.outbox = new RuleOutbox(deps.sql, deps.config.outbox);
    const names = new Set(deps.config.rules.map((rule) => rule.name));
    const forgotten = this.outbox.forgetRulesExcept(names);
    if (forgotten > 0) deps.log.log('warn', 'rule_rows_forgotten', { rows: forgotten, why: 'their rule is no longer in MQTT_RULES' });
    const services: TargetServices = {
      namespace: deps.namespace,
      env: deps.env ?? {},
      fetch: deps.fetch ?? ((request) => fetch(request)),
      republish: (rule, topic, message) => this.republish(rule, topic, message),
    };
    this.drain = new RuleDrain({
      rules: deps.config.rules,
      outbox: this.outbox,
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
  accepted(message: BrokerMessage, origin?: RuleOrigin): void {
    const matched = matchingRules(this.deps.config.rules, message.topic, origin);
    if (matched.length === 0) return;
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
      return {
        name: rule.name,
        filter: rule.filter,
        to: rule.to,
        matched: counters.delivered + counters.dropped + pending,
        delivered: counters.delivered,
        failed: counters.failed,
        dropped: counters.dropped,
        pending,
        lastError: counters.lastError ?? null,
        lastErrorAt: counters.lastErrorAt ?? null,
      };
    });
  }

  /** The republish target: the same payload and QoS on another topic, not retained, one hop deeper. */
  private republish(rule: Rule, topic: string, message: RuleMessage): void | Promise<void> {
    return this.deps.republish({ topic, payload: message.payload, qos: message.qos, retain: false }, { rule: rule.name, depth: message.depth + 1 });
  }
}
