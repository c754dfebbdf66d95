/**
 * Broken input at every level: each case must fail with an MqttError carrying
 * the asserted reason code, whole and split at every byte, and never throw.
 */
import { describe, expect, it } from 'vitest';
import { PacketDecoder, decodeAll } from '../../../shared/codec/decoder.ts';
import type { ProtocolLevel } from '../../../shared/codec/types.ts';
import { MqttError } from '../../../shared/errors.ts';
import { ReasonCode } from '../../../shared/reason-codes.ts';
import { levels } from './fixtures.ts';
import { concat, connectBody, expectMqttError, hex, packet, props, rawStr, str, u16 } from './helpers.ts';

interface BadCase {
  name: string;
  bytes: Uint8Array;
  reason: number;
  /** Decoder's level; undefined = a fresh connection (bytes start with CONNECT). */
  level?: ProtocolLevel;
}

/** Topic name bytes that are not acceptable UTF-8 [MQTT-1.5.4-1/2]. */
const badUtf8: ReadonlyArray<readonly [string, string]> = [
  ['invalid byte 0xff', '61 ff 62'],
  ['lone continuation byte', '61 80'],
  ['truncated 2-byte sequence', '61 c3'],
  ['overlong "/" (c0 af)', 'c0 af'],
  ['overlong 3-byte NUL (e0 80 80)', 'e0 80 80'],
  ['overlong 4-byte (f0 8f bf bf)', 'f0 8f bf bf'],
  ['surrogate U+D800 (ed a0 80)', 'ed a0 80'],
  ['surrogate U+DFFF (ed bf bf)', 'ed bf bf'],
  ['above U+10FFFF (f4 90 80 80)', 'f4 90 80 80'],
  ['U+0000', '61 00 62'],
];

