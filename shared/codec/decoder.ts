/**
 * Streaming decoder for one connection: bytes in, packet objects out.
 *
 * Three stages per packet:
 * 1. PacketFramer cuts whole packets out of the stream (fixed header checks,
 *    size limit before buffering);
 * 2. validate.ts walks the packet's fields on the raw bytes (lengths, strict
 *    UTF-8, 5.0 properties) and refuses what mqtt-packet would let through;
 * 3. mqtt-packet's parser builds the packet object (the few packets that
 *    carry the traffic are read by hand, to the same objects: fast-path.ts).
 *
 * The protocol level is fixed by the connection's CONNECT (or given when the
 * decoder is rebuilt after hibernation). Before it, only CONNECT is accepted
 * [MQTT-3.1.0-1]: nothing else can be parsed without knowing the level.
 *
 * Decoded PUBLISH payloads (and other Buffer fields) are views on the pushed
 * bytes when a packet arrived within one chunk: no copy on the hot path, but
 * a retained payload keeps its chunk alive, and chunks must not be reused.
 *
 * push() never throws and never waits for more bytes than the packet needs:
 * every complete packet yields a packet object or an MqttError. After an
 * error the decoder is dead and returns the same error forever.
 *
 * @example
 * const decoder = new PacketDecoder({ maxPacketSize: 1 << 20 });
 * const { packets, error } = decoder.push(chunk);
 * for (const packet of packets) handle(packet);
 * if (error) closeWith(error.reasonCode);
 */
import { parser as createParser, type Parser } from 'mqtt-packet';
import { isMqttError, malformedPacket, protocolError, type MqttError } from '../errors.ts';
import { ReasonCode } from '../reason-codes.ts';
import { decodeFast } from './fast-path.ts';
import { PacketFramer, type Frame } from './framer.ts';
import { MaxPacketSizeLimit, PacketType, type MqttPacket, type ProtocolLevel, type UserProperties } from './types.ts';
import { userPropertiesFromPairs } from './user-properties.ts';
import { readConnectLevel, validateFrame, type UserPropertyPairs } from './validate.ts';

export interface PacketDecoderOptions {
  /** Largest packet accepted (fixed header included); larger ones fail with PacketTooLarge (0x95). */
  maxPacketSize: number;
  /** The level of an already connected client, when the decoder is rebuilt (e.g. after hibernation). */
  protocolLevel?: ProtocolLevel;
  /** Bytes of an incomplete packet saved from `pendingBytes()` before hibernation. */
  leftover?: Uint8Array;
}

export interface DecodeResult {
  /** Packets decoded from this push, in order; valid even when `error` is set. */
  packets: MqttPacket[];
  /** Set when the stream is broken: handle `packets`, then close with `error.reasonCode`. */
  error?: MqttError;
}

/** mqtt-packet keeps its protocol level in `settings` and replaces it with every CONNECT it parses. */
interface ParserWithSettings extends Parser {
  settings: { protocolVersion?: number };
}

/**
 * One mqtt-packet parser per protocol level, shared by every decoder: it is
 * only ever given one whole frame and answers synchronously, so it holds no
 * state between frames. (A parser each cost every idle connection its
 * buffers and listeners.) One that failed is replaced, in case it kept
 * something of the bad frame.
 */
const sharedParsers = new Map<ProtocolLevel, ParserWithSettings>();
/** Filled by the shared parsers' synchronous 'packet' / 'error' events during one parse() call. */
let parsed: MqttPacket | undefined;
let parseFailure: unknown;

function parserFor(level: ProtocolLevel): ParserWithSettings {
  let parser = sharedParsers.get(level);
  if (parser === undefined) {
    parser = createParser({ protocolVersion: level }) as ParserWithSettings;
    parser.on('packet', (packet) => {
      parsed = packet;
    });
    parser.on('error', (error) => {
      // Keep the first: mqtt-packet sometimes goes on parsing after an error.
      parseFailure ??= error;
    });
    sharedParsers.set(level, parser);
  }
  return parser;
}

