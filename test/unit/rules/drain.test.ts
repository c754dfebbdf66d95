/**
 * The drain with a fake clock and timers: retries back off, one rule's
 * failures hold up only that rule, and the alarm is always asked for.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../edge/core/log.ts';
import type { RuleMessage } from '../../../edge/rules/body.ts';
import type { Rule } from '../../../edge/rules/config.ts';
import { MaxInFlight, RuleDrain } from '../../../edge/rules/drain.ts';
import { RuleOutbox } from '../../../edge/rules/outbox.ts';
import { openTestDatabase, type TestDatabase } from '../../core/sql.ts';

const rule = (name: string): Rule => ({ name, filter: '#', to: 'webhook:http://x/', target: { kind: 'webhook', url: 'http://x/' } });
const silent: Logger = { log: () => undefined };

let db: TestDatabase;
beforeEach(async () => {
  db = await openTestDatabase();
});
afterEach(() => db.close());

function setup(rules: Rule[], send: (rule: Rule, message: RuleMessage) => Promise<void>) {
  const clock = { now: 0 };
  const timers: Array<{ at: number; callback: () => void }> = [];
  const alarms: number[] = [];
  const outbox = new RuleOutbox(db, { maxMessages: 100, maxBytes: 10_000 });
  const drain = new RuleDrain({
    rules,
    outbox,
    send,
    log: silent,
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
  return { clock, timers, alarms, outbox, drain, nextTimer, append, settle };
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
