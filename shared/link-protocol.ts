/**
 * The sidecar's link to the edge (docs/link-protocol.md): one WebSocket per
 * sidecar and namespace that carries the packets of many devices, each on
 * a numbered channel. Every WebSocket message holds one or more whole
 * frames; integers are big-endian.
 *
 *   HELLO   0x00  version:u8 nameLength:u16 name            first frame, each way
 *   OPEN    0x01  channel:u32 addressLength:u16 address     sidecar → edge: a device connected
 *   DATA    0x02  channel:u32 length:u32 bytes              whole MQTT packets of one device
 *   CLOSE   0x03  channel:u32 code:u16 reasonLength:u8 reason   a device's connection ended
 *   FANOUT  0x04  chunks:u16 (patched:u8 length:u32 bytes)*  edge → sidecar: the same packets
 *                 devices:u16 (channel:u32 packetId:u16*)*    for many devices, packet ids patched in
 *   STATUS  0x05  length:u32 JSON                           sidecar → edge (version 2): its broker bridges
 *   WINDOW  0x06  length:u32 link:u32 channel:u32           edge → sidecar (version 3), after HELLO: the credit
 *                                                           the link and each channel start with
 *   CREDIT  0x07  length:u32 (channel:u32 bytes:u32)*       edge → sidecar (version 3): DATA bytes processed;
 *                                                           channel 0 is the link's own
 *
 * Every type from 0x05 on has the form type:u8 length:u32 body, so that a
 * receiver skips a type it does not know: from version 2, frames are added
 * without a new version, and a peer that does not know one goes on working.
 * WINDOW and CREDIT needed version 3 all the same: a sidecar that sends
 * within its credit must know that the edge grants it (docs/link-protocol.md).
 *
 * A CLOSE from the sidecar carries a BridgeCloseCode (why the device went);
 * one from the edge a WebSocket-style code (1000 normal, 1002 protocol error,
 * 1008 policy, 1011 server error). Anything malformed ends the whole link.
 */

import { concatBytes } from './codec/framer.ts';
import { withPacketId } from './codec/packet-id.ts';
import { decodeLinkStatus, encodeLinkStatus, type LinkStatus } from './link-status.ts';

/** The newest version this code speaks. */
export const LinkProtocolVersion = 3;
/** Every version this code speaks, newest first: a link is opened at the newest both ends speak. */
export const LinkProtocolVersions: readonly number[] = [3, 2, 1];
/** The WebSocket subprotocol of a link, carrying its version. */
export const linkSubprotocolOf = (version: number): string => `mqtt-link.${version}`;
/** The subprotocol of the newest version. */
export const LinkSubprotocol = linkSubprotocolOf(LinkProtocolVersion);
/** What a sidecar offers, newest first; an edge answers with the first it speaks. */
export const LinkSubprotocols: readonly string[] = LinkProtocolVersions.map(linkSubprotocolOf);

/** The version a link subprotocol names, if this code speaks it. */
export function linkVersionOf(subprotocol: string): number | undefined {
  const version = LinkProtocolVersions.find((v) => linkSubprotocolOf(v) === subprotocol);
  return version;
}

/** STATUS (and anything later) exists from this version on; an older peer is never sent one. */
export const StatusSinceVersion = 2;
/**
 * WINDOW and CREDIT exist from this version on: the edge grants DATA bytes
 * per channel and per link, and the sidecar sends within them. An end of an
 * older version neither sends nor expects them, and sends DATA as it comes.
 */
export const CreditSinceVersion = 3;
/** The channel number of a CREDIT entry that is the link's own credit (channels start at 1). */
export const LinkCreditChannel = 0;

/**
 * The largest link message: the platform's largest WebSocket message
 * (32 MiB). A link batches many devices' packets, so it is allowed all of
 * it; each device is still held to its maximum packet size.
 */
export const MaxLinkMessageBytes = 32 * 1024 * 1024;

