/**
 * The stream between an MQTT.js client and its socket, holding back the
 * PUBACK or PUBREC of a message until the relay says it may go: the
 * acknowledgement of a message that is still on its way to the other
 * broker must not reach the broker it came from.
 *
 * Why here and not in MQTT.js's handlers: MQTT.js handles the packets of a
 * connection one at a time, so an acknowledgement held inside a handler
 * stops that connection. With `both` topics each side would then wait for
 * an acknowledgement queued behind its own held message on the other side:
 * a deadlock. Holding the bytes instead lets MQTT.js go on reading (PUBACKs
 * for our own publishes, PINGRESP, more messages) while the acknowledgement
 * waits.
 *
 * Acknowledgements leave in the order MQTT.js wrote them, which is the
 * order the messages arrived [MQTT-4.6.0-2, MQTT-4.6.0-3]: one still held
 * keeps the ones after it waiting. Every other packet passes at once. A
 * gate belongs to one connection; what it holds when that connection ends
 * is dropped, and the broker sends those messages again.
 */
import { Duplex } from 'node:stream';
import type { StreamBuilder } from 'mqtt';
import { PacketFramer } from '../../shared/codec/framer.ts';
import { MaxPacketSizeLimit, PacketType } from '../../shared/codec/types.ts';
import { PacketSizeGuard } from './packet-size-guard.ts';

/** The broker announced a packet larger than the bridge takes: the connection ends before it is read. */
export class IncomingPacketTooLargeError extends Error {
  override readonly name = 'IncomingPacketTooLargeError';
  /** MQTT.js reports a stream error (its 'error' event, which the bridge logs) only when it has a code. */
  readonly code = 'ERR_MQTT_PACKET_TOO_LARGE';

  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`the broker sent a packet of ${Number.isFinite(size) ? `${size} bytes` : 'a malformed length'}, more than MQTT_MAX_PACKET_SIZE (${limit}): disconnected without reading it`);
  }
}

export interface AckGateOptions {
  /** Largest packet accepted from the broker; a larger one ends the connection at its fixed header. */
  maxIncomingPacketSize?: number;
}

/** Lets the acknowledgement of one message go. Calling it again does nothing. */
export type ReleaseAcknowledgement = () => void;

interface QueuedAcknowledgement {
  packetId: number;
  bytes: Uint8Array;
}

export class AckGate extends Duplex {
  readonly #socket: Duplex;
  /** Client-to-broker bytes, cut into packets to find the acknowledgements. */
  readonly #framer = new PacketFramer({ maxPacketSize: MaxPacketSizeLimit });
  readonly #held = new Set<number>();
  /** Acknowledgements written while one before them is held, oldest first. */
  readonly #waiting: QueuedAcknowledgement[] = [];
  readonly #sizeGuard: PacketSizeGuard | undefined;
  /** The relay does not want more from this broker now (the other side is backed up). */
  #readingHeld = false;

