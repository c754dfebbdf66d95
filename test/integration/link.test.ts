/**
 * The sidecar's multiplexed link on the real runtime: who may open one,
 * what a fan-out costs on it, what a broken link does (and does not do) to
 * the namespace, and how devices fare when the edge goes away under it.
 */
import net from 'node:net';
import { once } from 'node:events';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkProtocolVersion, LinkSubprotocol, encodeLinkFrames } from '../../shared/link-protocol.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, eventually, publish, subscribe } from '../helpers/mqtt-clients.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';

const Secret = 'link-test-secret';
let edge: TestEdge;
let sidecar: TestSidecar;

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: Secret });
  sidecar = await startTestSidecar(`${edge.mqttUrl}/link-main`, { MQTT_BRIDGE_SECRET: Secret, MQTT_LOG_LEVEL: 'info' });
});
afterAll(async () => {
  await sidecar?.sidecar.close();
  await edge?.dispose();
});

/** Opens a link by hand, as a sidecar would (or an attacker with or without the secret). */
function openLink(path: string, headers: Record<string, string>, protocol = LinkSubprotocol): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${edge.mqttUrl}/${path}`, protocol, { headers });
    const closed = new Promise<{ code: number; reason: string }>((done) => ws.on('close', (code, reason) => done({ code, reason: reason.toString() })));
    ws.once('open', () => resolve({ ws, closed }));
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => reject(Object.assign(new Error(body), { status: response.statusCode })));
    });
    ws.once('error', reject);
  });
}

describe('opening a link', () => {
  it('needs the bridge secret: without it, or with a wrong one, 403', async () => {
    await expect(openLink('link-auth', {})).rejects.toMatchObject({ status: 403, message: expect.stringContaining('MQTT_BRIDGE_SECRET') });
    await expect(openLink('link-auth', { 'x-mqtt-bridge-secret': 'guess' })).rejects.toMatchObject({ status: 403 });
    const { ws } = await openLink('link-auth', { 'x-mqtt-bridge-secret': Secret });
    expect(ws.protocol).toBe(LinkSubprotocol);
    ws.close();
  });

  it('answers another version of the link with 400, naming the one it speaks', async () => {
    await expect(openLink('link-auth', { 'x-mqtt-bridge-secret': Secret }, 'mqtt-link.99')).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining(LinkSubprotocol),
    });
  });
});

describe('devices on the link', () => {
  it('carry a fan-out to many devices of one sidecar across the link once', async () => {
    const url = `mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`;
    const devices = await Promise.all(Array.from({ length: 20 }, (_, i) => connectClient(url, { clientId: `fan-${i}`, protocolVersion: i % 2 === 0 ? 4 : 5 })));
    for (const device of devices) await subscribe(device.client, 'fan/#', { qos: 1 });
    const before = { ...sidecar.sidecar.stats().link };
    const publisher = await connectClient(`${edge.mqttUrl}/link-main`, { clientId: 'fan-pub', protocolVersion: 5 });
    await publish(publisher.client, 'fan/out', 'to all twenty', { qos: 1 });
    for (const device of devices) expect((await device.waitForMessages(1))[0]?.payload).toBe('to all twenty');
    const after = sidecar.sidecar.stats().link;
    // Both levels (3.1.1 and 5.0 encode differently): two groups, each one FANOUT.
    expect((after?.fanoutDeliveries ?? 0) - (before.fanoutDeliveries ?? 0)).toBe(20);
    expect((after?.messagesReceived ?? 0) - (before.messagesReceived ?? 0)).toBeLessThanOrEqual(2);
    await Promise.all([...devices.map((device) => device.end()), publisher.end()]);
  });

  it('closes a link that sends a malformed frame, with a logged reason; the namespace and its other links go on', async () => {
    const namespace = 'link-main';
    const watcher = await connectClient(`${edge.mqttUrl}/${namespace}`, { clientId: 'link-watcher', protocolVersion: 5 });
    await subscribe(watcher.client, 'wills/#', { qos: 0 });
    const device = await connectClient(`mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`, { clientId: 'on-the-good-link', protocolVersion: 5 });

    // A second "sidecar" whose device has a will, then a frame of an unknown type.
    const { ws, closed } = await openLink(namespace, { 'x-mqtt-bridge-secret': Secret });
    const connect = mqttPacket.generate(
      { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'on-the-bad-link', clean: true, keepalive: 60, will: { topic: 'wills/bad', payload: Buffer.from('gone'), qos: 0, retain: false } },
      { protocolVersion: 4 },
    );
    ws.send(encodeLinkFrames([{ type: 'hello', version: LinkProtocolVersion, name: 'bad-sidecar' }, { type: 'open', channel: 1, address: '' }, { type: 'data', channel: 1, bytes: connect }]));
    await eventually(() => edge.logs.some((line) => line.includes('"link.opened"') && line.includes('bad-sidecar')), 5_000, 'the link opened');
    ws.send(Uint8Array.of(0x42, 1, 2, 3));
    const { code, reason } = await closed;
    expect(code).toBe(1002);
    expect(reason).toContain('unknown frame type 0x42');
    expect(edge.logs.some((line) => line.includes('"link_protocol_error"') && line.includes('unknown frame type'))).toBe(true);
    // Its device was lost, so its will went out; the good link's device is untouched.
    expect((await watcher.waitForMessages(1))[0]?.topic).toBe('wills/bad');
    await subscribe(device.client, 'still/here', { qos: 1 });
    await publish(watcher.client, 'still/here', 'yes', { qos: 1 });
    expect((await device.waitForMessages(1))[0]?.payload).toBe('yes');
    await Promise.all([watcher.end(), device.end()]);
  });
});

describe('losing the edge', () => {
  it('tells 5.0 devices DISCONNECT 0x89 (server busy), closes 3.1.1 devices, and links again once the edge is back', { timeout: 60_000 }, async () => {
    const own = await startTestEdge({ MQTT_BRIDGE_SECRET: Secret });
    const local = await startTestSidecar(`${own.mqttUrl}/lost`, { MQTT_BRIDGE_SECRET: Secret, MQTT_LOG_LEVEL: 'info' });
    try {
      const v5 = await openTcpDevice(local.sidecar.tcpPort, 5, 'lost-5');
      const v4 = await openTcpDevice(local.sidecar.tcpPort, 4, 'lost-4');
      const connects = local.sidecar.stats().link?.connects ?? 0;
      await own.restart();
      await Promise.all([v5.closed, v4.closed]);
      expect(v5.packets.map((p) => p.cmd)).toEqual(['connack', 'disconnect']);
      // "Server unavailable" (0x88) exists only for CONNACK; a DISCONNECT says it as 0x89, Server busy [MQTT-3.14.2.1].
      expect(v5.packets[1]).toMatchObject({ reasonCode: 0x89 });
      expect(v4.packets.map((p) => p.cmd)).toEqual(['connack']);
      expect(local.events('link.closed')).toHaveLength(1);
      // Back with backoff; a device arriving meanwhile brings the next attempt forward.
      const again = await connectClient(`mqtt://127.0.0.1:${local.sidecar.tcpPort}`, { clientId: 'after', protocolVersion: 5 });
      expect(local.sidecar.stats().link?.connects).toBeGreaterThan(connects);
      await again.end();
    } finally {
      await local.sidecar.close();
      await own.dispose();
    }
  });
});

/** A raw TCP device that records the packets it gets, connected through the sidecar. */
async function openTcpDevice(port: number, level: 4 | 5, clientId: string): Promise<{ packets: mqttPacket.Packet[]; closed: Promise<void> }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const parser = mqttPacket.parser({ protocolVersion: level });
  const packets: mqttPacket.Packet[] = [];
  parser.on('packet', (packet) => packets.push(packet));
  socket.on('data', (chunk) => parser.parse(chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: level, clientId, clean: true, keepalive: 60 }, { protocolVersion: level }));
  await eventually(() => packets.some((p) => p.cmd === 'connack'), 10_000, `${clientId} CONNACK`);
  return { packets, closed };
}
