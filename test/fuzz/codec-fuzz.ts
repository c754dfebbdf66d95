/**
 * The codec fuzzer: seeded fast-check properties over the PacketDecoder and
 * the encoder, runnable from vitest (codec.fuzz.test.ts) and from
 * scripts/fuzz.ts alike, so it uses no test-runner API: a broken property
 * throws (fast-check's report names the seed, the path and the shrunk case).
 *
 * Properties:
 * - round trip: every valid packet at every level encodes the same with our
 *   encoder and mqtt-packet's, decodes back to itself under any chunking,
 *   and re-encodes to the same bytes; the same for whole sessions;
 * - mutations: valid captures (generated, MQTT.js, unit fixtures) damaged in
 *   every way `mutations.ts` knows; the decoder never throws, gives the same
 *   answer under any chunking, agrees with an independent framer about
 *   where packets start and end (so it never waits for bytes a packet does
 *   not need), fails only with a codec reason code of the right kind, stays
 *   failed, and whatever it accepts re-encodes and decodes to the same packet;
 * - targeted damage with a known answer: duplicated, unknown and misplaced
 *   5.0 properties, a 5-byte or too large Remaining Length, an overlong
 *   Variable Byte Integer in 5.0.
 */
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { PacketDecoder } from '../../shared/codec/decoder.ts';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { MaxPacketSizeLimit, type MqttPacket, type ProtocolLevel } from '../../shared/codec/types.ts';
import { MqttError } from '../../shared/errors.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { fixtures as unitFixtures } from '../unit/codec/fixtures.ts';
import { chunk, cutsArb, levelArb, packetArb } from './arbitraries.ts';
import type { Capture } from './captures.ts';
import { applyMutations, byteMutationArb, decoderLevelFor, mutationsArb, propertyLists, targetedChoiceArb, targetedPropertyMutation, type Mutation } from './mutations.ts';
import { concatBytes, encodeVbi, splitStream, toHex } from './wire.ts';

/** Every reason code the codec may fail with, and the error kind that goes with it. */
export const CodecReasons: ReadonlyMap<number, string> = new Map([
  [ReasonCode.MalformedPacket, 'MalformedPacket'],
  [ReasonCode.ProtocolError, 'Protocol'],
  [ReasonCode.UnsupportedProtocolVersion, 'Protocol'],
  [ReasonCode.TopicAliasInvalid, 'Protocol'],
  [ReasonCode.PacketTooLarge, 'Limit'],
]);

/** A broken fuzz property: the message carries everything needed to replay the case. */
export class FuzzViolation extends Error {
  override readonly name = 'FuzzViolation';
}

function violation(what: string, details: Record<string, unknown>): FuzzViolation {
  const replacer = function (this: unknown, key: string, value: unknown): unknown {
    const raw = (this as Record<string, unknown>)[key];
    return raw instanceof Uint8Array ? toHex(raw) : value;
  };
  return new FuzzViolation(`${what}\n${JSON.stringify(details, replacer, 2)}`);
}

// ---- comparing packets ----

/** One comparable string per packet: Buffers as hex; `length` left out when `withLength` is false. */
export function canonical(packet: MqttPacket, withLength = true): string {
  return JSON.stringify(packet, function (this: unknown, key: string, value: unknown) {
    const raw = (this as Record<string, unknown>)[key];
    if (raw instanceof Uint8Array) return `hex:${toHex(raw)}`;
    if (!withLength && key === 'length') return undefined;
    return value;
  });
}

/**
 * Where `actual` differs from `expected`, or undefined. Top-level packet
 * fields are a subset match (the parser adds length, dup, qos...); inside
 * `properties` the key sets must be equal: a property the sender did not
 * send, or one it did that went missing, is a difference.
 */