  constructor(socket: Duplex, options: AckGateOptions = {}) {
    // Like a net.Socket: the end of what the broker sends ends the connection.
    super({ allowHalfOpen: false });
    this.#socket = socket;
    this.#sizeGuard = options.maxIncomingPacketSize === undefined ? undefined : new PacketSizeGuard(options.maxIncomingPacketSize);
    socket.on('data', (chunk: Buffer) => {
      const tooLarge = this.#sizeGuard?.check(chunk);
      if (tooLarge !== undefined) {
        this.destroy(new IncomingPacketTooLargeError(tooLarge, this.#sizeGuard?.maxPacketSize ?? 0));
        return;
      }
      if (!this.push(chunk) || this.#readingHeld) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (error: Error) => this.destroy(error));
    socket.on('close', () => this.destroy());
  }

  /**
   * Holds the acknowledgement of packet `packetId` (a QoS 1 or 2 PUBLISH
   * the broker sent) until the returned function is called. Call before the
   * client answers the PUBLISH.
   */
  hold(packetId: number): ReleaseAcknowledgement {
    this.#held.add(packetId);
    return () => {
      if (!this.#held.delete(packetId)) return;
      this.#sendWaiting();
    };
  }

  /**
   * Stops reading the broker (true) or reads it again (false): the bytes
   * wait in its socket, and TCP slows the broker down.
   */
  holdReading(held: boolean): void {
    if (this.#readingHeld === held) return;
    this.#readingHeld = held;
    if (held) this.#socket.pause();
    else if (this.readableFlowing !== false && this.readableLength < this.readableHighWaterMark) this.#socket.resume();
  }

  override _read(): void {
    if (!this.#readingHeld) this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.#pass(chunk, done);
  }

  /**
   * mqtt-packet writes a packet in pieces, corked until the next tick; they
   * all arrive here together and leave as one write: over the WebSocket
   * that is one message (each one billed), not one per field.
   */
  override _writev(chunks: Array<{ chunk: Buffer }>, done: (error?: Error | null) => void): void {
    this.#pass(Buffer.concat(chunks.map(({ chunk }) => chunk)), done);
  }

  override _final(done: (error?: Error | null) => void): void {
    this.#socket.end(() => done());
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.#held.clear();
    this.#waiting.length = 0;
    this.#socket.destroy();
    done(error);
  }

  #pass(bytes: Uint8Array, done: (error?: Error | null) => void): void {
    const { frames, error } = this.#framer.push(bytes);
    if (error !== undefined) return done(error);
    const passing: Uint8Array[] = [];
    for (const frame of frames) {
      const packetId = frame.type === PacketType.PUBACK || frame.type === PacketType.PUBREC ? acknowledgedPacketId(frame.bytes) : undefined;
      if (packetId !== undefined && (this.#held.has(packetId) || this.#waiting.length > 0)) this.#waiting.push({ packetId, bytes: frame.bytes });
      else passing.push(frame.bytes);
    }
    if (passing.length === 0 || this.#socket.write(Buffer.concat(passing))) done();
    else this.#socket.once('drain', () => done());
  }

  /** Sends the acknowledgements at the head of the queue that are no longer held, together. */
  #sendWaiting(): void {
    if (this.destroyed) return;
    const released: Uint8Array[] = [];
    while (this.#waiting.length > 0 && !this.#held.has((this.#waiting[0] as QueuedAcknowledgement).packetId)) {
      released.push((this.#waiting.shift() as QueuedAcknowledgement).bytes);
    }
    if (released.length > 0) this.#socket.write(Buffer.concat(released));
  }
}

/** The Packet Identifier right after the fixed header of a PUBACK or PUBREC (spec 3.4.2, 3.5.2). */
function acknowledgedPacketId(bytes: Uint8Array): number | undefined {
  let offset = 1;
  while (offset < bytes.length && ((bytes[offset] as number) & 0x80) !== 0) offset++;
  offset++;
  if (offset + 2 > bytes.length) return undefined;
  return ((bytes[offset] as number) << 8) | (bytes[offset + 1] as number);
}

export interface GatedStreams {
  /** For `new MqttClient(streamBuilder, ...)`: each connection gets its own gate. */
  streamBuilder: StreamBuilder;
  /** Holds an acknowledgement on the connection open now (the one the PUBLISH came in on). */
  holdAcknowledgement(packetId: number): ReleaseAcknowledgement;
  /** Stops or restarts reading the connection open now (and those after it, while held). */
  holdReading(held: boolean): void;
}

/**
 * Puts a gate in front of every connection `open` makes.
 *
 * @example
 * const { streamBuilder, holdAcknowledgement } = gateStreams(() => net.connect(1883, 'broker'));
 * const client = new MqttClient(streamBuilder, { manualConnect: true });
 */
export function gateStreams(open: () => Duplex, options: AckGateOptions = {}): GatedStreams {
  let current: AckGate | undefined;
  let readingHeld = false;
  return {
    streamBuilder: () => {
      current = new AckGate(open(), options);
      current.holdReading(readingHeld);
      return current;
    },
    holdAcknowledgement(packetId) {
      // No connection, no acknowledgement to hold: MQTT.js answers nothing without one.
      return current?.hold(packetId) ?? (() => undefined);
    },
    holdReading(held) {
      readingHeld = held;
      current?.holdReading(held);
    },
  };
}
