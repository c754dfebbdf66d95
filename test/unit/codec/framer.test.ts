/** PacketFramer: pure fixed-header framing, as the sidecar uses it. */
import { describe, expect, it } from 'vitest';
import { PacketFramer, type Frame } from '../../../shared/codec/framer.ts';
import { ReasonCode } from '../../../shared/reason-codes.ts';
import { concat, expectMqttError, hex, packet, toHex } from './helpers.ts';

const big = 1 << 20;

function frameAll(framer: PacketFramer, chunks: Uint8Array[]): Frame[] {
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    const result = framer.push(chunk);
    expect(result.error).toBeUndefined();
    frames.push(...result.frames);
  }
  return frames;
}

const ping = hex('c0 00');
const publish = packet(0x33, '0003 612f62 0001', 'ab'.repeat(200)); // 2-byte remaining length
const pubrel = hex('62 02 00 09');
const stream = concat(ping, publish, pubrel, ping);

describe('PacketFramer', () => {
  it('frames whole packets of a chunk as views, without copying', () => {
    const framer = new PacketFramer({ maxPacketSize: big });
    const { frames, error } = framer.push(stream);
    expect(error).toBeUndefined();
    expect(frames.map((f) => [f.type, f.flags, f.bytes.length])).toEqual([
      [12, 0, 2],
      [3, 3, publish.length],
      [6, 2, 4],
      [12, 0, 2],
    ]);
    for (const frame of frames) expect(frame.bytes.buffer).toBe(stream.buffer);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('frames the same at every split point, one byte at a time, and in three pieces', () => {
    const reference = new PacketFramer({ maxPacketSize: big }).push(stream).frames.map((f) => toHex(f.bytes));
    for (let cut = 0; cut <= stream.length; cut++) {
      const frames = frameAll(new PacketFramer({ maxPacketSize: big }), [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(frames.map((f) => toHex(f.bytes))).toEqual(reference);
      const third = Math.min(stream.length, cut + 3);
      const three = frameAll(new PacketFramer({ maxPacketSize: big }), [stream.subarray(0, cut), stream.subarray(cut, third), stream.subarray(third)]);
      expect(three.map((f) => toHex(f.bytes))).toEqual(reference);
    }
    const bytewise = frameAll(
      new PacketFramer({ maxPacketSize: big }),
      Array.from(stream, (_, i) => stream.subarray(i, i + 1)),
    );
    expect(bytewise.map((f) => toHex(f.bytes))).toEqual(reference);
  });

  it('keeps chunks of a spanning packet in a list and copies once at the end', () => {
    const framer = new PacketFramer({ maxPacketSize: big });
    expect(framer.push(publish.subarray(0, 100)).frames).toEqual([]);
    expect(framer.bufferedBytes).toBe(100);
    expect(framer.push(publish.subarray(100, 200)).frames).toEqual([]);
    expect(framer.bufferedBytes).toBe(200);
    const { frames } = framer.push(concat(publish.subarray(200), ping));
    expect(frames.map((f) => toHex(f.bytes))).toEqual([toHex(publish), toHex(ping)]);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('pendingBytes / takeLeftover return a copy and keep the state; leftover restores it', () => {
    const framer = new PacketFramer({ maxPacketSize: big });
    framer.push(concat(ping, publish.subarray(0, 50)));
    const saved = framer.takeLeftover();
    expect(toHex(saved)).toBe(toHex(publish.subarray(0, 50)));
    expect(toHex(framer.pendingBytes())).toBe(toHex(saved));
    saved.fill(0); // a copy: scribbling on it does not hurt the framer
    expect(framer.push(publish.subarray(50)).frames.map((f) => toHex(f.bytes))).toEqual([toHex(publish)]);

    const restored = new PacketFramer({ maxPacketSize: big, leftover: publish.subarray(0, 1) });
    expect(restored.bufferedBytes).toBe(1);
    expect(restored.push(publish.subarray(1)).frames.map((f) => toHex(f.bytes))).toEqual([toHex(publish)]);
  });

  it('an empty framer has no leftover', () => {
    expect(new PacketFramer({ maxPacketSize: big }).takeLeftover()).toHaveLength(0);
  });

  it('accepts a 4-byte remaining length (the maximum) and buffers', () => {
    const framer = new PacketFramer({ maxPacketSize: 268_435_460 });
    const result = framer.push(hex('30 ff ff ff 7f 00 01 61'));
    expect(result.error).toBeUndefined();
    expect(result.frames).toEqual([]);
    expect(framer.bufferedBytes).toBe(8);
  });

  it('rejects a remaining length of 5 bytes as soon as the 4th byte continues', () => {
    const framer = new PacketFramer({ maxPacketSize: big });
    expect(framer.push(hex('30 80 80 80')).error).toBeUndefined();
    expectMqttError(framer.push(hex('80')).error, ReasonCode.MalformedPacket);
  });

  it('rejects an oversized packet from the header, even when the header is split', () => {
    const framer = new PacketFramer({ maxPacketSize: 100 });
    expect(framer.push(hex('30')).error).toBeUndefined();
    expect(framer.push(hex('e2')).error).toBeUndefined(); // continuation: length not known yet
    const { error } = framer.push(hex('00'));
    expectMqttError(error, ReasonCode.PacketTooLarge);
    expect(error.kind).toBe('Limit');
  });

  it('maxPacketSize counts the whole packet, fixed header included', () => {
    const exact = packet(0x30, '0001 61', 'aa'.repeat(5)); // 2 + 8 = 10 bytes
    expect(new PacketFramer({ maxPacketSize: 10 }).push(exact).frames).toHaveLength(1);
    expectMqttError(new PacketFramer({ maxPacketSize: 9 }).push(exact).error, ReasonCode.PacketTooLarge);
  });

  it.each([
    ['type 0', '00 00'],
    ['PUBLISH QoS 3', '36 00'],
    ['PUBREL flags 0', '60 02 00 01'],
    ['PUBREL with DUP before the level is known (3.1 retransmission style)', '6a 02 00 01'],
    ['SUBSCRIBE flags 0', '80 00'],
    ['UNSUBSCRIBE flags 0', 'a0 00'],
    ['CONNACK flags 1', '21 02 00 00'],
    ['DISCONNECT flags 2', 'e2 00'],
    ['AUTH flags 1', 'f1 00'],
  ])('rejects %s', (_name, bytes) => {
    const framer = new PacketFramer({ maxPacketSize: big });
    // Decided from the first byte alone.
    const { frames, error } = framer.push(hex(bytes).subarray(0, 1));
    expect(frames).toEqual([]);
    expectMqttError(error, ReasonCode.MalformedPacket);
  });

  it('lets DUP on PUBREL, SUBSCRIBE and UNSUBSCRIBE through in an MQTT 3.1 stream only (3.1 section 2.1)', () => {
    for (const first of [0x6a, 0x8a, 0xaa]) {
      expect(new PacketFramer({ maxPacketSize: big, protocolLevel: 3 }).push(Uint8Array.of(first)).error).toBeUndefined();
      for (const protocolLevel of [4, 5] as const) expectMqttError(new PacketFramer({ maxPacketSize: big, protocolLevel }).push(Uint8Array.of(first)).error, ReasonCode.MalformedPacket);
    }
  });

  it("learns the level from the stream's CONNECT, for the packets that follow it in the same chunk", () => {
    const connect31 = hex('10 0f 00 06 4d 51 49 73 64 70 03 02 00 00 00 01 61');
    const connect311 = hex('10 0d 00 04 4d 51 54 54 04 02 00 00 00 01 61');
    const dupSubscribe = hex('8a 06 00 01 00 01 61 01');
    const at31 = new PacketFramer({ maxPacketSize: big }).push(Uint8Array.from([...connect31, ...dupSubscribe]));
    expect(at31.error).toBeUndefined();
    expect(at31.frames.map((frame) => frame.type)).toEqual([1, 8]);
    expectMqttError(new PacketFramer({ maxPacketSize: big }).push(Uint8Array.from([...connect311, ...dupSubscribe])).error, ReasonCode.MalformedPacket);
  });

  it('accepts every PUBLISH flag combination but QoS 3', () => {
    for (let flags = 0; flags < 16; flags++) {
      const { error } = new PacketFramer({ maxPacketSize: big }).push(Uint8Array.from([0x30 | flags, 0]));
      expect(error === undefined).toBe((flags & 0b0110) !== 0b0110);
    }
  });

  it('AUTH is refused when allowAuth is false, accepted by default', () => {
    expectMqttError(new PacketFramer({ maxPacketSize: big, allowAuth: false }).push(hex('f0 00')).error, ReasonCode.MalformedPacket);
    expect(new PacketFramer({ maxPacketSize: big }).push(hex('f0 00')).frames).toHaveLength(1);
  });

  it('returns the frames before an error, then stays dead with the same error', () => {
    const framer = new PacketFramer({ maxPacketSize: big });
    const first = framer.push(concat(ping, pubrel, '00 00', ping));
    expect(first.frames).toHaveLength(2);
    expectMqttError(first.error, ReasonCode.MalformedPacket);
    const second = framer.push(ping);
    expect(second.frames).toEqual([]);
    expect(second.error).toBe(first.error);
    expect(framer.failed).toBe(true);
  });

  it('an error in a leftover is reported by the first push', () => {
    const framer = new PacketFramer({ maxPacketSize: big, leftover: concat(ping, '00') });
    const result = framer.push(ping);
    expect(result.frames).toHaveLength(1);
    expectMqttError(result.error, ReasonCode.MalformedPacket);
  });

  it('frames a 2 MB packet arriving in 64 KiB chunks without quadratic copying', () => {
    const body = new Uint8Array(2 * 1024 * 1024);
    const huge = packet(0x30, '0001 61', body);
    const framer = new PacketFramer({ maxPacketSize: 4 * 1024 * 1024 });
    const started = performance.now();
    let frames: Frame[] = [];
    for (let offset = 0; offset < huge.length; offset += 65536) {
      frames = frames.concat(framer.push(huge.subarray(offset, offset + 65536)).frames);
    }
    expect(frames).toHaveLength(1);
    expect(frames[0]!.bytes.length).toBe(huge.length);
    expect(performance.now() - started).toBeLessThan(500);
  });
});