export function difference(expected: unknown, actual: unknown, path = 'packet', exactKeys = false): string | undefined {
  if (expected instanceof Uint8Array) {
    if (!(actual instanceof Uint8Array)) return `${path}: expected bytes, got ${describeValue(actual)}`;
    return toHex(expected) === toHex(actual) ? undefined : `${path}: bytes ${toHex(expected)} ≠ ${toHex(actual)}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${path}: expected ${describeValue(expected)}, got ${describeValue(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const found = difference(expected[i], actual[i], `${path}[${i}]`, exactKeys);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null) return `${path}: expected an object, got ${describeValue(actual)}`;
    const expectedKeys = Object.keys(expected).filter((key) => (expected as Record<string, unknown>)[key] !== undefined);
    if (exactKeys) {
      const actualKeys = Object.keys(actual).filter((key) => (actual as Record<string, unknown>)[key] !== undefined);
      const missing = expectedKeys.filter((key) => !actualKeys.includes(key));
      const extra = actualKeys.filter((key) => !expectedKeys.includes(key));
      if (missing.length > 0 || extra.length > 0) return `${path}: keys differ (missing ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)})`;
    }
    for (const key of expectedKeys) {
      const found = difference((expected as Record<string, unknown>)[key], (actual as Record<string, unknown>)[key], `${path}.${key}`, exactKeys || key === 'properties');
      if (found !== undefined) return found;
    }
    return undefined;
  }
  return Object.is(expected, actual) ? undefined : `${path}: expected ${describeValue(expected)}, got ${describeValue(actual)}`;
}

function describeValue(value: unknown): string {
  if (value instanceof Uint8Array) return `bytes ${toHex(value)}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

// ---- running the decoder ----

export interface Outcome {
  packets: MqttPacket[];
  error: MqttError | undefined;
  buffered: number;
  level: ProtocolLevel | undefined;
  decoder: PacketDecoder;
}

/** Pushes `chunks` into a fresh decoder; a throw out of push() is itself a violation. */
export function decodeChunks(chunks: readonly Uint8Array[], level: ProtocolLevel | undefined, maxPacketSize: number): Outcome {
  const decoder = new PacketDecoder({ maxPacketSize, ...(level === undefined ? {} : { protocolLevel: level }) });
  const packets: MqttPacket[] = [];
  let error: MqttError | undefined;
  for (const [index, piece] of chunks.entries()) {
    let result;
    try {
      result = decoder.push(piece);
    } catch (thrown) {
      throw violation('PacketDecoder.push threw', { thrown: String(thrown), stack: thrown instanceof Error ? thrown.stack : undefined, level, chunk: index, chunks });
    }
    packets.push(...result.packets);
    if (result.error !== undefined) {
      error = result.error;
      break;
    }
  }
  return { packets, error, buffered: decoder.bufferedBytes, level: decoder.protocolLevel, decoder };
}

export type OutcomeLabel = string;

/** 'packets' or the reason code as 0x.., for the counts a run prints. */
export function labelOf(outcome: Outcome): OutcomeLabel {
  return outcome.error === undefined ? 'packets' : `0x${outcome.error.reasonCode.toString(16)}`;
}

function summary(outcome: Outcome): string {
  return JSON.stringify({
    packets: outcome.packets.map((packet) => canonical(packet)),
    error: outcome.error === undefined ? undefined : { reasonCode: outcome.error.reasonCode, kind: outcome.error.kind, message: outcome.error.message },
    // What a dead decoder still holds does not matter (and depends on how far the framer got).
    buffered: outcome.error === undefined ? outcome.buffered : undefined,
  });
}

export interface CheckContext {
  bytes: Uint8Array;
  level: ProtocolLevel | undefined;
  cuts: readonly number[];
  maxPacketSize: number;
  /** Extra description of the case for reports (mutations, capture source). */
  about?: unknown;
}

export interface CheckStats {
  unencodable: number;
}

/**
 * Everything the decoder promises about arbitrary input, checked on one
 * stream: whole and chunked. Returns the outcome of the whole push.
 */
