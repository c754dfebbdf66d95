/**
 * One client connection as the protocol core sees it: its durable state
 * (kept in the WebSocket attachment so it survives hibernation), the
 * transport to write to, the stream decoder, and the bytes waiting to be
 * sent at the end of the current event.
 */
import { PacketDecoder } from '../../shared/codec/decoder.ts';
import { concatBytes } from '../../shared/codec/framer.ts';
import { withPacketId } from '../../shared/codec/packet-id.ts';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { encodeWithin } from '../../shared/codec/fit.ts';
import type { MqttPacket, ProtocolLevel } from '../../shared/codec/types.ts';
import type { ClientAccess, Identity } from './access.ts';
import type { CloseKind } from './close-cause.ts';
import type { ConnectTerms } from './limits.ts';
import { newInputAccount, type InputAccount } from './fair-share.ts';
import type { RateGate } from './publish-rate.ts';
import type { ConnectionTransport } from '../../shared/connection-log.ts';

/**
 * Everything about a connection that must survive the Durable Object being
 * evicted. Serialized into the WebSocket attachment (2 KiB at most), so it
 * holds only small scalars; bulky state (partial packets, topic aliases)
 * lives in SQLite.
 */
export interface ConnectionState {
  v: 1;
  id: string;
  phase: 'awaiting-connect' | 'authenticating' | 'connected' | 'closing';
  acceptedAt: number;
  /** Last time (ms) a packet arrived, for keep-alive. */
  lastSeen: number;
  remoteAddress?: string;
  /** Bridged by the trusted sidecar, which enforces keep-alive itself. */
  bridged: boolean;
  /**
   * Another broker's bridge: a 3.1 or 3.1.1 client that set the bridge bit
   * of its Protocol Level (mosquitto's `try_private`). Its subscriptions get
   * No Local and Retain As Published (protocol/subscribe.ts).
   */
  brokerBridge?: boolean;
  /** How the client reaches the edge, for the logs; absent in older attachments (then derived from `bridged`). */
  transport?: ConnectionTransport;
  clientId?: string;
  username?: string;
  level?: ProtocolLevel;
  /** Effective keep-alive in seconds (after any Server Keep Alive cap); 0 = none. */
  keepAlive: number;
  /** 5.0: how many QoS 1/2 messages the client accepts in flight. */
  clientReceiveMaximum: number;
  /** 5.0: the largest packet the client accepts; 0 = no limit. */
  clientMaxPacketSize: number;
  /** Session Expiry Interval in force (seconds); 0 = the session ends with this connection. */
  sessionExpiry?: number;
  /** 5.0: topic aliases the client accepts from the server; 0 = none. */
  clientTopicAliasMaximum?: number;
  /** 5.0: the enhanced authentication method of this connection. */
  authenticationMethod?: string;
  /** 5.0: AUTH packets received in the current exchange. */
  authenticationStep?: number;
  /** 5.0: the client allows Reason String / User Properties on errors. */
  requestProblemInformation: boolean;
  /**
   * Bytes of the incomplete packet now pending that are in SQLite (as
   * appended chunks). The rest is in memory, written down before the object
   * may hibernate. (`partialInline` and `partialStored` are an earlier
   * version's forms, still read after an upgrade.)
   */
  partialStoredBytes?: number;
  partialInline?: string;
  partialStored?: boolean;
  /** 5.0 client-to-server topic aliases are stored in SQLite. */
  hasTopicAliases?: boolean;
  /** The limits it connected under (limits.ts); absent before CONNECT and in older attachments: the namespace's own. */
  terms?: ConnectTerms;
}

/** What the host tells about a connection it accepts. */
export interface AcceptMeta {
  remoteAddress?: string;
  bridged: boolean;
  /** Default: `tcp` when bridged, else `ws`. */
  transport?: ConnectionTransport;
}

export interface SendCounter {
  packets: number;
  bytes: number;
}

/**
 * A piece of a connection's output: packets as encoded, or a PUBLISH
 * encoding shared by many subscribers that gets this connection's packet
 * id patched in when it leaves.
 */
export interface OutgoingChunk {
  bytes: Uint8Array;
  packetId?: number;
}

export interface Transport {
  /** Sends one message of the transport (one or more whole MQTT packets). */
  send(bytes: Uint8Array): void;
  /**
   * Sends the chunks of one event as they are, shared encodings included: a
   * transport that serves many connections (the sidecar's link) sends what
   * several of them get alike only once.
   */
  sendChunks?(chunks: readonly OutgoingChunk[]): void;
  /** Closes the connection; `reason` is for people (a WebSocket close reason, a log line). */
  close(kind: CloseKind, reason: string): void;
  /** Persists `state` where it survives hibernation. */
  persist(state: ConnectionState): void;
  /**
   * Bytes sent and not yet taken by the far side, where the transport
   * knows (a gateway's calls); a WebSocket does not (workerd has no
   * `bufferedAmount`). With `drained`, which settles once they are taken:
   * how a long replay or queue waits for a slow transport instead of
   * piling up in front of it.
   */
  backlog?(): number;
  drained?(): Promise<void>;
}

export class ClientLink {
  private readonly outgoing: OutgoingChunk[] = [];
  private outgoingBytes = 0;

