/**
 * A correct MQTT client as the model test drives it: it keeps the client
 * side of a session (QoS 2 packet ids awaiting PUBREL), answers PUBLISH and
 * PUBREL now, later or never, completes its own QoS 1/2 publishes, and
 * checks what only the receiving side can see: the broker never has more
 * than Receive Maximum messages in flight to it, and never reuses a packet
 * id that is still in flight.
 */
import type { MqttPacket, ProtocolLevel, PublishPacket, QoS } from '../../shared/codec/types.ts';

/** One connection as the model test needs it, whatever carries it (in-process or a real socket). */
export interface WireConnection {
  send(packet: MqttPacket): void;
  /** The client goes away without DISCONNECT. */
  drop(): void;
  /** Set once either side closed it. */
  readonly isOpen: boolean;
  onPacket: ((packet: MqttPacket) => void) | undefined;
}

export type AckPolicy = 'prompt' | 'late' | 'never';

/** A PUBLISH the application got (first receipt; QoS 2 duplicates are not passed up). */
export interface Received {
  key: string;
  topic: string;
  qos: QoS;
  retain: boolean;
  dup: boolean;
}

export interface PeerEvents {
  /** The application got a message. */
  delivered(peer: Peer, message: Received): void;
  /** The client answered a message for good (PUBACK for QoS 1, PUBREC for QoS 2): the session no longer owes it. */
  acknowledged(peer: Peer, key: string, retain: boolean, qos: QoS): void;
  violation(peer: Peer, text: string): void;
}

type WindowStage = { stage: 'publish'; qos: 1 | 2; key: string; retain: boolean } | { stage: 'pubrel' };

export class Peer {
  connection: WireConnection | undefined;
  level: ProtocolLevel = 4;
  private sessionKnown = false;
  /** The number of QoS 1/2 messages the broker may have in flight to this client. */
  receiveMaximum = 0;
  ackPolicy: AckPolicy = 'prompt';
  connack: Extract<MqttPacket, { cmd: 'connack' }> | undefined;
  /** Packet ids the broker has in flight to us on this connection, and how far each got. */
  readonly window = new Map<number, WindowStage>();
  /** Session state: QoS 2 ids received and not yet released, with the message each carried. */
  readonly qos2Received = new Map<number, string>();
  /** Of those, the ones we answered with PUBREC (the broker then owes us PUBREL). */
  readonly pubrecSent = new Set<number>();
  /** Answers held back by a late or silent client. */
  private readonly held: MqttPacket[] = [];
  private readonly outbox: MqttPacket[] = [];
  /** Our own QoS 1/2 publishes awaiting the broker's answer. */
  private readonly publishing = new Map<number, 1 | 2>();
  private nextPacketId = 1;
  readonly packets: MqttPacket[] = [];

  constructor(
    readonly clientId: string,
    private readonly events: PeerEvents,
  ) {}

  get isConnected(): boolean {
    return this.connection !== undefined && this.connection.isOpen && this.connack !== undefined;
  }

  get hasOutbox(): boolean {
    return this.outbox.length > 0 && this.connection?.isOpen === true;
  }

  get isPublishing(): boolean {
    return this.publishing.size > 0;
  }

  /**
   * Starts a connection: the CONNECT goes out with the next flush.
   * `sessionKnown`: whether the server holds this client's session, which a
   * 3.1 CONNACK does not say (it has no Session Present flag).
   */
  attach(connection: WireConnection, connect: Extract<MqttPacket, { cmd: 'connect' }>, ackPolicy: AckPolicy, receiveMaximum: number, sessionKnown: boolean): void {
    this.detach();
    this.sessionKnown = sessionKnown;
    this.connection = connection;
    this.level = (connect.protocolVersion ?? 4) as ProtocolLevel;
    this.ackPolicy = ackPolicy;
    this.receiveMaximum = receiveMaximum;
    connection.onPacket = (packet) => this.receive(connection, packet);
    this.outbox.push(connect);
  }

  /** Sends what is waiting; returns whether anything went. */
  flush(): boolean {
    const connection = this.connection;
    if (connection === undefined || !connection.isOpen || this.outbox.length === 0) return false;
    for (const packet of this.outbox.splice(0)) {
      this.sent(packet);
      connection.send(packet);
    }
    return true;
  }

  publish(topic: string, payload: string, qos: QoS, retain: boolean): void {
    const packet: PublishPacket = { cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain, dup: false };
    if (qos > 0) {
      const packetId = this.nextPacketId;
      this.nextPacketId = (this.nextPacketId % 0xffff) + 1;
      packet.messageId = packetId;
      this.publishing.set(packetId, qos as 1 | 2);
    }
    this.outbox.push(packet);
  }

  queue(packet: MqttPacket): void {
    this.outbox.push(packet);
  }

  /** A late client answers everything it held back. */
  releaseHeld(): void {
    this.outbox.push(...this.held.splice(0));
  }