export function checkDecoder(context: CheckContext, stats?: CheckStats): Outcome {
  const { bytes, level, cuts, maxPacketSize } = context;
  const details = { bytes, level, maxPacketSize, cuts, about: context.about };
  const whole = decodeChunks([bytes], level, maxPacketSize);
  const chunked = decodeChunks(chunk(bytes, cuts), level, maxPacketSize);

  // Well-formed results: packets with a command, errors of our type with a codec reason and the matching kind.
  for (const packet of whole.packets) {
    if (typeof packet.cmd !== 'string') throw violation('a decoded packet has no cmd', details);
  }
  if (whole.error !== undefined) {
    const error: unknown = whole.error;
    if (!(error instanceof MqttError)) throw violation('the decoder returned an error that is not an MqttError', { ...details, error: String(error) });
    const kind = CodecReasons.get(whole.error.reasonCode);
    if (kind === undefined) throw violation(`the decoder failed with reason 0x${whole.error.reasonCode.toString(16)}, not a codec reason`, { ...details, message: whole.error.message });
    if (kind !== whole.error.kind) throw violation(`reason 0x${whole.error.reasonCode.toString(16)} comes with kind ${whole.error.kind}, expected ${kind}`, { ...details, message: whole.error.message });
  }

  // Chunking changes nothing.
  if (summary(whole) !== summary(chunked)) {
    throw violation('the result depends on how the bytes are chunked', { ...details, whole: JSON.parse(summary(whole)) as unknown, chunked: JSON.parse(summary(chunked)) as unknown });
  }

  // Framing agrees with an independent reading of the fixed headers.
  const split = splitStream(bytes, { maxPacketSize, level: whole.level ?? level });
  const frames = split.frames.length;
  if (split.broken !== undefined) {
    if (whole.error === undefined) throw violation(`the stream breaks at byte ${split.broken.at} (${split.broken.reason}) but the decoder reported no error`, { ...details, outcome: JSON.parse(summary(whole)) as unknown });
    if (whole.packets.length > frames) throw violation('more packets than whole frames before the break', details);
    if (whole.packets.length === frames) {
      const expected =
        split.broken.reason === 'too-large' ? [ReasonCode.PacketTooLarge] : split.broken.reason === 'auth-before-5' ? [ReasonCode.MalformedPacket, ReasonCode.ProtocolError] : [ReasonCode.MalformedPacket];
      if (!(expected as number[]).includes(whole.error.reasonCode)) {
        throw violation(`the stream breaks (${split.broken.reason}); expected reason ${expected.map((r) => `0x${r.toString(16)}`).join('/')}, got 0x${whole.error.reasonCode.toString(16)}`, { ...details, message: whole.error.message });
      }
    }
  } else if (whole.error === undefined) {
    // "Never waits for more bytes than the packet needs": every whole frame came out, only the incomplete tail is held.
    if (whole.packets.length !== frames) throw violation(`${frames} whole frames but ${whole.packets.length} packets and no error`, details);
    const pending = split.pending === undefined ? 0 : bytes.length - split.pending.start;
    if (whole.buffered !== pending) throw violation(`the decoder holds ${whole.buffered} bytes, the incomplete tail is ${pending}`, details);
  } else if (whole.packets.length >= frames) {
    // Refusing an overlong Remaining Length from the header alone is fine (5.0 [MQTT-1.5.5-1]).
    const pendingOverlong = split.pending !== undefined && split.overlong.includes(split.pending.start) && whole.error.reasonCode === ReasonCode.MalformedPacket;
    if (!pendingOverlong) throw violation('an error that came from no whole frame (the tail is incomplete and its header is fine)', { ...details, message: whole.error.message });
  }

  // A failed decoder stays failed, with the same error.
  if (whole.error !== undefined) {
    const again = whole.decoder.push(Uint8Array.of(0xc0, 0x00));
    if (again.packets.length > 0 || again.error !== whole.error) throw violation('the decoder came back to life after an error', details);
  }

  // Whatever was accepted is a packet we can write, and reads back the same.
  for (const packet of whole.packets) {
    const encodeLevel = packet.cmd === 'connect' ? ((packet.protocolVersion ?? 4) as ProtocolLevel) : whole.level;
    if (encodeLevel === undefined) throw violation('a non-CONNECT packet was decoded without a protocol level', details);
    let encoded: Uint8Array;
    try {
      encoded = encodePacket(packet, encodeLevel);
    } catch {
      // Accepted by the codec but refused by the encoder (e.g. an empty 3.1 client id): the broker's call.
      if (stats !== undefined) stats.unencodable++;
      continue;
    }
    const again = decodeChunks([encoded], packet.cmd === 'connect' ? undefined : encodeLevel, MaxPacketSizeLimit);
    const back = again.packets[0];
    if (again.error !== undefined || again.packets.length !== 1 || back === undefined) {
      throw violation('an accepted packet, encoded again, is refused by the decoder', { ...details, packet: canonical(packet), encoded, error: again.error?.message });
    }
    const { length: _length, ...fields } = packet;
    const differs = difference(fields, back);
    if (differs !== undefined) {
      throw violation(`an accepted packet does not survive encode + decode: ${differs}`, { ...details, packet: canonical(packet), encoded, back: canonical(back) });
    }
  }
  return whole;
}

