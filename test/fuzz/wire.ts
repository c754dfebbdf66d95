/**
 * Byte-level helpers for the fuzzers, and an independent fixed-header
 * splitter used as an oracle for the codec's framer.
 *
 * The splitter is deliberately written from the spec (2.1, 2.2.3, table 2.2)
 * rather than reusing shared/codec/framer.ts: a shared bug would otherwise
 * go unnoticed by the very tests that exist to catch it.
 */
// The codec's own byte joiner, and the unit tests' hex helpers and minimal
// Variable Byte Integer encoder (which also encodes values past 4 bytes, for corruption).
import { concatBytes } from '../../shared/codec/framer.ts';
import { hex, toHex, vbi as encodeVbi } from '../unit/codec/helpers.ts';

export { concatBytes, encodeVbi, hex, toHex };



/** Reads a Variable Byte Integer of at most 4 bytes at `offset`; undefined if truncated or longer. */
export function readVbi(bytes: Uint8Array, offset: number): { value: number; size: number } | undefined {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < 4; i++) {
    const byte = bytes[offset + i];
    if (byte === undefined) return undefined;
    value += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) === 0) return { value, size: i + 1 };
  }
  return undefined;
}

/** The packet with its Remaining Length recomputed from the body (for mutations that keep a frame whole). */
export function reframe(firstByte: number, body: Uint8Array): Uint8Array {
  return concatBytes([Uint8Array.of(firstByte), encodeVbi(body.length), body]);
}

/** Splits a whole packet into its first byte and body; undefined if its fixed header is broken or truncated. */
export function splitPacket(bytes: Uint8Array): { first: number; headerLength: number; body: Uint8Array } | undefined {
  const first = bytes[0];
  if (first === undefined) return undefined;
  const length = readVbi(bytes, 1);
  if (length === undefined) return undefined;
  const headerLength = 1 + length.size;
  return { first, headerLength, body: bytes.subarray(headerLength, headerLength + length.value) };
}

/** Flag nibble allowed for each type (table 2.2); PUBLISH has its own rule; MQTT 3.1 also sets DUP on a re-sent PUBREL, SUBSCRIBE, UNSUBSCRIBE (its 2.1). */
function flagsAllowed(type: number, flags: number, level: 3 | 4 | 5 | undefined): boolean {
  if (type === 3) return (flags & 0b0110) !== 0b0110;
  if (type === 6 || type === 8 || type === 10) return flags === 0b0010 || (level === 3 && flags === 0b1010);
  return flags === 0;
}

export interface SplitFrame {
  type: number;
  start: number;
  end: number;
}

export type StreamBreak =
  | { reason: 'reserved-type' | 'bad-flags' | 'auth-before-5' | 'length-too-long'; at: number }
  | { reason: 'too-large'; at: number; size: number };

export interface SplitResult {
  frames: SplitFrame[];
  /** The stream is unusable from `at` on: the server must close. */
  broken?: StreamBreak;
  /** An incomplete packet at the end: where it starts, and how many bytes finish it (undefined: the fixed header is incomplete). */
  pending?: { start: number; missing: number | undefined };
  /**
   * Starts of packets (whole or pending) whose Remaining Length uses more
   * bytes than needed: malformed in 5.0 [MQTT-1.5.5-1], tolerated before, so a
   * reader may refuse them from the header or after the body.
   */
  overlong: number[];
}

/**
 * Splits a client byte stream into whole packets by fixed header alone, the
 * way the spec says a receiver must, and says where (and why) the stream
 * breaks if it does.
 */
export function splitStream(bytes: Uint8Array, options: { maxPacketSize: number; level: 3 | 4 | 5 | undefined }): SplitResult {
  const frames: SplitFrame[] = [];
  const overlong: number[] = [];
  // The flags are read at the level given, or else the one the stream's first CONNECT names (its level byte).
  let flagsLevel = options.level;
  let offset = 0;
  while (offset < bytes.length) {
    const first = bytes[offset] as number;
    const type = first >> 4;
    if (type === 0) return { frames, overlong, broken: { reason: 'reserved-type', at: offset } };
    if (!flagsAllowed(type, first & 0x0f, flagsLevel)) return { frames, overlong, broken: { reason: 'bad-flags', at: offset } };
    let remaining = 0;
    let multiplier = 1;
    let pos = offset + 1;
    let complete = false;
    for (let count = 0; count < 4 && pos < bytes.length; count++) {
      const byte = bytes[pos++] as number;
      remaining += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) {
        complete = true;
        break;
      }
    }
    if (!complete) {
      if (pos - offset - 1 >= 4) return { frames, overlong, broken: { reason: 'length-too-long', at: offset } };
      return { frames, overlong, pending: { start: offset, missing: undefined } };
    }
    if (pos - offset - 1 > encodeVbi(remaining).length) overlong.push(offset);
    const size = pos - offset + remaining;
    if (size > options.maxPacketSize) return { frames, overlong, broken: { reason: 'too-large', at: offset, size } };
    if (offset + size > bytes.length) return { frames, overlong, pending: { start: offset, missing: offset + size - bytes.length } };
    // AUTH is only known once the level is; a stream before CONNECT cannot contain it validly either.
    if (type === 15 && options.level !== 5) return { frames, overlong, broken: { reason: 'auth-before-5', at: offset } };
    frames.push({ type, start: offset, end: offset + size });
    if (type === 1 && flagsLevel === undefined) flagsLevel = bytes[pos + 2 + (((bytes[pos] ?? 0) << 8) | (bytes[pos + 1] ?? 0))] === 3 ? 3 : 4;
    offset += size;
  }
  return { frames, overlong };
}

/**
 * Bytes that finish an incomplete trailing packet, so that whatever follows
 * starts on a packet boundary: a 0x00 to end an unfinished Remaining Length,
 * then zero bytes up to its size.
 */
export function completion(bytes: Uint8Array, options: { maxPacketSize: number; level: 3 | 4 | 5 | undefined }): Uint8Array {
  let stream = bytes;
  const parts: Uint8Array[] = [];
  for (let guard = 0; guard < 3; guard++) {
    const split = splitStream(stream, options);
    if (split.broken !== undefined || split.pending === undefined) break;
    const filler = split.pending.missing === undefined ? Uint8Array.of(0) : new Uint8Array(split.pending.missing);
    parts.push(filler);
    stream = concatBytes([stream, filler]);
  }
  return concatBytes(parts);
}

// ---- building packets by hand (valid or not) ----

export function u16(value: number): Uint8Array {
  return Uint8Array.of((value >> 8) & 0xff, value & 0xff);
}

export function u32(value: number): Uint8Array {
  return Uint8Array.of((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** A UTF-8 Encoded String field from text. */
export function str(text: string): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(text, 'utf8'));
  return concatBytes([u16(bytes.length), bytes]);
}

/** A string (or binary) field with raw content bytes. */
export function rawStr(content: Uint8Array): Uint8Array {
  return concatBytes([u16(content.length), content]);
}

/** A 5.0 property list: Property Length, then identifier/value bytes. */
export function props(...parts: Uint8Array[]): Uint8Array {
  const body = concatBytes(parts);
  return concatBytes([encodeVbi(body.length), body]);
}

/** A whole packet: first byte, Remaining Length from the body. */
export function packet(firstByte: number, ...body: Uint8Array[]): Uint8Array {
  return reframe(firstByte, concatBytes(body));
}
