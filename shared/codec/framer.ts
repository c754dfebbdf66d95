/**
 * Splits a byte stream into whole MQTT control packets, using the fixed
 * header alone (spec 2.1): type nibble, flag nibble, Remaining Length.
 *
 * No mqtt-packet here, and no knowledge of packet bodies: the sidecar frames
 * with this class alone before forwarding whole packets, and the decoder
 * parses what it yields.
 *
 * Speed matters (every byte of every connection passes through here):
 * - a chunk holding whole packets yields subarray views, no copy;
 * - only a packet spanning chunks is copied, once, when its last byte arrives;
 * - the start of such a packet is kept as a list of chunks, never as a buffer
 *   grown and re-copied on every push.
 *
 * Views and kept chunks alias the caller's memory: a caller must not reuse or
 * mutate a chunk after pushing it (socket and WebSocket chunks are fresh).
 */
import { malformedPacket, packetTooLarge, type MqttError } from '../errors.ts';
import { PacketType, type ProtocolLevel } from './types.ts';

export interface Frame {
  /** Control packet type, 1..15. */
  type: number;
  /** The low nibble of the first byte. */
  flags: number;
  /** The whole packet including the fixed header. */
  bytes: Uint8Array;
}

export interface PacketFramerOptions {
  /** Largest whole packet (fixed header included) accepted, in bytes. */
  maxPacketSize: number;
  /** Accept type 15 (AUTH, 5.0 only). Defaults to true; 3.1.1 reserves 15. */
  allowAuth?: boolean;
  /**
   * The stream's protocol level, if known before its CONNECT (a connection
   * restored after it); otherwise the level of the first CONNECT framed.
   * Only the fixed-header flags depend on it (MQTT 3.1's DUP, above).
   */
  protocolLevel?: ProtocolLevel;
  /** Bytes of an incomplete packet saved by `pendingBytes()` before hibernation. */
  leftover?: Uint8Array;
}

export interface FramerResult {
  frames: Frame[];
  /** Set once the stream is broken; the frames before it are still good. */
  error?: MqttError;
}

interface FixedHeader {
  type: number;
  flags: number;
  /** 1 + number of Remaining Length bytes. */
  headerLength: number;
  totalLength: number;
}

/** The fixed header is at most 5 bytes: type/flags + 4 Remaining Length bytes. */
const MaxFixedHeaderLength = 5;
const MaxRemainingLengthBytes = 4;

/** DUP (0b1000) with QoS 1 (0b0010): a re-sent PUBREL, SUBSCRIBE or UNSUBSCRIBE in MQTT 3.1. */
const DupQos1 = 0b1010;

/**
 * Reserved flag bits per type (spec table 2.2): PUBREL, SUBSCRIBE and
 * UNSUBSCRIBE carry 0b0010, PUBLISH carries DUP/QoS/RETAIN, all others 0.
 * MQTT 3.1 (section 2.1) sets DUP on a PUBREL, SUBSCRIBE or UNSUBSCRIBE it
 * sends again, so at `level` 3 those may carry 0b1010 too; 3.1.1 and 5.0
 * reserve that bit [MQTT-2.2.2-1], and so does a stream whose level is not
 * known (before its CONNECT).
 */
function hasValidFlags(type: number, flags: number, level: ProtocolLevel | undefined): boolean {
  switch (type) {
    case PacketType.PUBLISH:
      // QoS 3 (both QoS bits set) is malformed [MQTT-3.3.1-4].
      return (flags & 0b0110) !== 0b0110;
    case PacketType.PUBREL:
    case PacketType.SUBSCRIBE:
    case PacketType.UNSUBSCRIBE:
      return flags === 0b0010 || (flags === DupQos1 && level === 3);
    default:
      return flags === 0;
  }
}