// ---- captures ----

/** Valid packets to mutate: unit fixtures, MQTT.js recordings, and freshly generated ones. */
export function captureArb(recorded: readonly Capture[], level?: ProtocolLevel): fc.Arbitrary<Capture> {
  const fromFixtures: Capture[] = unitFixtures
    .filter((fixture) => level === undefined || fixture.level === level)
    .map((fixture) => ({ level: fixture.level, source: `fixture ${fixture.name}`, cmd: fixture.packet.cmd, bytes: encodePacket(fixture.packet, fixture.level) }));
  const fixed = [...fromFixtures, ...recorded.filter((capture) => level === undefined || capture.level === level)];
  const generated = (level === undefined ? levelArb : fc.constant(level)).chain((at) =>
    packetArb(at).map((packet): Capture => ({ level: at, source: 'generated', cmd: packet.cmd, bytes: encodePacket(packet, at) })),
  );
  return fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...fixed) }, { weight: 2, arbitrary: generated });
}

const maxPacketSizeArb = fc.constantFrom(64, 1024, 1 << 16, MaxPacketSizeLimit);

// ---- the properties ----

export interface PropertyRun {
  runs: number;
  seed: number;
}

export interface PropertyReport {
  name: string;
  cases: number;
  seed: number;
  outcomes: Record<string, number>;
  /** Slowest case, ms: "bounded work". */
  slowestMs: number;
}

export interface CodecProperty {
  name: string;
  run(settings: PropertyRun, captures: readonly Capture[]): PropertyReport;
}

/** Longest a single case may take before we call it a hang (whole + chunked decode of at most a few KiB). */
const SlowCaseMs = 2000;

/** Runs one fast-check property with counting and timing around each case. */
function runProperty<T>(name: string, settings: PropertyRun, arbitrary: fc.Arbitrary<T>, check: (value: T, count: (label: string) => void) => void): PropertyReport {
  const outcomes: Record<string, number> = {};
  let slowestMs = 0;
  let cases = 0;
  const count = (label: string): void => {
    outcomes[label] = (outcomes[label] ?? 0) + 1;
  };
  fc.assert(
    fc.property(arbitrary, (value) => {
      const started = performance.now();
      check(value, count);
      const took = performance.now() - started;
      if (took > SlowCaseMs) throw new FuzzViolation(`one case took ${Math.round(took)} ms: the decoder does unbounded work`);
      slowestMs = Math.max(slowestMs, took);
      cases++;
    }),
    { seed: settings.seed, numRuns: settings.runs, includeErrorInReport: true },
  );
  return { name, cases, seed: settings.seed, outcomes, slowestMs: Math.round(slowestMs * 10) / 10 };
}

