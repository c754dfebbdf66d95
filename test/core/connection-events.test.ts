/**
 * The namespace's log of refusals and disconnect causes
 * (edge/core/connection-events.ts): each kind of event with its reason and
 * code, nothing secret in it, written with the counter flush as one row
 * (never a row per event), kept across a restart of the object, bounded in
 * memory and in rows, and never a way to create storage.
 */
import { describe, expect, it } from 'vitest';
import type { MqttPacket } from '../../shared/codec/types.ts';
import type { BrokerHooks } from '../../edge/core/hooks.ts';
import { EventLogCapacity } from '../../edge/core/connection-events.ts';
import { CoreHarness, type HarnessConnection } from './harness.ts';

/** Password "right" gets in; user "nobody" may not; anything else is a bad password. */
const hooks: BrokerHooks = {
  authenticate: (ctx) => {
    if (ctx.username === 'nobody') return { allow: false, reason: 'not-authorized' };
    const password = ctx.password === undefined ? '' : new TextDecoder().decode(ctx.password);
    return password === 'right' ? { allow: true } : { allow: false, reason: 'bad-credentials' };
  },
};

function connectPacket(clientId: string, level: 4 | 5, extra: Partial<Extract<MqttPacket, { cmd: 'connect' }>> = {}): MqttPacket {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: level, clientId, clean: true, keepalive: 0, username: 'user', password: Buffer.from('right'), ...extra };
}

async function connect(harness: CoreHarness, clientId: string, level: 4 | 5 = 5, extra: Partial<Extract<MqttPacket, { cmd: 'connect' }>> = {}, address = '10.1.2.3:4000'): Promise<HarnessConnection> {
  const connection = harness.open({ remoteAddress: address });
  await connection.send(connectPacket(clientId, level, extra));
  return connection;
}

function rows(harness: CoreHarness): number {
  return Number(harness.sql.exec('SELECT COUNT(*) AS n FROM connection_events').toArray()[0]?.['n'] ?? 0);
}

