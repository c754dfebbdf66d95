/**
 * What the dashboard reads of a namespace beyond its live counters: the
 * per-minute history in SQLite (one row a minute at most, none while idle,
 * kept across hibernation), the busiest topics, subscriptions across
 * clients, and each client's details.
 */
import { describe, expect, it } from 'vitest';
import { CoreHarness, type HarnessConnection } from './harness.ts';

const MinuteMs = 60_000;

async function connect(harness: CoreHarness, clientId: string, extra: Record<string, unknown> = {}): Promise<HarnessConnection> {
  const connection = harness.open();
  await connection.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0, ...extra });
  return connection;
}

function publishTo(connection: HarnessConnection, topic: string, retain = false): Promise<void> {
  return connection.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain, dup: false });
}

function historyRows(harness: CoreHarness): number {
  return Number(harness.sql.exec('SELECT COUNT(*) AS n FROM traffic_history').toArray()[0]?.['n'] ?? 0);
}

describe('the per-minute history', () => {
  it('adds at most one row a minute, none while idle, and keeps it across hibernation', async () => {
    // Start on a minute boundary so the minutes below are whole.
    const harness = await CoreHarness.create({ startAt: Date.UTC(2026, 0, 1, 12, 0, 0) });
    const publisher = await connect(harness, 'pub');
    for (let i = 0; i < 10; i++) await publishTo(publisher, 'a/b');
    // Counters flush a few seconds later; that flush writes the minute's snapshot.
    await harness.advance(10_000);
    expect(historyRows(harness)).toBe(1);
    for (let i = 0; i < 20; i++) {
      await publishTo(publisher, 'a/b');
      await harness.advance(1000);
    }
    // Twenty flushes in the same minute: still one row.
    expect(historyRows(harness)).toBe(1);
    // A minute without traffic has no row; the next message's minute has one.
    await harness.advance(MinuteMs);
    expect(historyRows(harness)).toBe(1);
    await publishTo(publisher, 'a/b');
    await harness.advance(10_000);
    expect(historyRows(harness)).toBe(2);

    // Idle for ten minutes: no alarm is asked for history and no row is written.
    await harness.advance(10 * MinuteMs);
    expect(harness.nextAlarm).toBeUndefined();
    expect(historyRows(harness)).toBe(2);

    await harness.hibernate();
    for (let i = 0; i < 5; i++) await publishTo(publisher, 'a/c');
    await harness.advance(10_000);
    expect(historyRows(harness)).toBe(3);

    const samples = harness.core.history(60);
    expect(samples.map((s) => (s.t - samples[0]!.t) / MinuteMs)).toEqual([0, 1, 11]);
    // Each minute gets what arrived in it: CONNECT and thirty PUBLISH; one; five after the wake.
    expect(samples.map((s) => s.messagesIn)).toEqual([31, 1, 5]);
    expect(samples.every((s) => s.connections === 1 && s.dropped === 0 && s.stalls === 0)).toBe(true);
    expect(samples.every((s) => s.bytesIn > 0)).toBe(true);
    // Only the minutes asked for.
    expect(harness.core.history(1)).toHaveLength(1);
    harness.close();
  });

  it('keeps a day of minutes', async () => {
    const harness = await CoreHarness.create({ startAt: Date.UTC(2026, 0, 1) });
    const publisher = await connect(harness, 'pub');
    for (let minute = 0; minute < 1445; minute++) {
      await publishTo(publisher, 't');
      await harness.advance(MinuteMs);
    }
    await publishTo(publisher, 't');
    await harness.advance(10_000);
    expect(historyRows(harness)).toBe(1440);
    expect(harness.core.history(100_000)).toHaveLength(1440);
    harness.close();
  }, 60_000);

  it('writes nothing for a namespace that never accepted a client', async () => {
    const harness = await CoreHarness.create();
    await harness.core.publishFromApi({ topic: 'api/x', payload: new Uint8Array([1]), qos: 0, retain: false });
    await harness.advance(2 * MinuteMs);
    expect(harness.core.hasStorage).toBe(false);
    expect(harness.core.history(60)).toEqual([]);
    harness.close();
  });
});

