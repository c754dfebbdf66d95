/**
 * Namespace quotas in-process (edge/core/quotas.ts, limit-settings.ts,
 * publish-rate.ts): set at run time, kept in SQLite, all or none; a
 * publish rate slows (QoS 1/2 waits its turn, QoS 0 over it is dropped and
 * counted) and never disconnects; limits told in CONNACK hold for a
 * connected client until it connects again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import type { MqttPacket, ProtocolLevel } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { limitSettings } from '../../edge/core/limit-settings.ts';
import { defaultLimits } from '../../edge/core/limits.ts';
import { CoreHarness, settleMicrotasks, type HarnessConnection } from './harness.ts';

let harness: CoreHarness;
afterEach(() => harness?.close());

async function client(clientId: string, level: ProtocolLevel = 5, extra: Partial<Extract<MqttPacket, { cmd: 'connect' }>> = {}): Promise<HarnessConnection> {
  const connection = harness.open();
  await connection.send({ cmd: 'connect', protocolId: level === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: level, clientId, clean: true, keepalive: 0, ...extra } as MqttPacket);
  return connection;
}

function publishes(count: number, qos: 0 | 1, topic = 'rate/x'): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => encodePacket({ cmd: 'publish', topic, payload: Buffer.from(String(i)), qos, retain: false, dup: false, ...(qos > 0 ? { messageId: i + 1 } : {}) } as MqttPacket, 5));
}

function set(changes: Record<string, unknown>): void {
  const outcome = harness.core.setQuotas(changes);
  if (!outcome.ok) throw new Error(outcome.error);
}

describe('quotas', () => {
  it('lists every limit with its default; sets all or none; null goes back to the default; kept across a restart', async () => {
    harness = await CoreHarness.create({ limits: { maxConnections: 500 } });
    const view = harness.core.quotaView();
    expect(view.map((q) => q.name).sort()).toEqual(limitSettings.map((s) => s.name).sort());
    expect(view.find((q) => q.name === 'maxConnections')).toMatchObject({ value: 500, default: 500, set: false });

    const bad = harness.core.setQuotas({ maxConnections: 3, maxTopicLevels: 0 });
    expect(bad).toEqual({ ok: false, error: expect.stringMatching(/maxTopicLevels must be an integer in 1\.\./) });
    expect(harness.core.limits.maxConnections).toBe(500);
    expect(harness.core.setQuotas({ nosuch: 1 })).toEqual({ ok: false, error: expect.stringMatching(/no limit named "nosuch"/) });
    expect(harness.core.setQuotas({ retainAvailable: 1 })).toEqual({ ok: false, error: 'retainAvailable must be true or false' });

    const good = harness.core.setQuotas({ maxConnections: 3, retainAvailable: false });
    expect(good).toMatchObject({ ok: true, changed: ['maxConnections', 'retainAvailable'] });
    // Setting the same again changes nothing and writes nothing.
    expect(harness.core.setQuotas({ maxConnections: 3 })).toMatchObject({ ok: true, changed: [] });

    harness.restart();
    expect(harness.core.limits.maxConnections).toBe(3);
    expect(harness.core.limits.retainAvailable).toBe(false);
    // The deployment's limits object is never changed: another namespace built from it keeps them.
    expect(harness.limits.maxConnections).toBe(500);
    set({ maxConnections: null });
    expect(harness.core.quotaView().find((q) => q.name === 'maxConnections')).toMatchObject({ value: 500, set: false });
  });

  it('a connection quota refuses the next CONNECT (5.0 0x97, 3.1.1 CONNACK 3) and leaves those connected alone', async () => {
    harness = await CoreHarness.create();
    const first = await client('a');
    const second = await client('b');
    set({ maxConnections: 1 });
    const refused5 = await client('c');
    expect(refused5.received('connack')[0]).toMatchObject({ reasonCode: ReasonCode.QuotaExceeded });
    const refused4 = await client('d', 4);
    expect(refused4.received('connack')[0]).toMatchObject({ returnCode: 3 });
    expect(first.isOpen && second.isOpen).toBe(true);
  });

  it('a namespace publish rate delays QoS 1 in turn (no loss, no disconnect) and drops QoS 0 over it, counted', async () => {
    harness = await CoreHarness.create();
    const watcher = await client('watcher');
    await watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rate/#', qos: 1 }] } as MqttPacket);
    const heavy = await client('heavy');
    const light = await client('light');
    set({ namespacePublishRate: 10 });

    const heavyDone = Promise.all(publishes(40, 1).map((bytes) => harness.core.receive(heavy.id, bytes)));
    await settleMicrotasks();
    // The bucket holds one second's worth: 10 at once, then 10 a second.
    expect(heavy.received('puback')).toHaveLength(10);
    // The light client's one message waits behind at most one of the heavy one's: turns, first come first served.
    const lightDone = harness.core.receive(light.id, encodePacket({ cmd: 'publish', topic: 'rate/light', payload: Buffer.from('l'), qos: 1, retain: false, dup: false, messageId: 9 }, 5));
    await harness.advance(250);
    expect(light.received('puback')).toHaveLength(1);
    await harness.advance(1000);
    expect(heavy.received('puback').length).toBeLessThanOrEqual(10 + 13);
    await harness.advance(3000);
    await Promise.all([heavyDone, lightDone]);
    expect(heavy.received('puback').map((p) => p.messageId)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(watcher.received('publish')).toHaveLength(41);
    expect(heavy.isOpen).toBe(true);
    expect(harness.core.stats().counters.publishDelayed).toBeGreaterThan(0);
    expect(harness.core.listClients().find((c) => c.clientId === 'heavy')?.flow?.delayedPublishes).toBeGreaterThan(0);
    // A waiting client does not make the namespace behind.
    expect(harness.core.stats().flow?.slowedClients ?? 0).toBe(0);

    // QoS 0 over the rate: dropped and counted, the connection stays.
    await harness.advance(2000);
    await Promise.all(publishes(30, 0).map((bytes) => harness.core.receive(heavy.id, bytes)));
    const summary = harness.core.listClients().find((c) => c.clientId === 'heavy');
    expect(summary?.flow?.droppedQos0).toBe(20);
    expect(watcher.received('publish')).toHaveLength(41 + 10);
    expect(heavy.isOpen).toBe(true);
  });

  it('lifting a rate serves whoever waits at once', async () => {
    harness = await CoreHarness.create();
    const heavy = await client('heavy');
    set({ namespacePublishRate: 1 });
    const done = Promise.all(publishes(30, 1).map((bytes) => harness.core.receive(heavy.id, bytes)));
    await settleMicrotasks();
    expect(heavy.received('puback')).toHaveLength(10);
    set({ namespacePublishRate: null });
    await harness.advance(1);
    await done;
    expect(heavy.received('puback')).toHaveLength(30);
  });

  it('a per-client publish rate slows that client only, never disconnects it', async () => {
    harness = await CoreHarness.create({ limits: { maxPublishRate: 5 } });
    const fast = await client('fast');
    const other = await client('other');
    const done = Promise.all(publishes(30, 1).map((bytes) => harness.core.receive(fast.id, bytes)));
    await settleMicrotasks();
    expect(fast.received('puback')).toHaveLength(10);
    await Promise.all(publishes(5, 1).map((bytes) => harness.core.receive(other.id, bytes)));
    expect(other.received('puback')).toHaveLength(5);
    await harness.advance(5000);
    await done;
    expect(fast.received('puback')).toHaveLength(30);
    expect(fast.isOpen).toBe(true);
  });

  it('maximum QoS, retain and shared subscriptions: announced in CONNACK and held to, for clients that connect after the change', async () => {
    harness = await CoreHarness.create();
    const before = await client('before');
    set({ maximumQos: 1, retainAvailable: false, sharedSubscriptionsAvailable: false, receiveMaximum: 5 });
    const after = await client('after');
    expect(after.received('connack')[0]?.properties).toMatchObject({ maximumQoS: 1, retainAvailable: false, sharedSubscriptionAvailable: false, receiveMaximum: 5 });
    expect(before.received('connack')[0]?.properties).toMatchObject({ retainAvailable: true, receiveMaximum: defaultLimits.receiveMaximum });
    expect(before.received('connack')[0]?.properties?.maximumQoS).toBeUndefined();

    await after.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 2 }, { topic: '$share/g/b', qos: 1 }] } as MqttPacket);
    expect(after.received('suback')[0]?.granted).toEqual([1, ReasonCode.SharedSubscriptionsNotSupported]);
    // The client connected before keeps what it was told.
    await before.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 2 }, { topic: '$share/g/b', qos: 1 }] } as MqttPacket);
    expect(before.received('suback')[0]?.granted).toEqual([2, 1]);
    await before.send({ cmd: 'publish', topic: 'kept', payload: Buffer.from('r'), qos: 2, retain: true, dup: false, messageId: 3 } as MqttPacket);
    expect(before.received('pubrec')).toHaveLength(1);
    expect(before.isOpen).toBe(true);

    await after.send({ cmd: 'publish', topic: 'r', payload: Buffer.from('r'), qos: 0, retain: true, dup: false } as MqttPacket);
    expect(after.received('disconnect')[0]).toMatchObject({ reasonCode: ReasonCode.RetainNotSupported });
    const third = await client('third');
    await third.send({ cmd: 'publish', topic: 'q', payload: Buffer.from('q'), qos: 2, retain: false, dup: false, messageId: 1 } as MqttPacket);
    expect(third.received('disconnect')[0]).toMatchObject({ reasonCode: ReasonCode.QoSNotSupported });
    // A will it could not publish as asked refuses the CONNECT.
    const willRetained = await client('will', 5, { will: { topic: 'w', payload: Buffer.from('w'), qos: 0, retain: true } } as never);
    expect(willRetained.received('connack')[0]).toMatchObject({ reasonCode: ReasonCode.RetainNotSupported });
    const willQos = await client('will2', 4, { will: { topic: 'w', payload: Buffer.from('w'), qos: 2, retain: false } } as never);
    expect(willQos.received('connack')[0]).toMatchObject({ returnCode: 3 });
  });

  it('a packet size told at CONNECT holds for that connection after a wake, whatever the quota is now', async () => {
    harness = await CoreHarness.create();
    const connection = await client('big');
    set({ maxPacketSize: 1000 });
    await harness.hibernate();
    await connection.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(5000, 1), qos: 0, retain: false, dup: false } as MqttPacket);
    expect(connection.isOpen).toBe(true);
    const late = await client('late');
    expect(late.received('connack')[0]?.properties?.maximumPacketSize).toBe(1000);
    await late.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(5000, 1), qos: 0, retain: false, dup: false } as MqttPacket);
    expect(late.received('disconnect')[0]).toMatchObject({ reasonCode: ReasonCode.PacketTooLarge });
  });
});
