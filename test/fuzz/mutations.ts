/**
 * A mutation fuzzer over valid packet captures: byte-level damage (bit
 * flips, inserts, deletes, truncation), fixed-header damage (Remaining
 * Length rewritten, overlong, 5 bytes long) and 5.0 property damage
 * (identifiers swapped, properties duplicated, list lengths corrupted).
 *
 * Mutations are plain data, so fast-check prints a failing case as
 * something one can read and replay; positions are free integers taken
 * modulo the current length, so they shrink well and never fall outside.
 *
 * The property walker and its tables are written from the spec (2.2.2,
 * table 2.4), independently of shared/codec/properties.ts, so that the
 * targeted mutations' expected reason codes are not derived from the code
 * under test.
 */
import fc from 'fast-check';
import type { ProtocolLevel } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { concatBytes, encodeVbi, readVbi, reframe, splitPacket } from './wire.ts';

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: number[] }
  | { op: 'delete'; at: number; count: number }
  | { op: 'truncate'; keep: number }
  /** Remaining Length set to any value (the body stays as it is). */
  | { op: 'length-value'; value: number }
  /** Remaining Length off by a little. */
  | { op: 'length-delta'; delta: number }
  /** Remaining Length in more bytes than needed (same value). */
  | { op: 'length-overlong'; extra: number }
  /** Remaining Length continuing into a fifth byte. */
  | { op: 'length-five-bytes' }
  | { op: 'property-id'; property: number; id: number }
  | { op: 'property-duplicate'; property: number }
  | { op: 'property-drop'; property: number }
  | { op: 'property-list-length'; list: number; delta: number }
  /** Recomputes the Remaining Length from the body, so the packet stays one whole frame. */
  | { op: 'reframe' };

// ---- 5.0 properties, from the spec ----

type ValueType = 'byte' | 'u16' | 'u32' | 'vbi' | 'utf8' | 'binary' | 'pair';

/** Property identifier → value type (table 2.4). */
export const PropertyTypes: ReadonlyMap<number, ValueType> = new Map<number, ValueType>([
  [0x01, 'byte'], [0x02, 'u32'], [0x03, 'utf8'], [0x08, 'utf8'], [0x09, 'binary'], [0x0b, 'vbi'],
  [0x11, 'u32'], [0x12, 'utf8'], [0x13, 'u16'], [0x15, 'utf8'], [0x16, 'binary'], [0x17, 'byte'],
  [0x18, 'u32'], [0x19, 'byte'], [0x1a, 'utf8'], [0x1c, 'utf8'], [0x1f, 'utf8'], [0x21, 'u16'],
  [0x22, 'u16'], [0x23, 'u16'], [0x24, 'byte'], [0x25, 'byte'], [0x26, 'pair'], [0x27, 'u32'],
  [0x28, 'byte'], [0x29, 'byte'], [0x2a, 'byte'],
]);

/** The Will Properties of a CONNECT, as a context next to packet types 1..15. */
export const WillContext = 0;

/** Property identifier → the contexts (packet types, or WillContext) it may appear in (table 2.4). */
const PropertyContexts: ReadonlyMap<number, readonly number[]> = new Map<number, readonly number[]>([
  [0x01, [3, WillContext]], [0x02, [3, WillContext]], [0x03, [3, WillContext]], [0x08, [3, WillContext]], [0x09, [3, WillContext]],
  [0x0b, [3, 8]], [0x11, [1, 2, 14]], [0x12, [2]], [0x13, [2]], [0x15, [1, 2, 15]], [0x16, [1, 2, 15]], [0x17, [1]],
  [0x18, [WillContext]], [0x19, [1]], [0x1a, [2]], [0x1c, [2, 14]], [0x1f, [2, 4, 5, 6, 7, 9, 11, 14, 15]],
  [0x21, [1, 2]], [0x22, [1, 2]], [0x23, [3]], [0x24, [2]], [0x25, [2]],
  [0x26, [WillContext, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15]], [0x27, [1, 2]], [0x28, [2]], [0x29, [2]], [0x2a, [2]],
]);

export function isPropertyAllowed(id: number, context: number): boolean {
  return PropertyContexts.get(id)?.includes(context) ?? false;
}

/** User Property anywhere; Subscription Identifier in a PUBLISH (one per matching subscription). Everything else once [MQTT-2.2.2]. */
export function isPropertyRepeatable(id: number, context: number): boolean {
  return id === 0x26 || (id === 0x0b && context === 3);
}

export interface PropertyEntry {
  id: number;
  /** Offset of the identifier byte in the packet. */
  start: number;
  end: number;
}

