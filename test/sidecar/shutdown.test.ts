/**
 * Graceful shutdown: stop accepting, let frames in flight reach the device,
 * DISCONNECT 0x8B to 5.0 devices, close 3.x devices, all within
 * MQTT_SHUTDOWN_GRACE_MS; and the CLI exits 0 on SIGTERM.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient } from '../helpers/mqtt-clients.ts';
import { runScript } from '../helpers/run-script.ts';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { EdgeCloseCode } from '../../sidecar/close-codes.ts';
import { connectDevice, connectPacket, startFakeEdge, startTestSidecar, waitUntil, type FakeEdge, type TestSidecar, closeStarted } from './harness.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let running: TestSidecar | undefined;
let edge: FakeEdge | undefined;
afterEach(closeStarted);

describe('graceful shutdown', () => {
  it('sends a 5.0 MQTT.js client DISCONNECT 0x8B, closes a 3.1.1 client, and closes the edge side with 1001', async () => {
    edge = await startFakeEdge();
    running = await startTestSidecar(edge.url, { MQTT_SHUTDOWN_GRACE_MS: '3000' });
    const url = `mqtt://127.0.0.1:${running.sidecar.tcpPort}`;
    const v5 = await connectClient(url, { protocolVersion: 5, clientId: 'v5' });
    const v4 = await connectClient(url, { protocolVersion: 4, clientId: 'v4' });
    const disconnect = new Promise<mqtt.IDisconnectPacket>((resolve) => v5.client.once('disconnect', (packet) => resolve(packet)));
    const v4Closed = new Promise<void>((resolve) => v4.client.once('close', () => resolve()));

    const started = Date.now();
    await running.sidecar.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect((await disconnect).reasonCode).toBe(ReasonCode.ServerShuttingDown);
    await v4Closed;
    const codes = await Promise.all(edge.connections.map((c) => c.closed));
    expect(codes.map((c) => c.code)).toEqual([EdgeCloseCode.GoingAway, EdgeCloseCode.GoingAway]);
    expect(running.sidecar.connections).toBe(0);
    v5.client.end(true);
    v4.client.end(true);
  });

  it('stops accepting new devices', async () => {
    edge = await startFakeEdge();
    running = await startTestSidecar(edge.url);
    const port = running.sidecar.tcpPort;
    await running.sidecar.close();
    const socket = net.connect({ host: '127.0.0.1', port });
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
  });

  it('lets a frame already on its way reach the device before the DISCONNECT', async () => {
    edge = await startFakeEdge();
    running = await startTestSidecar(edge.url);
    const device = await connectDevice(running.sidecar.tcpPort);
    device.send(connectPacket(5), 5);
    const connection = await edge.connection(1);
    await waitUntil(() => device.packets(5).length === 1, 'CONNACK');
    const big = encodePacket({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(4 * 1024 * 1024, 1), qos: 0, retain: false, dup: false }, 5);
    connection.sendBytes(big);
    const closing = running.sidecar.close();
    await device.closed;
    await closing;
    expect(device.packets(5).map((p) => p.cmd)).toEqual(['connack', 'publish', 'disconnect']);
    expect(device.packets(5)[2]).toMatchObject({ reasonCode: ReasonCode.ServerShuttingDown });
  });

  it('finishes within the grace period when neither the edge nor the device reads', async () => {
    edge = await startFakeEdge();
    running = await startTestSidecar(edge.url, { MQTT_SHUTDOWN_GRACE_MS: '1000' });
    const device = await connectDevice(running.sidecar.tcpPort, { read: false });
    device.socket.pause();
    device.send(connectPacket(5), 5);
    const connection = await edge.connection(1);
    await waitUntil(() => connection.packets.length === 1, 'CONNECT at the edge');
    // Fill the device direction, then stop the edge from reading (no close reply).
    for (let i = 0; i < 64; i++) connection.sendBytes(encodePacket({ cmd: 'publish', topic: 'x', payload: Buffer.alloc(256 * 1024), qos: 0, retain: false, dup: false }, 5));
    connection.ws.pause();
    const started = Date.now();
    await running.sidecar.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(running.sidecar.connections).toBe(0);
    // The sidecar cut the connection: the device sees it once it reads again.
    device.socket.resume();
    await device.closed;
  });

  it('refuses a device still waiting for the edge with CONNACK server unavailable', async () => {
    const silent = net.createServer();
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const sockets: net.Socket[] = [];
    silent.on('connection', (socket) => sockets.push(socket));
    running = await startTestSidecar(`ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}/mqtt`);
    const device = await connectDevice(running.sidecar.tcpPort);
    device.send(connectPacket(4), 4);
    // The first is the sidecar's check, at start, of whether the edge has a bridge secret (it has none itself).
    await waitUntil(() => sockets.length === 2, "the device's upgrade request at the edge");
    await running.sidecar.close();
    await device.closed;
    expect(device.packets(4)).toEqual([expect.objectContaining({ cmd: 'connack', returnCode: 3 })]);
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
});

describe('sidecar/main.ts', () => {
  it('exits 0 on SIGTERM after DISCONNECT 0x8B to a 5.0 device', async () => {
    edge = await startFakeEdge();
    const child = spawn(process.execPath, ['--import', 'tsx', 'sidecar/main.ts'], {
      cwd: repoRoot,
      env: { ...process.env, MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: '0', MQTT_EDGE_URL: edge.url, MQTT_SHUTDOWN_GRACE_MS: '2000' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const lines: string[] = [];
    let buffered = '';
    child.stderr.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      lines.push(...parts);
    });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    await waitUntil(() => lines.some((line) => line.includes('sidecar.listening')), 'the listening line', 20_000);
    const listening = JSON.parse(lines.find((line) => line.includes('sidecar.listening')) ?? '{}') as { tcp: string };
    const port = Number(listening.tcp.split(':').pop());

    const device = await connectDevice(port);
    device.send(connectPacket(5), 5);
    await waitUntil(() => device.packets(5).length === 1, 'CONNACK');
    const started = Date.now();
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(4_000);
    await device.closed;
    expect(device.packets(5)[1]).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.ServerShuttingDown });
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect(lines.some((line) => line.includes('"event":"sidecar.stopped"'))).toBe(true);
  });

  it('exits 1 with one clear line per invalid setting', async () => {
    const { code, stderr } = await runScript('sidecar/main.ts', [], { MQTT_TCP_PORT: 'eighty', MQTT_EDGE_URL: 'http://example/mqtt' });
    expect(code).toBe(1);
    const events = stderr.trim().split('\n').map((line) => JSON.parse(line) as { event: string; error: string });
    expect(events.map((e) => e.event)).toEqual(['config.invalid', 'config.invalid']);
    expect(events.map((e) => e.error).join('\n')).toMatch(/MQTT_TCP_PORT="eighty"[\s\S]*MQTT_EDGE_URL/);
  });
});
