/**
 * Rules in the namespace core, in-process with a fake clock and a fake
 * fetch: the outbox row is written in the turn that accepts the PUBLISH
 * (before its PUBACK, with no request made yet), rows survive an eviction,
 * far retries come back through the one alarm, and chains of republishes end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttPacket } from '../../shared/codec/types.ts';
import { loadRulesConfig } from '../../edge/rules/config.ts';
import { CoreHarness, type HarnessConnection } from './harness.ts';

let harness: CoreHarness;
afterEach(() => harness?.close());

interface FakeFetch {
  requests: Array<Record<string, unknown>>;
  status: number;
  fetch(request: Request): Promise<Response>;
}

function fakeFetch(status = 200): FakeFetch {
  const fake: FakeFetch = {
    requests: [],
    status,
    async fetch(request) {
      fake.requests.push(JSON.parse(await request.text()) as Record<string, unknown>);
      return new Response(null, { status: fake.status });
    },
  };
  return fake;
}

async function start(rules: unknown[], fake = fakeFetch()): Promise<FakeFetch> {
  harness = await CoreHarness.create({ rules: loadRulesConfig({ MQTT_RULES: JSON.stringify(rules) }), ruleServices: { env: {}, fetch: (request) => fake.fetch(request) } });
  return fake;
}

async function client(clientId: string): Promise<HarnessConnection> {
  const connection = harness.open();
  await connection.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 });
  return connection;
}

let messageId = 1;
const publish = (connection: HarnessConnection, topic: string, payload: string): Promise<void> =>
  connection.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false, messageId: messageId++ } as MqttPacket);

const outboxRows = (): number => harness.sql.exec('SELECT COUNT(*) AS n FROM rule_outbox').toArray()[0]?.['n'] as number;
const reportOf = (name: string) => harness.core.stats().rules?.find((rule) => rule.name === name);

describe('rules in the core', () => {
  it('writes the outbox row in the turn that accepts the PUBLISH, before the PUBACK, and sends after it', async () => {
    const fake = await start([{ name: 'hook', filter: 'a/#', to: 'webhook:http://receiver.test/in' }]);
    const publisher = await client('p');
    const atPuback: Array<{ rows: number; requests: number }> = [];
    publisher.onPacket = (packet) => {
      if (packet.cmd === 'puback') atPuback.push({ rows: outboxRows(), requests: fake.requests.length });
    };
    await publish(publisher, 'a/b', 'one');
    expect(atPuback).toEqual([{ rows: 1, requests: 0 }]);
    await harness.advance(0);
    expect(fake.requests.map((body) => body['payload'])).toEqual(['one']);
    expect(outboxRows()).toBe(0);
    expect(reportOf('hook')).toMatchObject({ matched: 1, delivered: 1, pending: 0 });
  });

  it('keeps rows and counters through an eviction, and sends them when the namespace is back', async () => {
    const fake = await start([{ name: 'hook', filter: 'a/#', to: 'webhook:http://receiver.test/in' }], fakeFetch(503));
    const publisher = await client('p');
    for (const text of ['x', 'y', 'z']) await publish(publisher, 'a/b', text);
    await harness.advance(0);
    expect(reportOf('hook')).toMatchObject({ pending: 3, failed: 3, lastError: 'webhook answered HTTP 503' });
    harness.restart();
    expect(reportOf('hook')).toMatchObject({ matched: 3, pending: 3, failed: 3 });
    fake.status = 200;
    // The stored alarm, or the wake itself, brings the drain back: no timer survived.
    await harness.advance(5_000);
    expect(fake.requests.filter((body) => body['topic'] === 'a/b').map((body) => body['payload']).slice(-3)).toEqual(['x', 'y', 'z']);
    expect(reportOf('hook')).toMatchObject({ matched: 3, delivered: 3, pending: 0 });
  });

  it('leaves long waits to the alarm, so the namespace may hibernate between retries', async () => {
    const fake = await start([{ name: 'hook', filter: 'a/#', to: 'webhook:http://receiver.test/in' }], fakeFetch(500));
    const publisher = await client('p');
    await publish(publisher, 'a/b', 'late');
    // 1 + 100 + 200 + 400 + 800 + 1600 ms: six failures, then the next wait is 3.2 s.
    await harness.advance(3_200);
    expect(fake.requests).toHaveLength(6);
    // The alarm is set for the retry itself (test/unit/rules/drain.test.ts shows no timer is).
    const lastFailure = reportOf('hook')?.lastErrorAt as number;
    expect(harness.nextAlarm).toBe(lastFailure + 3_200);
    fake.status = 204;
    await harness.hibernate();
    await harness.advance(5_000);
    expect(reportOf('hook')).toMatchObject({ delivered: 1, failed: 6, pending: 0 });
  });

  it('ends a chain of republishes after three hops, and never feeds a rule its own message', async () => {
    await start([
      { name: 'a', filter: 'x/#', to: 'republish:y/1' },
      { name: 'b', filter: 'y/#', to: 'republish:x/1' },
    ]);
    const subscriber = await client('s');
    await subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 1 }] } as MqttPacket);
    const publisher = await client('p');
    await publish(publisher, 'x/0', 'ping');
    await harness.advance(100);
    // x/0 → (a) y/1 → (b) x/1 → (a) y/1, which is 3 hops deep: no rule takes it.
    expect(subscriber.received('publish').map((packet) => packet.topic)).toEqual(['x/0', 'y/1', 'x/1', 'y/1']);
    expect(reportOf('a')).toMatchObject({ matched: 2, delivered: 2 });
    expect(reportOf('b')).toMatchObject({ matched: 1, delivered: 1 });
  });

  it('keeps a dead letter through an eviction; retried after it, the message goes out under the id it had', async () => {
    const fake = await start([{ name: 'hook', filter: 'a/#', to: 'webhook:http://receiver.test/in' }], fakeFetch(400));
    const publisher = await client('p');
    await publish(publisher, 'a/b', 'refused');
    await harness.advance(0);
    fake.status = 200;
    await publish(publisher, 'a/b', 'after');
    await harness.advance(0);
    expect(fake.requests.map((body) => body['payload'])).toEqual(['refused', 'after']);
    expect(harness.logs.filter((record) => record.event === 'rule_dead_lettered').map((record) => record.level)).toEqual(['warn']);
    harness.restart();
    expect(reportOf('hook')).toMatchObject({ matched: 2, delivered: 1, deadLettered: 1, deadLetters: 1 });
    const [letter] = harness.core.listDeadLetters('hook', 10)?.deadLetters ?? [];
    expect(letter).toMatchObject({ payload: 'refused', attempts: 1, lastError: 'webhook answered HTTP 400' });
    expect(harness.core.retryDeadLetters({ id: letter?.id as number })).toEqual({ selected: 1, done: 1, rule: 'hook' });
    await harness.advance(0);
    expect(fake.requests.slice(2)).toMatchObject([{ payload: 'refused', id: letter?.id }]);
    expect(reportOf('hook')).toMatchObject({ matched: 2, delivered: 2, pending: 0, deadLetters: 0 });
  });
});
