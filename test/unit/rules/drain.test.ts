/**
 * The drain with a fake clock and timers: retries back off, one rule's
 * failures hold up only that rule, and the alarm is always asked for.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../edge/core/log.ts';
import type { RuleMessage } from '../../../edge/rules/body.ts';
import type { Rule } from '../../../edge/rules/config.ts';
import { MaxInFlight, RuleDrain } from '../../../edge/rules/drain.ts';
import { WebhookStatusError } from '../../../edge/rules/failure.ts';
import { DeadLetterStore } from '../../../edge/rules/dead-letters.ts';
import { RuleOutbox } from '../../../edge/rules/outbox.ts';
import { openTestDatabase, type TestDatabase } from '../../core/sql.ts';

const rule = (name: string): Rule => ({ name, filter: '#', to: 'webhook:http://x/', target: { kind: 'webhook', url: 'http://x/' } });
const silent: Logger = { log: () => undefined };

let db: TestDatabase;
beforeEach(async () => {
  db = await openTestDatabase();
});
afterEach(() => db.close());

function setup(rules: Rule[], send: (rule: Rule, message: RuleMessage) => Promise<void>, options: { maxAttempts?: number; log?: Logger } = {}) {
  const clock = { now: 0 };
  const timers: Array<{ at: number; callback: () => void }> = [];
  const alarms: number[] = [];
  const outbox = new RuleOutbox(db, { maxMessages: 100, maxBytes: 10_000 });
  const deadLetters = new DeadLetterStore(db, { maxMessages: 100, maxBytes: 10_000 });
  const drain = new RuleDrain({
    rules,
    outbox,
    deadLetters,
    maxAttempts: options.maxAttempts ?? 100,
    send,
    log: options.log ?? silent,
    now: () => clock.now,
    requestAlarm: (at) => alarms.push(at),
    setTimer: (ms, callback) => void timers.push({ at: clock.now + ms, callback }),
  });
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  /** Moves the clock to the next timer and runs it. */
  const nextTimer = async (): Promise<number | undefined> => {
    await settle();
    timers.sort((a, b) => a.at - b.at);
    const timer = timers.shift();
    if (timer === undefined) return undefined;
    clock.now = Math.max(clock.now, timer.at);
    timer.callback();
    await settle();
    return timer.at;
  };
  const append = (ruleName: string, text: string) => outbox.append({ rule: ruleName, topic: 't', payload: new TextEncoder().encode(text), qos: 1, retain: false, ts: clock.now, depth: 0 });
  return { clock, timers, alarms, outbox, deadLetters, drain, nextTimer, append, settle };
}

describe('the rules drain', () => {
  it('sends rows oldest first after the turn that appended them, never inside it', async () => {
    const sent: string[] = [];
    const t = setup([rule('r')], async (_rule, message) => void sent.push(new TextDecoder().decode(message.payload)));
    t.append('r', 'a');
    t.append('r', 'b');
    t.drain.soon();
    t.drain.soon();
    expect(sent).toEqual([]);
    expect(t.timers).toHaveLength(1);
    // A safety alarm in case the object goes away before the timer runs.
    expect(t.alarms).toEqual([5_000]);
    await t.nextTimer();
    expect(sent).toEqual(['a', 'b']);
    expect(t.outbox.pending('r')).toBe(0);
    expect(t.outbox.countersOf('r').delivered).toBe(2);
  });

  it('backs off exponentially while the target fails, then delivers everything', async () => {
    let down = true;
    const sent: string[] = [];
    const t = setup([rule('r')], async (_rule, message) => {
      if (down) throw new Error('HTTP 503');
      sent.push(new TextDecoder().decode(message.payload));
    });
    for (const text of ['a', 'b', 'c']) t.append('r', text);
    t.drain.soon();
    await t.nextTimer();
    const retries: number[] = [];
    for (let i = 0; i < 5; i++) retries.push((await t.nextTimer()) as number);
    // The first window tried all three; then one probe per step, 100, 200, 400, 800, 1600 ms apart.
    expect(retries.map((at, i) => at - (i === 0 ? 0 : (retries[i - 1] as number)))).toEqual([100, 200, 400, 800, 1_600]);
    expect(t.outbox.countersOf('r')).toMatchObject({ failed: 3 + 5, failures: 6, lastError: 'HTTP 503' });
    // The next wait (3.2 s) is left to the alarm, so the object may hibernate meanwhile.
    await t.settle();
    expect(t.timers).toHaveLength(0);
    expect(t.drain.nextDeadline(t.clock.now)).toBe(t.outbox.countersOf('r').retryAt);
    down = false;
    t.clock.now = t.outbox.countersOf('r').retryAt;
    t.drain.onAlarm();
    await t.settle();
    expect(sent).toEqual(['a', 'b', 'c']);
    expect(t.outbox.countersOf('r')).toMatchObject({ delivered: 3, failures: 0 });
    expect(t.drain.nextDeadline(t.clock.now)).toBeUndefined();
  });

  it('has up to 8 attempts of a rule in flight while its target answers', async () => {
    let inFlight = 0;
    let most = 0;
    const t = setup([rule('r')], async () => {
      most = Math.max(most, ++inFlight);
      await Promise.resolve();
      inFlight--;
    });
    for (let n = 0; n < 20; n++) t.append('r', `m${n}`);
    t.drain.soon();
    await t.nextTimer();
    await t.settle();
    expect(most).toBe(MaxInFlight);
    expect(t.outbox.countersOf('r').delivered).toBe(20);
  });

  it('lets one stuck rule hold up only itself', async () => {
    const sent: string[] = [];
    const t = setup([rule('stuck'), rule('fine')], (r, message) => (r.name === 'stuck' ? new Promise<void>(() => undefined) : Promise.resolve(void sent.push(new TextDecoder().decode(message.payload)))));
    t.append('stuck', 's');
    t.append('fine', 'f1');
    t.append('fine', 'f2');
    t.drain.soon();
    await t.nextTimer();
    expect(sent).toEqual(['f1', 'f2']);
    expect(t.drain.isActive).toBe(true);
    expect(t.outbox.pending('stuck')).toBe(1);
  });
});

