/**
 * A raw MQTT peer over WebSocket (to the edge) or TCP (to the sidecar), for
 * tests that must see or send exact packets. Same interface for both.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { collectPackets } from './packet-collector.ts';

export interface RawPeer {
  packets: mqttPacket.Packet[];
  /** Every byte received so far, as it arrived. */
  received(): Buffer;
  /** Resolves when the server closed the connection (or it dropped). */
  closed: Promise<void>;
  isOpen(): boolean;
  send(packet: mqttPacket.Packet): void;
  sendBytes(bytes: Uint8Array): void;
  waitFor(cmd: string, timeoutMs?: number, nth?: number): Promise<mqttPacket.Packet>;
  /** All packets of `cmd` received so far. */
  all(cmd: string): mqttPacket.Packet[];
  close(): void;
}

export type PeerTarget = { kind: 'ws'; url: string } | { kind: 'tcp'; port: number };

export async function openPeer(target: PeerTarget, protocolVersion: 3 | 4 | 5 = 5): Promise<RawPeer> {
  const collector = collectPackets(protocolVersion);
  const packets = collector.packets;
  const chunks: Buffer[] = [];
  const take = (data: Buffer): void => {
    chunks.push(data);
    collector.push(data);
  };
  let open = true;
  let write: (bytes: Uint8Array) => void;
  let close: () => void;
  let closed: Promise<void>;
  if (target.kind === 'ws') {
    const ws = new WebSocket(target.url, 'mqtt');
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.on('message', (data: Buffer) => take(data));
    closed = new Promise((resolve) => {
      const timer = setInterval(() => {
        // The close frame is enough: the TCP close may linger.
        if (ws.readyState !== ws.OPEN) {
          clearInterval(timer);
          open = false;
          resolve();
        }
      }, 10);
    });
    write = (bytes) => ws.send(bytes);
    close = () => ws.close();
  } else {
    const socket: Socket = tcpConnect(target.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('error', reject));
    socket.on('data', (data) => take(data));
    socket.on('error', () => undefined);
    closed = new Promise((resolve) =>
      socket.once('close', () => {
        open = false;
        resolve();
      }),
    );
    write = (bytes) => socket.write(bytes);
    close = () => socket.end();
  }
  const all = (cmd: string): mqttPacket.Packet[] => packets.filter((p) => p.cmd === cmd);
  return {
    packets,
    received: () => Buffer.concat(chunks),
    closed,
    isOpen: () => open,
    send: (packet) => write(mqttPacket.generate(packet, { protocolVersion })),
    sendBytes: (bytes) => write(bytes),
    all,
    waitFor: collector.waitFor,
    close: () => close(),
  };
}

/** CONNECT for a raw peer, MQTT 5 by default. */
export function connectPacket(clientId: string, extra: Partial<mqttPacket.IConnectPacket> = {}, protocolVersion: 3 | 4 | 5 = 5): mqttPacket.IConnectPacket {
  return { cmd: 'connect', protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT', protocolVersion, clientId, clean: true, keepalive: 0, ...extra };
}
