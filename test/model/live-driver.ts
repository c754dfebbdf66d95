/**
 * The model test's driver for a live namespace: the real Worker on workerd,
 * clients over real WebSockets, the broker's counts from its admin API.
 *
 * Time cannot be moved here, so the sequences leave out pauses and eviction;
 * everything else is the same. "Nothing moves" is established by rounds of
 * PINGREQ: packets of one connection are handled in order, and a PINGRESP
 * leaves after everything the packets before it caused, so once every
 * connection's ping comes back with nothing new before it, the step is done.
 */
import WebSocket from 'ws';
import { PacketDecoder } from '../../shared/codec/decoder.ts';
import { encodePacket } from '../../shared/codec/encoder.ts';
import type { MqttPacket, ProtocolLevel } from '../../shared/codec/types.ts';
import type { ClientSummary } from '../../edge/core/readouts.ts';
import type { TestEdge } from '../helpers/edge.ts';
import type { Peer, WireConnection } from './peer.ts';
import type { Driver, NamespaceCounts } from './world.ts';

const Problems = new Set(['handler_failed', 'message_failed', 'will_failed', 'stall_detected', 'queue_full_dropped_oldest', 'retained_limit', 'alarm_failed']);

class LiveConnection implements WireConnection {
  onPacket: ((packet: MqttPacket) => void) | undefined;
  clientId: string | undefined;
  private readonly ws: WebSocket;
  private readonly opened: Promise<void>;
  private decoder: PacketDecoder | undefined;
  private level: ProtocolLevel = 4;
  private open = true;
  private pongs: Array<() => void> = [];
  /** Packets other than PINGRESP received since the last look. */
  moved = false;
  readonly closed: Promise<void>;

  constructor(url: string) {
    this.ws = new WebSocket(url, 'mqtt');
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', () => resolve()));
    void this.closed.then(() => {
      this.open = false;
      for (const pong of this.pongs.splice(0)) pong();
    });
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data: Buffer) => this.receive(new Uint8Array(data)));
  }

  get isOpen(): boolean {
    return this.open;
  }

  send(packet: MqttPacket): void {
    if (packet.cmd === 'connect') {
      this.level = (packet.protocolVersion ?? 4) as ProtocolLevel;
      this.clientId = packet.clientId;
    }
    const bytes = encodePacket(packet, this.level);
    void this.opened.then(() => {
      if (this.open) this.ws.send(bytes);
    });
  }

  drop(): void {
    this.open = false;
    this.ws.terminate();
  }

  /** Resolves once a PINGREQ sent now is answered (or the connection closed). */
  async ping(): Promise<void> {
    await this.opened;
    if (!this.open) return;
    const answered = new Promise<void>((resolve) => this.pongs.push(resolve));
    this.ws.send(encodePacket({ cmd: 'pingreq' }, this.level));
    await answered;
  }

  private receive(bytes: Uint8Array): void {
    this.decoder ??= new PacketDecoder({ maxPacketSize: 256 * 1024 * 1024, protocolLevel: this.level });
    const { packets, error } = this.decoder.push(bytes);
    if (error !== undefined) throw new Error(`the edge sent bytes that do not decode: ${error.message}`);
    for (const packet of packets) {
      if (packet.cmd === 'pingresp' && this.pongs.length > 0) {
        this.pongs.shift()?.();
        continue;
      }
      this.moved = true;
      this.onPacket?.(packet);
    }
  }
}

export function liveDriver(edge: TestEdge, namespace: string, adminToken: string): Driver {
  const url = `${edge.url.origin.replace(/^http/, 'ws')}/mqtt/${namespace}`;
  const connections: LiveConnection[] = [];
  const dropped: string[] = [];
  let logsSeen = edge.logs.length;

  const admin = async <T>(path: string): Promise<T> => {
    const response = await fetch(new URL(`/admin/${namespace}/${path}`, edge.url), { headers: { authorization: `Bearer ${adminToken}` } });
    if (!response.ok) throw new Error(`admin ${path}: HTTP ${response.status}`);
    return (await response.json()) as T;
  };

  /** Waits for an effect the broker shows only in its admin API (a dropped socket's end). */
  const waitUntilDisconnected = async (clientId: string): Promise<void> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { clients } = await admin<{ clients: ClientSummary[] }>('clients?limit=1000');
      if (!clients.some((client) => client.clientId === clientId && client.connected)) return;
      if (Date.now() > deadline) throw new Error(`the edge never noticed that ${clientId} dropped`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  return {
    name: 'live',
    now: () => Date.now(),
    open() {
      const connection = new LiveConnection(url);
      const drop = connection.drop.bind(connection);
      connection.drop = () => {
        if (connection.clientId !== undefined) dropped.push(connection.clientId);
        drop();
      };
      connections.push(connection);
      return connection;
    },
    async quiesce(peers: Peer[]) {
      for (;;) {
        for (const clientId of dropped.splice(0)) await waitUntilDisconnected(clientId);
        const active = new Set<LiveConnection>();
        for (const peer of peers) {
          if (peer.flush() && peer.connection instanceof LiveConnection) active.add(peer.connection);
        }
        // The connections that just sent first: once their pings return, what they caused has left the edge.
        const open = connections.filter((c) => c.isOpen);
        for (const connection of [...active, ...open.filter((c) => !active.has(c))]) {
          connection.moved = false;
          await connection.ping();
        }
        const moved = open.some((c) => c.moved) || peers.some((p) => p.hasOutbox) || dropped.length > 0;
        if (!moved) return;
      }
    },
    clients: async () => (await admin<{ clients: ClientSummary[] }>('clients?limit=1000')).clients,
    async counts(): Promise<NamespaceCounts> {
      const stats = await admin<{ connected: number; sessions: number; subscriptions: number; retained: number; counters: { publishDropped: number; stallsDetected: number; acksUnmatched: number } }>('stats');
      return { connected: stats.connected, sessions: stats.sessions, subscriptions: stats.subscriptions, retained: stats.retained, publishDropped: stats.counters.publishDropped, stallsDetected: stats.counters.stallsDetected, acksUnmatched: stats.counters.acksUnmatched };
    },
    problems() {
      const fresh = edge.logs.slice(logsSeen);
      logsSeen = edge.logs.length;
      return fresh.filter((line) => {
        try {
          const record = JSON.parse(line) as { level?: string; event?: string };
          return record.level === 'error' || (record.event !== undefined && Problems.has(record.event));
        } catch {
          return /error/i.test(line);
        }
      });
    },
    async close() {
      for (const connection of connections) if (connection.isOpen) connection.drop();
      await Promise.all(connections.map((c) => c.closed));
    },
  };
}
