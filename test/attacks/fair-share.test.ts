/**
 * Heavy clients on the real runtime (docs/flow-control.md): a fast client
 * that waits for its answers, as every ordinary client does, is never
 * thrown out and loses nothing; a client that makes the namespace work
 * hard (every message matching a thousand of its own subscriptions) gets
 * its turns, and a witness of the same namespace keeps its own.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { eventually } from '../helpers/mqtt-clients.ts';
import { uniqueNames } from '../helpers/names.ts';
import { expectUnharmed, startVictim } from './victim.ts';

const Token = 'fair-share-admin';
let edge: TestEdge;
const unique = uniqueNames();

beforeAll(async () => {
  // The defaults a user gets: nothing here is loosened for the test.
  edge = await startTestEdge({ MQTT_ADMIN_TOKEN: Token });
});
afterAll(async () => {
  await edge?.dispose();
});

const url = (namespace: string): string => `${edge.mqttUrl}/${namespace}`;

describe('fast clients', () => {
  for (const qos of [0, 1] as const) {
    it(`never disconnects a client publishing QoS ${qos} as fast as its answers come back, and loses nothing`, async () => {
      const namespace = unique('fast');
      const subscriber = await mqtt.connectAsync(url(namespace), { protocolVersion: 5, reconnectPeriod: 0 });
      let received = 0;
      subscriber.on('message', () => received++);
      await subscriber.subscribeAsync('fast/#', { qos });
      const publisher = await mqtt.connectAsync(url(namespace), { protocolVersion: 5, reconnectPeriod: 0 });
      let closed = false;
      publisher.on('close', () => (closed = true));
      // A closed loop of 100 in flight, as the shared benchmark keeps: 5,000 messages as fast as the broker answers.
      const total = 5_000;
      let sent = 0;
      const one = (): Promise<void> => publisher.publishAsync('fast/x', Buffer.alloc(64, 1), { qos }).then(() => undefined);
      const lanes = Array.from({ length: 100 }, async () => {
        while (sent < total) {
          sent++;
          await one();
          // QoS 0 has no answer: a turn of the event loop keeps the lane from flooding the socket's buffer.
          if (qos === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      });
      await Promise.all(lanes);
      await eventually(() => received >= total, 30_000, `${total} messages at the subscriber (got ${received})`);
      expect(closed).toBe(false);
      expect(received).toBe(total);
      const stats = await adminClient(edge.url, Token)('GET', `/admin/${namespace}/stats`);
      const counters = stats.body['counters'] as Record<string, number>;
      expect(counters['qos0Dropped']).toBe(0);
      await publisher.endAsync();
      await subscriber.endAsync();
    }, 60_000);
  }
});

describe('heavy clients', () => {
  it('gives a client whose every message matches a thousand of its own subscriptions its turns, and the witness keeps its own', async () => {
    const namespace = unique('overlap');
    const victim = await startVictim(url(namespace));
    const attacker = await mqtt.connectAsync(url(namespace), { protocolVersion: 5, reconnectPeriod: 0 });
    attacker.on('error', () => undefined);
    // 1,000 different filters that all match o/1/2/3/4/5/6/7/8/9: each level literal or +, then # variants.
    const filters: string[] = [];
    for (let mask = 0; mask < 512; mask++) {
      const levels = Array.from({ length: 9 }, (_, i) => ((mask >> i) & 1 ? '+' : String(i + 1)));
      filters.push(`o/${levels.join('/')}`);
      if (filters.length < 1000) filters.push(`o/${levels.slice(0, 8).join('/')}/#`);
    }
    for (let i = 0; i < filters.length; i += 100) await attacker.subscribeAsync(filters.slice(i, i + 100), { qos: 0 });
    // 3,000 publishes at once, each matching all 1,000.
    for (let i = 0; i < 3000; i++) attacker.publish('o/1/2/3/4/5/6/7/8/9', 'x', { qos: 0 });
    const stats = adminClient(edge.url, Token);
    // The namespace catches up: handled, or dropped as over its share, within seconds.
    const deadline = Date.now() + 30_000;
    let behindMs = Number.POSITIVE_INFINITY;
    while (Date.now() < deadline) {
      const answer = await stats('GET', `/admin/${namespace}/stats`);
      behindMs = (answer.body['flow'] as { behindMs: number }).behindMs;
      const counters = answer.body['counters'] as Record<string, number>;
      if (behindMs === 0 && (counters['publishReceived'] ?? 0) + (counters['qos0Dropped'] ?? 0) >= 3000) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(behindMs).toBe(0);
    expectUnharmed(await victim.stop(), 'a client whose 3,000 messages each match 1,000 of its subscriptions');
    await attacker.endAsync();
  }, 60_000);
});