  /** Forgets the connection (after a drop, a close by the broker, or a clean DISCONNECT); the session side stays. */
  detach(): void {
    this.connection = undefined;
    this.connack = undefined;
    this.window.clear();
    this.held.length = 0;
    this.outbox.length = 0;
    this.publishing.clear();
  }

  /** A clean session: the client forgets its side of the old one. */
  forgetSession(): void {
    this.qos2Received.clear();
    this.pubrecSent.clear();
  }

  private respond(packet: MqttPacket): void {
    if (this.ackPolicy === 'prompt') this.outbox.push(packet);
    else this.held.push(packet);
  }

  /** Bookkeeping at the moment an answer really leaves. */
  private sent(packet: MqttPacket): void {
    if (packet.cmd === 'puback') {
      const entry = this.window.get(packet.messageId as number);
      this.window.delete(packet.messageId as number);
      if (entry?.stage === 'publish') this.events.acknowledged(this, entry.key, entry.retain, entry.qos);
    } else if (packet.cmd === 'pubrec') {
      const id = packet.messageId as number;
      const entry = this.window.get(id);
      this.pubrecSent.add(id);
      if (entry?.stage === 'publish') this.events.acknowledged(this, entry.key, entry.retain, entry.qos);
    } else if (packet.cmd === 'pubcomp') {
      const id = packet.messageId as number;
      this.window.delete(id);
      this.qos2Received.delete(id);
      this.pubrecSent.delete(id);
    }
  }

  private receive(connection: WireConnection, packet: MqttPacket): void {
    if (connection !== this.connection) return;
    this.packets.push(packet);
    switch (packet.cmd) {
      case 'connack':
        this.connack = packet;
        if (!(this.level === 3 ? this.sessionKnown : packet.sessionPresent === true)) this.forgetSession();
        return;
      case 'publish':
        this.receivePublish(packet);
        return;
      case 'pubrel': {
        const id = packet.messageId as number;
        if (!this.pubrecSent.has(id)) this.events.violation(this, `PUBREL ${id} for a message never answered with PUBREC`);
        // A PUBREL adds nothing to the window: its PUBLISH was counted when it came (or on the connection before).
        this.window.set(id, { stage: 'pubrel' });
        this.respond({ cmd: 'pubcomp', messageId: id });
        return;
      }
      case 'puback':
      case 'pubcomp': {
        const id = packet.messageId as number;
        const expected = packet.cmd === 'puback' ? 1 : 2;
        if (this.publishing.get(id) !== expected) this.events.violation(this, `${packet.cmd.toUpperCase()} ${id} for no QoS ${expected} publish of ours`);
        this.publishing.delete(id);
        return;
      }
      case 'pubrec': {
        const id = packet.messageId as number;
        if (this.publishing.get(id) !== 2) this.events.violation(this, `PUBREC ${id} for no QoS 2 publish of ours`);
        // Our own QoS 2 flow always completes promptly: the ack policy is about what we receive.
        this.outbox.push({ cmd: 'pubrel', messageId: id });
        return;
      }
      default:
        return;
    }
  }

  private receivePublish(packet: PublishPacket): void {
    const key = Buffer.from(packet.payload).toString();
    const message: Received = { key, topic: packet.topic, qos: packet.qos, retain: packet.retain, dup: packet.dup };
    if (packet.qos === 0) {
      this.events.delivered(this, message);
      return;
    }
    const id = packet.messageId as number;
    const inFlight = this.window.get(id);
    if (inFlight !== undefined && !packet.dup) {
      this.events.violation(this, `packet id ${id} reused while still in flight (new message ${key})`);
    }
    if (packet.qos === 1) {
      this.window.set(id, { stage: 'publish', qos: 1, key, retain: packet.retain });
      this.checkWindow();
      this.events.delivered(this, message);
      this.respond({ cmd: 'puback', messageId: id });
      return;
    }
    if (this.pubrecSent.has(id)) this.events.violation(this, `PUBLISH ${id} (${key}) resent after the broker had our PUBREC [MQTT-4.3.3-4]`);
    const earlier = this.qos2Received.get(id);
    if (earlier !== undefined && earlier !== key) {
      this.events.violation(this, `QoS 2 packet id ${id} reused for ${key} while ${earlier} awaits PUBREL`);
    }
    this.window.set(id, { stage: 'publish', qos: 2, key, retain: packet.retain });
    this.checkWindow();
    if (earlier === undefined) {
      // [MQTT-4.3.3] method B: keep the id until PUBREL, so a resend is not delivered again.
      this.qos2Received.set(id, key);
      this.events.delivered(this, message);
    }
    this.respond({ cmd: 'pubrec', messageId: id });
  }

  private checkWindow(): void {
    if (this.window.size > this.receiveMaximum) {
      this.events.violation(this, `${this.window.size} messages in flight to a client with Receive Maximum ${this.receiveMaximum} [MQTT-3.3.4-9]`);
    }
  }
}