export const LinkFrameType = { Hello: 0x00, Open: 0x01, Data: 0x02, Close: 0x03, Fanout: 0x04, Status: 0x05, Window: 0x06, Credit: 0x07 } as const;
/** Frame types from this one on are length-prefixed, and skipped when unknown. */
const FirstLengthPrefixedType = 0x05;

/** One piece of a fan-out: packets as encoded, or a PUBLISH whose packet id each device gets its own of. */
export interface FanoutChunk {
  bytes: Uint8Array;
  /** A QoS 1/2 PUBLISH: each device's packet id is patched in (see withPacketId). */
  patched: boolean;
}

export type LinkFrame =
  | { type: 'hello'; version: number; name: string }
  | { type: 'open'; channel: number; address: string }
  | { type: 'data'; channel: number; bytes: Uint8Array }
  | { type: 'close'; channel: number; code: number; reason?: string }
  | { type: 'fanout'; chunks: FanoutChunk[]; devices: Array<{ channel: number; packetIds: number[] }> }
  | { type: 'status'; status: LinkStatus }
  /** The DATA bytes the link, and each channel when it opens, may have sent and not yet credited. */
  | { type: 'window'; link: number; channel: number }
  /** DATA bytes the edge processed, per channel (LinkCreditChannel: the link's), to be sent again. */
  | { type: 'credit'; grants: Array<{ channel: number; bytes: number }> }
  /** A length-prefixed frame of a later version: its receiver skips it. */
  | { type: 'unknown'; frameType: number; body: Uint8Array };