export class PacketDecoder {
  private readonly framer: PacketFramer;
  private level: ProtocolLevel | undefined;
  private error: MqttError | undefined;

  constructor(options: PacketDecoderOptions) {
    this.level = options.protocolLevel;
    // AUTH is allowed by the framer and checked here against the level: the
    // CONNECT that fixes the level may be in the same chunk as the AUTH.
    this.framer = new PacketFramer({
      maxPacketSize: options.maxPacketSize,
      allowAuth: true,
      ...(options.protocolLevel === undefined ? {} : { protocolLevel: options.protocolLevel }),
      ...(options.leftover === undefined ? {} : { leftover: options.leftover }),
    });
  }

  /**
   * The level of this connection: from the CONNECT as soon as its protocol
   * name and level are read and consistent (even if the rest of that CONNECT
   * turns out malformed, so a 5.0 client can get a 5.0 CONNACK), or as given
   * to the constructor. Undefined before.
   */
  get protocolLevel(): ProtocolLevel | undefined {
    return this.level;
  }

  /** Bytes held for an incomplete packet. */
  get bufferedBytes(): number {
    return this.framer.bufferedBytes;
  }

  /**
   * A copy of the bytes of the incomplete packet, to persist and pass back as
   * `leftover`. Non-destructive: the decoder keeps them and goes on.
   */
  pendingBytes(): Uint8Array {
    return this.framer.pendingBytes();
  }

  /** Same as `pendingBytes()` (non-destructive). */
  takeLeftover(): Uint8Array {
    return this.framer.pendingBytes();
  }

  /** Identifies the incomplete packet now pending; it changes when another one starts. */
  get pendingPartialId(): number {
    return this.framer.pendingPartialId;
  }

  /** The incomplete packet's bytes from `offset` on, to append to what was stored of it. */
  pendingBytesFrom(offset: number): Uint8Array {
    return this.framer.pendingBytesFrom(offset);
  }

  /** Changes the size limit (a connection's CONNECT is held to a smaller one than later packets). */
  setMaxPacketSize(maxPacketSize: number): void {
    this.framer.setMaxPacketSize(maxPacketSize);
  }

  push(chunk: Uint8Array): DecodeResult {
    if (this.error !== undefined) return { packets: [], error: this.error };
    const { frames, error } = this.framer.push(chunk);
    const packets: MqttPacket[] = [];
    for (const frame of frames) {
      try {
        packets.push(this.decodeFrame(frame));
      } catch (thrown) {
        this.error = toMqttError(thrown);
        return { packets, error: this.error };
      }
    }
    if (error !== undefined) {
      this.error = error;
      return { packets, error };
    }
    return { packets };
  }

  private decodeFrame(frame: Frame): MqttPacket {
    if (frame.type === PacketType.CONNECT) {
      const requested = readConnectLevel(frame);
      // A second CONNECT is decoded (for the broker to refuse [MQTT-3.1.0-2]) but never changes the level.
      this.level ??= requested;
      return withUserProperties(this.parse(frame, requested), validateFrame(frame, requested));
    }
    const level = this.level;
    if (level === undefined) {
      // [MQTT-3.1.0-1] the first packet from a client must be CONNECT.
      throw protocolError(`expected CONNECT as the first packet, got packet type ${frame.type}`);
    }
    if (frame.type === PacketType.AUTH) {
      // Type 15 is reserved before 5.0.
      if (level !== 5) throw malformedPacket('packet type 15 (AUTH) is reserved before MQTT 5');
      const pairs = validateFrame(frame, level);
      // mqtt-packet refuses the short form; Remaining Length 0 means Success, no properties (spec 3.15.2.1).
      if (frame.bytes.length === 2) return { cmd: 'auth', reasonCode: ReasonCode.Success, length: 0 };
      return withUserProperties(this.parse(frame, level), pairs);
    }
    const pairs = validateFrame(frame, level);
    // The traffic (PUBLISH without properties, short acknowledgements, pings) is read by hand: see fast-path.ts.
    const fast = pairs.main === undefined ? decodeFast(frame.bytes, level) : undefined;
    return withUserProperties(fast ?? this.parse(frame, level), pairs);
  }