function casesAt(level: ProtocolLevel): BadCase[] {
  const v5 = level === 5;
  /** PUBLISH QoS 0 topic + (5.0) empty property list. */
  const publishBody = (topic: Uint8Array): Uint8Array => concat(topic, v5 ? props() : [], 'aa');
  const cases: BadCase[] = [
    // ---- fixed header ------------------------------------------------------
    { name: 'remaining length longer than 4 bytes', level, bytes: hex('30 ff ff ff ff 7f'), reason: ReasonCode.MalformedPacket },
    { name: 'packet type 0', level, bytes: hex('00 00'), reason: ReasonCode.MalformedPacket },
    { name: 'PUBLISH with QoS 3', level, bytes: packet(0x36, str('a'), '0001'), reason: ReasonCode.MalformedPacket },
    { name: 'PUBREL with flags 0000 [MQTT-2.2.2-2]', level, bytes: hex('60 02 00 01'), reason: ReasonCode.MalformedPacket },
    { name: 'SUBSCRIBE with flags 0000', level, bytes: packet(0x80, '0001', str('a'), v5 ? '00' : '', '00'), reason: ReasonCode.MalformedPacket },
    { name: 'UNSUBSCRIBE with flags 0011', level, bytes: packet(0xa3, '0001', str('a')), reason: ReasonCode.MalformedPacket },
    // MQTT 3.1 (section 2.1) sets DUP on a re-sent PUBREL, SUBSCRIBE or UNSUBSCRIBE; 3.1.1 and 5.0 reserve it.
    ...(level === 3
      ? []
      : [
          { name: 'PUBREL with DUP [MQTT-2.2.2-2]', level, bytes: hex('6a 02 00 01'), reason: ReasonCode.MalformedPacket },
          { name: 'SUBSCRIBE with DUP [MQTT-2.2.2-2]', level, bytes: packet(0x8a, '0001', str('a'), v5 ? '00' : '', '00'), reason: ReasonCode.MalformedPacket },
          { name: 'UNSUBSCRIBE with DUP [MQTT-2.2.2-2]', level, bytes: packet(0xaa, '0001', v5 ? '00' : '', str('a')), reason: ReasonCode.MalformedPacket },
        ]),
    { name: 'PUBACK with flags 0001', level, bytes: hex('41 02 00 01'), reason: ReasonCode.MalformedPacket },
    { name: 'PINGREQ with flags 1000', level, bytes: hex('c8 00'), reason: ReasonCode.MalformedPacket },
    { name: 'CONNECT with flags 0010', bytes: packet(0x12, connectBody({ level })), reason: ReasonCode.MalformedPacket },

    // ---- order ---------------------------------------------------------------
    { name: 'PINGREQ before CONNECT [MQTT-3.1.0-1]', bytes: hex('c0 00'), reason: ReasonCode.ProtocolError },

    // ---- CONNECT -------------------------------------------------------------
    {
      name: 'CONNECT cut inside the client id (consistent remaining length)',
      bytes: packet(0x10, connectBody({ level, payload: [u16(10), Buffer.from('abcde')] })),
      reason: ReasonCode.MalformedPacket,
    },
    {
      name: 'CONNECT cut inside the protocol name',
      bytes: packet(0x10, '0004 4d 51'),
      reason: ReasonCode.MalformedPacket,
    },
    { name: 'CONNECT without keep alive', bytes: packet(0x10, str(level === 3 ? 'MQIsdp' : 'MQTT'), [level, 0x02], '00'), reason: ReasonCode.MalformedPacket },
    { name: 'CONNECT with trailing bytes', bytes: packet(0x10, connectBody({ level }), 'ff'), reason: ReasonCode.MalformedPacket },
    { name: 'CONNECT reserved flag set [MQTT-3.1.2-3]', bytes: packet(0x10, connectBody({ level, flags: 0x03 })), reason: ReasonCode.MalformedPacket },
    {
      name: 'CONNECT will QoS 3 [MQTT-3.1.2-14]',
      bytes: packet(0x10, connectBody({ level, flags: 0x1e, payload: [str('c'), ...(v5 ? [props()] : []), str('t'), u16(0)] })),
      reason: ReasonCode.MalformedPacket,
    },
    { name: 'CONNECT will QoS without will flag [MQTT-3.1.2-11]', bytes: packet(0x10, connectBody({ level, flags: 0x0a })), reason: ReasonCode.MalformedPacket },
    { name: 'CONNECT will retain without will flag [MQTT-3.1.2-13]', bytes: packet(0x10, connectBody({ level, flags: 0x22 })), reason: ReasonCode.MalformedPacket },
    {
      name: 'CONNECT will flag but no will topic',
      bytes: packet(0x10, connectBody({ level, flags: 0x06, payload: [str('c'), ...(v5 ? [props()] : [])] })),
      reason: ReasonCode.MalformedPacket,
    },
    {
      name: 'CONNECT user name flag but no user name',
      bytes: packet(0x10, connectBody({ level, flags: 0x82 })),
      reason: ReasonCode.MalformedPacket,
    },
    ...badUtf8.map(([what, content]) => ({
      name: `CONNECT client id: ${what}`,
      bytes: packet(0x10, connectBody({ level, payload: [rawStr(content)] })),
      reason: ReasonCode.MalformedPacket,
    })),
    {
      name: 'CONNECT user name with U+0000',
      bytes: packet(0x10, connectBody({ level, flags: 0x82, payload: [str('c'), rawStr('75 00')] })),
      reason: ReasonCode.MalformedPacket,
    },
    {
      name: 'CONNECT will topic with a surrogate',
      bytes: packet(0x10, connectBody({ level, flags: 0x06, payload: [str('c'), ...(v5 ? [props()] : []), rawStr('ed a0 80'), u16(0)] })),
      reason: ReasonCode.MalformedPacket,
    },

    // ---- PUBLISH ---------------------------------------------------------------
    ...badUtf8.map(([what, content]) => ({
      name: `PUBLISH topic: ${what}`,
      level,
      bytes: packet(0x30, publishBody(rawStr(content))),
      reason: ReasonCode.MalformedPacket,
    })),
    { name: 'PUBLISH topic length beyond the packet', level, bytes: packet(0x30, '0005 61'), reason: ReasonCode.MalformedPacket },
    { name: 'PUBLISH without topic length', level, bytes: packet(0x30, '00'), reason: ReasonCode.MalformedPacket },
    { name: 'PUBLISH QoS 1 without packet id', level, bytes: packet(0x32, str('a'), '00'), reason: ReasonCode.MalformedPacket },
    { name: 'PUBLISH QoS 1 with packet id 0', level, bytes: packet(0x32, str('a'), '0000', v5 ? props() : [], 'aa'), reason: ReasonCode.ProtocolError },

    // ---- acknowledgements ------------------------------------------------------
    { name: 'PUBACK with 1 byte', level, bytes: hex('40 01 00'), reason: ReasonCode.MalformedPacket },
    { name: 'PUBACK with packet id 0', level, bytes: hex('40 02 00 00'), reason: ReasonCode.ProtocolError },
    { name: 'PUBREL with packet id 0', level, bytes: hex('62 02 00 00'), reason: ReasonCode.ProtocolError },
    { name: 'PINGREQ with a body', level, bytes: hex('c0 01 00'), reason: ReasonCode.MalformedPacket },
    { name: 'PINGRESP with a body', level, bytes: hex('d0 02 00 00'), reason: ReasonCode.MalformedPacket },

    // ---- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------
    { name: 'SUBSCRIBE without filters [MQTT-3.8.3-3]', level, bytes: packet(0x82, '0001', v5 ? props() : []), reason: ReasonCode.ProtocolError },
    { name: 'SUBSCRIBE without options byte', level, bytes: packet(0x82, '0001', v5 ? props() : [], str('a')), reason: ReasonCode.MalformedPacket },
    // 5.0 spec 3.8.3.1 makes it a Protocol Error; 3.1.1 [MQTT-3.8.3-4] treats it as malformed.
    { name: 'SUBSCRIBE QoS 3', level, bytes: packet(0x82, '0001', v5 ? props() : [], str('a'), '03'), reason: v5 ? ReasonCode.ProtocolError : ReasonCode.MalformedPacket },
    { name: 'SUBSCRIBE reserved option bits', level, bytes: packet(0x82, '0001', v5 ? props() : [], str('a'), 'c0'), reason: ReasonCode.MalformedPacket },
    { name: 'SUBSCRIBE with packet id 0', level, bytes: packet(0x82, '0000', v5 ? props() : [], str('a'), '00'), reason: ReasonCode.ProtocolError },
    { name: 'SUBSCRIBE filter with U+0000', level, bytes: packet(0x82, '0001', v5 ? props() : [], rawStr('61 00'), '00'), reason: ReasonCode.MalformedPacket },
    { name: 'SUBSCRIBE filter with invalid UTF-8', level, bytes: packet(0x82, '0001', v5 ? props() : [], rawStr('2b 2f fe'), '00'), reason: ReasonCode.MalformedPacket },
    { name: 'UNSUBSCRIBE without filters [MQTT-3.10.3-2]', level, bytes: packet(0xa2, '0001', v5 ? props() : []), reason: ReasonCode.ProtocolError },
    { name: 'UNSUBSCRIBE filter with an overlong sequence', level, bytes: packet(0xa2, '0001', v5 ? props() : [], rawStr('c1 81')), reason: ReasonCode.MalformedPacket },
    { name: 'UNSUBSCRIBE with a truncated filter', level, bytes: packet(0xa2, '0001', v5 ? props() : [], '0004 61 62'), reason: ReasonCode.MalformedPacket },
  ];
  if (level !== 5) {
    cases.push(
      { name: 'AUTH is reserved before 5.0', level, bytes: hex('f0 00'), reason: ReasonCode.MalformedPacket },
      { name: 'SUBSCRIBE option bit 2 set (reserved before 5.0) [MQTT-3-8.3-4]', level, bytes: packet(0x82, '0001', str('a'), '04'), reason: ReasonCode.MalformedPacket },
      { name: 'PUBACK with 3 bytes', level, bytes: hex('40 03 00 01 00'), reason: ReasonCode.MalformedPacket },
      { name: 'UNSUBACK with 3 bytes', level, bytes: hex('b0 03 00 01 00'), reason: ReasonCode.MalformedPacket },
      { name: 'DISCONNECT with a body', level, bytes: hex('e0 01 00'), reason: ReasonCode.MalformedPacket },
      { name: 'CONNACK with 3 bytes', level, bytes: hex('20 03 00 00 00'), reason: ReasonCode.MalformedPacket },
      {
        name: 'CONNECT password without user name [MQTT-3.1.2-22]',
        bytes: packet(0x10, connectBody({ level, flags: 0x42, payload: [str('c'), str('pw')] })),
        reason: ReasonCode.MalformedPacket,
      },
    );
  }
  return cases;
}

