/**
 * Protocol behaviours of the namespace core, in-process: the same
 * `Namespace` the Durable Object runs, SQLite from sql.js, a clock the test
 * moves. Deadlines (connect timeout, keep-alive, session expiry, will delay,
 * message expiry) are tests of milliseconds here instead of seconds of
 * waiting on workerd; what only the runtime or a real client can show stays
 * in test/integration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttPacket, ProtocolLevel } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import type { BrokerLimits } from '../../edge/core/limits.ts';
import { CoreHarness, type HarnessConnection } from './harness.ts';

let harness: CoreHarness;
afterEach(() => harness?.close());

async function start(limits: Partial<BrokerLimits> = {}): Promise<CoreHarness> {
  harness = await CoreHarness.create({ limits });
  return harness;
}

type Connect = Extract<MqttPacket, { cmd: 'connect' }>;

async function client(clientId: string, level: ProtocolLevel = 5, extra: Partial<Connect> = {}): Promise<HarnessConnection> {
  const connection = harness.open();
  await connection.send({ cmd: 'connect', protocolId: level === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: level, clientId, clean: true, keepalive: 0, ...extra });
  return connection;
}

async function subscribe(connection: HarnessConnection, topic: string, qos: 0 | 1 | 2 = 1, options: Record<string, unknown> = {}, properties?: Record<string, unknown>): Promise<void> {
  await connection.send({ cmd: 'subscribe', messageId: harness.nextId() % 60000 + 1, subscriptions: [{ topic, qos, ...options }], ...(properties === undefined ? {} : { properties }) } as MqttPacket);
}

let nextMessageId = 1;
async function publish(connection: HarnessConnection, topic: string, payload: string, qos: 0 | 1 | 2 = 0, extra: Record<string, unknown> = {}): Promise<void> {
  await connection.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false, ...(qos > 0 ? { messageId: nextMessageId++ } : {}), ...extra } as MqttPacket);
}

const payloads = (connection: HarnessConnection): string[] => connection.received('publish').map((p) => p.payload.toString());

describe('deadlines', () => {
  it('closes a connection that sends no CONNECT within the connect timeout, and not before', async () => {
    await start({ connectTimeoutMs: 2_000 });
    const silent = harness.open();
    await harness.advance(1_999);
    expect(silent.isOpen).toBe(true);
    await harness.advance(1);
    expect(silent.closedWith).toBeDefined();
  });

  it('times out thousands of pending CONNECTs with one timer, not one each (the runtime caps active timers at 10,000)', async () => {
    await start({ connectTimeoutMs: 10_000 });
    const pending: HarnessConnection[] = [];
    for (let i = 0; i < 12_000; i++) {
      pending.push(harness.open());
      if (i % 1000 === 999) await harness.advance(500);
    }
    const connected = await client('in-time', 4);
    expect(harness.timerCount).toBeLessThanOrEqual(2);
    await harness.advance(10_000);
    expect(pending.every((connection) => connection.closedWith !== undefined)).toBe(true);
    expect(connected.isOpen).toBe(true);
    expect(harness.timerCount).toBe(0);
  });

  it('enforces keep-alive at 1.5 times the client value (5.0: DISCONNECT 0x8D), and packets count as activity', async () => {
    await start();
    const idle = await client('idle', 5, { keepalive: 10 });
    const busy = await client('busy', 4, { keepalive: 10 });
    for (let t = 0; t < 4; t++) {
      await harness.advance(7_000);
      await busy.send({ cmd: 'pingreq' });
    }
    expect(busy.isOpen).toBe(true);
    expect(busy.received('pingresp')).toHaveLength(4);
    expect(idle.received('disconnect')[0]).toMatchObject({ reasonCode: ReasonCode.KeepAliveTimeout });
    expect(idle.closedWith).toBeDefined();
  });

  it('does not enforce keep-alive on a connection the trusted sidecar bridges (it enforces it itself)', async () => {
    await start();
    const bridged = harness.open({ bridged: true });
    await bridged.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'bridged', clean: true, keepalive: 5 });
    await harness.advance(60_000);
    expect(bridged.isOpen).toBe(true);
  });

  it('expires an offline session after its interval: queued messages and subscriptions go with it', async () => {
    await start();
    const pub = await client('pub');
    const sub = await client('sleepy', 5, { clean: false, properties: { sessionExpiryInterval: 60 } });
    await subscribe(sub, 'exp/#', 1);
    await sub.drop();
    await publish(pub, 'exp/a', 'queued', 1);
    expect(harness.core.listClients().find((c) => c.clientId === 'sleepy')).toMatchObject({ queued: 1 });
    await harness.advance(59_000);
    const back = await client('sleepy', 5, { clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(back.received('connack')[0]).toMatchObject({ sessionPresent: true });
    expect(payloads(back)).toEqual(['queued']);
    await back.drop();
    await harness.advance(60_001);
    const late = await client('sleepy', 5, { clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(late.received('connack')[0]).toMatchObject({ sessionPresent: false });
    await publish(pub, 'exp/b', 'not for the new session', 1);
    expect(payloads(late)).toEqual([]);
  });

  it('takes a new session expiry at DISCONNECT, and refuses raising it from 0 (0x82)', async () => {
    await start();
    const lasting = await client('lasting', 5, { clean: false, properties: { sessionExpiryInterval: 10 } });
    await lasting.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 1000 } });
    await harness.advance(500_000);
    const back = await client('lasting', 5, { clean: false, properties: { sessionExpiryInterval: 10 } });
    expect(back.received('connack')[0]).toMatchObject({ sessionPresent: true });

    const zero = await client('zero', 5, { clean: true });
    await zero.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 100 } });
    expect(zero.received('disconnect')[0]).toMatchObject({ reasonCode: ReasonCode.ProtocolError });
  });

  it('sends a will after its delay when the client stays away, and cancels it when the client comes back in time', async () => {
    await start();
    const watcher = await client('watcher');
    await subscribe(watcher, 'wills/#', 0);
    const will = (topic: string): Partial<Connect> => ({ clean: false, properties: { sessionExpiryInterval: 300 }, will: { topic, payload: Buffer.from('gone'), qos: 0, retain: false, properties: { willDelayInterval: 10 } } });
    const away = await client('away', 5, will('wills/away'));
    const returning = await client('returning', 5, will('wills/returning'));
    await away.drop();
    await returning.drop();
    await harness.advance(5_000);
    await client('returning', 5, will('wills/returning'));
    await harness.advance(4_999);
    expect(watcher.received('publish')).toEqual([]);
    await harness.advance(2);
    expect(watcher.received('publish').map((p) => p.topic)).toEqual(['wills/away']);
  });

  it('never delivers an expired message and forwards the remaining expiry interval', async () => {
    await start();
    const pub = await client('pub');
    const sub = await client('later', 5, { clean: false, properties: { sessionExpiryInterval: 600 } });
    await subscribe(sub, 'm/#', 1);
    await sub.drop();
    await publish(pub, 'm/short', 'short', 1, { properties: { messageExpiryInterval: 5 } });
    await publish(pub, 'm/long', 'long', 1, { properties: { messageExpiryInterval: 100 } });
    await harness.advance(10_000);
    const back = await client('later', 5, { clean: false, properties: { sessionExpiryInterval: 600 } });
    const got = back.received('publish');
    expect(got.map((p) => p.payload.toString())).toEqual(['long']);
    expect(got[0]?.properties?.messageExpiryInterval).toBe(90);
  });
});

describe('sessions and wills', () => {
  it('publishes the will on an abrupt close, not after DISCONNECT, and after 5.0 DISCONNECT 0x04', async () => {
    await start();
    const watcher = await client('watcher');
    await subscribe(watcher, 'w/#', 0);
    const will = (topic: string): Partial<Connect> => ({ will: { topic, payload: Buffer.from(topic), qos: 0, retain: false } });
    const abrupt = await client('abrupt', 4, will('w/abrupt'));
    const clean = await client('clean', 4, will('w/clean'));
    const withWill = await client('with-will', 5, will('w/0x04'));
    await abrupt.drop();
    await clean.send({ cmd: 'disconnect' });
    await withWill.send({ cmd: 'disconnect', reasonCode: 0x04 });
    expect(watcher.received('publish').map((p) => p.topic)).toEqual(['w/abrupt', 'w/0x04']);
  });

  it('takes over a client id (5.0: DISCONNECT 0x8E to the old connection) and keeps its persistent session', async () => {
    await start();
    const first = await client('twin', 5, { clean: false, properties: { sessionExpiryInterval: 60 } });
    await subscribe(first, 'twin/#', 1);
    const second = await client('twin', 5, { clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(first.received('disconnect')[0]).toMatchObject({ reasonCode: ReasonCode.SessionTakenOver });
    expect(first.closedWith).toBeDefined();
    expect(second.received('connack')[0]).toMatchObject({ sessionPresent: true });
    const pub = await client('pub');
    await publish(pub, 'twin/x', 'to the new one', 1);
    expect(payloads(second)).toEqual(['to the new one']);
  });

  it('queues QoS 1/2 but not QoS 0 for an offline 3.1.1 persistent session, and resends unacknowledged ones with DUP', async () => {
    await start();
    const pub = await client('pub');
    const sub = await client('keeper', 4, { clean: false });
    await subscribe(sub, 'q/#', 2);
    await publish(pub, 'q/1', 'in flight', 1);
    await sub.drop();
    await publish(pub, 'q/0', 'qos 0', 0);
    await publish(pub, 'q/2', 'qos 2', 2);
    await pub.send({ cmd: 'pubrel', messageId: nextMessageId - 1 });
    const back = await client('keeper', 4, { clean: false });
    const got = back.received('publish');
    expect(got.map((p) => [p.payload.toString(), p.dup])).toEqual([
      ['in flight', true],
      ['qos 2', false],
    ]);
    expect(got[0]?.messageId).toBe(sub.received('publish')[0]?.messageId);
  });

  it('routes an inbound QoS 2 message once, even when the PUBLISH is sent again before PUBREL', async () => {
    await start();
    const sub = await client('sub');
    await subscribe(sub, 'x2', 2);
    const pub = await client('pub');
    const packet: MqttPacket = { cmd: 'publish', topic: 'x2', payload: Buffer.from('once'), qos: 2, messageId: 77, retain: false, dup: false };
    await pub.send(packet);
    await pub.send({ ...packet, dup: true });
    await pub.send({ cmd: 'pubrel', messageId: 77 });
    expect(pub.received('pubrec')).toHaveLength(2);
    expect(pub.received('pubcomp')).toHaveLength(1);
    expect(payloads(sub)).toEqual(['once']);
  });

  it('refuses an empty client id without clean session (0x02 / 0x85) and assigns one with clean start', async () => {
    await start();
    const v4 = harness.open();
    // mqtt-packet will not encode this CONNECT: by hand (flags 0, keep-alive 0, an empty client id).
    v4.level = 4;
    await v4.sendBytes(Uint8Array.of(0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 0, 0, 0));
    expect(v4.received('connack')[0]).toMatchObject({ returnCode: 2 });
    const v5 = harness.open();
    await v5.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: '', clean: true, keepalive: 0 });
    expect(v5.received('connack')[0]?.properties?.assignedClientIdentifier).toMatch(/.+/);
  });

  it('treats a second CONNECT as a protocol error', async () => {
    await start();
    const twice = await client('twice', 5);
    await twice.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'twice', clean: true, keepalive: 0 });
    expect(twice.received('disconnect')[0]).toMatchObject({ reasonCode: ReasonCode.ProtocolError });
    expect(twice.closedWith).toBeDefined();
  });
});

describe('routing', () => {
  it('delivers at min(message, subscription) QoS, once for overlapping subscriptions, at the highest', async () => {
    await start();
    const sub = await client('sub', 4);
    await subscribe(sub, 'r/#', 0);
    await subscribe(sub, 'r/+', 1);
    const pub = await client('pub');
    await publish(pub, 'r/a', 'two', 2);
    await pub.send({ cmd: 'pubrel', messageId: nextMessageId - 1 });
    expect(sub.received('publish').map((p) => [p.payload.toString(), p.qos])).toEqual([['two', 1]]);
  });

  it('keeps $-topics out of leading wildcards', async () => {
    await start();
    const sub = await client('sub');
    await subscribe(sub, '#', 0);
    await subscribe(sub, '+/x', 0);
    const pub = await client('pub');
    await publish(pub, '$app/x', 'hidden');
    await publish(pub, 'app/x', 'seen');
    expect(payloads(sub)).toEqual(['seen']);
  });

  it('stores, replaces and deletes retained messages, and finds them for + and # (parent level included)', async () => {
    await start();
    const pub = await client('pub');
    await publish(pub, 'ret/a', 'first', 0, { retain: true });
    await publish(pub, 'ret/a', 'second', 0, { retain: true });
    await publish(pub, 'ret', 'parent', 0, { retain: true });
    await publish(pub, 'ret/b', 'gone', 0, { retain: true });
    await publish(pub, 'ret/b', '', 0, { retain: true });
    const hash = await client('hash');
    await subscribe(hash, 'ret/#', 0);
    expect(payloads(hash).sort()).toEqual(['parent', 'second']);
    expect(hash.received('publish').every((p) => p.retain)).toBe(true);
    const plus = await client('plus');
    await subscribe(plus, 'ret/+', 0);
    expect(payloads(plus)).toEqual(['second']);
  });

  it('honours No Local, Retain As Published and Retain Handling 0/1/2', async () => {
    await start();
    const self = await client('self');
    await subscribe(self, 'nl', 0, { nl: true });
    await publish(self, 'nl', 'mine');
    expect(payloads(self)).toEqual([]);

    const pub = await client('pub');
    await publish(pub, 'rh', 'kept', 0, { retain: true });
    const rap = await client('rap');
    await subscribe(rap, 'rh', 0, { rap: true, rh: 2 });
    await subscribe(rap, 'live', 0, { rap: true });
    await publish(pub, 'live', 'flagged', 0, { retain: true });
    expect(rap.received('publish').map((p) => [p.payload.toString(), p.retain])).toEqual([['flagged', true]]);

    const once = await client('once');
    await subscribe(once, 'rh', 0, { rh: 1 });
    await subscribe(once, 'rh', 0, { rh: 1 });
    expect(payloads(once)).toEqual(['kept']);
    const every = await client('every');
    await subscribe(every, 'rh', 0, { rh: 0 });
    await subscribe(every, 'rh', 0, { rh: 0 });
    expect(payloads(every)).toEqual(['kept', 'kept']);
  });

  it('gives each message to one member of a share group, and a leaving member’s unacknowledged ones to another', async () => {
    await start();
    const a = await client('a');
    const b = await client('b');
    await subscribe(a, '$share/g/s/#', 1);
    await subscribe(b, '$share/g/s/#', 1);
    const pub = await client('pub');
    for (let i = 0; i < 10; i++) await publish(pub, 's/x', String(i), 1);
    const got = [...payloads(a), ...payloads(b)].sort((x, y) => Number(x) - Number(y));
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    expect(payloads(a).length).toBeGreaterThan(0);
    expect(payloads(b).length).toBeGreaterThan(0);
    // a never acknowledged; when it goes, b gets what a held.
    await a.drop();
    expect(new Set(payloads(b))).toEqual(new Set(Array.from({ length: 10 }, (_, i) => String(i))));
  });

  it('delivers the subscription identifiers of every matching subscription', async () => {
    await start();
    const sub = await client('sub');
    await subscribe(sub, 'id/#', 0, {}, { subscriptionIdentifier: 7 });
    await subscribe(sub, 'id/+', 0, {}, { subscriptionIdentifier: 9 });
    const pub = await client('pub');
    await publish(pub, 'id/x', 'both');
    const ids = sub.received('publish')[0]?.properties?.subscriptionIdentifier;
    expect([ids].flat().sort()).toEqual([7, 9]);
  });
});

describe('flow control and limits', () => {
  it('keeps at most the client’s Receive Maximum in flight, and sends more as acknowledgements come', async () => {
    await start();
    const sub = await client('sub', 5, { properties: { receiveMaximum: 3 } });
    await subscribe(sub, 'f', 1);
    const pub = await client('pub');
    for (let i = 0; i < 10; i++) await publish(pub, 'f', String(i), 1);
    expect(payloads(sub)).toEqual(['0', '1', '2']);
    for (const packet of sub.received('publish').slice(0, 2)) await sub.send({ cmd: 'puback', messageId: packet.messageId as number });
    expect(payloads(sub)).toEqual(['0', '1', '2', '3', '4']);
    const ids = sub.received('publish').map((p) => p.messageId);
    expect(new Set(ids.slice(2)).size).toBe(3);
  });

  it('disconnects a client that exceeds the broker’s Receive Maximum (0x93)', async () => {
    await start({ receiveMaximum: 2 });
    const pub = await client('pub');
    for (let i = 0; i < 3; i++) await pub.send({ cmd: 'publish', topic: 'rm', payload: Buffer.from('x'), qos: 2, messageId: 100 + i, retain: false, dup: false });
    expect(pub.received('disconnect')[0]).toMatchObject({ reasonCode: ReasonCode.ReceiveMaximumExceeded });
  });

  it('closes a 3.1.1 client over MQTT_MAX_AWAITING_PUBREL QoS 2 messages without PUBREL, and keeps what it had sent', async () => {
    await start({ maxAwaitingPubrel: 5 });
    const pub = await client('no-pubrel', 4, { clean: false });
    for (let i = 0; i < 5; i++) await pub.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('x'), qos: 2, messageId: 100 + i, retain: false, dup: false });
    // A PUBLISH resent before its PUBREL is no new one: it is answered again.
    await pub.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('x'), qos: 2, messageId: 100, retain: false, dup: true });
    expect(pub.received('pubrec')).toHaveLength(6);
    expect(pub.isOpen).toBe(true);
    await pub.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('x'), qos: 2, messageId: 200, retain: false, dup: false });
    expect(pub.received('pubrec')).toHaveLength(6);
    expect(pub.closedWith).toBeDefined();
    expect(harness.logs.some((record) => record.event === 'connection.protocol-error' && record.fields['code'] === ReasonCode.ReceiveMaximumExceeded)).toBe(true);
    expect(harness.core.listClients().find((c) => c.clientId === 'no-pubrel')?.awaitingRel).toBe(5);
    // Back with its session, it releases them, and may publish again.
    const back = await client('no-pubrel', 4, { clean: false });
    for (let i = 0; i < 5; i++) await back.send({ cmd: 'pubrel', messageId: 100 + i });
    await back.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('x'), qos: 2, messageId: 200, retain: false, dup: false });
    expect(back.received('pubrec')).toHaveLength(1);
  });

  it('refuses a new client id over MQTT_MAX_SESSIONS (3.1.1: CONNACK 3, 5.0: 0x97), while a client id with a session takes its place', async () => {
    await start({ maxSessions: 2 });
    const kept = await client('kept', 4, { clean: false });
    await kept.drop();
    await client('online');
    const refused = harness.open();
    await refused.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'third', clean: true, keepalive: 0 });
    expect(refused.received('connack')[0]).toMatchObject({ returnCode: 3 });
    const refused5 = harness.open();
    await refused5.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'third', clean: true, keepalive: 0 });
    expect(refused5.received('connack')[0]).toMatchObject({ reasonCode: ReasonCode.QuotaExceeded });
    // 'kept' has a session: it comes back, even starting clean.
    const back = await client('kept', 4, { clean: true });
    expect(back.received('connack')[0]).toMatchObject({ returnCode: 0 });
  });

  it('refuses a new subscription over MQTT_MAX_NAMESPACE_SUBSCRIPTIONS across clients (SUBACK 0x97), and replaces an existing one', async () => {
    await start({ maxNamespaceSubscriptions: 3 });
    const a = await client('a');
    const b = await client('b');
    await subscribe(a, 'one');
    await subscribe(a, 'two');
    await subscribe(b, 'three');
    await subscribe(b, 'four');
    await subscribe(a, 'one', 0);
    expect(b.received('suback')[1]?.granted).toEqual([ReasonCode.QuotaExceeded]);
    expect(a.received('suback')[2]?.granted).toEqual([0]);
    expect(harness.core.subscriptionCount).toBe(3);
  });

  it('keeps the queues of all sessions within MQTT_MAX_NAMESPACE_QUEUED_BYTES: a session makes room from its own queue, one without a queue goes without', async () => {
    await start({ maxNamespaceQueuedBytes: 3000 });
    for (const id of ['s1', 's2']) {
      const session = await client(id, 4, { clean: false });
      await subscribe(session, id === 's1' ? 'q/#' : 'q/late', 1);
      await session.drop();
    }
    const pub = await client('pub');
    // s1 gets three of 1,003 bytes with their topics: the third does not fit.
    for (let i = 0; i < 3; i++) await publish(pub, `q/${i}`, 'x'.repeat(1000), 1);
    expect(harness.core.store.namespaceQueueBytes()).toBeLessThanOrEqual(3000);
    // The third did not fit with the first two: s1 dropped its oldest for it.
    expect(harness.core.store.countQueued('s1')).toBe(2);
    // s2 has nothing of its own to drop: its message is dropped; s1, which gets it too, drops its oldest.
    await publish(pub, 'q/late', 'x'.repeat(1000), 1);
    expect(harness.core.store.countQueued('s2')).toBe(0);
    expect(harness.core.store.countQueued('s1')).toBe(2);
    expect(harness.logs.filter((record) => record.event === 'namespace_queues_full')).toHaveLength(1);
    const back = await client('s1', 4, { clean: false });
    expect(payloads(back)).toHaveLength(2);
    expect(back.received('publish').map((p) => p.topic)).toEqual(['q/2', 'q/late']);
  });

  it('drops a message too large for one subscriber only', async () => {
    await start();
    const small = await client('small', 5, { properties: { maximumPacketSize: 64 } });
    const large = await client('large');
    await subscribe(small, 'big', 0);
    await subscribe(large, 'big', 0);
    const pub = await client('pub');
    await publish(pub, 'big', 'x'.repeat(200));
    expect(payloads(large)).toHaveLength(1);
    expect(payloads(small)).toHaveLength(0);
    expect(small.isOpen).toBe(true);
  });

  it('resolves client-to-server topic aliases and uses server-to-client ones up to the client’s maximum', async () => {
    await start();
    const sub = await client('sub', 5, { properties: { topicAliasMaximum: 1 } });
    await subscribe(sub, 'alias/#', 0);
    const pub = await client('pub');
    await publish(pub, 'alias/long/topic', 'one', 0, { properties: { topicAlias: 1 } });
    await publish(pub, '', 'two', 0, { properties: { topicAlias: 1 } });
    const got = sub.received('publish');
    expect(got.map((p) => p.payload.toString())).toEqual(['one', 'two']);
    expect(got[0]).toMatchObject({ topic: 'alias/long/topic', properties: { topicAlias: 1 } });
    expect(got[1]).toMatchObject({ topic: '', properties: { topicAlias: 1 } });
  });
});

describe('QoS 2 recovery', () => {
  it('answers a PUBREL resent after a reconnect with PUBCOMP Success, and the message stays delivered once', async () => {
    await start();
    const subscriber = await client('sub', 5);
    await subscribe(subscriber, 'q2', 2);
    const session = { clean: false, properties: { sessionExpiryInterval: 600 } };
    const publisher = await client('pub', 5, session);
    await publish(publisher, 'q2', 'once', 2, { messageId: 42 });
    expect(publisher.received('pubrec').map((p) => p.messageId)).toEqual([42]);
    await publisher.send({ cmd: 'pubrel', messageId: 42 });
    // The PUBCOMP is lost with the connection: the client comes back and sends its PUBREL again.
    await publisher.drop();
    const again = await client('pub', 5, session);
    await again.send({ cmd: 'pubrel', messageId: 42 });
    const pubcomp = again.received('pubcomp');
    expect(pubcomp).toHaveLength(1);
    expect(pubcomp[0]?.reasonCode ?? 0).toBe(0);
    expect(payloads(subscriber)).toEqual(['once']);
  });
});
