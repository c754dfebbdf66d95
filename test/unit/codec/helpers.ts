/** Byte builders for hand-written packets (valid and broken) in codec tests. */
import { expect } from 'vitest';
import { MqttError } from '../../../shared/errors.ts';

/** 'c0 00' / 'c000' → bytes. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0) throw new Error(`odd hex: ${text}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export type Part = Uint8Array | number[] | string;

/** A part: bytes, a byte list, or hex text. */
function partBytes(part: Part): Uint8Array {
  if (typeof part === 'string') return hex(part);
  return part instanceof Uint8Array ? part : Uint8Array.from(part);
}

export function concat(...parts: Part[]): Uint8Array {
  const arrays = parts.map(partBytes);
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}

export function vbi(value: number): Uint8Array {
  const out: number[] = [];
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    out.push(byte);
  } while (rest > 0);
  return Uint8Array.from(out);
}

export function u16(value: number): Uint8Array {
  return Uint8Array.from([value >> 8, value & 0xff]);
}

/** A UTF-8 Encoded String field from text. */
export function str(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'utf8');
  return concat(u16(bytes.length), bytes);
}

/** A string field with raw (possibly invalid) content bytes. */
export function rawStr(content: Part): Uint8Array {
  const bytes = partBytes(content);
  return concat(u16(bytes.length), bytes);
}

/** A 5.0 property list: Property Length, then the given identifier/value bytes. */
export function props(...parts: Part[]): Uint8Array {
  const body = concat(...parts);
  return concat(vbi(body.length), body);
}

/** A whole packet: first byte, Remaining Length computed from the body. */
export function packet(firstByte: number, ...body: Part[]): Uint8Array {
  const content = concat(...body);
  return concat([firstByte], vbi(content.length), content);
}

/** CONNECT variable header + payload with defaults, for malformed-CONNECT tests. */
export function connectBody(options: { name?: string; level?: number; flags?: number; keepAlive?: number; properties?: Uint8Array; payload?: Part[] } = {}): Uint8Array {
  const level = options.level ?? 4;
  return concat(
    str(options.name ?? (level === 3 ? 'MQIsdp' : 'MQTT')),
    [level, options.flags ?? 0x02],
    u16(options.keepAlive ?? 60),
    options.properties ?? (level === 5 ? props() : new Uint8Array()),
    ...(options.payload ?? [str('client')]),
  );
}

export function expectMqttError(error: unknown, reasonCode: number): asserts error is MqttError {
  expect(error).toBeInstanceOf(MqttError);
  expect((error as MqttError).reasonCode, (error as MqttError).message).toBe(reasonCode);
}
