/**
 * An edge that cannot be reached, refuses the upgrade or never answers: the
 * device gets CONNACK "server unavailable" in its own protocol level, the
 * sidecar logs one line per failure and goes on serving.
 */
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { connectExpectingRefusal } from '../helpers/mqtt-clients.ts';
import { ConnackReturnCode, ReasonCode } from '../../shared/reason-codes.ts';
import { closedPort, connectDevice, connectPacket, startFakeEdge, startTestSidecar, waitUntil, type FakeEdge, type TestSidecar } from './harness.ts';

/** The sidecar's refusals because the edge could not be reached (connection.refused, reason edge-unavailable). */
const edgeUnavailable = (sidecar: TestSidecar | undefined): Array<Record<string, unknown>> =>
  (sidecar?.events('connection.refused') ?? []).filter((line) => line['reason'] === 'edge-unavailable');

let running: TestSidecar | undefined;
let edge: FakeEdge | undefined;
let silentServer: net.Server | undefined;
afterEach(async () => {
  await running?.sidecar.close();
  await edge?.close();
  if (silentServer !== undefined) {
    silentServer.close();
    for (const socket of silentSockets) socket.destroy();
  }
  running = undefined;
  edge = undefined;
  silentServer = undefined;
});
const silentSockets: net.Socket[] = [];

const levels = [
  { name: '3.1', options: { protocolVersion: 3, protocolId: 'MQIsdp' } as const, expected: ConnackReturnCode.ServerUnavailable },
  { name: '3.1.1', options: { protocolVersion: 4 } as const, expected: ConnackReturnCode.ServerUnavailable },
  { name: '5.0', options: { protocolVersion: 5 } as const, expected: ReasonCode.ServerUnavailable },
];

describe('edge unreachable (connection refused)', () => {
  it.each(levels)('MQTT.js $name gets CONNACK server unavailable', async ({ options, expected }) => {
    running = await startTestSidecar(`ws://127.0.0.1:${await closedPort()}/mqtt`);
    const code = await connectExpectingRefusal(`mqtt://127.0.0.1:${running.sidecar.tcpPort}`, options);
    expect(code).toBe(expected);
    const failures = edgeUnavailable(running);
    expect(failures).toHaveLength(1);
    expect(String(failures[0]?.['error'])).toContain('ECONNREFUSED');
  });

  it('keeps serving: every device is answered and each failure is logged once', async () => {
    running = await startTestSidecar(`ws://127.0.0.1:${await closedPort()}/mqtt`);
    const url = `mqtt://127.0.0.1:${running.sidecar.tcpPort}`;
    const codes = await Promise.all(Array.from({ length: 10 }, (_, i) => connectExpectingRefusal(url, { protocolVersion: i % 2 === 0 ? 4 : 5 })));
    expect(codes.sort((a, b) => a - b)).toEqual([...Array(5).fill(3), ...Array(5).fill(ReasonCode.ServerUnavailable)]);
    expect(edgeUnavailable(running)).toHaveLength(10);
    await waitUntil(() => running?.sidecar.connections === 0, 'every slot released');
  });
});

describe('edge refuses the upgrade', () => {
  it('answers 5.0 with 0x88 and logs the HTTP status', async () => {
    edge = await startFakeEdge({ rejectStatus: 403 });
    running = await startTestSidecar(edge.url);
    const code = await connectExpectingRefusal(`mqtt://127.0.0.1:${running.sidecar.tcpPort}`, { protocolVersion: 5 });
    expect(code).toBe(ReasonCode.ServerUnavailable);
    expect(String(edgeUnavailable(running)[0]?.['error'])).toContain('403');
  });

  it('answers 3.1.1 with return code 3', async () => {
    edge = await startFakeEdge({ rejectStatus: 503 });
    running = await startTestSidecar(edge.url);
    const device = await connectDevice(running.sidecar.tcpPort);
    device.send(connectPacket(4), 4);
    await device.closed;
    expect(device.packets(4)).toEqual([expect.objectContaining({ cmd: 'connack', returnCode: 3 })]);
  });
});

describe('edge never answers the upgrade', () => {
  it('times out after MQTT_EDGE_CONNECT_TIMEOUT_MS and answers CONNACK server unavailable', async () => {
    silentServer = net.createServer((socket) => silentSockets.push(socket));
    silentServer.listen(0, '127.0.0.1');
    await once(silentServer, 'listening');
    const port = (silentServer.address() as net.AddressInfo).port;
    running = await startTestSidecar(`ws://127.0.0.1:${port}/mqtt`, { MQTT_EDGE_CONNECT_TIMEOUT_MS: '300' });
    const started = Date.now();
    const device = await connectDevice(running.sidecar.tcpPort);
    device.send(connectPacket(5), 5);
    await device.closed;
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(device.packets(5)).toEqual([expect.objectContaining({ cmd: 'connack', reasonCode: ReasonCode.ServerUnavailable })]);
    expect(String(edgeUnavailable(running)[0]?.['error'])).toMatch(/timed out/);
  });
});