const roundTrip: CodecProperty = {
  name: 'round trip of valid packets (levels 3, 4, 5; any chunking)',
  run: (settings) =>
    runProperty('round-trip', settings, fc.tuple(levelArb.chain((level) => fc.tuple(fc.constant(level), packetArb(level))), cutsArb()), ([[level, packet], cuts], count) => {
      const ours = encodePacket(packet, level);
      const theirs = mqttPacket.generate(packet, { protocolVersion: level });
      if (!sameBytes(ours, theirs)) throw violation('our encoder and mqtt-packet disagree', { level, packet: canonical(packet), ours, theirs });
      const decoderLevel = packet.cmd === 'connect' ? undefined : level;
      const outcome = decodeChunks(chunk(ours, cuts), decoderLevel, MaxPacketSizeLimit);
      const decoded = outcome.packets[0];
      if (outcome.error !== undefined || outcome.packets.length !== 1 || decoded === undefined || outcome.buffered !== 0) {
        throw violation('a valid packet does not decode to exactly one packet', { level, packet: canonical(packet), bytes: ours, cuts, outcome: JSON.parse(summary(outcome)) as unknown });
      }
      const differs = difference(packet, decoded);
      if (differs !== undefined) throw violation(`decoded packet differs: ${differs}`, { level, packet: canonical(packet), decoded: canonical(decoded), bytes: ours });
      const again = encodePacket(decoded, level);
      if (!sameBytes(again, ours)) throw violation('decoded packet re-encodes to other bytes', { level, packet: canonical(packet), bytes: ours, again });
      count(`${packet.cmd}@${level}`);
    }),
};

const sessionRoundTrip: CodecProperty = {
  name: 'round trip of whole sessions: CONNECT fixes the level, then any packets, any chunking',
  run: (settings) =>
    runProperty(
      'session-round-trip',
      settings,
      levelArb.chain((level) =>
        fc.tuple(
          fc.constant(level),
          packetArb(level).filter((packet) => packet.cmd === 'connect'),
          fc.array(packetArb(level).filter((packet) => packet.cmd !== 'connect'), { maxLength: 8 }),
          cutsArb(16),
        ),
      ),
      ([level, connect, rest, cuts], count) => {
        const packets = [connect, ...rest];
        const bytes = concatBytes(packets.map((packet) => encodePacket(packet, level)));
        const outcome = decodeChunks(chunk(bytes, cuts), undefined, MaxPacketSizeLimit);
        if (outcome.error !== undefined || outcome.packets.length !== packets.length || outcome.buffered !== 0 || outcome.level !== level) {
          throw violation('a valid session does not decode', { level, bytes, cuts, outcome: JSON.parse(summary(outcome)) as unknown });
        }
        packets.forEach((packet, i) => {
          const differs = difference(packet, outcome.packets[i]);
          if (differs !== undefined) throw violation(`packet ${i} differs: ${differs}`, { level, bytes, cuts });
        });
        count(`${packets.length} packets`);
      },
    ),
};

const mutatedPackets: CodecProperty = {
  name: 'mutated captures: never throws, chunking-independent, frames agree, only codec reasons, accepted packets round-trip',
  run(settings, captures) {
    const stats: CheckStats = { unencodable: 0 };
    const report = runProperty(
      'mutated-packets',
      settings,
      fc.tuple(captureArb(captures), mutationsArb, cutsArb(), maxPacketSizeArb),
      ([capture, mutations, cuts, maxPacketSize], count) => {
        const bytes = applyMutations(capture.bytes, mutations);
        const outcome = checkDecoder({ bytes, level: decoderLevelFor(capture.bytes, capture.level), cuts, maxPacketSize, about: { source: capture.source, original: capture.bytes, mutations } }, stats);
        count(labelOf(outcome));
      },
    );
    report.outcomes['unencodable'] = stats.unencodable;
    return report;
  },
};

