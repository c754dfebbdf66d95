/**
 * What the attackers of these tests do with a socket: write one chunk again
 * and again as fast as the other end takes it, for a bounded time, and
 * tell whether the other end stopped taking it (the flood was slowed).
 */
import net from 'node:net';
import { once } from 'node:events';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { eventually } from '../helpers/mqtt-clients.ts';

/** A write not taken for this long means the other end stopped reading. */
const StallMs = 1_000;

/** Writes `chunk` for `ms`, waiting whenever the socket's buffer is full; bytes handed to the socket, and whether one wait was a stall. */
export async function floodSocket(socket: net.Socket, chunk: Uint8Array, ms: number): Promise<{ bytes: number; stalled: boolean }> {
  let bytes = 0;
  let stalled = false;
  const deadline = performance.now() + ms;
  while (performance.now() < deadline && !socket.destroyed) {
    bytes += chunk.byteLength;
    if (socket.write(chunk)) continue;
    const waited = performance.now();
    await drainOrClose(socket, deadline - performance.now());
    if (performance.now() - waited >= Math.min(StallMs, deadline - waited)) stalled = true;
  }
  return { bytes, stalled };
}

/** Until the socket drains, closes (a reset included: events.once would throw it), or `ms` pass. */
export function drainOrClose(socket: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** A raw MQTT 3.1.1 device on TCP, connected (its CONNACK read); counts what it is sent. */
export async function connectRawDevice(port: number, clientId: string, keepalive = 0): Promise<{ socket: net.Socket; received(): number }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.write(encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive }, 4));
  await eventually(() => received >= 4, 10_000, 'the CONNACK');
  return { socket, received: () => received };
}