export class PacketFramer {
  private maxPacketSize: number;
  private readonly allowAuth: boolean;
  private level: ProtocolLevel | undefined;
  /** The start of an incomplete packet, possibly spread over several chunks. */
  private pending: Uint8Array[] = [];
  private pendingLength = 0;
  /** The incomplete packet's fixed header, once all of it has arrived. */
  private pendingHeader: FixedHeader | undefined;
  /** Frames completed by the constructor's leftover, handed out by the first push. */
  private queued: Frame[] = [];
  private error: MqttError | undefined;
  /**
   * Which incomplete packet is pending: a new number each time one starts.
   * With `pendingBytesFrom`, a caller can store a long partial packet by
   * appending what arrived since it last stored it, never rewriting it.
   */
  private partialSerial = 0;

  constructor(options: PacketFramerOptions) {
    this.maxPacketSize = options.maxPacketSize;
    this.allowAuth = options.allowAuth ?? true;
    this.level = options.protocolLevel;
    if (options.leftover !== undefined && options.leftover.byteLength > 0) {
      // Copy: the saved bytes may come from a buffer the caller reuses.
      this.queued = this.push(copyOf(options.leftover)).frames;
    }
  }

  /** Bytes held for an incomplete packet. */
  get bufferedBytes(): number {
    return this.pendingLength;
  }

  /** Changes the size limit for packets whose fixed header has not been read yet. */
  setMaxPacketSize(maxPacketSize: number): void {
    this.maxPacketSize = maxPacketSize;
  }

  /** Identifies the incomplete packet now pending (see partialSerial); meaningless when nothing is pending. */
  get pendingPartialId(): number {
    return this.partialSerial;
  }

  /** The pending partial packet's bytes from `offset` on (a copy). */
  pendingBytesFrom(offset: number): Uint8Array {
    return this.pendingBytes().subarray(offset);
  }

  /** True once the stream was rejected; every later push returns the same error. */
  get failed(): boolean {
    return this.error !== undefined;
  }

  /**
   * A copy of the bytes of the incomplete packet, to persist (e.g. across
   * Durable Object hibernation) and hand back as `leftover`. The framer keeps
   * them: it goes on completing the packet if more bytes are pushed.
   */
  pendingBytes(): Uint8Array {
    if (this.pending.length === 1) return copyOf(this.pending[0] as Uint8Array);
    return concatBytes(this.pending, this.pendingLength);
  }

  /** Same as `pendingBytes()` (non-destructive), under the hibernation flow's name. */
  takeLeftover(): Uint8Array {
    return this.pendingBytes();
  }

  push(chunk: Uint8Array): FramerResult {
    const frames = this.queued.length === 0 ? [] : this.queued.splice(0);
    if (this.error !== undefined) return { frames, error: this.error };

    let offset = 0;
    if (this.pendingLength > 0) {
      offset = this.completePending(chunk, frames);
      if (offset < 0) return this.result(frames);
    }

    // Common path: whole packets straight out of the chunk, as views.
    while (offset < chunk.length) {
      const header = this.readHeader(chunk, offset);
      if (this.error !== undefined) break;
      if (header === undefined) {
        // Fewer than 5 bytes: copy them rather than pin a large chunk in memory.
        this.stash(copyOf(chunk.subarray(offset)), undefined);
        break;
      }
      const end = offset + header.totalLength;
      if (end > chunk.length) {
        this.stash(chunk.subarray(offset), header);
        break;
      }
      this.emit(frames, header, chunk.subarray(offset, end));
      offset = end;
    }
    return this.result(frames);
  }

  private result(frames: Frame[]): FramerResult {
    return this.error === undefined ? { frames } : { frames, error: this.error };
  }

  /**
   * Feeds the start of `chunk` to the pending packet. Returns how many bytes
   * of `chunk` it used, or -1 if it used all of them (or the stream failed).
   */
  private completePending(chunk: Uint8Array, frames: Frame[]): number {
    let header = this.pendingHeader;
    if (header === undefined) {
      // The fixed header itself is split: at most 4 bytes pending, so join a few.
      const head = concatBytes([...this.pending, chunk.subarray(0, MaxFixedHeaderLength - this.pendingLength)]);
      header = this.readHeader(head, 0);
      if (this.error !== undefined) return -1;
      if (header === undefined) {
        this.stash(head, undefined);
        return -1;
      }
      this.pendingHeader = header;
    }
    const needed = header.totalLength - this.pendingLength;
    if (chunk.length < needed) {
      if (chunk.length > 0) {
        this.pending.push(chunk);
        this.pendingLength += chunk.length;
      }
      return -1;
    }
    this.emit(frames, header, concatBytes([...this.pending, chunk.subarray(0, needed)], header.totalLength));
    this.pending = [];
    this.pendingLength = 0;
    this.pendingHeader = undefined;
    return needed;
  }