/** A link frame that cannot be read: the link ends. */
export class LinkProtocolError extends Error {
  override readonly name = 'LinkProtocolError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MaxChannel = 0xffffffff;

/** Bytes a frame takes, for sizing a message before it is written. */
export function frameSize(frame: LinkFrame): number {
  switch (frame.type) {
    case 'hello':
      return 4 + encoder.encode(frame.name).byteLength;
    case 'open':
      return 7 + encoder.encode(frame.address).byteLength;
    case 'data':
      return 9 + frame.bytes.byteLength;
    case 'close':
      return 8 + closeReason(frame.reason).byteLength;
    case 'fanout':
      return 5 + frame.chunks.reduce((sum, chunk) => sum + 5 + chunk.bytes.byteLength, 0) + frame.devices.reduce((sum, device) => sum + 4 + 2 * device.packetIds.length, 0);
    case 'status':
      return 5 + encodeLinkStatus(frame.status).byteLength;
    case 'window':
      return 5 + 8;
    case 'credit':
      return 5 + 8 * frame.grants.length;
    case 'unknown':
      return 5 + frame.body.byteLength;
  }
}

/** Writes frames into one message. */
export function encodeLinkFrames(frames: readonly LinkFrame[]): Uint8Array {
  const out = new Uint8Array(frames.reduce((sum, frame) => sum + frameSize(frame), 0));
  const view = new DataView(out.buffer);
  let at = 0;
  const u8 = (value: number): void => {
    view.setUint8(at, value);
    at += 1;
  };
  const u16 = (value: number): void => {
    view.setUint16(at, value);
    at += 2;
  };
  const u32 = (value: number): void => {
    view.setUint32(at, value);
    at += 4;
  };
  const bytes = (value: Uint8Array): void => {
    out.set(value, at);
    at += value.byteLength;
  };
  for (const frame of frames) {
    switch (frame.type) {
      case 'hello': {
        const name = encoder.encode(frame.name);
        u8(LinkFrameType.Hello);
        u8(frame.version);
        u16(name.byteLength);
        bytes(name);
        break;
      }
      case 'open': {
        const address = encoder.encode(frame.address);
        u8(LinkFrameType.Open);
        u32(frame.channel);
        u16(address.byteLength);
        bytes(address);
        break;
      }
      case 'data':
        u8(LinkFrameType.Data);
        u32(frame.channel);
        u32(frame.bytes.byteLength);
        bytes(frame.bytes);
        break;
      case 'close': {
        const reason = closeReason(frame.reason);
        u8(LinkFrameType.Close);
        u32(frame.channel);
        u16(frame.code);
        u8(reason.byteLength);
        bytes(reason);
        break;
      }
      case 'fanout':
        u8(LinkFrameType.Fanout);
        u16(frame.chunks.length);
        for (const chunk of frame.chunks) {
          u8(chunk.patched ? 1 : 0);
          u32(chunk.bytes.byteLength);
          bytes(chunk.bytes);
        }
        u16(frame.devices.length);
        for (const device of frame.devices) {
          u32(device.channel);
          for (const id of device.packetIds) u16(id);
        }
        break;
      case 'window':
        u8(LinkFrameType.Window);
        u32(8);
        u32(frame.link);
        u32(frame.channel);
        break;
      case 'credit':
        u8(LinkFrameType.Credit);
        u32(8 * frame.grants.length);
        for (const grant of frame.grants) {
          u32(grant.channel);
          u32(grant.bytes);
        }
        break;
      case 'status':
      case 'unknown': {
        const body = frame.type === 'status' ? encodeLinkStatus(frame.status) : frame.body;
        u8(frame.type === 'status' ? LinkFrameType.Status : frame.frameType);
        u32(body.byteLength);
        bytes(body);
        break;
      }
    }
  }
  return out;
}

/**
 * Reads the frames of one message. Frames never span messages. The bytes of
 * DATA and FANOUT frames are views on `message`.
 *
 * @throws {LinkProtocolError} for a truncated frame, an unknown one of the
 * fixed types (below 0x05), or a field out of range. An unknown
 * length-prefixed frame (0x05 and later) is returned as `unknown`, for the
 * receiver to skip.
 */
export function decodeLinkFrames(message: Uint8Array): LinkFrame[] {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const frames: LinkFrame[] = [];
  let at = 0;
  const need = (count: number, what: string): void => {
    if (at + count > message.byteLength) throw new LinkProtocolError(`truncated ${what} at byte ${at}`);
  };
  const u8 = (what: string): number => {
    need(1, what);
    return view.getUint8(at++);
  };
  const u16 = (what: string): number => {
    need(2, what);
    const value = view.getUint16(at);
    at += 2;
    return value;
  };
  const u32 = (what: string): number => {
    need(4, what);
    const value = view.getUint32(at);
    at += 4;
    return value;
  };
  const bytes = (length: number, what: string): Uint8Array => {
    need(length, what);
    const value = message.subarray(at, at + length);
    at += length;
    return value;
  };
  const text = (length: number, what: string): string => {
    try {
      return decoder.decode(bytes(length, what));
    } catch (error) {
      if (error instanceof LinkProtocolError) throw error;
      throw new LinkProtocolError(`${what} is not UTF-8`);
    }
  };
  while (at < message.byteLength) {
    const type = u8('frame type');
    switch (type) {
      case LinkFrameType.Hello: {
        const version = u8('HELLO version');
        frames.push({ type: 'hello', version, name: text(u16('HELLO name length'), 'HELLO name') });
        break;
      }
      case LinkFrameType.Open: {
        const channel = u32('OPEN channel');
        frames.push({ type: 'open', channel, address: text(u16('OPEN address length'), 'OPEN address') });
        break;
      }
      case LinkFrameType.Data: {
        const channel = u32('DATA channel');
        const length = u32('DATA length');
        if (length === 0) throw new LinkProtocolError(`empty DATA for channel ${channel}`);
        frames.push({ type: 'data', channel, bytes: bytes(length, 'DATA bytes') });
        break;
      }
      case LinkFrameType.Close: {
        const channel = u32('CLOSE channel');
        const code = u16('CLOSE code');
        const reason = text(u8('CLOSE reason length'), 'CLOSE reason');
        frames.push(reason === '' ? { type: 'close', channel, code } : { type: 'close', channel, code, reason });
        break;
      }
      case LinkFrameType.Fanout: {
        const chunkCount = u16('FANOUT chunk count');
        if (chunkCount === 0) throw new LinkProtocolError('FANOUT without chunks');
        const chunks: FanoutChunk[] = [];
        for (let i = 0; i < chunkCount; i++) {
          const patched = u8('FANOUT chunk flags');
          if (patched > 1) throw new LinkProtocolError(`FANOUT chunk flags ${patched}`);
          chunks.push({ patched: patched === 1, bytes: bytes(u32('FANOUT chunk length'), 'FANOUT chunk') });
        }
        const patchedCount = chunks.filter((chunk) => chunk.patched).length;
        const deviceCount = u16('FANOUT device count');
        const devices: Array<{ channel: number; packetIds: number[] }> = [];
        for (let i = 0; i < deviceCount; i++) {
          const channel = u32('FANOUT channel');
          const packetIds: number[] = [];
          for (let p = 0; p < patchedCount; p++) {
            const id = u16('FANOUT packet id');
            if (id === 0) throw new LinkProtocolError('FANOUT packet id 0');
            packetIds.push(id);
          }
          devices.push({ channel, packetIds });
        }
        frames.push({ type: 'fanout', chunks, devices });
        break;
      }
      default: {
        if (type < FirstLengthPrefixedType) throw new LinkProtocolError(`unknown frame type 0x${type.toString(16)} at byte ${at - 1}`);
        const body = bytes(u32(`frame 0x${type.toString(16)} length`), `frame 0x${type.toString(16)}`);
        if (type === LinkFrameType.Window || type === LinkFrameType.Credit) {
          frames.push(decodeCredit(type, body));
          break;
        }
        if (type !== LinkFrameType.Status) {
          // A later version's frame: its length let it be read past, and the receiver skips it.
          frames.push({ type: 'unknown', frameType: type, body });
          break;
        }
        const status = decodeLinkStatus(body);
        if (status === undefined) throw new LinkProtocolError('STATUS that is not a status');
        frames.push({ type: 'status', status });
        break;
      }
    }
  }
  return frames;
}

/** A WINDOW or CREDIT body: whole u32 pairs, windows of at least one byte. */
function decodeCredit(type: number, body: Uint8Array): LinkFrame {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (type === LinkFrameType.Window) {
    if (body.byteLength !== 8) throw new LinkProtocolError(`WINDOW of ${body.byteLength} bytes`);
    const link = view.getUint32(0);
    const channel = view.getUint32(4);
    if (link === 0 || channel === 0) throw new LinkProtocolError('WINDOW of 0 bytes');
    return { type: 'window', link, channel };
  }
  if (body.byteLength % 8 !== 0) throw new LinkProtocolError(`CREDIT of ${body.byteLength} bytes`);
  const grants: Array<{ channel: number; bytes: number }> = [];
  for (let at = 0; at < body.byteLength; at += 8) grants.push({ channel: view.getUint32(at), bytes: view.getUint32(at + 4) });
  return { type: 'credit', grants };
}

/** A CLOSE's reason as sent: UTF-8, cut to 123 bytes (as a WebSocket close reason) on a character boundary. */
function closeReason(reason: string | undefined): Uint8Array {
  if (reason === undefined || reason === '') return new Uint8Array(0);
  let text = reason.slice(0, MaxCloseReasonBytes);
  let encoded = encoder.encode(text);
  while (encoded.byteLength > MaxCloseReasonBytes) {
    text = text.slice(0, -1);
    encoded = encoder.encode(text);
  }
  return encoded;
}

const MaxCloseReasonBytes = 123;

/** A channel number in range (1 .. 2^32-1; 0 is never used). */
export function isValidChannel(channel: number): boolean {
  return Number.isInteger(channel) && channel > 0 && channel <= MaxChannel;
}

/** One device's bytes of a fan-out: the chunks in order, its packet ids patched into the patched ones. */
export function fanoutBytesFor(chunks: readonly FanoutChunk[], packetIds: readonly number[]): Uint8Array {
  let next = 0;
  const parts = chunks.map((chunk) => (chunk.patched ? withPacketId(chunk.bytes, packetIds[next++] as number) : chunk.bytes));
  return parts.length === 1 ? (parts[0] as Uint8Array) : concatBytes(parts);
}
