/**
 * MQTT_LOG_EVENTS: what clients do, logged without any code, one line per
 * event, with the same fields from the edge and the sidecar
 * (shared/connection-log.ts ClientEvents); connections only by default;
 * `none` keeps even those out, while refusals are logged whatever it says.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientEvents, CommonConnectionFields, type ClientEvent } from '../../shared/connection-log.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, connectExpectingRefusal, eventually } from '../helpers/mqtt-clients.ts';
import { uniqueNames } from '../helpers/names.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';

const Secret = 'log-events-secret';
let edge: TestEdge;
let sidecar: TestSidecar;
const unique = uniqueNames();

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: Secret, MQTT_LOG_EVENTS: 'all' });
  sidecar = await startTestSidecar(edge.mqttUrl, { MQTT_BRIDGE_SECRET: Secret, MQTT_LOG_EVENTS: 'all' });
});
afterAll(async () => {
  await sidecar?.sidecar.close();
  await edge?.dispose();
});

type Line = Record<string, unknown>;
const parsed = (lines: string[]): Line[] =>
  lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Line];
    } catch {
      return [];
    }
  });
const linesOf = (lines: Line[], event: string, client: string): Line[] => lines.filter((line) => line['event'] === event && line['client'] === client);
const keysOf = (event: ClientEvent): string[] => [...new Set(['ts', 'level', 'event', 'component', ...CommonConnectionFields, ...ClientEvents[event]])].sort();

describe('MQTT_LOG_EVENTS=all', () => {
  it('logs subscribe, publish, delivery and unsubscribe on both sides, with the same fields and never the payload', async () => {
    const watcher = unique('ws');
    const device = unique('tcp');
    const ws = await connectClient(edge.mqttUrl, { clientId: watcher, protocolVersion: 5 });
    await ws.client.subscribeAsync('events/#', { qos: 1 });
    const tcp = await connectClient(`mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`, { clientId: device, protocolVersion: 4 });
    await tcp.client.subscribeAsync('events/echo', { qos: 0 });
    await tcp.client.publishAsync('events/echo', 'secret-payload', { qos: 1 });
    await ws.waitForMessages(1);
    await tcp.waitForMessages(1);
    await tcp.client.unsubscribeAsync('events/echo');

    const fromEdge = (): Line[] => parsed(edge.logs);
    await eventually(() => linesOf(fromEdge(), 'client.unsubscribed', device).length === 1, 10_000, "the edge's unsubscribe line");
    await eventually(() => linesOf(sidecar.logs, 'client.unsubscribed', device).length === 1, 10_000, "the sidecar's unsubscribe line");

    expect(linesOf(fromEdge(), 'client.subscribed', watcher)).toEqual([expect.objectContaining({ filter: 'events/#', qos: 1, code: 1, transport: 'ws' })]);
    expect(linesOf(fromEdge(), 'message.published', device)).toEqual([expect.objectContaining({ topic: 'events/echo', qos: 1, retain: false, bytes: 14, code: 0, transport: 'link' })]);
    // Delivered to both subscribers: the watcher at QoS 1, the publisher itself at its subscription's QoS 0.
    expect(linesOf(fromEdge(), 'message.delivered', watcher)).toEqual([expect.objectContaining({ topic: 'events/echo', qos: 1 })]);
    expect(linesOf(fromEdge(), 'message.delivered', device)).toEqual([expect.objectContaining({ topic: 'events/echo', qos: 0 })]);
    // The sidecar sees its device's side of it; what it cannot know (the edge's answers) is null.
    expect(linesOf(sidecar.logs, 'client.subscribed', device)).toEqual([expect.objectContaining({ filter: 'events/echo', qos: 0, code: null })]);
    expect(linesOf(sidecar.logs, 'message.published', device)).toEqual([expect.objectContaining({ topic: 'events/echo', bytes: 14, code: null })]);
    expect(linesOf(sidecar.logs, 'message.delivered', device)).toEqual([expect.objectContaining({ topic: 'events/echo', qos: 0 })]);

    for (const event of Object.keys(ClientEvents) as ClientEvent[]) {
      const client = event === 'client.subscribed' ? watcher : device;
      for (const line of [...linesOf(fromEdge(), event, client), ...linesOf(sidecar.logs, event, device)]) expect(Object.keys(line).sort(), event).toEqual(keysOf(event));
    }
    expect(edge.logs.join('\n')).not.toContain('secret-payload');
    await ws.end();
    await tcp.end();
  });
});

describe('MQTT_LOG_EVENTS defaults and none', () => {
  it('logs connections only by default, and nothing but problems with none', async () => {
    const quiet = await startTestEdge({ MQTT_LOG_EVENTS: 'none', MQTT_PASSWORDS: '', MQTT_ALLOW_ANONYMOUS: 'false' });
    const plain = await startTestEdge();
    try {
      const id = unique('plain');
      const client = await connectClient(plain.mqttUrl, { clientId: id });
      await client.client.subscribeAsync('x/#');
      await client.client.publishAsync('x/y', 'z');
      await client.end();
      await eventually(() => linesOf(parsed(plain.logs), 'connection.closed', id).length === 1, 10_000, 'the closed line');
      expect(linesOf(parsed(plain.logs), 'connection.accepted', id)).toHaveLength(1);
      expect(parsed(plain.logs).filter((line) => String(line['event']).startsWith('client.') || String(line['event']).startsWith('message.'))).toEqual([]);

      // Refused: logged even with none.
      expect(await connectExpectingRefusal(quiet.mqttUrl, { clientId: 'refused', protocolVersion: 4 })).toBe(5);
      await eventually(() => linesOf(parsed(quiet.logs), 'connection.refused', 'refused').length === 1, 10_000, 'the refusal');
      expect(parsed(quiet.logs).filter((line) => line['event'] === 'connection.accepted')).toEqual([]);
    } finally {
      await quiet.dispose();
      await plain.dispose();
    }
  });

  it('refuses an unknown event name by name', async () => {
    const { loadEdgeConfig } = await import('../../edge/config.ts');
    expect(() => loadEdgeConfig({ MQTT_LOG_EVENTS: 'connect,publsh' })).toThrow(/MQTT_LOG_EVENTS: unknown event "publsh"/);
  });
});
