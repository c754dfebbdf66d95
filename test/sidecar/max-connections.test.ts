/**
 * MQTT_MAX_CONNECTIONS counts from TCP accept: a burst of simultaneous
 * connects cannot overshoot it, and the ones over it are refused in their
 * own protocol level.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, connectExpectingRefusal } from '../helpers/mqtt-clients.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { ConnectionLimiter } from '../../sidecar/admission.ts';
import { connectDevice, connectPacket, startFakeEdge, startTestSidecar, waitUntil, type FakeEdge, type RawDevice, type TestSidecar, closeStarted } from './harness.ts';

let running: TestSidecar | undefined;
let edge: FakeEdge | undefined;
afterEach(closeStarted);

describe('ConnectionLimiter', () => {
  it('bridges up to the limit, then refuses, then drops', () => {
    const limiter = new ConnectionLimiter(2, 1);
    expect([limiter.admit(), limiter.admit(), limiter.admit(), limiter.admit()]).toEqual(['bridge', 'bridge', 'refuse', 'drop']);
    limiter.release('bridge');
    expect(limiter.admit()).toBe('bridge');
    limiter.release('refuse');
    expect(limiter.refusing).toBe(0);
    expect(limiter.admit()).toBe('refuse');
  });

  it('treats 0 as unlimited', () => {
    const limiter = new ConnectionLimiter(0);
    for (let i = 0; i < 1000; i++) expect(limiter.admit()).toBe('bridge');
    expect(limiter.bridged).toBe(1000);
  });
});

describe('MQTT_MAX_CONNECTIONS', () => {
  it('holds under a burst of raw connects sent all at once', async () => {
    edge = await startFakeEdge();
    running = await startTestSidecar(edge.url, { MQTT_MAX_CONNECTIONS: '3' });
    // Connect all sockets first, then send every CONNECT in the same tick.
    const devices: RawDevice[] = await Promise.all(Array.from({ length: 12 }, () => connectDevice(running?.sidecar.tcpPort ?? 0)));
    devices.forEach((device, i) => device.send(connectPacket(i % 2 === 0 ? 4 : 5, { clientId: `burst-${i}` }), i % 2 === 0 ? 4 : 5));
    await waitUntil(() => devices.every((device) => device.received().length > 0), 'an answer for every device');

    const accepted = devices.filter((device, i) => {
      const [first] = device.packets(i % 2 === 0 ? 4 : 5);
      return first?.cmd === 'connack' && (first.reasonCode ?? first.returnCode) === 0;
    });
    expect(accepted).toHaveLength(3);
    expect(edge.connections).toHaveLength(3);
    expect(running.sidecar.connections).toBe(3);
    devices.forEach((device, i) => {
      if (accepted.includes(device)) return;
      const level = i % 2 === 0 ? 4 : 5;
      const [refusal] = device.packets(level);
      expect(refusal).toMatchObject(level === 5 ? { cmd: 'connack', reasonCode: ReasonCode.QuotaExceeded } : { cmd: 'connack', returnCode: 3 });
    });
    await Promise.all(devices.filter((device) => !accepted.includes(device)).map((device) => device.closed));
    expect(running.events('connection.refused').filter((line) => line['reason'] === 'max-connections')).toHaveLength(9);

    // A slot freed is a slot available again.
    accepted[0]?.socket.destroy();
    await waitUntil(() => running?.sidecar.connections === 2, 'slot released');
    const again = await connectDevice(running.sidecar.tcpPort);
    again.send(connectPacket(4, { clientId: 'again' }), 4);
    await waitUntil(() => again.packets(4).length === 1, 'CONNACK');
    expect(again.packets(4)[0]).toMatchObject({ cmd: 'connack', returnCode: 0 });
    for (const device of [...devices, again]) device.socket.destroy();
  });

  it('refuses MQTT.js clients over the limit: 3.1.1 with 3, 5.0 with 0x97', async () => {
    edge = await startFakeEdge();
    running = await startTestSidecar(edge.url, { MQTT_MAX_CONNECTIONS: '1' });
    const url = `mqtt://127.0.0.1:${running.sidecar.tcpPort}`;
    const first = await connectClient(url, { protocolVersion: 5 });
    expect(await connectExpectingRefusal(url, { protocolVersion: 4 })).toBe(3);
    expect(await connectExpectingRefusal(url, { protocolVersion: 5 })).toBe(ReasonCode.QuotaExceeded);
    expect(first.client.connected).toBe(true);
    await first.end(true);
  });
});
