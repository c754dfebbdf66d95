/**
 * Retained replays and paging, in-process (edge/core/replays.ts,
 * outbound.ts): a new subscription's retained messages go as the client's
 * window allows, read when sent and never copied into its queue; what
 * changed after SUBSCRIBE is passed over; a persistent session's replay
 * survives a reconnect and a restart; and a long replay, or a deep queue,
 * leaves in turns of at most TurnBytes with other clients served between.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttPacket, ProtocolLevel } from '../../shared/codec/types.ts';
import type { BrokerLimits } from '../../edge/core/limits.ts';
import { TurnBytes } from '../../edge/core/outbound.ts';
import { CoreHarness, type HarnessConnection } from './harness.ts';

let harness: CoreHarness;
afterEach(() => harness?.close());

type Connect = Extract<MqttPacket, { cmd: 'connect' }>;
type Publish = Extract<MqttPacket, { cmd: 'publish' }>;

async function client(clientId: string, level: ProtocolLevel = 4, extra: Partial<Connect> = {}): Promise<HarnessConnection> {
  const connection = harness.open();
  await connection.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: level, clientId, clean: true, keepalive: 0, ...extra });
  expect(connection.received('connack')[0]).toMatchObject(level === 5 ? { reasonCode: 0 } : { returnCode: 0 });
  return connection;
}

let nextId = 1;
const packetId = (): number => (nextId++ % 60_000) + 1;

/** Retained messages `topicOf(0..count-1)`, by one client, in batches (as a real client's stream would arrive). */
async function retain(count: number, topicOf: (i: number) => string, payload: Buffer = Buffer.from('x'), qos: 0 | 1 | 2 = 1): Promise<void> {
  const publisher = await client(`retainer-${nextId++}`);
  for (let i = 0; i < count; i += 100) {
    const packets = Array.from({ length: Math.min(100, count - i) }, (_, j): Publish => ({ cmd: 'publish', topic: topicOf(i + j), payload, qos: 0, retain: true, dup: false }));
    if (qos > 0) for (const packet of packets) Object.assign(packet, { qos, messageId: packetId() });
    await publisher.sendBytes(Buffer.concat(packets.map((packet) => encode(packet))));
    if (qos === 2) await publisher.sendBytes(Buffer.concat(packets.map((packet) => encode({ cmd: 'pubrel', messageId: packet.messageId as number }))));
  }
  await publisher.send({ cmd: 'disconnect' });
}

let encode: (packet: MqttPacket) => Uint8Array;

async function start(limits: Partial<BrokerLimits> = {}, turns = false): Promise<void> {
  harness = await CoreHarness.create({ limits, turns });
  const { encodePacket } = await import('../../shared/codec/encoder.ts');
  encode = (packet) => encodePacket(packet, 4);
}

const retainedTopics = (connection: HarnessConnection): string[] => connection.received('publish').filter((p) => p.retain).map((p) => p.topic);

/** Acknowledges until nothing more comes; the ids are recycled by the broker, so each PUBLISH is acknowledged by its position. */
async function drain(connection: HarnessConnection): Promise<void> {
  let done = 0;
  for (;;) {
    const publishes = connection.received('publish');
    if (done === publishes.length) return;
    for (const publish of publishes.slice(done)) {
      if (publish.qos === 1) await connection.send({ cmd: 'puback', messageId: publish.messageId as number });
      done++;
    }
  }
}

describe('a replay goes as the window allows, never through the queue', () => {
  it('sends 500 retained messages at QoS 1 ten at a time, each once, with RETAIN set, and queues none of them', async () => {
    await start({ maxInflight: 10 });
    await retain(500, (i) => `r/${String(i).padStart(3, '0')}`);
    const subscriber = await client('subscriber');
    await subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'r/#', qos: 1 }] });
    expect(subscriber.received('suback')[0]?.granted).toEqual([1]);
    expect(subscriber.received('publish')).toHaveLength(10);
    // In flight: the window's ten; queued: nothing (the replay reads the retained table as it goes).
    expect(harness.core.store.countQueued('subscriber')).toBe(0);
    expect(harness.core.store.countInflight('subscriber')).toBe(0);
    await drain(subscriber);
    const topics = retainedTopics(subscriber);
    expect(topics).toHaveLength(500);
    expect(new Set(topics).size).toBe(500);
    expect(subscriber.received('publish').every((p) => p.retain && p.qos === 1)).toBe(true);
    expect(harness.core.listClients().find((c) => c.clientId === 'subscriber')).toMatchObject({ queued: 0, inflight: 0 });
  });

  it('counts what a replay has left as queued, and sends a QoS 0 message of it without waiting for room', async () => {
    await start({ maxInflight: 1 });
    await retain(3, (i) => `q/${i}/one`);
    await retain(1, () => 'q/3/zero', Buffer.from('z'), 0);
    const subscriber = await client('counted');
    await subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q/+/+', qos: 1 }] });
    expect(harness.core.listClients().find((c) => c.clientId === 'counted')).toMatchObject({ queued: 3, inflight: 1 });
    await drain(subscriber);
    expect(subscriber.received('publish').map((p) => [p.topic, p.qos])).toEqual([
      ['q/0/one', 1],
      ['q/1/one', 1],
      ['q/2/one', 1],
      ['q/3/zero', 0],
    ]);
  });
});