describe('the busiest topics', () => {
  it('counts publishes per topic, not $SYS, with a rate and the retained flag', async () => {
    const harness = await CoreHarness.create();
    const publisher = await connect(harness, 'pub');
    const watcher = await connect(harness, 'watcher');
    await watcher.send({ cmd: 'subscribe', messageId: 1, properties: {}, subscriptions: [{ topic: '$SYS/#', qos: 0 }] });
    for (let second = 0; second < 10; second++) {
      for (let i = 0; i < 5; i++) await publishTo(publisher, 'busy/topic');
      await publishTo(publisher, 'slow/topic', second === 0);
      await harness.advance(1000);
    }
    const { topics } = harness.core.topics(10);
    expect(topics.map((t) => t.topic)).toEqual(['busy/topic', 'slow/topic']);
    expect(topics[0]!.rate).toBeGreaterThan(3);
    expect(topics[0]!.messages).toBe(50);
    expect(topics[1]!.retained).toBe(true);
    expect(topics[0]!.retained).toBe(false);
    // Quiet topics fade out of the list.
    await harness.advance(20 * MinuteMs);
    expect(harness.core.topics(10).topics).toEqual([]);
    harness.close();
  });

  it('stays bounded with many topics, and lets new busy ones in', async () => {
    const harness = await CoreHarness.create();
    const publisher = await connect(harness, 'pub');
    for (let i = 0; i < 1000; i++) await publishTo(publisher, `many/${i}`);
    await harness.advance(1000);
    const first = harness.core.topics(256);
    expect(first.topics.length).toBeLessThanOrEqual(256);
    expect(first.untracked).toBeGreaterThan(0);
    for (let second = 0; second < 5; second++) {
      for (let i = 0; i < 20; i++) await publishTo(publisher, 'new/busy');
      await harness.advance(1000);
    }
    expect(harness.core.topics(5).topics[0]?.topic).toBe('new/busy');
    harness.close();
  });
});

describe('subscriptions and client details', () => {
  it('lists subscriptions across clients with share groups, and each client with its will, username and last seen', async () => {
    const harness = await CoreHarness.create();
    const a = await connect(harness, 'client-a', { username: 'alice', will: { topic: 'wills/a', payload: Buffer.from('gone'), qos: 1, retain: false, properties: {} } });
    await a.send({ cmd: 'subscribe', messageId: 1, properties: {}, subscriptions: [{ topic: 'x/#', qos: 1 }, { topic: '$share/workers/jobs/+', qos: 0 }] });
    const b = await connect(harness, 'client-b', { clean: false, properties: { sessionExpiryInterval: 600 } });
    await b.send({ cmd: 'subscribe', messageId: 1, properties: {}, subscriptions: [{ topic: 'y', qos: 2 }] });
    await harness.advance(5000);
    await b.send({ cmd: 'disconnect', properties: {} });

    expect(harness.core.listSubscriptions(100)).toEqual([
      { clientId: 'client-a', filter: '$share/workers/jobs/+', qos: 0, shareGroup: 'workers', online: true },
      { clientId: 'client-a', filter: 'x/#', qos: 1, online: true },
      { clientId: 'client-b', filter: 'y', qos: 2, online: false },
    ]);
    expect(harness.core.listSubscriptions(1)).toHaveLength(1);

    const clients = harness.core.listClients(10);
    const alice = clients.find((c) => c.clientId === 'client-a');
    const bob = clients.find((c) => c.clientId === 'client-b');
    expect(alice).toMatchObject({ connected: true, username: 'alice', willTopic: 'wills/a', protocolLevel: 5 });
    expect(alice?.lastSeen).toBeTypeOf('number');
    expect(bob).toMatchObject({ connected: false, sessionExpiryInterval: 600, lastSeen: harness.now });
    expect(bob?.willTopic).toBeUndefined();
    harness.close();
  });
});