export interface PropertyList {
  context: number;
  /** Offset of the Property Length. */
  lengthAt: number;
  lengthSize: number;
  start: number;
  end: number;
  entries: PropertyEntry[];
}

/** Size of the value of property `id` at `pos`, or undefined if it runs past `end`. */
function valueSize(bytes: Uint8Array, pos: number, end: number, type: ValueType): number | undefined {
  const u16At = (at: number): number | undefined => (at + 2 <= end ? ((bytes[at] as number) << 8) | (bytes[at + 1] as number) : undefined);
  switch (type) {
    case 'byte':
      return pos + 1 <= end ? 1 : undefined;
    case 'u16':
      return pos + 2 <= end ? 2 : undefined;
    case 'u32':
      return pos + 4 <= end ? 4 : undefined;
    case 'vbi': {
      const vbi = readVbi(bytes.subarray(0, end), pos);
      return vbi?.size;
    }
    case 'utf8':
    case 'binary': {
      const length = u16At(pos);
      return length !== undefined && pos + 2 + length <= end ? 2 + length : undefined;
    }
    case 'pair': {
      const first = u16At(pos);
      if (first === undefined) return undefined;
      const second = u16At(pos + 2 + first);
      return second !== undefined && pos + 4 + first + second <= end ? 4 + first + second : undefined;
    }
  }
}

function readList(bytes: Uint8Array, lengthAt: number, end: number, context: number): PropertyList | undefined {
  const length = readVbi(bytes.subarray(0, end), lengthAt);
  if (length === undefined) return undefined;
  const start = lengthAt + length.size;
  const listEnd = start + length.value;
  if (listEnd > end) return undefined;
  const entries: PropertyEntry[] = [];
  let pos = start;
  while (pos < listEnd) {
    const id = bytes[pos] as number;
    const type = PropertyTypes.get(id);
    if (type === undefined) return undefined;
    const size = valueSize(bytes, pos + 1, listEnd, type);
    if (size === undefined) return undefined;
    entries.push({ id, start: pos, end: pos + 1 + size });
    pos += 1 + size;
  }
  return { context, lengthAt, lengthSize: length.size, start, end: listEnd, entries };
}

/**
 * The property lists of a whole, well-formed 5.0 packet (a CONNECT may
 * have two: its own and the will's). Empty if the packet has none or
 * cannot be walked.
 */
export function propertyLists(bytes: Uint8Array): PropertyList[] {
  const split = splitPacket(bytes);
  if (split === undefined) return [];
  const type = split.first >> 4;
  const s = split.headerLength;
  const end = s + split.body.length;
  if (end > bytes.length) return [];
  const u16At = (at: number): number => ((bytes[at] as number) << 8) | (bytes[at + 1] as number);
  const lists: PropertyList[] = [];
  const add = (lengthAt: number, context: number): PropertyList | undefined => {
    if (lengthAt >= end) return undefined;
    const list = readList(bytes, lengthAt, end, context);
    if (list !== undefined) lists.push(list);
    return list;
  };
  switch (type) {
    case 1: {
      if (s + 2 > end) return [];
      const flagsAt = s + 2 + u16At(s) + 1;
      if (flagsAt + 3 > end) return [];
      const flags = bytes[flagsAt] as number;
      const own = add(flagsAt + 3, 1);
      if (own === undefined || (flags & 0x04) === 0) break;
      if (own.end + 2 > end) break;
      const clientIdEnd = own.end + 2 + u16At(own.end);
      add(clientIdEnd, WillContext);
      break;
    }
    case 2:
      add(s + 2, 2);
      break;
    case 3: {
      if (s + 2 > end) return [];
      const qos = (split.first >> 1) & 0x03;
      add(s + 2 + u16At(s) + (qos > 0 ? 2 : 0), 3);
      break;
    }
    case 4:
    case 5:
    case 6:
    case 7:
      if (end - s > 3) add(s + 3, type);
      break;
    case 8:
    case 9:
    case 10:
    case 11:
      add(s + 2, type);
      break;
    case 14:
    case 15:
      if (end - s > 1) add(s + 1, type);
      break;
    default:
      break;
  }
  return lists;
}

// ---- applying mutations ----

function wrap(at: number, length: number): number {
  return length === 0 ? 0 : at % length;
}

/** Rewrites the Remaining Length field, keeping type byte and body. */
function withLengthField(bytes: Uint8Array, field: Uint8Array): Uint8Array {
  const split = splitPacket(bytes);
  if (split === undefined) return bytes;
  return concatBytes([bytes.subarray(0, 1), field, bytes.subarray(split.headerLength)]);
}

