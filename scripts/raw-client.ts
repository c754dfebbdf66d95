/**
 * A raw MQTT client over WebSocket that sends packets in batches, many to
 * a WebSocket message: how scripts/memory.ts and the attack tests put
 * 100,000 retained messages into a namespace in seconds (one PUBLISH per
 * WebSocket message costs the runtime an event each), or send what no
 * well-behaved client would (QoS 2 without PUBREL).
 */
import WebSocket from 'ws';
import { PacketDecoder } from '../shared/codec/decoder.ts';
import { encodePacket } from '../shared/codec/encoder.ts';
import type { MqttPacket, ProtocolLevel } from '../shared/codec/types.ts';

export interface RawClient {
  readonly packets: MqttPacket[];
  /** Sizes of the WebSocket messages the broker sent, in order. */
  readonly messageSizes: number[];
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  send(packets: readonly MqttPacket[]): void;
  /** Resolves with the first packet (received so far or later) that `match` accepts. */
  waitFor(match: (packet: MqttPacket) => boolean, what: string, timeoutMs?: number): Promise<MqttPacket>;
  close(): void;
}

/** Opens a WebSocket to `url`, sends CONNECT and waits for a successful CONNACK. */
export async function openRawClient(url: string, connect: { clientId: string; level?: ProtocolLevel; clean?: boolean; properties?: Record<string, unknown> }): Promise<RawClient> {
  const level = connect.level ?? 5;
  const ws = new WebSocket(url, 'mqtt');
  const decoder = new PacketDecoder({ maxPacketSize: 1 << 28, protocolLevel: level });
  const packets: MqttPacket[] = [];
  const messageSizes: number[] = [];
  const waiters: Array<{ match: (packet: MqttPacket) => boolean; resolve: (packet: MqttPacket) => void }> = [];
  let isClosed = false;
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  void closed.then(() => (isClosed = true));
  ws.on('error', () => undefined);
  ws.on('message', (data: Buffer) => {
    messageSizes.push(data.byteLength);
    for (const packet of decoder.push(new Uint8Array(data)).packets) {
      packets.push(packet);
      for (const waiter of waiters.filter((w) => w.match(packet))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(packet);
      }
    }
  });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  const client: RawClient = {
    packets,
    messageSizes,
    closed,
    get isClosed() {
      return isClosed;
    },
    send(batch) {
      ws.send(Buffer.concat(batch.map((packet) => encodePacket(packet, level))));
    },
    waitFor(match, what, timeoutMs = 30_000) {
      const found = packets.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          match,
          resolve: (packet) => {
            clearTimeout(timer);
            resolve(packet);
          },
        });
      });
    },
    close: () => ws.terminate(),
  };
  client.send([
    {
      cmd: 'connect',
      protocolId: level === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: level,
      clientId: connect.clientId,
      clean: connect.clean ?? true,
      keepalive: 0,
      ...(connect.properties === undefined ? {} : { properties: connect.properties }),
    } as MqttPacket,
  ]);
  const connack = await client.waitFor((packet) => packet.cmd === 'connack', `CONNACK of ${connect.clientId}`);
  if (connack.cmd === 'connack' && (connack.reasonCode ?? connack.returnCode ?? 0) !== 0) throw new Error(`${connect.clientId}: CONNACK ${JSON.stringify(connack)}`);
  return client;
}

/**
 * Publishes `count` messages (`topicOf(i)`, `payload`, at QoS 0 or 1 without
 * waiting for their PUBACK, retained or not), many to a WebSocket message,
 * and after each MiB or so a QoS 1 fence whose PUBACK it waits for: a
 * connection's packets are handled in order, so once the fence's PUBACK is
 * back every message before it has been. A client never has more than
 * about a MiB sent and not handled (the namespace closes one over
 * MQTT_MAX_PENDING_BYTES).
 */
export async function publishMany(client: RawClient, count: number, topicOf: (i: number) => string, payload: Buffer, options: { retain: boolean; qos?: 0 | 1 }): Promise<void> {
  const qos = options.qos ?? 0;
  const perFence = 1024 * 1024;
  const batch = Math.max(1, Math.min(500, Math.floor((256 * 1024) / (payload.byteLength + 32))));
  let sinceFence = 0;
  for (let i = 0; i < count; i += batch) {
    const packets: MqttPacket[] = [];
    for (let j = i; j < Math.min(count, i + batch); j++) {
      packets.push(qos === 0 ? { cmd: 'publish', topic: topicOf(j), payload, qos, retain: options.retain, dup: false } : { cmd: 'publish', topic: topicOf(j), payload, qos, retain: options.retain, dup: false, messageId: (j % 50_000) + 1 });
    }
    client.send(packets);
    sinceFence += packets.length * (payload.byteLength + 32);
    if (sinceFence >= perFence) {
      await fence(client);
      sinceFence = 0;
    }
  }
  await fence(client);
}

/** A QoS 1 PUBLISH of nothing, and its PUBACK: everything sent before it has been handled. */
async function fence(client: RawClient): Promise<void> {
  const messageId = (fences++ % 1000) + 60_000;
  const isFence = (packet: MqttPacket): boolean => packet.cmd === 'puback' && packet.messageId === messageId;
  // An earlier fence's PUBACK with the same id must not count.
  client.packets.splice(0, client.packets.length, ...client.packets.filter((packet) => !isFence(packet)));
  client.send([{ cmd: 'publish', topic: 'fence/published', payload: Buffer.alloc(0), qos: 1, retain: false, dup: false, messageId }]);
  await client.waitFor(isFence, 'a fence PUBACK', 600_000);
}

let fences = 0;
