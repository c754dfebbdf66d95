/**
 * A namespace's fair share (edge/core/fair-share.ts), in-process: input
 * that waits is made to wait by handing the core several messages at once
 * and moving the clock before they are handled. A client over its share
 * while the namespace is behind is slowed (acknowledgements held, QoS 0
 * dropped), never disconnected short of the bound; an ordinary client,
 * however fast, is never slowed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import type { MqttPacket, ProtocolLevel } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { BehindMs } from '../../edge/core/fair-share.ts';
import type { BrokerLimits } from '../../edge/core/limits.ts';
import { CoreHarness, settleMicrotasks, type HarnessConnection } from './harness.ts';

let harness: CoreHarness;
afterEach(() => harness?.close());

async function client(clientId: string, level: ProtocolLevel = 5): Promise<HarnessConnection> {
  const connection = harness.open();
  await connection.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: level, clientId, clean: true, keepalive: 0 });
  return connection;
}

function publishes(count: number, qos: 0 | 1, from = 1, payloadBytes = 1000): Uint8Array[] {
  return Array.from({ length: count }, (_, i) =>
    encodePacket({ cmd: 'publish', topic: 'load/heavy', payload: Buffer.alloc(payloadBytes, 1), qos, retain: false, dup: false, ...(qos > 0 ? { messageId: from + i } : {}) } as MqttPacket, 5),
  );
}

/** Hands the core `messages` of a connection at once, as a runtime delivering a burst of WebSocket messages does. */
function burst(connection: HarnessConnection, messages: Uint8Array[]): Promise<void[]> {
  return Promise.all(messages.map((bytes) => harness.core.receive(connection.id, bytes)));
}

async function setUp(limits: Partial<BrokerLimits> = {}): Promise<{ heavy: HarnessConnection; light: HarnessConnection; watcher: HarnessConnection }> {
  harness = await CoreHarness.create({ limits });
  const watcher = await client('watcher');
  await watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'load/#', qos: 1 }] } as MqttPacket);
  return { heavy: await client('heavy'), light: await client('light'), watcher };
}

