/**
 * A clean broker stop (`Namespace.shutdown`, POST /admin/<ns>/drain, what
 * `npm start` does on exit), as mosquitto 2.0 stops: every will goes out
 * first, delayed ones too, while the subscribers are still there to get
 * them; then every connection closes, 5.0 clients with DISCONNECT 0x8B;
 * sessions are kept as on any disconnect.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttPacket, ProtocolLevel } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { CoreHarness, settleMicrotasks, type HarnessConnection } from './harness.ts';

let harness: CoreHarness;
afterEach(() => harness?.close());

type Connect = Extract<MqttPacket, { cmd: 'connect' }>;

async function client(clientId: string, level: ProtocolLevel, extra: Partial<Connect> = {}): Promise<HarnessConnection> {
  const connection = harness.open();
  await connection.send({ cmd: 'connect', protocolId: level === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: level, clientId, clean: true, keepalive: 0, ...extra });
  return connection;
}

function will(topic: string, qos: 0 | 1 = 1, delaySeconds?: number): Partial<Connect> {
  return { will: { topic, payload: Buffer.from(`${topic} gone`), qos, retain: false, ...(delaySeconds === undefined ? {} : { properties: { willDelayInterval: delaySeconds } }) } } as Partial<Connect>;
}

async function subscribe(connection: HarnessConnection, filter: string): Promise<void> {
  await connection.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] } as MqttPacket);
}

const topics = (connection: HarnessConnection): string[] => connection.received('publish').map((p) => p.topic).sort();

describe('shutdown', () => {
  it('publishes every will to subscribers that are still connected, then disconnects 5.0 clients with 0x8B and closes 3.x clients', async () => {
    harness = await CoreHarness.create();
    const watcher = await client('watcher', 5);
    await subscribe(watcher, 'wills/#');
    const old = await client('old', 3, will('wills/v3'));
    const v311 = await client('v311', 4, will('wills/v4'));
    const v5 = await client('v5', 5, will('wills/v5'));
    const delayed = await client('delayed', 5, { ...will('wills/delayed', 1, 600), properties: { sessionExpiryInterval: 3600 } });

    const result = await harness.core.shutdown();
    await settleMicrotasks();

    expect(result).toEqual({ disconnected: 5, wills: 4 });
    // The watcher got every will, the delayed one too, before it was disconnected itself.
    expect(topics(watcher)).toEqual(['wills/delayed', 'wills/v3', 'wills/v4', 'wills/v5']);
    for (const connection of [watcher, v5, delayed]) {
      expect(connection.received('disconnect')).toEqual([expect.objectContaining({ reasonCode: ReasonCode.ServerShuttingDown })]);
      expect(connection.closedWith?.kind).toBe('going-away');
    }
    for (const connection of [old, v311]) {
      expect(connection.received('disconnect')).toEqual([]);
      expect(connection.closedWith?.kind).toBe('going-away');
    }
    expect(harness.core.connectedCount).toBe(0);
  });

  it('keeps persistent sessions with their subscriptions and queues, ends clean ones, and fires no will a second time', async () => {
    harness = await CoreHarness.create();
    const persistent = await client('persistent', 4, { clean: false });
    await subscribe(persistent, 'wills/#');
    await client('leaving', 4, will('wills/leaving'));
    await client('clean', 5);

    await harness.core.shutdown();
    await settleMicrotasks();
    expect(harness.core.listClients().map((c) => c.clientId)).toEqual(['persistent']);
    // The will went to the persistent subscriber's session: in flight when it closed, resent when it is back.
    const back = await client('persistent', 4, { clean: false });
    expect(back.received('connack')[0]).toMatchObject({ sessionPresent: true });
    expect(back.received('publish').map((p) => p.topic)).toEqual(['wills/leaving']);
    // Nothing is due later: the alarm holds no will.
    await harness.advance(24 * 3600 * 1000);
    expect(back.received('publish')).toHaveLength(1);
  });

  it('sends a will still waiting out its delay for an offline session, as mosquitto does at a stop', async () => {
    harness = await CoreHarness.create();
    const watcher = await client('watcher', 5, { clean: false, properties: { sessionExpiryInterval: 3600 } });
    await subscribe(watcher, 'wills/#');
    const away = await client('away', 5, { ...will('wills/away', 1, 600), properties: { sessionExpiryInterval: 3600 } });
    await away.drop();
    expect(topics(watcher)).toEqual([]);

    const result = await harness.core.shutdown();
    expect(result.wills).toBe(1);
    await settleMicrotasks();
    expect(topics(watcher)).toEqual(['wills/away']);
    // Its delay passing later sends nothing more.
    await harness.advance(600 * 1000);
    expect(topics(watcher)).toEqual(['wills/away']);
  });

  it('closes connections that have not sent CONNECT yet, with nothing written to them', async () => {
    harness = await CoreHarness.create();
    const silent = harness.open();
    const result = await harness.core.shutdown();
    expect(result.disconnected).toBe(1);
    expect(silent.packets).toEqual([]);
    expect(silent.closedWith?.kind).toBe('going-away');
  });
});