  private parse(frame: Frame, level: ProtocolLevel): MqttPacket {
    // mqtt-packet holds every level to 3.1.1's flags: a 3.1 DUP is read as the packet without it.
    const bytes = frame.type !== PacketType.PUBLISH && (frame.flags & DupFlag) !== 0 ? withoutDup(frame.bytes) : frame.bytes;
    const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // A second CONNECT is parsed at the level it claims, the connection keeps its own.
    const parser = parserFor(level);
    parsed = undefined;
    parseFailure = undefined;
    try {
      parser.parse(buffer);
    } catch (thrown) {
      parseFailure ??= thrown;
    } finally {
      // mqtt-packet adopts the level of every CONNECT it parses; pin the shared parser to its own.
      if (frame.type === PacketType.CONNECT) parser.settings = { protocolVersion: level };
    }
    const failure = parseFailure;
    const packet = parsed;
    parsed = undefined;
    parseFailure = undefined;
    const hint = frame.type === PacketType.CONNECT ? { protocolLevel: level } : {};
    if (failure !== undefined || packet === undefined) sharedParsers.delete(level);
    if (failure !== undefined) {
      throw malformedPacket(`cannot parse packet type ${frame.type}: ${describe(failure)}`, { cause: failure, ...hint });
    }
    if (packet === undefined) {
      // Cannot happen for a whole frame; guards the "a complete frame yields a packet or an error" promise.
      throw malformedPacket(`packet type ${frame.type} produced no packet`, hint);
    }
    return packet;
  }
}

/**
 * Decodes a complete byte string (tests, tools). `protocolLevel` is needed
 * unless the bytes start with a CONNECT. Input ending inside a packet is an error.
 */
export function decodeAll(bytes: Uint8Array, protocolLevel?: ProtocolLevel): DecodeResult {
  const decoder = new PacketDecoder({
    maxPacketSize: MaxPacketSizeLimit,
    ...(protocolLevel === undefined ? {} : { protocolLevel }),
  });
  const result = decoder.push(bytes);
  if (result.error === undefined && decoder.bufferedBytes > 0) {
    return { packets: result.packets, error: malformedPacket(`input ends inside a packet (${decoder.bufferedBytes} bytes)`) };
  }
  return result;
}

/** The DUP bit of the fixed header's flags. */
const DupFlag = 0b1000;

/** A copy of a packet with its DUP bit cleared (MQTT 3.1's re-sent PUBREL, SUBSCRIBE or UNSUBSCRIBE). */
function withoutDup(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[0] = (copy[0] as number) & ~DupFlag;
  return copy;
}

function toMqttError(thrown: unknown): MqttError {
  return isMqttError(thrown) ? thrown : malformedPacket(`undecodable packet: ${describe(thrown)}`, { cause: thrown });
}

function describe(thrown: unknown): string {
  return thrown instanceof Error ? thrown.message : String(thrown);
}

/**
 * Replaces mqtt-packet's User Properties with ones built from the raw pairs
 * (see user-properties.ts): mqtt-packet loses a repeated name whose first
 * value is empty, and lets a name like "__proto__" set the prototype.
 */
function withUserProperties(packet: MqttPacket, pairs: UserPropertyPairs): MqttPacket {
  if (pairs.main !== undefined) {
    const target = packet as { properties?: { userProperties?: UserProperties } };
    target.properties = { ...target.properties, userProperties: userPropertiesFromPairs(pairs.main) };
  }
  if (pairs.will !== undefined && packet.cmd === 'connect' && packet.will !== undefined) {
    packet.will.properties = { ...packet.will.properties, userProperties: userPropertiesFromPairs(pairs.will) };
  }
  return packet;
}

