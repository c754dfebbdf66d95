/**
 * A raw MQTT-over-WebSocket peer for the namespace fuzzer. Unlike the test
 * helpers' peers it keeps what a fuzzer needs to judge the server: the
 * WebSocket close code, every packet with its arrival time, and a strict
 * decode of everything the server sends (our own PacketDecoder, so a
 * malformed packet from the server is caught, not smoothed over).
 */
import WebSocket from 'ws';
import { PacketDecoder } from '../../shared/codec/decoder.ts';
import type { MqttPacket, ProtocolLevel } from '../../shared/codec/types.ts';
import type { MqttError } from '../../shared/errors.ts';

export interface ReceivedPacket {
  packet: MqttPacket;
  at: number;
}

export interface CloseInfo {
  code: number;
  reason: string;
  at: number;
}

export class FuzzPeer {
  readonly received: ReceivedPacket[] = [];
  /** The first WebSocket messages from the server, as hex (for transcripts). */
  readonly rawReceived: string[] = [];
  /** Set if the server sent bytes our strict decoder refuses. */
  serverError: MqttError | undefined;
  close: CloseInfo | undefined;
  /** Last time anything arrived (ms). */
  lastActivity = Date.now();
  private decoder: PacketDecoder | undefined;
  private level: ProtocolLevel = 4;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => {
      this.close = { code, reason: reason.toString(), at: Date.now() };
      this.lastActivity = Date.now();
    });
    ws.on('error', () => undefined);
  }

  static open(url: string): Promise<FuzzPeer> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'mqtt');
      const peer = new FuzzPeer(ws);
      ws.once('open', () => resolve(peer));
      ws.once('error', reject);
    });
  }

  /** The level the server's packets are decoded at; set before the server's first packet (its CONNACK). */
  expectLevel(level: ProtocolLevel): void {
    this.level = level;
  }

  get expectedLevel(): ProtocolLevel {
    return this.level;
  }

  get isOpen(): boolean {
    return this.close === undefined && this.ws.readyState === WebSocket.OPEN;
  }

  send(bytes: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes, { binary: true });
  }

  sendText(text: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(text, { binary: false });
  }

  all(cmd: string): MqttPacket[] {
    return this.received.filter((r) => r.packet.cmd === cmd).map((r) => r.packet);
  }

  /** Ends the connection from our side (no DISCONNECT: the will, if any, fires). */
  terminate(): void {
    try {
      this.ws.close(1000);
    } catch {
      // already closing
    }
    setTimeout(() => this.ws.terminate(), 500).unref();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.lastActivity = Date.now();
    if (this.rawReceived.length < 20) this.rawReceived.push(data.toString('hex').slice(0, 400));
    if (!isBinary) {
      this.serverError ??= { reasonCode: 0, message: 'the server sent a text frame' } as MqttError;
      return;
    }
    this.decoder ??= new PacketDecoder({ maxPacketSize: 1 << 28, protocolLevel: this.level });
    const { packets, error } = this.decoder.push(new Uint8Array(data));
    const at = Date.now();
    for (const packet of packets) this.received.push({ packet, at });
    if (error !== undefined) this.serverError ??= error;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` every 10 ms; true if it held before `timeoutMs`. */
export async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}