  /** Serializes packet handling of this client, so hooks run in packet order. */
  chain: Promise<void> = Promise.resolve();
  /** Set once the connection is being torn down; later packets are ignored. */
  closed = false;
  /** Client-to-server topic aliases, loaded lazily from storage after a wake. */
  topicAliases: Map<number, string> | undefined;
  /**
   * Server-to-client topic aliases (5.0). Memory only, on purpose: after a
   * wake the map starts empty, and the next PUBLISH of a topic carries the
   * full topic with an alias again, which overwrites the client's mapping.
   */
  private readonly outboundAliases = new Map<string, number>();
  /** Its own publish rate (publish-rate.ts; memory only: a wake starts it full, which errs towards the client). */
  publishGate: RateGate | undefined;
  /** Who the client is and what it may do (memory; the identity is kept with the session). */
  identity: Identity | undefined;
  access: ClientAccess | undefined;
  /** Which pending partial packet is stored, and how much of it (see Connections.spillPartials). */
  storedPartial: { id: number; bytes: number } | undefined;
  /** Packet rate limit state, all packet types (memory only, like publishGate). */
  packetBucket: { tokens: number; updatedAt: number } | undefined;
  /** What it sent that the namespace has not handled yet, and what slowing it did (fair-share.ts; memory only). */
  readonly input: InputAccount = newInputAccount();

  constructor(
    readonly state: ConnectionState,
    private readonly transport: Transport,
    readonly decoder: PacketDecoder,
    /** The namespace's running count of what links sent (one object shared by all links). */
    private readonly sent: SendCounter,
  ) {}

  get id(): string {
    return this.state.id;
  }

  get level(): ProtocolLevel {
    return this.state.level ?? 4;
  }

  get isV5(): boolean {
    return this.state.level === 5;
  }

  /**
   * Queues a packet; everything queued in one event leaves as one WebSocket
   * message. Within the client's Maximum Packet Size: trimmed of what it may
   * leave out, or not sent at all when even that is too large
   * [MQTT-3.1.2-24/25] (false then).
   */
  write(packet: MqttPacket): boolean {
    const bytes = this.encodeForClient(packet);
    if (bytes === undefined) return false;
    this.writeBytes(bytes);
    return true;
  }

  /** The packet as this client may be sent it (see `write`), or undefined if it may not. */
  encodeForClient(packet: MqttPacket): Uint8Array | undefined {
    return encodeWithin(packet, this.level, this.state.clientMaxPacketSize);
  }

  encode(packet: MqttPacket): Uint8Array {
    return encodePacket(packet, this.level);
  }

  writeBytes(bytes: Uint8Array, packetId?: number): void {
    if (this.closed) return;
    this.outgoing.push(packetId === undefined ? { bytes } : { bytes, packetId });
    this.outgoingBytes += bytes.byteLength;
    this.sent.packets++;
    this.sent.bytes += bytes.byteLength;
  }

  get hasOutgoing(): boolean {
    return this.outgoing.length > 0;
  }

  /** Bytes queued and not yet flushed. */
  get pendingBytes(): number {
    return this.outgoingBytes;
  }

  /** Bytes flushed that the transport has not delivered yet (0 where it cannot tell). */
  get backlog(): number {
    return this.transport.backlog?.() ?? 0;
  }

  /** Settles once the transport's backlog is delivered (at once where it cannot tell). */
  drained(): Promise<void> {
    return this.transport.drained?.() ?? Promise.resolve();
  }

  flush(): void {
    if (this.outgoing.length === 0) return;
    const chunks = this.outgoing.splice(0);
    const total = this.outgoingBytes;
    this.outgoingBytes = 0;
    try {
      if (this.transport.sendChunks !== undefined) {
        this.transport.sendChunks(chunks);
        return;
      }
      const parts = chunks.map((chunk) => (chunk.packetId === undefined ? chunk.bytes : withPacketId(chunk.bytes, chunk.packetId)));
      this.transport.send(parts.length === 1 ? (parts[0] as Uint8Array) : concatBytes(parts, total));
    } catch {
      // The socket is already gone; its close event tears the session down.
    }
  }

  /** Flushes what is queued, then closes the transport. */
  close(kind: CloseKind, reason: string): void {
    this.flush();
    this.closed = true;
    this.state.phase = 'closing';
    try {
      this.transport.close(kind, truncateReason(reason));
    } catch {
      // Closing an already closed WebSocket throws; nothing is lost.
    }
  }

  persist(): void {
    this.transport.persist(this.state);
  }

  /** The alias to use for `topic`, and whether the client already knows it; undefined for none. */
  outboundAliasFor(topic: string): { alias: number; known: boolean } | undefined {
    const known = this.outboundAliases.get(topic);
    if (known !== undefined) return { alias: known, known: true };
    const maximum = this.state.clientTopicAliasMaximum ?? 0;
    if (this.outboundAliases.size >= maximum) return undefined;
    return { alias: this.outboundAliases.size + 1, known: false };
  }

  confirmOutboundAlias(topic: string, alias: number): void {
    this.outboundAliases.set(topic, alias);
  }
}

/** Close reasons stay short: a WebSocket close reason is at most 123 bytes. */
function truncateReason(text: string): string {
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}