/** Protocol name / level combinations nobody may speak [MQTT-3.1.2-1/2]. */
const unsupported: ReadonlyArray<{ name: string; bytes: Uint8Array; hint: ProtocolLevel | undefined }> = [
  { name: "'MQIsdp' with level 4", bytes: packet(0x10, connectBody({ name: 'MQIsdp', level: 4 })), hint: 4 },
  { name: "'MQIsdp' with level 5", bytes: packet(0x10, connectBody({ name: 'MQIsdp', level: 5 })), hint: 5 },
  { name: "'MQTT' with level 3", bytes: packet(0x10, connectBody({ name: 'MQTT', level: 3 })), hint: 3 },
  { name: "'MQTT' with level 6", bytes: packet(0x10, connectBody({ name: 'MQTT', level: 6 })), hint: undefined },
  { name: "'MQTT' with level 0", bytes: packet(0x10, connectBody({ name: 'MQTT', level: 0 })), hint: undefined },
  { name: "'MQTX' with level 4", bytes: packet(0x10, connectBody({ name: 'MQTX', level: 4 })), hint: 4 },
  { name: "'mqtt' with level 4", bytes: packet(0x10, connectBody({ name: 'mqtt', level: 4 })), hint: 4 },
  // The bridge bit belongs to 3.1 and 3.1.1 only (0x83, 0x84: see the fixtures); 5.0 has No Local instead.
  { name: "'MQTT' with level 0x85 (the bridge bit on 5.0)", bytes: packet(0x10, connectBody({ name: 'MQTT', level: 0x85 })), hint: undefined },
  { name: "'MQTT' with level 0x83", bytes: packet(0x10, connectBody({ name: 'MQTT', level: 0x83 })), hint: 3 },
  { name: "'MQIsdp' with level 0x84", bytes: packet(0x10, connectBody({ name: 'MQIsdp', level: 0x84 })), hint: 4 },
  { name: "'MQTT' with level 0x44 (0x04 | 0x40, not the bridge bit)", bytes: packet(0x10, connectBody({ name: 'MQTT', level: 0x44 })), hint: undefined },
  { name: "'MQTT' with level 0xc4", bytes: packet(0x10, connectBody({ name: 'MQTT', level: 0xc4 })), hint: undefined },
  { name: "'MQTT' with level 0x80", bytes: packet(0x10, connectBody({ name: 'MQTT', level: 0x80 })), hint: undefined },
];

