/**
 * The sidecar's multiplexed link on the real runtime: who may open one, at
 * which version (an older sidecar gets the version it speaks), what a
 * fan-out costs on it, what a broken link does (and does not do) to the
 * namespace, that a frame of a later version is skipped, what the edge
 * keeps of a sidecar's STATUS, and how devices fare when the edge goes away
 * under it.
 */
import net from 'node:net';
import { once } from 'node:events';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkProtocolVersion, LinkSubprotocol, decodeLinkFrames, encodeLinkFrames, type LinkFrame } from '../../shared/link-protocol.ts';
import type { LinkStatus } from '../../shared/link-status.ts';
import { adminClient } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, eventually, publish, subscribe } from '../helpers/mqtt-clients.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';

const Secret = 'link-test-secret';
const Token = 'link-test-admin';
let edge: TestEdge;
let sidecar: TestSidecar;

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: Secret, MQTT_ADMIN_TOKEN: Token });
  sidecar = await startTestSidecar(`${edge.mqttUrl}/link-main`, { MQTT_BRIDGE_SECRET: Secret, MQTT_LOG_LEVEL: 'info' });
});
afterAll(async () => {
  await sidecar?.sidecar.close();
  await edge?.dispose();
});

/** Opens a link by hand, as a sidecar would (or an attacker with or without the secret); `frames` collects what the edge sends. */
function openLink(path: string, headers: Record<string, string>, protocol: string | string[] = LinkSubprotocol): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }>; frames: LinkFrame[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${edge.mqttUrl}/${path}`, protocol, { headers });
    const closed = new Promise<{ code: number; reason: string }>((done) => ws.on('close', (code, reason) => done({ code, reason: reason.toString() })));
    const frames: LinkFrame[] = [];
    ws.on('message', (data: Buffer) => frames.push(...decodeLinkFrames(data)));
    ws.once('open', () => resolve({ ws, closed, frames }));
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

  it('answers another version of the link with 400, naming the ones it speaks', async () => {
    await expect(openLink('link-auth', { 'x-mqtt-bridge-secret': Secret }, 'mqtt-link.99')).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining(LinkSubprotocol),
    });
  });

  it('picks the newest version both ends speak: 3 for a sidecar that offers 4, 3, 2 and 1; 1 for one that speaks only 1', async () => {
    const newer = await openLink('link-auth', { 'x-mqtt-bridge-secret': Secret }, ['mqtt-link.4', 'mqtt-link.3', 'mqtt-link.2', 'mqtt-link.1']);
    expect(newer.ws.protocol).toBe('mqtt-link.3');
    newer.ws.close();
    // An older sidecar: version 1 as before, HELLO answered with 1, its device served as ever.
    const older = await openLink('link-v1', { 'x-mqtt-bridge-secret': Secret }, 'mqtt-link.1');
    expect(older.ws.protocol).toBe('mqtt-link.1');
    older.ws.send(encodeLinkFrames([{ type: 'hello', version: 1, name: 'old-sidecar' }, { type: 'open', channel: 1, address: '10.0.0.1:1' }, { type: 'data', channel: 1, bytes: mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'old-device', clean: true, keepalive: 60 }, { protocolVersion: 4 }) }]));
    await eventually(() => older.frames.some((frame) => frame.type === 'data'), 10_000, 'the CONNACK');
    expect(older.frames[0]).toMatchObject({ type: 'hello', version: 1 });
    const sidecars = await adminClient(edge.url, Token)('GET', '/admin/link-v1/sidecars');
    expect(sidecars.body).toMatchObject({ namespace: 'link-v1', sidecars: [{ name: 'old-sidecar', version: 1, devices: 1, bridges: [], connectedSince: expect.any(Number) }] });
    older.ws.close();
  });

  it('closes a link whose HELLO names another version than the one it was opened at', async () => {
    const { ws, closed } = await openLink('link-auth', { 'x-mqtt-bridge-secret': Secret }, 'mqtt-link.1');
    ws.send(encodeLinkFrames([{ type: 'hello', version: 3, name: 'confused' }]));
    const { code, reason } = await closed;
    expect(code).toBe(1002);
    expect(reason).toContain('opened as version 1');
  });
});

describe("a sidecar's report", () => {
  const status: LinkStatus = { bridges: [{ name: 'factory-7', remote: '10.0.0.5:1883', state: 'backing-off', since: 1_767_225_600_000, messagesIn: 3, messagesOut: 4, error: 'connect ECONNREFUSED 10.0.0.5:1883' }] };

  it('is kept with the link and listed by /admin/<ns>/sidecars; a frame of a later version is skipped and the link goes on', async () => {
    const admin = adminClient(edge.url, Token);
    const { ws, frames } = await openLink('link-status', { 'x-mqtt-bridge-secret': Secret });
    const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'reporting-device', clean: true, keepalive: 60 }, { protocolVersion: 4 });
    ws.send(encodeLinkFrames([{ type: 'hello', version: LinkProtocolVersion, name: 'reporting-sidecar' }, { type: 'status', status }, { type: 'open', channel: 7, address: '10.0.0.9:1' }, { type: 'data', channel: 7, bytes: connect }]));
    await eventually(() => frames.some((frame) => frame.type === 'data'), 10_000, 'the CONNACK');
    const listed = await admin('GET', '/admin/link-status/sidecars');
    expect(listed.body).toEqual({ namespace: 'link-status', sidecars: [{ id: expect.any(String), name: 'reporting-sidecar', devices: 1, connectedSince: expect.any(Number), version: LinkProtocolVersion, bridges: status.bridges, statusAt: expect.any(Number) }] });

    // A frame type this edge does not know, between a PINGREQ and another: skipped, both answered.
    const ping = Uint8Array.of(0xc0, 0x00);
    ws.send(Uint8Array.from([...encodeLinkFrames([{ type: 'data', channel: 7, bytes: ping }]), 0x2a, 0, 0, 0, 3, 1, 2, 3, ...encodeLinkFrames([{ type: 'data', channel: 7, bytes: ping }])]));
    // CONNACK (4 bytes) and two PINGRESPs (2 bytes each), in however many DATA frames.
    const received = (): number => frames.reduce((sum, frame) => sum + (frame.type === 'data' ? frame.bytes.byteLength : 0), 0);
    await eventually(() => received() === 8, 10_000, 'two PINGRESPs');
    expect(ws.readyState).toBe(WebSocket.OPEN);

    // A new report replaces the old one; a closed link is no longer listed.
    ws.send(encodeLinkFrames([{ type: 'status', status: { bridges: [{ ...status.bridges[0]!, state: 'connected' }] } }]));
    await expect.poll(async () => ((await admin('GET', '/admin/link-status/sidecars')).body as { sidecars: Array<{ bridges: Array<{ state: string }> }> }).sidecars[0]?.bridges[0]?.state, { timeout: 10_000 }).toBe('connected');
    ws.close();
    await expect.poll(async () => ((await admin('GET', '/admin/link-status/sidecars')).body as { sidecars: unknown[] }).sidecars, { timeout: 10_000 }).toEqual([]);
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

    // A second "sidecar" whose device has a will, then a malformed frame.
    const { ws, closed } = await openLink(namespace, { 'x-mqtt-bridge-secret': Secret });
    const connect = mqttPacket.generate(
      { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'on-the-bad-link', clean: true, keepalive: 60, will: { topic: 'wills/bad', payload: Buffer.from('gone'), qos: 0, retain: false } },
      { protocolVersion: 4 },
    );
    ws.send(encodeLinkFrames([{ type: 'hello', version: LinkProtocolVersion, name: 'bad-sidecar' }, { type: 'open', channel: 1, address: '' }, { type: 'data', channel: 1, bytes: connect }]));
    await eventually(() => edge.logs.some((line) => line.includes('"link.opened"') && line.includes('bad-sidecar')), 5_000, 'the link opened');
    // An empty DATA frame: malformed.
    ws.send(Uint8Array.of(0x02, 0, 0, 0, 1, 0, 0, 0, 0));
    const { code, reason } = await closed;
    expect(code).toBe(1002);
    expect(reason).toContain('empty DATA for channel 1');
    expect(edge.logs.some((line) => line.includes('"link_protocol_error"') && line.includes('empty DATA'))).toBe(true);
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
