/**
 * A remote broker that attacks the bridge connected to it: it answers the
 * bridge's CONNECT and SUBSCRIBE as a broker does, then floods it with QoS
 * 0 PUBLISHes as fast as the bridge reads them, or sends one PUBLISH whose
 * fixed header announces far more than the bridge takes and streams its
 * payload until the bridge hangs up. A TCP server of the test's own on
 * 127.0.0.1: every byte it sends is counted.
 */
import net from 'node:net';
import { once } from 'node:events';
import mqttPacket from 'mqtt-packet';
import { drainOrClose, floodSocket } from './flood.ts';

export interface HostileBroker {
  port: number;
  /** The bridge's CONNECT, once it came. */
  connect(): mqttPacket.IConnectPacket | undefined;
  /** Whether the bridge subscribed (it is up). */
  subscribed(): boolean;
  /** Writes QoS 0 PUBLISHes of `topic` as fast as the bridge reads them, for `ms`; bytes written, and whether a write waited more than a second. */
  flood(topic: string, ms: number): Promise<{ bytes: number; stalled: boolean }>;
  /** Sends a PUBLISH announcing `size` bytes and streams it; bytes written before the bridge closed the connection (or all of it). */
  oversized(topic: string, size: number): Promise<{ written: number; closed: boolean }>;
  close(): Promise<void>;
}

export async function startHostileBroker(level: 4 | 5): Promise<HostileBroker> {
  let socket: net.Socket | undefined;
  let connect: mqttPacket.IConnectPacket | undefined;
  let subscribed = false;
  const server = net.createServer((accepted) => {
    socket?.destroy();
    socket = accepted;
    accepted.setNoDelay(true);
    accepted.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: level });
    const write = (packet: mqttPacket.Packet): void => void accepted.write(mqttPacket.generate(packet, { protocolVersion: level }));
    parser.on('packet', (packet) => {
      switch (packet.cmd) {
        case 'connect':
          connect = packet;
          write({ cmd: 'connack', sessionPresent: false, returnCode: 0, reasonCode: 0 });
          break;
        case 'subscribe':
          subscribed = true;
          write({ cmd: 'suback', messageId: packet.messageId as number, granted: packet.subscriptions.map(() => 0) });
          break;
        case 'pingreq':
          write({ cmd: 'pingresp' });
          break;
        case 'publish':
          if (packet.qos === 1) write({ cmd: 'puback', messageId: packet.messageId as number });
          break;
        default:
          break;
      }
    });
    accepted.on('data', (chunk) => parser.parse(chunk));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const current = (): net.Socket => {
    if (socket === undefined) throw new Error('no bridge connected');
    return socket;
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    connect: () => connect,
    subscribed: () => subscribed,
    async flood(topic, ms) {
      const to = current();
      const batch = Buffer.concat(Array.from({ length: 800 }, () => mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.alloc(64, 0x62), qos: 0, retain: false, dup: false }, { protocolVersion: level })));
      return floodSocket(to, batch, ms);
    },
    async oversized(topic, size) {
      const to = current();
      const header = mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: false, dup: false }, { protocolVersion: level });
      // The header as mqtt-packet writes it for an empty payload, with the Remaining Length of the full one.
      const topicBytes = header.subarray(header.length - (2 + Buffer.byteLength(topic) + (level === 5 ? 1 : 0)));
      const remaining = topicBytes.length + size;
      const length: number[] = [];
      for (let value = remaining; ; ) {
        const byte = value % 128;
        value = Math.floor(value / 128);
        length.push(value > 0 ? byte | 0x80 : byte);
        if (value === 0) break;
      }
      let written = 0;
      const closed = new Promise<void>((resolve) => to.once('close', () => resolve()));
      let isClosed = false;
      void closed.then(() => (isClosed = true));
      to.write(Buffer.from([0x30, ...length, ...topicBytes]));
      const chunk = Buffer.alloc(64 * 1024, 0x7a);
      // Bounded in time too: a bridge that neither reads nor hangs up must not keep the test for ever.
      const deadline = performance.now() + 10_000;
      while (written < size && !isClosed && performance.now() < deadline) {
        written += chunk.length;
        if (!to.write(chunk)) await drainOrClose(to, deadline - performance.now());
      }
      // All of it may fit in the sockets' buffers before the bridge has read the header: its hang-up comes after.
      if (!isClosed) await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now())))]);
      return { written, closed: isClosed };
    },
    async close() {
      socket?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