const mutatedStreams: CodecProperty = {
  name: 'mutated streams of captures (optionally led by CONNECT), then byte damage across packet boundaries',
  run(settings, captures) {
    const stats: CheckStats = { unencodable: 0 };
    const report = runProperty(
      'mutated-streams',
      settings,
      levelArb.chain((level) =>
        fc.tuple(
          fc.constant(level),
          fc.boolean(),
          fc.array(fc.tuple(captureArb(captures, level), fc.option(mutationsArb, { nil: undefined })), { minLength: 1, maxLength: 5 }),
          fc.array(byteMutationArb, { maxLength: 3 }),
          cutsArb(12),
          maxPacketSizeArb,
        ),
      ),
      ([level, leadWithConnect, parts, streamMutations, cuts, maxPacketSize], count) => {
        const connect = captures.find((capture) => capture.level === level && capture.cmd === 'connect');
        const pieces = parts.map(([capture, mutations]) => (mutations === undefined ? capture.bytes : applyMutations(capture.bytes, mutations)));
        const lead = leadWithConnect && connect !== undefined ? [connect.bytes] : [];
        const bytes = applyMutations(concatBytes([...lead, ...pieces]), streamMutations as Mutation[]);
        const outcome = checkDecoder(
          { bytes, level: lead.length > 0 ? undefined : level, cuts, maxPacketSize, about: { parts: parts.map(([capture, mutations]) => ({ source: capture.source, cmd: capture.cmd, mutations })), streamMutations } },
          stats,
        );
        count(labelOf(outcome));
      },
    );
    report.outcomes['unencodable'] = stats.unencodable;
    return report;
  },
};

const targetedProperties: CodecProperty = {
  name: '5.0 property damage with a known answer: duplicate → 0x82 (unless repeatable), unknown or misplaced id → 0x81',
  run(settings, captures) {
    const withProperties = (bytes: Uint8Array): boolean => propertyLists(bytes).some((list) => list.entries.length > 0);
    const sources = fc.oneof(
      captureArb(captures, 5).filter((capture) => withProperties(capture.bytes)),
      packetArb(5)
        .map((packet): Capture => ({ level: 5, source: 'generated', cmd: packet.cmd, bytes: encodePacket(packet, 5) }))
        .filter((capture) => withProperties(capture.bytes)),
    );
    return runProperty('targeted-properties', settings, fc.tuple(sources, targetedChoiceArb, cutsArb()), ([capture, choice, cuts], count) => {
      const target = targetedPropertyMutation(capture.bytes, choice);
      if (target === undefined) return;
      const level = decoderLevelFor(capture.bytes, 5);
      const outcome = checkDecoder({ bytes: target.bytes, level, cuts, maxPacketSize: MaxPacketSizeLimit, about: { source: capture.source, original: capture.bytes, target: target.name } });
      const details = { case: target.name, source: capture.source, original: capture.bytes, bytes: target.bytes, error: outcome.error?.message };
      if (target.reason === undefined) {
        if (outcome.error !== undefined || outcome.packets.length !== 1) throw violation(`${target.name}: expected the packet to decode`, details);
      } else {
        if (outcome.error?.reasonCode !== target.reason) throw violation(`${target.name}: expected reason 0x${target.reason.toString(16)}, got ${labelOf(outcome)}`, details);
        // A CONNECT's error carries the level it asked for, so the broker can answer in 5.0.
        if (capture.cmd === 'connect' && outcome.error.protocolLevel !== 5) throw violation(`${target.name}: the CONNECT error lost its protocol level`, details);
      }
      count(`${target.name.split(' ')[0] ?? ''}→${labelOf(outcome)}`);
    });
  },
};

