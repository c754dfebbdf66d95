/**
 * Attacks on what a namespace spends before and after CONNECT (issue 13,
 * findings 1, 5 and 7), each run against the real Worker on workerd while a
 * well-behaved client of the same namespace measures its latency: the
 * attacker gets a clean refusal, the victim loses nothing and stays fast.
 */
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { PacketDecoder } from '../../shared/codec/decoder.ts';
import type { MqttPacket } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { brokerApiCaller, callBrokerApi } from '../helpers/broker-api-caller.ts';
import { startTestEdge, withGateways, type TestEdge } from '../helpers/edge.ts';
import { newStorage as newObjectStorage, storageFiles as objectStorageFiles } from '../helpers/object-storage.ts';
import { expectUnharmed, startVictim } from './victim.ts';

const ConnectTimeoutMs = 1500;
let edge: TestEdge;

beforeAll(async () => {
  edge = await startTestEdge(
    {
      MQTT_NAMESPACES: 'default tenant-*',
      MQTT_CONNECT_TIMEOUT_MS: String(ConnectTimeoutMs),
      MQTT_MAX_RETAINED_BYTES: String(64 * 1024),
      // Two of the largest packets (1 MiB): the flood below passes it within its first messages.
      MQTT_MAX_PENDING_BYTES: String(2 * 1024 * 1024),
    },
    { extraWorkers: [brokerApiCaller()] },
  );
});
afterAll(async () => {
  await edge?.dispose();
});

const storageFiles = (): Map<string, number> => objectStorageFiles(edge.persistDir);
const newStorage = (before: Map<string, number>): { objects: number; bytes: number } => newObjectStorage(edge.persistDir, before);

interface RawSocket {
  ws: WebSocket;
  packets: MqttPacket[];
  /**
   * When the server's close frame arrived. (Local workerd keeps the TCP
   * connection of a socket closed from a timer or an alarm open for some
   * seconds more; the close frame itself leaves on time.)
   */
  closed: Promise<{ code: number; at: number }>;
}

async function openRaw(path: string, level: 4 | 5 = 5): Promise<RawSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${edge.port}${path}`, 'mqtt');
  const packets: MqttPacket[] = [];
  const decoder = new PacketDecoder({ maxPacketSize: 1 << 24, protocolLevel: level });
  ws.on('message', (data: Buffer) => packets.push(...decoder.push(new Uint8Array(data)).packets));
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; at: number }>((resolve) => {
    ws.once('close', (code) => resolve({ code, at: performance.now() }));
    const poll = setInterval(() => {
      if (ws.readyState !== WebSocket.CLOSING && ws.readyState !== WebSocket.CLOSED) return;
      clearInterval(poll);
      const receiver = (ws as unknown as { _closeCode?: number })._closeCode;
      resolve({ code: receiver ?? 1005, at: performance.now() });
    }, 5);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
  });
  return { ws, packets, closed };
}

function upgradeStatus(path: string): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${edge.port}${path}`, 'mqtt');
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    ws.once('open', () => {
      ws.terminate();
      resolve('open');
    });
    ws.on('error', () => undefined);
  });
}