describe('dead letters in the drain', () => {
  const payloadOf = (message: RuleMessage): string => new TextDecoder().decode(message.payload);

  it('settles a window of 8 with one refusal and one transient failure: nothing reordered, nothing lost', async () => {
    const sent: string[] = [];
    let flaky = true;
    const t = setup([rule('r')], async (_rule, message) => {
      const payload = payloadOf(message);
      if (payload === 'm2') throw new WebhookStatusError(400);
      if (payload === 'm5' && flaky) throw new WebhookStatusError(503);
      sent.push(payload);
    });
    for (let n = 0; n < 10; n++) t.append('r', `m${n}`);
    t.drain.soon();
    await t.nextTimer();
    // The first window: 6 delivered, m2 a dead letter, m5 kept for a retry (and the rule backs off).
    expect(sent).toEqual(['m0', 'm1', 'm3', 'm4', 'm6', 'm7']);
    expect(t.deadLetters.list('r', 10).deadLetters.map((d) => [d.id, d.attempts, d.lastError])).toEqual([[3, 1, 'webhook answered HTTP 400']]);
    expect(t.outbox.next('r', 10).map((m) => [payloadOf(m), m.attempts])).toEqual([['m5', 1], ['m8', 0], ['m9', 0]]);
    expect(t.outbox.countersOf('r')).toMatchObject({ failed: 2, failures: 1, retryAt: 100 });
    flaky = false;
    await t.nextTimer();
    await t.settle();
    expect(sent.slice(6)).toEqual(['m5', 'm8', 'm9']);
    expect(t.outbox.pending('r')).toBe(0);
  });

  it('goes on at once after a refusal: no backoff, the window stays open', async () => {
    const sent: string[] = [];
    const t = setup([rule('r')], async (_rule, message) => {
      if (payloadOf(message) === 'bad') throw new WebhookStatusError(422);
      sent.push(payloadOf(message));
    });
    t.append('r', 'bad');
    t.drain.soon();
    await t.nextTimer();
    expect(t.outbox.countersOf('r')).toMatchObject({ failed: 1, failures: 0, retryAt: 0, lastError: 'webhook answered HTTP 422' });
    for (let n = 0; n < 3; n++) t.append('r', `ok${n}`);
    t.drain.soon();
    await t.nextTimer();
    expect(sent).toEqual(['ok0', 'ok1', 'ok2']);
    expect(t.deadLetters.count('r')).toBe(1);
  });

  it('makes a dead letter of a message that fails MQTT_RULES_MAX_ATTEMPTS times; the next waits one more step, not for ever', async () => {
    const sent: string[] = [];
    const logged: Array<{ event: string; fields: Record<string, unknown> }> = [];
    const t = setup(
      [rule('r')],
      async (_rule, message) => {
        if (payloadOf(message) === 'poison') throw new WebhookStatusError(500);
        sent.push(payloadOf(message));
      },
      { maxAttempts: 3, log: { log: (_level, event, fields = {}) => void logged.push({ event, fields }) } },
    );
    t.append('r', 'poison');
    t.append('r', 'after');
    t.drain.soon();
    await t.nextTimer();
    // Attempt 1 failed (with "after" delivered in the same window); attempts 2 and 3 after 100 and 200 ms.
    expect(sent).toEqual(['after']);
    await t.nextTimer();
    expect(t.deadLetters.count('r')).toBe(0);
    expect(await t.nextTimer()).toBe(300);
    expect(t.deadLetters.list('r', 10).deadLetters).toMatchObject([{ payload: 'poison', attempts: 3, lastError: 'webhook answered HTTP 500' }]);
    expect(t.outbox.pending('r')).toBe(0);
    expect(logged.filter((entry) => entry.event === 'rule_dead_lettered').map((entry) => entry.fields)).toEqual([
      { rule: 'r', id: 1, topic: 't', attempts: 3, reason: 'attempts', error: 'WebhookStatusError: webhook answered HTTP 500' },
    ]);
    // A transient failure all the same (the target may be down): the next message waits one more step.
    expect(t.outbox.countersOf('r')).toMatchObject({ failures: 3, retryAt: 700 });
    t.append('r', 'next');
    t.drain.soon();
    await t.nextTimer();
    expect(sent).toEqual(['after']);
    expect(await t.nextTimer()).toBe(700);
    expect(sent).toEqual(['after', 'next']);
  });

  it('with a target that is down, asks it once per backoff step whichever message is at the head', async () => {
    const asked: number[] = [];
    const t = setup(
      [rule('r')],
      async () => {
        asked.push(t.clock.now);
        throw new TypeError('fetch failed');
      },
      { maxAttempts: 2 },
    );
    for (const text of ['a', 'b', 'c']) t.append('r', text);
    t.drain.soon();
    for (let i = 0; i < 4; i++) await t.nextTimer();
    // The first window tried all three at 0; then one probe per step, each dead-lettering the head (its 2nd attempt).
    expect(asked).toEqual([0, 0, 0, 100, 300, 700]);
    expect(t.deadLetters.list('r', 10).deadLetters.map((d) => ('payload' in d ? d.payload : ''))).toEqual(['a', 'b', 'c']);
  });
});
