/** A raw WebSocket MQTT peer for tests that need to misbehave on purpose. */
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { collectPackets } from './packet-collector.ts';

export interface RawPeer {
  ws: WebSocket;
  packets: mqttPacket.Packet[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves when the server's close frame arrived (the TCP close may linger after it). */
  closing: Promise<void>;
  send(packet: mqttPacket.Packet): void;
  sendBytes(bytes: Uint8Array | Buffer): void;
  waitFor(cmd: string, timeoutMs?: number): Promise<mqttPacket.Packet>;
}

export function openRawPeer(url: string, protocolVersion: 3 | 4 | 5 = 4, protocols: string | string[] = 'mqtt'): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    const collector = collectPackets(protocolVersion);
    const packets = collector.packets;
    ws.on('message', (data: Buffer) => collector.push(data));
    const closed = new Promise<{ code: number; reason: string }>((done) => ws.on('close', (code, reason) => done({ code, reason: reason.toString() })));
    const closing = new Promise<void>((done) => {
      const timer = setInterval(() => {
        if (ws.readyState === ws.CLOSING || ws.readyState === ws.CLOSED) {
          clearInterval(timer);
          done();
        }
      }, 10);
    });
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        packets,
        closed,
        closing,
        send: (packet) => ws.send(mqttPacket.generate(packet, { protocolVersion })),
        sendBytes: (bytes) => ws.send(bytes),
        waitFor: (cmd, timeoutMs) => collector.waitFor(cmd, timeoutMs),
      }),
    );
  });
}