/** 5.0 property problems [MQTT-2.2.2]. */
function propertyCases(): BadCase[] {
  const level = 5;
  const publish = (properties: Uint8Array): Uint8Array => packet(0x30, str('a'), properties, 'aa');
  const userProperty = concat('26', str('k'), str('v'));
  return [
    { name: 'unknown property id 0x05', level, bytes: publish(props('05 00')), reason: ReasonCode.MalformedPacket },
    { name: 'property id 0x00', level, bytes: publish(props('00')), reason: ReasonCode.MalformedPacket },
    { name: 'multi-byte property id', level, bytes: publish(props('81 01 00')), reason: ReasonCode.MalformedPacket },
    { name: 'Session Expiry Interval in PUBLISH', level, bytes: publish(props('11 00000001')), reason: ReasonCode.MalformedPacket },
    { name: 'Will Delay Interval in CONNECT (not will) properties', bytes: packet(0x10, connectBody({ level, properties: props('18 00000001') })), reason: ReasonCode.MalformedPacket },
    { name: 'Topic Alias in SUBSCRIBE', level, bytes: packet(0x82, '0001', props('23 0001'), str('a'), '00'), reason: ReasonCode.MalformedPacket },
    { name: 'Reason String in PUBLISH', level, bytes: publish(props('1f', str('x'))), reason: ReasonCode.MalformedPacket },
    { name: 'Server Reference in AUTH', level, bytes: packet(0xf0, '18', props('1c', str('x'))), reason: ReasonCode.MalformedPacket },
    { name: 'duplicate Message Expiry Interval', level, bytes: publish(props('02 00000001 02 00000002')), reason: ReasonCode.ProtocolError },
    { name: 'duplicate Content Type', level, bytes: publish(props('03', str('a'), '03', str('b'))), reason: ReasonCode.ProtocolError },
    { name: 'duplicate Subscription Identifier in SUBSCRIBE', level, bytes: packet(0x82, '0001', props('0b 01 0b 02'), str('a'), '00'), reason: ReasonCode.ProtocolError },
    { name: 'duplicate Reason String in PUBACK', level, bytes: packet(0x40, '0001 10', props('1f', str('a'), '1f', str('b'))), reason: ReasonCode.ProtocolError },
    { name: 'duplicate Receive Maximum in CONNECT', bytes: packet(0x10, connectBody({ level, properties: props('21 0001 21 0002') })), reason: ReasonCode.ProtocolError },
    { name: 'Payload Format Indicator 2', level, bytes: publish(props('01 02')), reason: ReasonCode.ProtocolError },
    { name: 'Request Problem Information 2', bytes: packet(0x10, connectBody({ level, properties: props('17 02') })), reason: ReasonCode.ProtocolError },
    { name: 'Receive Maximum 0', bytes: packet(0x10, connectBody({ level, properties: props('21 0000') })), reason: ReasonCode.ProtocolError },
    { name: 'Maximum Packet Size 0', bytes: packet(0x10, connectBody({ level, properties: props('27 00000000') })), reason: ReasonCode.ProtocolError },
    // [MQTT-3.3.2-8] a more precise code than Protocol Error.
    { name: 'Topic Alias 0', level, bytes: publish(props('23 0000')), reason: ReasonCode.TopicAliasInvalid },
    { name: 'Subscription Identifier 0', level, bytes: packet(0x82, '0001', props('0b 00'), str('a'), '00'), reason: ReasonCode.ProtocolError },
    { name: 'property length beyond the packet', level, bytes: publish(hex('05 02 00')), reason: ReasonCode.MalformedPacket },
    { name: 'property value beyond the property length', level, bytes: packet(0x30, str('a'), '03 02 0000', '0000 aa'), reason: ReasonCode.MalformedPacket },
    { name: 'truncated User Property value', level, bytes: publish(props('26', str('k'), '0005 61')), reason: ReasonCode.MalformedPacket },
    { name: 'User Property name with U+0000', level, bytes: publish(props('26', rawStr('00'), str('v'))), reason: ReasonCode.MalformedPacket },
    { name: 'Content Type with a surrogate', level, bytes: publish(props('03', rawStr('ed b0 80'))), reason: ReasonCode.MalformedPacket },
    { name: 'Subscription Identifier longer than 4 bytes', level, bytes: publish(props('0b ff ff ff ff 01')), reason: ReasonCode.MalformedPacket },
    { name: 'property length longer than 4 bytes', level, bytes: packet(0x30, str('a'), 'ff ff ff ff 01'), reason: ReasonCode.MalformedPacket },
    { name: 'will property that belongs to PUBLISH only (Topic Alias)', bytes: packet(0x10, connectBody({ level, flags: 0x06, payload: [str('c'), props('23 0001'), str('t'), u16(0)] })), reason: ReasonCode.MalformedPacket },
    { name: 'SUBSCRIBE Retain Handling 3', level, bytes: packet(0x82, '0001', props(), str('a'), '30'), reason: ReasonCode.ProtocolError },
    { name: 'PUBACK with unknown reason code', level, bytes: packet(0x40, '0001 05', props()), reason: ReasonCode.MalformedPacket },
    { name: 'DISCONNECT with unknown reason code', level, bytes: hex('e0 01 03'), reason: ReasonCode.MalformedPacket },
    { name: 'DISCONNECT with trailing bytes after properties', level, bytes: packet(0xe0, '00', props(), 'ff'), reason: ReasonCode.MalformedPacket },
    { name: 'CONNECT 5.0 without property length', bytes: packet(0x10, str('MQTT'), '05 02 003c'), reason: ReasonCode.MalformedPacket },
    { name: 'CONNACK 5.0 reserved flag bits', level, bytes: packet(0x20, '02 00', props()), reason: ReasonCode.MalformedPacket },
    { name: 'user property alone is fine, twice is fine: a control (must not fail)', level, bytes: publish(props(userProperty, userProperty)), reason: -1 },
  ];
}