const remainingLength: CodecProperty = {
  name: 'Remaining Length damage: 5 bytes → 0x81, over the limit → 0x95 from the header alone',
  run: (settings, captures) =>
    runProperty('remaining-length', settings, fc.tuple(captureArb(captures), fc.integer({ min: 16, max: 4096 }), fc.integer({ min: 1, max: 268_435_455 }), cutsArb()), ([capture, maxPacketSize, claimed, cuts], count) => {
      const level = decoderLevelFor(capture.bytes, capture.level);
      const fiveBytes = applyMutations(capture.bytes, [{ op: 'length-five-bytes' }]);
      const five = checkDecoder({ bytes: fiveBytes, level, cuts, maxPacketSize: MaxPacketSizeLimit, about: { source: capture.source } });
      if (five.error?.reasonCode !== ReasonCode.MalformedPacket || five.packets.length > 0) throw violation('a 5-byte Remaining Length must fail with 0x81', { bytes: fiveBytes, got: labelOf(five) });
      // Only the fixed header: the size is known before any of the body arrives [MQTT-3.1.2-24 / 4.13].
      const header = concatBytes([capture.bytes.subarray(0, 1), encodeVbi(Math.max(claimed, maxPacketSize))]);
      const tooLarge = decodeChunks([header], level, maxPacketSize);
      if (tooLarge.error?.reasonCode !== ReasonCode.PacketTooLarge || tooLarge.buffered !== 0) {
        throw violation('a Remaining Length over the maximum must fail with 0x95 from the header alone', { header, maxPacketSize, got: labelOf(tooLarge), buffered: tooLarge.buffered });
      }
      count('checked');
    }),
};

/**
 * [MQTT-1.5.5-1] 5.0: "The encoded value MUST use the minimum number of
 * bytes necessary to represent the value"; a Variable Byte Integer that
 * does not is a Malformed Packet. Checked on the Remaining Length of every
 * packet type at 5.0 (a CONNECT fixes the level itself), and on Property Lengths.
 */
function overlongVbi(where: 'remaining-length' | 'property-length'): CodecProperty {
  const field = where === 'remaining-length' ? 'Remaining Length' : 'Property Length';
  return {
    name: `5.0: an overlong ${field} is malformed → 0x81 [MQTT-1.5.5-1]`,
    run: (settings, captures) =>
      runProperty(
        `overlong-${where}`,
        settings,
        fc.tuple(captureArb(captures, 5).filter((capture) => capture.bytes.length < 2000), fc.integer({ min: 1, max: 3 }), fc.nat(8)),
        ([capture, extra, list], count) => {
          let bytes: Uint8Array;
          if (where === 'remaining-length') {
            bytes = applyMutations(capture.bytes, [{ op: 'length-overlong', extra }]);
          } else {
            const lists = propertyLists(capture.bytes);
            const target = lists[list % Math.max(1, lists.length)];
            if (target === undefined || target.lengthSize + extra > 4) return;
            const length = [...capture.bytes.subarray(target.lengthAt, target.lengthAt + target.lengthSize)];
            length[length.length - 1] = (length[length.length - 1] as number) | 0x80;
            for (let i = 1; i < extra; i++) length.push(0x80);
            length.push(0x00);
            const body = concatBytes([capture.bytes.subarray(0, target.lengthAt), Uint8Array.from(length), capture.bytes.subarray(target.start)]);
            bytes = applyMutations(body, [{ op: 'reframe' }]);
          }
          if (sameBytes(bytes, capture.bytes)) return;
          const outcome = decodeChunks([bytes], decoderLevelFor(capture.bytes, 5), MaxPacketSizeLimit);
          if (outcome.error?.reasonCode !== ReasonCode.MalformedPacket) {
            throw violation(`overlong ${field} accepted: expected 0x81 [MQTT-1.5.5-1], got ${labelOf(outcome)}`, { source: capture.source, original: capture.bytes, bytes });
          }
          count(capture.cmd);
        },
      ),
  };
}

export const codecProperties: readonly CodecProperty[] = [
  roundTrip,
  sessionRoundTrip,
  mutatedPackets,
  mutatedStreams,
  targetedProperties,
  remainingLength,
  overlongVbi('remaining-length'),
  overlongVbi('property-length'),
];

export function formatReport(report: PropertyReport): Record<string, string | number> {
  const top = Object.entries(report.outcomes)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([label, n]) => `${label}:${n}`)
    .join(',');
  return { slowestMs: report.slowestMs, outcomes: top };
}