describe('the log of refusals and disconnect causes', () => {
  it('records each refusal and each cause of an end, with who, from where, the reason and the code', async () => {
    const harness = await CoreHarness.create({ hooks, limits: { maxConnections: 3 } });
    await connect(harness, 'good');
    await connect(harness, 'wrong-password', 4, { password: Buffer.from('s3cret-guess') }, '10.9.9.9:1');
    await connect(harness, 'not-allowed', 5, { username: 'nobody' });
    // A keep-alive of a second, then silence.
    await connect(harness, 'sleepy', 4, { keepalive: 1 });
    await connect(harness, 'third');
    // Three are connected: the limit.
    const refused = await connect(harness, 'one-too-many', 5);
    expect(refused.received('connack')[0]).toMatchObject({ reasonCode: 0x97 });
    // The sleepy one times out, which makes room.
    await harness.advance(2000);
    const bad = await connect(harness, 'broken');
    // QoS 3 is malformed [MQTT-3.3.1-4].
    await bad.sendBytes(new Uint8Array([0x36, 0x03, 0x00, 0x01, 0x61]));
    await connect(harness, 'good');

    const events = harness.core.connectionEvents({ limit: 100 }).events;
    const of = (event: string, clientId: string) => events.find((entry) => entry.event === event && entry.clientId === clientId);
    expect(of('connection.refused', 'wrong-password')).toMatchObject({ username: 'user', remoteAddress: '10.9.9.9:1', transport: 'ws', protocolLevel: 4, reason: 'bad-username-or-password', code: 4 });
    expect(of('connection.refused', 'not-allowed')).toMatchObject({ username: 'nobody', protocolLevel: 5, reason: 'not-authorized', code: 0x87 });
    expect(of('connection.refused', 'one-too-many')).toMatchObject({ reason: 'quota-exceeded', code: 0x97 });
    expect(of('connection.keepalive-timeout', 'sleepy')).toMatchObject({ remoteAddress: '10.1.2.3:4000' });
    expect(of('connection.closed', 'sleepy')).toMatchObject({ reason: 'keepalive-timeout' });
    expect(of('connection.protocol-error', 'broken')).toMatchObject({ reason: 'malformed-packet', code: 0x81 });
    expect(of('connection.closed', 'broken')).toMatchObject({ reason: 'protocol-error' });
    expect(of('connection.taken-over', 'good')).toBeDefined();
    expect(of('connection.closed', 'good')).toMatchObject({ reason: 'takeover' });
    // Newest first, each with its time.
    expect(events.map((entry) => entry.at)).toEqual([...events.map((entry) => entry.at)].sort((a, b) => b - a));
    // What it never holds: a password (nor a payload: events carry none).
    expect(JSON.stringify(events)).not.toContain('s3cret-guess');
    expect(events.every((entry) => entry.event !== ('connection.accepted' as string))).toBe(true);

    // Filters: by type and by reason.
    expect(harness.core.connectionEvents({ limit: 100, types: ['connection.refused'] }).events.map((entry) => entry.clientId).sort()).toEqual(['not-allowed', 'one-too-many', 'wrong-password']);
    expect(harness.core.connectionEvents({ limit: 100, reason: 'takeover' }).events.map((entry) => entry.clientId)).toEqual(['good']);
    expect(harness.core.connectionEvents({ limit: 1 }).events).toHaveLength(1);
    harness.close();
  });

  it('writes the events with the counter flush, one row for many, and has them after a restart', async () => {
    const harness = await CoreHarness.create({ hooks });
    await connect(harness, 'first');
    for (let i = 0; i < 50; i++) await connect(harness, `bad-${i}`, 4, { password: Buffer.from('wrong') });
    expect(harness.core.connectionEvents({ limit: 500 }).unsaved).toBe(50);
    expect(rows(harness)).toBe(0);
    // The counter flush comes within seconds (an alarm): fifty events, one row.
    await harness.advance(10_000);
    expect(rows(harness)).toBe(1);
    expect(harness.core.connectionEvents({ limit: 500 }).unsaved).toBe(0);

    harness.restart();
    const after = harness.core.connectionEvents({ limit: 500 });
    expect(after.events).toHaveLength(50);
    expect(after.events[0]).toMatchObject({ clientId: 'bad-49', reason: 'bad-username-or-password' });
    // New events after the restart come on top of the stored ones.
    await connect(harness, 'after-restart', 4, { password: Buffer.from('wrong') });
    expect(harness.core.connectionEvents({ limit: 1 }).events[0]?.clientId).toBe('after-restart');
    harness.close();
  });

  it('stays bounded: the newest events in memory and in a few rows, however many come', async () => {
    const harness = await CoreHarness.create({ hooks });
    await connect(harness, 'first');
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < 100; i++) await connect(harness, `bad-${round}-${i}`, 4, { password: Buffer.from('wrong') });
      await harness.advance(10_000);
      // Never more rows than it takes to hold the newest events.
      expect(rows(harness)).toBeLessThanOrEqual(Math.ceil(EventLogCapacity / 100) + 1);
    }
    // A burst larger than the log between two flushes keeps its newest part only.
    for (let i = 0; i < EventLogCapacity + 50; i++) await connect(harness, `burst-${i}`, 4, { password: Buffer.from('wrong') });
    expect(harness.core.connectionEvents({ limit: 1000 }).unsaved).toBe(EventLogCapacity);
    await harness.advance(10_000);
    expect(rows(harness)).toBe(1);
    harness.restart();
    const events = harness.core.connectionEvents({ limit: 1000 }).events;
    expect(events).toHaveLength(EventLogCapacity);
    expect(events[0]?.clientId).toBe(`burst-${EventLogCapacity + 49}`);
    expect(events.at(-1)?.clientId).toBe('burst-50');
    harness.close();
  });

  it('cuts client-made text to size', async () => {
    const harness = await CoreHarness.create({ hooks });
    await connect(harness, 'x'.repeat(5000), 4, { password: Buffer.from('wrong') });
    expect(harness.core.connectionEvents({ limit: 1 }).events[0]?.clientId).toHaveLength(256);
    harness.close();
  });

  it('keeps the events of a namespace without storage in memory only, creating none', async () => {
    const harness = await CoreHarness.create({ hooks });
    for (let i = 0; i < 3; i++) await connect(harness, `stranger-${i}`, 4, { password: Buffer.from('wrong') });
    await harness.advance(60_000);
    expect(harness.core.hasStorage).toBe(false);
    expect(harness.core.connectionEvents({ limit: 10 })).toMatchObject({ unsaved: 3, events: [{ clientId: 'stranger-2' }, { clientId: 'stranger-1' }, { clientId: 'stranger-0' }] });
    harness.close();
  });
});