function expectFailure(testCase: BadCase): MqttError {
  const result = decodeAll(testCase.bytes, testCase.level);
  expect(result.packets).toEqual([]);
  expectMqttError(result.error, testCase.reason);
  return result.error;
}

/** The same failure whatever the chunking: no packet, never a throw. */
function expectFailureInEveryChunking(testCase: BadCase): void {
  const { bytes } = testCase;
  for (let cut = 0; cut <= bytes.length; cut++) {
    const decoder = new PacketDecoder({ maxPacketSize: 1 << 20, ...(testCase.level === undefined ? {} : { protocolLevel: testCase.level }) });
    const first = decoder.push(bytes.subarray(0, cut));
    const second = first.error ?? decoder.push(bytes.subarray(cut)).error;
    expectMqttError(second, testCase.reason);
  }
}

describe.each(levels)('level %i', (level) => {
  it.each(casesAt(level).map((testCase) => [testCase.name, testCase] as const))('%s', (_name, testCase) => {
    expectFailure(testCase);
    expectFailureInEveryChunking(testCase);
  });

  it('a PUBLISH topic with wildcards is left to the broker (decoded as is)', () => {
    const { packets, error } = decodeAll(packet(0x30, str('a/+/#'), level === 5 ? props() : [], 'aa'), level);
    expect(error).toBeUndefined();
    expect(packets[0]).toMatchObject({ cmd: 'publish', topic: 'a/+/#' });
  });

  it('an empty PUBLISH topic is left to the broker (decoded as is)', () => {
    const { packets, error } = decodeAll(packet(0x30, str(''), level === 5 ? props() : [], 'aa'), level);
    expect(error).toBeUndefined();
    expect(packets[0]).toMatchObject({ cmd: 'publish', topic: '' });
  });

  it('detects a too large packet from its fixed header, before the body arrives', () => {
    const decoder = new PacketDecoder({ maxPacketSize: 100, protocolLevel: level });
    // PUBLISH with Remaining Length 200: the header alone says 203 bytes.
    const { packets, error } = decoder.push(hex('30 c8 01'));
    expect(packets).toEqual([]);
    expectMqttError(error, ReasonCode.PacketTooLarge);
    expect(error.kind).toBe('Limit');
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('accepts a packet of exactly the maximum size', () => {
    const decoder = new PacketDecoder({ maxPacketSize: 10, protocolLevel: level });
    const bytes = packet(0x30, str('a'), level === 5 ? props() : [], 'aa'.repeat(level === 5 ? 4 : 5));
    expect(bytes.length).toBe(10);
    expect(decoder.push(bytes).error).toBeUndefined();
    expectMqttError(new PacketDecoder({ maxPacketSize: 9, protocolLevel: level }).push(bytes).error, ReasonCode.PacketTooLarge);
  });

  it('detects a 5-byte remaining length without waiting for more', () => {
    const decoder = new PacketDecoder({ maxPacketSize: 1 << 30, protocolLevel: level });
    expect(decoder.push(hex('30 ff ff ff')).error).toBeUndefined();
    expectMqttError(decoder.push(hex('ff')).error, ReasonCode.MalformedPacket);
  });

  it('returns the packets before the error, then stays dead', () => {
    const decoder = new PacketDecoder({ maxPacketSize: 1 << 20, protocolLevel: level });
    const result = decoder.push(hex('c0 00 c0 00 00 00 c0 00'));
    expect(result.packets.map((p) => p.cmd)).toEqual(['pingreq', 'pingreq']);
    expectMqttError(result.error, ReasonCode.MalformedPacket);
    const again = decoder.push(hex('c0 00'));
    expect(again.packets).toEqual([]);
    expect(again.error).toBe(result.error);
  });

  it('a bad packet after good ones in the same chunk: good ones first', () => {
    const { packets, error } = decodeAll(concat('c0 00', packet(0x30, rawStr('ff'), level === 5 ? props() : [])), level);
    expect(packets.map((p) => p.cmd)).toEqual(['pingreq']);
    expectMqttError(error, ReasonCode.MalformedPacket);
  });
});

describe('protocol name / level mismatch', () => {
  it.each(unsupported.map((c) => [c.name, c] as const))('%s → Unsupported Protocol Version', (_name, testCase) => {
    const decoder = new PacketDecoder({ maxPacketSize: 1 << 20 });
    const { packets, error } = decoder.push(testCase.bytes);
    expect(packets).toEqual([]);
    expectMqttError(error, ReasonCode.UnsupportedProtocolVersion);
    expect(error.protocolLevel).toBe(testCase.hint);
    // The level is only adopted when name and level agree.
    expect(decoder.protocolLevel).toBeUndefined();
  });
});

describe('5.0 properties', () => {
  it.each(propertyCases().map((testCase) => [testCase.name, testCase] as const))('%s', (_name, testCase) => {
    if (testCase.reason === -1) {
      expect(decodeAll(testCase.bytes, testCase.level).error).toBeUndefined();
      return;
    }
    expectFailure(testCase);
    expectFailureInEveryChunking(testCase);
  });

  it('a malformed 5.0 CONNECT still fixes the level, so the broker can answer in 5.0', () => {
    const decoder = new PacketDecoder({ maxPacketSize: 1 << 20 });
    const { error } = decoder.push(packet(0x10, connectBody({ level: 5, properties: props('02 00000001') })));
    expectMqttError(error, ReasonCode.MalformedPacket);
    expect(error.protocolLevel).toBe(5);
    expect(decoder.protocolLevel).toBe(5);
  });

  it('a password without a user name is fine in 5.0', () => {
    const { packets, error } = decodeAll(packet(0x10, connectBody({ level: 5, flags: 0x42, payload: [str('c'), str('pw')] })));
    expect(error).toBeUndefined();
    expect(packets[0]).toMatchObject({ cmd: 'connect', clientId: 'c', password: Buffer.from('pw') });
  });

  it('AUTH with Remaining Length 0 means Success', () => {
    const { packets, error } = decodeAll(hex('f0 00'), 5);
    expect(error).toBeUndefined();
    expect(packets[0]).toMatchObject({ cmd: 'auth', reasonCode: ReasonCode.Success });
  });

  it('AUTH with only a reason code', () => {
    const { packets, error } = decodeAll(hex('f0 01 18'), 5);
    expect(error).toBeUndefined();
    expect(packets[0]).toMatchObject({ cmd: 'auth', reasonCode: ReasonCode.ContinueAuthentication });
  });

  it('DISCONNECT with only a reason code', () => {
    const { packets, error } = decodeAll(hex('e0 01 04'), 5);
    expect(error).toBeUndefined();
    expect(packets[0]).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.DisconnectWithWillMessage });
  });

  it('PUBACK with a reason code and no property length', () => {
    const { packets, error } = decodeAll(hex('40 03 00 07 10'), 5);
    expect(error).toBeUndefined();
    expect(packets[0]).toMatchObject({ cmd: 'puback', messageId: 7, reasonCode: ReasonCode.NoMatchingSubscribers });
  });

  it('MQTT 3.1 PUBREL, SUBSCRIBE and UNSUBSCRIBE sent again with DUP (3.1 section 2.1)', () => {
    const { packets, error } = decodeAll(concat(hex('6a 02 00 01'), packet(0x8a, '0002', str('a'), '01'), packet(0xaa, '0003', str('a'))), 3);
    expect(error).toBeUndefined();
    expect(packets).toMatchObject([
      { cmd: 'pubrel', messageId: 1 },
      { cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'a', qos: 1 }] },
      { cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['a'] },
    ]);
  });

  it('4-byte UTF-8 (U+1F600) and U+FEFF (BOM) are accepted and kept [MQTT-1.5.4-3]', () => {
    const { packets, error } = decodeAll(packet(0x30, rawStr('ef bb bf f0 9f 98 80'), props(), 'aa'), 5);
    expect(error).toBeUndefined();
    expect(packets[0]).toMatchObject({ cmd: 'publish', topic: '\uFEFF😀' });
  });
});

describe('MqttError shape', () => {
  it('codec errors are MqttError with kind and reason', () => {
    const { error } = decodeAll(hex('00 00'), 4);
    expect(error).toBeInstanceOf(MqttError);
    expect(error).toBeInstanceOf(Error);
    expect(error?.name).toBe('MqttError');
    expect(error?.kind).toBe('MalformedPacket');
  });

  it('decodeAll reports input that ends inside a packet', () => {
    expectMqttError(decodeAll(hex('30 05 00'), 4).error, ReasonCode.MalformedPacket);
  });
});
