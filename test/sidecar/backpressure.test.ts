/**
 * Backpressure both ways with a slow consumer: the sidecar stops reading
 * the fast side instead of buffering, so its memory per device stays bounded,
 * and every byte still arrives, in order, once the consumer reads again.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { connectDevice, connectPacket, sleep, startFakeEdge, startTestSidecar, waitUntil, type FakeEdge, type TestSidecar, closeStarted } from './harness.ts';

const HIGH_WATER = 64 * 1024;
/** High-water mark + one socket read (64 KiB) + one partial packet, with room to spare. */
const BOUND = 512 * 1024;
/** Far more than the kernel's loopback socket buffers can absorb. */
const MAX_BYTES = 256 * 1024 * 1024;

let running: TestSidecar | undefined;
let edge: FakeEdge | undefined;
afterEach(closeStarted);

function publish(sequence: number, size: number): Uint8Array {
  const payload = Buffer.alloc(size, sequence & 0xff);
  payload.writeUInt32BE(sequence, 0);
  return encodePacket({ cmd: 'publish', topic: 'bulk', payload, qos: 0, retain: false, dup: false }, 4);
}

describe('backpressure', () => {
  it('device → edge: stops reading the device while the edge is not reading', async () => {
    edge = await startFakeEdge({ decode: false });
    running = await startTestSidecar(edge.url, { MQTT_HIGH_WATER_BYTES: String(HIGH_WATER) });
    const device = await connectDevice(running.sidecar.tcpPort);
    const sent = createHash('sha256');
    const write = (bytes: Uint8Array): boolean => {
      sent.update(bytes);
      return device.socket.write(bytes);
    };
    // keepalive 1: being stalled by the sidecar must not count as device silence.
    write(encodePacket(connectPacket(4, { keepalive: 1 }), 4));
    const connection = await edge.connection(1);
    connection.ws.pause();

    let total = 0;
    let sequence = 0;
    let stalled = false;
    while (total < MAX_BYTES && !stalled) {
      const packet = publish(sequence++, 16 * 1024);
      total += packet.length;
      if (!write(packet)) {
        const drained = await Promise.race([once(device.socket, 'drain').then(() => true), sleep(1_000).then(() => false)]);
        stalled = !drained;
      }
    }
    expect(stalled).toBe(true);
    expect(total).toBeLessThan(MAX_BYTES);
    const stats = running.sidecar.stats();
    expect(stats.bufferedToEdge).toBeGreaterThan(0);
    expect(stats.bufferedToEdge).toBeLessThan(BOUND);

    // Longer than 1.5 × keep-alive while stalled: still connected.
    await sleep(2_000);
    expect(device.isClosed()).toBe(false);
    expect(running.sidecar.stats().bufferedToEdge).toBeLessThan(BOUND);

    connection.ws.resume();
    const expected = total + encodePacket(connectPacket(4, { keepalive: 1 }), 4).length;
    await waitUntil(() => connection.bytesReceived === expected, `${expected} bytes at the edge (got ${connection.bytesReceived})`, 20_000);
    expect(connection.digest()).toBe(sent.digest('hex'));
    device.socket.destroy();
  });

  it('edge → device: stops reading the edge while the device is not reading', async () => {
    edge = await startFakeEdge();
    running = await startTestSidecar(edge.url, { MQTT_HIGH_WATER_BYTES: String(HIGH_WATER) });
    const device = await connectDevice(running.sidecar.tcpPort, { read: false });
    device.socket.pause();
    device.send(connectPacket(4, { keepalive: 0 }), 4);
    const connection = await edge.connection(1);
    await waitUntil(() => connection.packets.length === 1, 'CONNECT at the edge');

    const sent = createHash('sha256');
    sent.update(encodePacket({ cmd: 'connack', sessionPresent: false, returnCode: 0 }, 4));
    let total = 0;
    let sequence = 0;
    let stalled = false;
    let lastBuffered = -1;
    let unchangedSince = Date.now();
    while (total < MAX_BYTES && !stalled) {
      if (connection.ws.bufferedAmount > 4 * 1024 * 1024) {
        // The edge's own send buffer only grows if the sidecar stopped reading.
        if (connection.ws.bufferedAmount !== lastBuffered) {
          lastBuffered = connection.ws.bufferedAmount;
          unchangedSince = Date.now();
        }
        stalled = Date.now() - unchangedSince > 1_000;
        await sleep(50);
        continue;
      }
      const packet = publish(sequence++, 16 * 1024);
      sent.update(packet);
      total += packet.length;
      connection.sendBytes(packet);
      if (sequence % 64 === 0) await sleep(0);
    }
    expect(stalled).toBe(true);
    const stats = running.sidecar.stats();
    expect(stats.bufferedToDevice).toBeGreaterThan(0);
    expect(stats.bufferedToDevice).toBeLessThan(BOUND);

    const received = createHash('sha256');
    let receivedBytes = 0;
    device.socket.on('data', (chunk: Buffer) => {
      received.update(chunk);
      receivedBytes += chunk.length;
    });
    device.socket.resume();
    const expected = total + 4;
    await waitUntil(() => receivedBytes === expected, `${expected} bytes at the device (got ${receivedBytes})`, 20_000);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
    device.socket.destroy();
  });
});