  /** Hands out a whole packet; the first CONNECT tells the stream's level, for the flags of the packets after it. */
  private emit(frames: Frame[], header: FixedHeader, bytes: Uint8Array): void {
    frames.push({ type: header.type, flags: header.flags, bytes });
    if (header.type === PacketType.CONNECT && this.level === undefined) this.level = connectLevelOf(bytes, header.headerLength);
  }

  private stash(bytes: Uint8Array, header: FixedHeader | undefined): void {
    this.partialSerial++;
    this.pending = [bytes];
    this.pendingLength = bytes.length;
    this.pendingHeader = header;
  }

  /**
   * Reads a fixed header at `offset`. Returns undefined if it is not complete
   * yet; sets `this.error` if it is invalid. Everything is decided here, from
   * at most 5 bytes, so an oversized or broken packet is refused before any
   * of its body is buffered.
   */
  private readHeader(buf: Uint8Array, offset: number): FixedHeader | undefined {
    const first = buf[offset] as number;
    const type = first >> 4;
    const flags = first & 0x0f;
    if (type === 0) {
      this.error = malformedPacket('packet type 0 is reserved');
      return undefined;
    }
    if (type === PacketType.AUTH && !this.allowAuth) {
      this.error = malformedPacket('packet type 15 (AUTH) is not allowed before MQTT 5');
      return undefined;
    }
    if (!hasValidFlags(type, flags, this.level)) {
      // [MQTT-2.2.2-1] reserved flags must have the listed values; [MQTT-2.2.2-2] close if not.
      this.error = malformedPacket(`invalid fixed header flags 0x${flags.toString(16)} for packet type ${type}`);
      return undefined;
    }
    let remaining = 0;
    let multiplier = 1;
    let pos = offset + 1;
    let nonMinimal = false;
    for (let count = 0; ; count++) {
      if (count === MaxRemainingLengthBytes) {
        // Remaining Length is a Variable Byte Integer of at most 4 bytes (5.0 spec 1.5.5, 3.1.1 spec 2.2.3).
        this.error = malformedPacket('remaining length is longer than 4 bytes');
        return undefined;
      }
      if (pos >= buf.length) return undefined;
      const byte = buf[pos++] as number;
      remaining += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) {
        // [MQTT-1.5.5-1] the shortest encoding only: a last byte of 0 after others is padding.
        nonMinimal = byte === 0 && count > 0;
        break;
      }
    }
    const headerLength = pos - offset;
    const totalLength = headerLength + remaining;
    if (totalLength > this.maxPacketSize) {
      this.error = packetTooLarge(`packet of ${totalLength} bytes exceeds the maximum of ${this.maxPacketSize}`);
      return undefined;
    }
    if (nonMinimal) {
      this.error = malformedPacket('remaining length is not in its shortest encoding');
      return undefined;
    }
    return { type, flags, headerLength, totalLength };
  }
}

/**
 * The protocol level byte of a CONNECT (after its protocol name), as the
 * level the flags are read by: 3 only for 3, any other value reads as 3.1.1
 * (whether the name and level go together is the decoder's to say).
 */
function connectLevelOf(bytes: Uint8Array, headerLength: number): ProtocolLevel {
  const nameLength = ((bytes[headerLength] ?? 0) << 8) | (bytes[headerLength + 1] ?? 0);
  const level = bytes[headerLength + 2 + nameLength];
  return level === 3 || level === 5 ? level : 4;
}

/** A real copy: Buffer#slice (unlike Uint8Array#slice) returns a view. */
function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** Joins byte chunks into one array (`total`, when known, saves a pass). */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  let length = total;
  if (length === undefined) {
    length = 0;
    for (const part of parts) length += part.length;
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