describe('fair share', () => {
  it('holds the acknowledgements of a client over its share while behind, and sends every one once it is not', async () => {
    const { heavy, light } = await setUp();
    // 200 QoS 1 messages of 1 KB at once: 200 KB waiting, far over the light client's one message.
    const heavyDone = burst(heavy, publishes(200, 1));
    const lightDone = burst(light, [encodePacket({ cmd: 'publish', topic: 'load/light', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, messageId: 7 }, 5)]);
    harness.now += BehindMs * 2;
    await Promise.all([heavyDone, lightDone]);
    await settleMicrotasks();
    const stats = harness.core.stats();
    expect(stats.counters.acksHeld).toBeGreaterThan(0);
    // Released once its input was handled: every PUBACK arrives, each once, none lost.
    expect(heavy.received('puback').map((p) => p.messageId).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(light.received('puback').map((p) => p.messageId)).toEqual([7]);
    expect(heavy.isOpen).toBe(true);
    const summary = harness.core.listClients().find((c) => c.clientId === 'heavy');
    expect(summary?.flow?.heldAcksTotal).toBeGreaterThan(0);
    expect(summary?.flow?.heldAcks).toBe(0);
    expect(summary?.flow?.slowedMs).toBeGreaterThanOrEqual(0);
  });

  it("drops a slowed client's QoS 0 and counts it; the light client's gets through", async () => {
    const { heavy, light, watcher } = await setUp();
    const heavyDone = burst(heavy, publishes(200, 0));
    const lightDone = burst(light, [encodePacket({ cmd: 'publish', topic: 'load/light', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, 5)]);
    harness.now += BehindMs * 2;
    await Promise.all([heavyDone, lightDone]);
    await settleMicrotasks();
    const dropped = harness.core.stats().counters.qos0Dropped;
    expect(dropped).toBeGreaterThan(0);
    const topics = watcher.received('publish').map((p) => p.topic);
    expect(topics).toContain('load/light');
    expect(topics.filter((topic) => topic === 'load/heavy')).toHaveLength(200 - dropped);
    expect(harness.core.listClients().find((c) => c.clientId === 'heavy')?.flow?.droppedQos0).toBe(dropped);
    expect(heavy.isOpen).toBe(true);
  });

  it('never slows an ordinary client however fast: a window of messages waits, not more', async () => {
    const { heavy } = await setUp();
    // A closed-loop client, as the shared benchmark's: 100 in flight, 50 rounds.
    for (let round = 0; round < 50; round++) {
      const done = burst(heavy, publishes(100, 1, round * 100 + 1, 64));
      harness.now += BehindMs * 2;
      await done;
    }
    await settleMicrotasks();
    const counters = harness.core.stats().counters;
    expect(counters.acksHeld).toBe(0);
    expect(counters.qos0Dropped).toBe(0);
    expect(heavy.received('puback')).toHaveLength(5000);
  });

  it('closes a client whose unhandled input passes MQTT_MAX_PENDING_BYTES, with DISCONNECT 0x96, and only it', async () => {
    const { heavy, light } = await setUp({ maxPendingBytes: 128 * 1024, maxPacketSize: 16 * 1024 });
    const done = burst(heavy, publishes(200, 0));
    await done;
    await settleMicrotasks();
    expect(heavy.received('disconnect')).toEqual([expect.objectContaining({ reasonCode: ReasonCode.MessageRateTooHigh })]);
    expect(heavy.isOpen).toBe(false);
    expect(light.isOpen).toBe(true);
    expect(harness.logs.some((record) => record.event === 'connection.protocol-error' && record.fields['reason'] === 'message-rate-too-high')).toBe(true);
  });

  it('closes the client holding the most when all together pass MQTT_MAX_NAMESPACE_PENDING_BYTES (0x97), each under its own bound', async () => {
    const { heavy, light } = await setUp({ maxPendingBytes: 128 * 1024, maxNamespacePendingBytes: 200 * 1024, maxPacketSize: 16 * 1024 });
    const medium = await client('medium');
    // 120 KB and 100 KB waiting at once: each under its 128 KB, together over the namespace's 200 KB.
    const done = Promise.all([burst(heavy, publishes(120, 0)), burst(medium, publishes(100, 0, 1000)), burst(light, publishes(1, 0))]);
    await done;
    await settleMicrotasks();
    expect(heavy.received('disconnect')).toEqual([expect.objectContaining({ reasonCode: ReasonCode.QuotaExceeded })]);
    expect(heavy.isOpen).toBe(false);
    expect(medium.isOpen).toBe(true);
    expect(light.isOpen).toBe(true);
    expect(harness.core.stats().flow?.pendingBytes).toBe(0);
    expect(harness.logs.some((record) => record.event === 'connection.protocol-error' && String(record.fields['error']).includes('MQTT_MAX_NAMESPACE_PENDING_BYTES'))).toBe(true);
  });

  it('counts incomplete packets against the namespace bound: many slow trickles cannot add up past it', async () => {
    harness = await CoreHarness.create({ limits: { maxNamespacePendingBytes: 50 * 1024, maxPacketSize: 16 * 1024 } });
    const trickles: HarnessConnection[] = [];
    for (let i = 0; i < 8; i++) trickles.push(await client(`trickle-${i}`));
    // Each sends the first 10 KB of a 15 KB PUBLISH and nothing more: 10 KB held each, 80 KB in all if nothing bounded it.
    const whole = encodePacket({ cmd: 'publish', topic: 'load/trickle', payload: Buffer.alloc(15 * 1024, 1), qos: 0, retain: false, dup: false } as MqttPacket, 5);
    for (const [i, trickle] of trickles.entries()) {
      await harness.core.receive(trickle.id, whole.subarray(0, 10 * 1024 + i));
      await settleMicrotasks();
    }
    const stats = harness.core.stats();
    expect(stats.flow?.partialBytes).toBeLessThanOrEqual(50 * 1024);
    expect(stats.flow?.partialBytes).toBeGreaterThan(30 * 1024);
    const closed = trickles.filter((trickle) => !trickle.isOpen);
    expect(closed.length).toBeGreaterThanOrEqual(3);
    for (const trickle of closed) expect(trickle.received('disconnect')).toEqual([expect.objectContaining({ reasonCode: ReasonCode.QuotaExceeded })]);
    // What is held shows in the memory estimate, and goes with the connection.
    expect(stats.memory?.parts.input).toBe(stats.flow?.partialBytes);
    for (const trickle of trickles) await trickle.drop();
    expect(harness.core.stats().flow?.partialBytes).toBe(0);
  });

  it('holds nothing for ever: a slowed client that stops sending gets its acknowledgements when the namespace catches up', async () => {
    const { heavy, light } = await setUp();
    const heavyDone = burst(heavy, publishes(100, 1));
    const lightDone = burst(light, publishes(1, 1, 500));
    harness.now += BehindMs * 2;
    await Promise.all([heavyDone, lightDone]);
    await harness.advance(100);
    expect(harness.core.stats().flow?.heldAcks).toBe(0);
    expect(heavy.received('puback')).toHaveLength(100);
  });
});