/** Replaces bytes[start, end) with `replacement` and fixes the enclosing property list's length. */
function spliceInList(bytes: Uint8Array, list: PropertyList, start: number, end: number, replacement: Uint8Array): Uint8Array {
  const newLength = list.end - list.start - (end - start) + replacement.length;
  return concatBytes([bytes.subarray(0, list.lengthAt), encodeVbi(newLength), bytes.subarray(list.start, start), replacement, bytes.subarray(end)]);
}

function nthProperty(bytes: Uint8Array, index: number): { list: PropertyList; entry: PropertyEntry } | undefined {
  const all = propertyLists(bytes).flatMap((list) => list.entries.map((entry) => ({ list, entry })));
  return all.length === 0 ? undefined : all[wrap(index, all.length)];
}

/** Recomputes the Remaining Length from everything after the fixed header. */
function reframed(bytes: Uint8Array): Uint8Array {
  const split = splitPacket(bytes);
  if (split === undefined) return bytes;
  return reframe(split.first, bytes.subarray(split.headerLength));
}

export function applyMutation(bytes: Uint8Array, mutation: Mutation): Uint8Array {
  const out = new Uint8Array(bytes);
  switch (mutation.op) {
    case 'flip':
      if (out.length > 0) out[wrap(mutation.at, out.length)] = (out[wrap(mutation.at, out.length)] as number) ^ (1 << mutation.bit);
      return out;
    case 'set':
      if (out.length > 0) out[wrap(mutation.at, out.length)] = mutation.value;
      return out;
    case 'insert': {
      const at = wrap(mutation.at, out.length + 1);
      return concatBytes([out.subarray(0, at), Uint8Array.from(mutation.bytes), out.subarray(at)]);
    }
    case 'delete': {
      const at = wrap(mutation.at, out.length);
      return concatBytes([out.subarray(0, at), out.subarray(at + mutation.count)]);
    }
    case 'truncate':
      return out.subarray(0, wrap(mutation.keep, out.length));
    case 'length-value':
      return withLengthField(out, encodeVbi(mutation.value));
    case 'length-delta': {
      const split = splitPacket(out);
      if (split === undefined) return out;
      return withLengthField(out, encodeVbi(Math.max(0, split.body.length + mutation.delta)));
    }
    case 'length-overlong': {
      const split = splitPacket(out);
      if (split === undefined) return out;
      const minimal = encodeVbi(split.body.length);
      const extra = Math.min(mutation.extra, 4 - minimal.length);
      if (extra <= 0) return out;
      // Same value, more bytes: set the continuation bit and append 0x80.., ending in 0x00.
      const field = [...minimal];
      field[field.length - 1] = (field[field.length - 1] as number) | 0x80;
      for (let i = 1; i < extra; i++) field.push(0x80);
      field.push(0x00);
      return withLengthField(out, Uint8Array.from(field));
    }
    case 'length-five-bytes':
      return withLengthField(out, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x7f));
    case 'property-id': {
      const found = nthProperty(out, mutation.property);
      if (found === undefined) return out;
      out[found.entry.start] = mutation.id;
      return out;
    }
    case 'property-duplicate': {
      const found = nthProperty(out, mutation.property);
      if (found === undefined) return out;
      const copy = out.slice(found.entry.start, found.entry.end);
      return reframed(spliceInList(out, found.list, found.entry.end, found.entry.end, copy));
    }
    case 'property-drop': {
      const found = nthProperty(out, mutation.property);
      if (found === undefined) return out;
      return reframed(spliceInList(out, found.list, found.entry.start, found.entry.end, new Uint8Array()));
    }
    case 'property-list-length': {
      const lists = propertyLists(out);
      const list = lists[wrap(mutation.list, lists.length)];
      if (list === undefined) return out;
      const length = Math.max(0, list.end - list.start + mutation.delta);
      return concatBytes([out.subarray(0, list.lengthAt), encodeVbi(length), out.subarray(list.start)]);
    }
    case 'reframe':
      return reframed(out);
  }
}

export function applyMutations(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = bytes;
  for (const mutation of mutations) out = applyMutation(out, mutation);
  return out;
}

// ---- arbitraries ----

const position = fc.nat({ max: 1 << 16 });

/** Identifiers no property has: 0x00 and the gaps of table 2.4, plus a few high ones. */
export const unknownPropertyIds: readonly number[] = [0x00, 0x04, 0x05, 0x06, 0x07, 0x0a, 0x0c, 0x10, 0x14, 0x1b, 0x1d, 0x1e, 0x20, 0x2b, 0x2c, 0x7f, 0x80, 0xff];