describe('namespaces are declared, and an undeclared one costs nothing', () => {
  it('answers 404 for names outside MQTT_NAMESPACES, on every route, before any Durable Object is addressed', async () => {
    const before = storageFiles();
    for (let i = 0; i < 30; i++) expect(await upgradeStatus(`/mqtt/random-${i}-${Math.random().toString(36).slice(2)}`)).toBe(404);
    // No object was made for the 30 random names.
    expect(newStorage(before).objects).toBe(0);
    expect(await upgradeStatus('/mqtt/tenant-a')).toBe('open');
    const publish = await fetch(new URL('/publish/elsewhere', edge.url), { method: 'POST', headers: { Authorization: 'Bearer x' }, body: '{}' });
    expect([401, 404]).toContain(publish.status);
  });

  it('refuses undeclared names through the BrokerApi service binding too, before any Durable Object is addressed', async () => {
    const victim = await startVictim(edge.mqttUrl);
    const before = storageFiles();
    for (let i = 0; i < 10; i++) {
      const namespace = `random-${i}-${Math.random().toString(36).slice(2)}`;
      expect(await callBrokerApi(edge.miniflare, { namespace, message: { topic: 'a', payload: 'x' } })).toMatch(/^refused: .*unknown namespace/);
      expect(await callBrokerApi(edge.miniflare, { method: 'stats', namespace })).toMatch(/^refused: .*unknown namespace/);
    }
    expect(newStorage(before).objects).toBe(0);
    expect(await callBrokerApi(edge.miniflare, { namespace: 'default', message: { topic: 'a', payload: 'x' } })).toBe('published');
    expectUnharmed(await victim.stop(), 'service binding calls for undeclared namespaces');
  });

  it('lets 300 connections to declared namespaces that never CONNECT write nothing, while a client of default keeps its latency', async () => {
    const victim = await startVictim(edge.mqttUrl);
    const before = storageFiles();
    const sockets: RawSocket[] = [];
    for (let i = 0; i < 300; i++) {
      const socket = await openRaw(`/mqtt/tenant-${i}-${Math.random().toString(36).slice(2, 8)}`);
      // Half a CONNECT: the fixed header of a 500-byte packet, then junk.
      socket.ws.send(Uint8Array.of(0x10, 0xf4, 0x03, ...new Array(300).fill(7)));
      sockets.push(socket);
    }
    // Each is closed at its connect timeout: wait for the effect, not for a time.
    const closes = await Promise.all(sockets.map((s) => s.closed));
    const report = await victim.stop();
    const created = newStorage(before);
    expect(closes.every((close) => close.code === 1008)).toBe(true);
    // The runtime makes an empty database file (one page, no tables) for each object it starts; nothing more is written.
    // With gateways, each connection starts two: its gateway and its namespace's core.
    expect(created.objects).toBeLessThanOrEqual(withGateways ? 600 : 300);
    expect(created.bytes).toBeLessThanOrEqual(created.objects * 4096);
    expectUnharmed(report, '300 connections without CONNECT');
  }, 60_000);
});

/** User Properties adding up to `bytes`: a valid CONNECT can be that large only through many fields, each at most 65,535 bytes. */
function bigUserProperties(bytes: number): Record<string, string> {
  const properties: Record<string, string> = {};
  for (let index = 0; index * 60_000 < bytes; index++) properties[`p${index}`] = 'x'.repeat(60_000);
  return properties;
}

describe('work before CONNECT is bounded', () => {
  it('refuses a 256 KiB CONNECT at its fixed header, however slowly it is sent, and writes nothing', async () => {
    const victim = await startVictim(edge.mqttUrl);
    const before = storageFiles();
    const socket = await openRaw('/mqtt/tenant-trickle');
    const big = encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'trickler', clean: true, keepalive: 60, properties: { userProperties: bigUserProperties(256 * 1024) } }, 5);
    const started = performance.now();
    for (let offset = 0; offset < big.byteLength && socket.ws.readyState === WebSocket.OPEN; offset += 128) {
      socket.ws.send(big.subarray(offset, offset + 128));
      if (offset > 64 * 1024) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const close = await socket.closed;
    expect(close.at - started).toBeLessThan(ConnectTimeoutMs);
    // One empty page per object started: the namespace's, and with gateways the gateway's too.
    const created = newStorage(before);
    expect(created.objects).toBeLessThanOrEqual(withGateways ? 2 : 1);
    expect(created.bytes).toBeLessThanOrEqual(created.objects * 4096);
    expectUnharmed(await victim.stop(), 'a 256 KiB CONNECT trickle');
  }, 30_000);

  it('closes a connection that never sends CONNECT at the configured connect timeout, not later', async () => {
    const socket = await openRaw('/mqtt/tenant-idle');
    const opened = performance.now();
    const close = await socket.closed;
    expect(close.code).toBe(1008);
    expect(close.at - opened).toBeGreaterThanOrEqual(ConnectTimeoutMs - 50);
    expect(close.at - opened).toBeLessThan(ConnectTimeoutMs + 1000);
  });
});