describe('what a replay sends', () => {
  it('passes over a retained message replaced or cleared after SUBSCRIBE (the subscription got those live) and one that is new', async () => {
    await start({ maxInflight: 1 });
    await retain(4, (i) => `t/${i}`);
    const subscriber = await client('late');
    await subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't/#', qos: 1 }] });
    expect(retainedTopics(subscriber)).toEqual(['t/0']);
    const queued = (): number | undefined => harness.core.listClients().find((c) => c.clientId === 'late')?.queued;
    expect(queued()).toBe(3);
    const publisher = await client('changer');
    await publisher.send({ cmd: 'publish', topic: 't/2', payload: Buffer.from('new'), qos: 0, retain: true, dup: false });
    await publisher.send({ cmd: 'publish', topic: 't/3', payload: Buffer.alloc(0), qos: 0, retain: true, dup: false });
    await publisher.send({ cmd: 'publish', topic: 't/9', payload: Buffer.from('added'), qos: 0, retain: true, dup: false });
    // Of what the replay had left, only t/1 is still to send.
    expect(queued()).toBe(1);
    await drain(subscriber);
    // Replayed: t/0 and t/1 only; t/2 (new), t/3 (clear) and t/9 came live, without RETAIN [MQTT-3.3.1-9].
    expect(retainedTopics(subscriber)).toEqual(['t/0', 't/1']);
    expect(subscriber.received('publish').filter((p) => !p.retain).map((p) => p.topic)).toEqual(['t/2', 't/3', 't/9']);
  });

  it('ends a replay on UNSUBSCRIBE, and starts it again from the beginning on a new SUBSCRIBE of the same filter', async () => {
    await start({ maxInflight: 2 });
    await retain(5, (i) => `u/${i}`);
    const subscriber = await client('again');
    await subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'u/#', qos: 1 }] });
    await subscriber.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['u/#'] });
    // [MQTT-3.10.4-3] what was started completes; nothing more comes.
    await drain(subscriber);
    expect(retainedTopics(subscriber)).toEqual(['u/0', 'u/1']);
    await subscriber.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'u/#', qos: 1 }] });
    await subscriber.send({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: 'u/#', qos: 1 }] });
    await drain(subscriber);
    // The second SUBSCRIBE started it again: u/0 and u/1 twice more, the rest once [MQTT-3.8.4-4].
    expect(retainedTopics(subscriber)).toEqual(['u/0', 'u/1', 'u/0', 'u/1', 'u/0', 'u/1', 'u/2', 'u/3', 'u/4']);
  });

  it("goes on with a persistent session's replay after a reconnect and after the object restarts, sending nothing twice at QoS 2", async () => {
    await start({ maxInflight: 2 });
    await retain(6, (i) => `p/${i}`, Buffer.from('x'), 2);
    const first = await client('keeper', 4, { clean: false });
    await first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'p/#', qos: 2 }] });
    expect(retainedTopics(first)).toEqual(['p/0', 'p/1']);
    // p/0 is completed, which makes room for p/2; p/1 and p/2 are left in flight; the client goes, and the object restarts.
    const p0 = first.received('publish')[0]?.messageId as number;
    await first.send({ cmd: 'pubrec', messageId: p0 });
    await first.send({ cmd: 'pubcomp', messageId: p0 });
    expect(retainedTopics(first)).toEqual(['p/0', 'p/1', 'p/2']);
    await first.drop();
    harness.restart();
    const second = await client('keeper', 4, { clean: false });
    let handled = 0;
    while (handled < second.received('publish').length) {
      const publish = second.received('publish')[handled++] as Publish;
      await second.send({ cmd: 'pubrec', messageId: publish.messageId as number });
      await second.send({ cmd: 'pubcomp', messageId: publish.messageId as number });
    }
    // p/1 and p/2 again as DUP (their exchanges had not completed), then the rest of the replay, each once [MQTT-4.3.3].
    expect(second.received('publish').map((p) => `${p.topic}${p.dup ? ' dup' : ''}`)).toEqual(['p/1 dup', 'p/2 dup', 'p/3', 'p/4', 'p/5']);
  });
});

describe('turns', () => {
  it('sends a QoS 0 replay of 5,000 messages of 1 KiB in pieces of at most TurnBytes, serving another client between them', async () => {
    await start({}, true);
    await retain(5000, (i) => `big/${i}`, Buffer.alloc(1024, 1), 0);
    const subscriber = await client('reader');
    const other = await client('other');
    await other.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'other', qos: 1 }] });
    await subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'big/#', qos: 0 }] });
    await other.send({ cmd: 'publish', topic: 'other', payload: Buffer.from('hi'), qos: 1, retain: false, dup: false, messageId: 7 });
    // The other client's message went round while the replay was still on its way.
    expect(other.received('publish').map((p) => p.topic)).toEqual(['other']);
    expect(retainedTopics(subscriber).length).toBeLessThan(5000);
    const deadline = Date.now() + 20_000;
    while (retainedTopics(subscriber).length < 5000 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(new Set(retainedTopics(subscriber)).size).toBe(5000);
    expect(Math.max(...subscriber.sends)).toBeLessThanOrEqual(TurnBytes + 1100);
  });

  it('reads a queue of 40 messages of 100 KiB one at a time when its session comes back, and sends it in pieces of at most TurnBytes', async () => {
    await start({ maxInflight: 100 }, true);
    const offline = await client('away', 4, { clean: false });
    await offline.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'in/#', qos: 1 }] });
    await offline.drop();
    const publisher = await client('filler');
    for (let i = 0; i < 40; i++) await publisher.send({ cmd: 'publish', topic: `in/${i}`, payload: Buffer.alloc(100 * 1024, i), qos: 1, retain: false, dup: false, messageId: i + 1 });
    expect(harness.core.store.countQueued('away')).toBe(40);
    const back = await client('away', 4, { clean: false });
    const deadline = Date.now() + 20_000;
    while (back.received('publish').length < 40 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(back.received('publish').map((p) => p.topic)).toEqual(Array.from({ length: 40 }, (_, i) => `in/${i}`));
    expect(Math.max(...back.sends)).toBeLessThanOrEqual(TurnBytes + 100 * 1024 + 100);
  });
});