export const byteMutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: position, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: position, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: position, count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), keep: position }),
);

export const lengthMutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('length-value' as const), value: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 268_435_455 })) }),
  fc.record({ op: fc.constant('length-delta' as const), delta: fc.integer({ min: -4, max: 4 }) }),
  fc.record({ op: fc.constant('length-overlong' as const), extra: fc.integer({ min: 1, max: 3 }) }),
  fc.constant<Mutation>({ op: 'length-five-bytes' }),
);

export const propertyMutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('property-id' as const), property: position, id: fc.oneof(fc.constantFrom(...PropertyTypes.keys()), fc.constantFrom(...unknownPropertyIds)) }),
  fc.record({ op: fc.constant('property-duplicate' as const), property: position }),
  fc.record({ op: fc.constant('property-drop' as const), property: position }),
  fc.record({ op: fc.constant('property-list-length' as const), list: position, delta: fc.integer({ min: -3, max: 3 }) }),
);

/** One to four mutations of any kind, then (most of the time) a reframe so the result is one whole frame. */
export const mutationsArb: fc.Arbitrary<Mutation[]> = fc
  .tuple(
    fc.array(fc.oneof({ weight: 4, arbitrary: byteMutationArb }, { weight: 2, arbitrary: lengthMutationArb }, { weight: 3, arbitrary: propertyMutationArb }), { minLength: 1, maxLength: 4 }),
    fc.boolean(),
  )
  .map(([mutations, keepWhole]) => (keepWhole ? [...mutations, { op: 'reframe' } as const] : mutations));

// ---- targeted mutations with a known answer ----

export interface TargetedMutation {
  name: string;
  bytes: Uint8Array;
  /** The reason code the decoder must fail with; undefined: it must decode. */
  reason: ReasonCode | undefined;
}

/**
 * Property damage whose answer the spec fixes, applied to a valid 5.0
 * packet and kept as one whole frame:
 * - a second copy of a property that may appear once → Protocol Error (2.2.2.2: "It is a Protocol Error to include ... more than once");
 * - a second copy of a repeatable one (User Property, PUBLISH Subscription Identifier) → still valid;
 * - an identifier no property has → Malformed Packet (2.2.2.2);
 * - a property in a packet it does not belong to → Malformed Packet (2.2.2.2).
 * Undefined if the packet has no properties.
 */
export function targetedPropertyMutation(bytes: Uint8Array, choice: { property: number; kind: 'duplicate' | 'unknown-id' | 'misplaced-id'; id: number }): TargetedMutation | undefined {
  const found = nthProperty(bytes, choice.property);
  if (found === undefined) return undefined;
  const { list, entry } = found;
  switch (choice.kind) {
    case 'duplicate': {
      const mutated = applyMutation(bytes, { op: 'property-duplicate', property: choice.property });
      const repeatable = isPropertyRepeatable(entry.id, list.context);
      return { name: `duplicate property 0x${entry.id.toString(16)} in context ${list.context}`, bytes: mutated, reason: repeatable ? undefined : ReasonCode.ProtocolError };
    }
    case 'unknown-id': {
      const id = unknownPropertyIds[wrap(choice.id, unknownPropertyIds.length)] as number;
      return { name: `unknown property id 0x${id.toString(16)}`, bytes: applyMutation(bytes, { op: 'property-id', property: choice.property, id }), reason: ReasonCode.MalformedPacket };
    }
    case 'misplaced-id': {
      const misplaced = [...PropertyTypes.keys()].filter((id) => !isPropertyAllowed(id, list.context));
      if (misplaced.length === 0) return undefined;
      const id = misplaced[wrap(choice.id, misplaced.length)] as number;
      return {
        name: `property 0x${id.toString(16)} in context ${list.context}`,
        bytes: applyMutation(bytes, { op: 'property-id', property: choice.property, id }),
        reason: ReasonCode.MalformedPacket,
      };
    }
  }
}

export const targetedChoiceArb = fc.record({
  property: position,
  kind: fc.constantFrom('duplicate' as const, 'unknown-id' as const, 'misplaced-id' as const),
  id: position,
});

/** Decoder level for a capture: undefined for a CONNECT (it sets the level itself). */
export function decoderLevelFor(bytes: Uint8Array, level: ProtocolLevel): ProtocolLevel | undefined {
  return (bytes[0] ?? 0) >> 4 === 1 ? undefined : level;
}