describe('work after CONNECT is bounded', () => {
  async function connected(clientId: string): Promise<RawSocket> {
    const socket = await openRaw('/mqtt');
    socket.ws.send(encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 60 }, 5));
    const deadline = Date.now() + 5000;
    while (!socket.packets.some((p) => p.cmd === 'connack') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(socket.packets[0]?.cmd).toBe('connack');
    return socket;
  }

  it('refuses a 20 MiB WebSocket message at once, unread', async () => {
    const victim = await startVictim(edge.mqttUrl);
    const socket = await connected('huge-message');
    const sent = performance.now();
    socket.ws.send(new Uint8Array(20 * 1024 * 1024));
    const close = await socket.closed;
    expect(close.code).toBe(1009);
    expect(close.at - sent).toBeLessThan(2000);
    expectUnharmed(await victim.stop(), 'a 20 MiB message');
  }, 30_000);

  it('handles a flood of PINGREQs in turns with the others, and closes the flooder with DISCONNECT 0x96 once its unhandled input passes the bound', async () => {
    const victim = await startVictim(edge.mqttUrl);
    const socket = await connected('pinger');
    // 500,000 PINGREQs a message, ten messages at once: far more than the namespace handles before the next arrives.
    const flood = new Uint8Array(1_000_000);
    for (let i = 0; i < flood.length; i += 2) flood[i] = 0xc0;
    const sent = performance.now();
    for (let i = 0; i < 10; i++) socket.ws.send(flood);
    const close = await socket.closed;
    expect(close.at - sent).toBeLessThan(10_000);
    expect(socket.packets.some((p) => p.cmd === 'disconnect' && p.reasonCode === ReasonCode.MessageRateTooHigh)).toBe(true);
    // It was not thrown out for being fast: what it sent before the bound was answered.
    expect(socket.packets.filter((p) => p.cmd === 'pingresp').length).toBeGreaterThan(0);
    expectUnharmed(await victim.stop(), 'ten messages of 500,000 PINGREQs');
  }, 30_000);
});

describe('smaller limits', () => {
  it('refuses topic filters over the length or level limits (a 60 KB filter, 30,000 levels)', async () => {
    const socket = await openRaw('/mqtt');
    socket.ws.send(encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'filters', clean: true, keepalive: 60 }, 5));
    socket.ws.send(
      encodePacket(
        {
          cmd: 'subscribe',
          messageId: 1,
          subscriptions: [
            { topic: 'a'.repeat(60_000), qos: 1 },
            { topic: `${'x/'.repeat(30_000)}y`, qos: 1 },
            { topic: 'fine/+', qos: 1 },
          ],
        },
        5,
      ),
    );
    const deadline = Date.now() + 5000;
    while (!socket.packets.some((p) => p.cmd === 'suback') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    const suback = socket.packets.find((p) => p.cmd === 'suback');
    expect(suback?.cmd === 'suback' ? suback.granted : undefined).toEqual([ReasonCode.TopicFilterInvalid, ReasonCode.TopicFilterInvalid, 1]);
    socket.ws.terminate();
  });

  it('keeps retained messages within the namespace byte budget (MQTT_MAX_RETAINED_BYTES)', async () => {
    const client = await mqtt.connectAsync(`${edge.mqttUrl}/tenant-retained`, { protocolVersion: 5, reconnectPeriod: 0 });
    try {
      for (let i = 0; i < 100; i++) await client.publishAsync(`r/${i}`, Buffer.alloc(1024, 1), { qos: 1, retain: true });
      const subscriber = await mqtt.connectAsync(`${edge.mqttUrl}/tenant-retained`, { protocolVersion: 5, reconnectPeriod: 0 });
      let retained = 0;
      subscriber.on('message', (_topic, _payload, packet) => {
        if (packet.retain) retained++;
      });
      await subscriber.subscribeAsync('r/#', { qos: 0 });
      // A fence: a message published after the subscription arrives after every retained one.
      const fence = new Promise<void>((resolve) => subscriber.on('message', (topic) => topic === 'fence' && resolve()));
      await subscriber.subscribeAsync('fence', { qos: 0 });
      await client.publishAsync('fence', 'x', { qos: 1 });
      await fence;
      await subscriber.endAsync();
      // 64 KiB of payloads and topics: at most 63 messages of 1 KiB.
      expect(retained).toBeGreaterThan(50);
      expect(retained).toBeLessThanOrEqual(63);
    } finally {
      await client.endAsync();
    }
  });

  it('grants a week of session expiry at most by default', async () => {
    const client = await mqtt.connectAsync(edge.mqttUrl, { protocolVersion: 5, clean: false, clientId: 'forever', properties: { sessionExpiryInterval: 0xffffffff }, reconnectPeriod: 0 });
    const connack = await new Promise<mqtt.IConnackPacket>((resolve) => {
      client.end(true);
      resolve((client as unknown as { connackPacket: mqtt.IConnackPacket }).connackPacket);
    });
    expect(connack?.properties?.sessionExpiryInterval).toBe(7 * 24 * 3600);
  });
});
