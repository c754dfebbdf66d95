/**
 * fast-check arbitraries for VALID MQTT packets of every type, at protocol
 * levels 3 (3.1), 4 (3.1.1) and 5 (5.0, with properties in every packet
 * that has them).
 *
 * "Valid" means valid for the codec and for mqtt-packet's generator: strict
 * UTF-8 without U+0000, non-zero packet identifiers, property values in
 * range, only the properties a packet may carry. What a broker then makes
 * of the content (wildcards in a PUBLISH topic, unknown acks) is not the
 * codec's business, so topics here are any text; `safeClientPacket` (in the
 * namespace fuzzer) narrows that down to what a broker accepts.
 */
import fc from 'fast-check';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  MqttPacket,
  ProtocolLevel,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  UserProperties,
} from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';

export const levels: readonly ProtocolLevel[] = [3, 4, 5];
export const levelArb: fc.Arbitrary<ProtocolLevel> = fc.constantFrom<ProtocolLevel>(3, 4, 5);

// ---- reason codes a sender may legitimately put in each packet (5.0 spec tables) ----

export const ConnackReasons = [
  0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x93, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c,
  0x9d, 0x9f,
] as const;
export const PubackReasons = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99] as const;
export const PubrelReasons = [0x00, 0x92] as const;
export const SubackReasons = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2] as const;
export const UnsubackReasons = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91] as const;
/** DISCONNECT reason codes (table 3.14.2.1); 0x04 is client-only, the rest from 0x80 may come from the server. */
export const DisconnectReasons = [
  0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a,
  0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
] as const;
export const AuthReasons = [ReasonCode.Success, ReasonCode.ContinueAuthentication, ReasonCode.ReAuthenticate] as const;

// ---- scalar arbitraries ----

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const packetIdArb = fc.integer({ min: 1, max: 0xffff });
export const qosArb = fc.constantFrom<QoS>(0, 1, 2);

/**
 * Text for UTF-8 Encoded String fields: mostly printable ASCII, sometimes
 * any code point (4-byte ones, U+FEFF, non-characters), never U+0000
 * [MQTT-1.5.4-2] and never a lone surrogate (fast-check's 'binary' unit).
 */
export function textArb(maxLength = 16): fc.Arbitrary<string> {
  return fc
    .oneof(
      { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength }) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    )
    .filter((text) => !text.includes('\u0000'));
}

export function bytesArb(maxLength = 32): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ maxLength }).map((bytes) => Buffer.from(bytes));
}

/** A topic level: no separator, no wildcard. */
const topicLevelArb = textArb(8).map((text) => text.replace(/[/+#]/g, '_'));

/** A Topic Name a broker accepts: non-empty, no wildcards. */
export const topicNameArb: fc.Arbitrary<string> = fc
  .array(topicLevelArb, { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('/'))
  .filter((topic) => topic.length > 0);

/** A Topic Filter a broker accepts: '+' as whole levels, '#' only last. */
export const topicFilterArb: fc.Arbitrary<string> = fc
  .tuple(fc.array(fc.oneof(topicLevelArb, fc.constant('+')), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([parts, multi]) => (multi ? [...parts, '#'] : parts).join('/'))
  .filter((filter) => filter.length > 0);

/** User property names, with the ones that trip plain-object code. */
const userPropertyNameArb = fc.oneof({ weight: 6, arbitrary: textArb(8) }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty') });

/**
 * User Properties as mqtt-packet represents them: one name → one value, or
 * an array of at least two (one-element arrays do not survive a round trip
 * by design: they are the same bytes as a plain value).
 */
export const userPropertiesArb: fc.Arbitrary<UserProperties> = fc
  .array(fc.tuple(userPropertyNameArb, fc.oneof(textArb(8), fc.array(textArb(8), { minLength: 2, maxLength: 3 }))), { minLength: 1, maxLength: 3 })
  .map((entries) => {
    const properties: UserProperties = Object.create(null) as UserProperties;
    for (const [name, value] of entries) Object.defineProperty(properties, name, { value, enumerable: true, writable: true, configurable: true });
    return properties;
  });

/**
 * An object with any subset of the given fields (each present or absent,
 * never `undefined`), or no object at all when none is chosen.
 */
function someOf<T extends object>(fields: { [K in keyof T]-?: fc.Arbitrary<T[K]> }): fc.Arbitrary<T | undefined> {
  const keys = Object.keys(fields) as Array<keyof T & string>;
  return fc
    .tuple(...keys.map((key) => fc.option(fields[key] as fc.Arbitrary<unknown>, { nil: undefined })))
    .map((values) => {
      const result: Record<string, unknown> = {};
      keys.forEach((key, i) => {
        if (values[i] !== undefined) result[key] = values[i];
      });
      return Object.keys(result).length === 0 ? undefined : (result as T);
    });
}

/** Adds `properties` to a packet when there are any (exactOptionalPropertyTypes: never `properties: undefined`). */
function withProperties<P extends object, Props>(packet: P, properties: Props | undefined): P {
  return properties === undefined ? packet : { ...packet, properties };
}

// ---- 5.0 property sets per packet ----

type ConnectProperties = NonNullable<ConnectPacket['properties']>;
type WillProperties = NonNullable<NonNullable<ConnectPacket['will']>['properties']>;
type ConnackProperties = NonNullable<ConnackPacket['properties']>;
type PublishProperties = NonNullable<PublishPacket['properties']>;
type AckProperties = { reasonString?: string; userProperties?: UserProperties };
type DisconnectProperties = NonNullable<DisconnectPacket['properties']>;
type AuthProperties = NonNullable<AuthPacket['properties']>;

const connectPropertiesArb = fc
  .tuple(
    someOf<Omit<ConnectProperties, 'authenticationMethod' | 'authenticationData'>>({
      sessionExpiryInterval: u32,
      receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
      maximumPacketSize: fc.integer({ min: 1, max: 0xffffffff }),
      topicAliasMaximum: u16,
      requestResponseInformation: fc.boolean(),
      requestProblemInformation: fc.boolean(),
      userProperties: userPropertiesArb,
    }),
    // Authentication Data only with an Authentication Method (3.1.2.11.10).
    fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.tuple(textArb(12), fc.option(bytesArb(16), { nil: undefined })) }),
  )
  .map(([rest, auth]): ConnectProperties | undefined => {
    if (auth === undefined) return rest;
    const [authenticationMethod, authenticationData] = auth;
    return { ...rest, authenticationMethod, ...(authenticationData === undefined ? {} : { authenticationData }) };
  });

const willPropertiesArb = someOf<WillProperties>({
  willDelayInterval: u32,
  payloadFormatIndicator: fc.boolean(),
  messageExpiryInterval: u32,
  contentType: textArb(12),
  responseTopic: topicNameArb,
  correlationData: bytesArb(8),
  userProperties: userPropertiesArb,
});

const connackPropertiesArb = someOf<ConnackProperties>({
  sessionExpiryInterval: u32,
  receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
  maximumQoS: fc.integer({ min: 0, max: 1 }),
  retainAvailable: fc.boolean(),
  maximumPacketSize: fc.integer({ min: 1, max: 0xffffffff }),
  assignedClientIdentifier: textArb(12),
  topicAliasMaximum: u16,
  reasonString: textArb(12),
  userProperties: userPropertiesArb,
  wildcardSubscriptionAvailable: fc.boolean(),
  subscriptionIdentifiersAvailable: fc.boolean(),
  sharedSubscriptionAvailable: fc.boolean(),
  serverKeepAlive: u16,
  responseInformation: textArb(12),
  serverReference: textArb(12),
  authenticationMethod: textArb(12),
  authenticationData: bytesArb(8),
});

const subscriptionIdArb = fc.integer({ min: 1, max: 268_435_455 });

function publishPropertiesArb(fromServer: boolean): fc.Arbitrary<PublishProperties | undefined> {
  const common = {
    payloadFormatIndicator: fc.boolean(),
    messageExpiryInterval: u32,
    topicAlias: fc.integer({ min: 1, max: 0xffff }),
    responseTopic: topicNameArb,
    correlationData: bytesArb(8),
    userProperties: userPropertiesArb,
    contentType: textArb(12),
  };
  if (!fromServer) return someOf<Omit<PublishProperties, 'subscriptionIdentifier'>>(common);
  // [MQTT-3.3.4-6] only the server sends Subscription Identifiers; one per matching subscription.
  return someOf<PublishProperties>({
    ...common,
    subscriptionIdentifier: fc.oneof(subscriptionIdArb, fc.array(subscriptionIdArb, { minLength: 2, maxLength: 3 })),
  });
}

const ackPropertiesArb = someOf<AckProperties>({ reasonString: textArb(12), userProperties: userPropertiesArb });

const disconnectPropertiesArb = someOf<DisconnectProperties>({
  sessionExpiryInterval: u32,
  reasonString: textArb(12),
  userProperties: userPropertiesArb,
  serverReference: textArb(12),
});

const authPropertiesArb = someOf<AuthProperties>({
  authenticationMethod: textArb(12),
  authenticationData: bytesArb(16),
  reasonString: textArb(12),
  userProperties: userPropertiesArb,
});

// ---- packets ----

export function connectArb(level: ProtocolLevel): fc.Arbitrary<ConnectPacket> {
  const v5 = level === 5;
  return fc
    .record({
      // 3.1 needs a client id of 1..23 characters; 3.1.1 and 5.0 allow an empty one with a clean session.
      clientId: level === 3 ? textArb(23).filter((id) => id.length > 0) : textArb(23),
      clean: fc.boolean(),
      keepalive: u16,
      will: fc.option(
        fc.record({ topic: topicNameArb, payload: bytesArb(24), qos: qosArb, retain: fc.boolean(), properties: v5 ? willPropertiesArb : fc.constant(undefined) }),
        { nil: undefined },
      ),
      // Before 5.0 a password needs a user name [MQTT-3.1.2-22]; mqtt-packet needs one at every level.
      credentials: fc.option(fc.tuple(textArb(12), fc.option(bytesArb(12), { nil: undefined })), { nil: undefined }),
      properties: v5 ? connectPropertiesArb : fc.constant(undefined),
    })
    .map(({ clientId, clean, keepalive, will, credentials, properties }) => {
      const packet: ConnectPacket = {
        cmd: 'connect',
        protocolId: level === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: level,
        clientId,
        // [MQTT-3.1.3-7] an empty client id needs a clean session.
        clean: clean || clientId.length === 0,
        keepalive,
      };
      if (will !== undefined) {
        const { properties: willProperties, ...rest } = will;
        packet.will = withProperties(rest, willProperties);
      }
      if (credentials !== undefined) {
        packet.username = credentials[0];
        if (credentials[1] !== undefined) packet.password = credentials[1];
      }
      return withProperties(packet, properties);
    });
}

export function connackArb(level: ProtocolLevel): fc.Arbitrary<ConnackPacket> {
  if (level !== 5) {
    return fc.integer({ min: 0, max: 5 }).chain((returnCode) =>
      // [MQTT-3.2.2-4] session present only with return code 0.
      (returnCode === 0 ? fc.boolean() : fc.constant(false)).map((sessionPresent): ConnackPacket => ({ cmd: 'connack', sessionPresent, returnCode })),
    );
  }
  return fc
    .tuple(fc.constantFrom(...ConnackReasons), fc.boolean(), connackPropertiesArb)
    .map(([reasonCode, present, properties]) => withProperties<ConnackPacket, ConnackProperties>({ cmd: 'connack', sessionPresent: reasonCode === 0 && present, reasonCode }, properties));
}

export function publishArb(level: ProtocolLevel, options: { fromServer?: boolean; topic?: fc.Arbitrary<string> } = {}): fc.Arbitrary<PublishPacket> {
  return fc
    .record({
      topic: options.topic ?? textArb(24).filter((topic) => topic.length > 0),
      payload: bytesArb(64),
      qos: qosArb,
      dup: fc.boolean(),
      retain: fc.boolean(),
      messageId: packetIdArb,
      properties: level === 5 ? publishPropertiesArb(options.fromServer === true) : fc.constant(undefined),
      aliasOnly: fc.boolean(),
    })
    .map(({ topic, payload, qos, dup, retain, messageId, properties, aliasOnly }) => {
      // 5.0: with a Topic Alias the topic may be empty (3.3.2.3.4).
      const useAlias = aliasOnly && properties?.topicAlias !== undefined;
      const packet: PublishPacket = { cmd: 'publish', topic: useAlias ? '' : topic, payload, qos, dup: qos > 0 && dup, retain };
      if (qos > 0) packet.messageId = messageId;
      return withProperties(packet, properties);
    });
}

type AckCmd = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';

export function ackArb(level: ProtocolLevel, cmd: AckCmd): fc.Arbitrary<MqttPacket> {
  if (level !== 5) return packetIdArb.map((messageId) => ({ cmd, messageId }) as MqttPacket);
  const reasons = cmd === 'puback' || cmd === 'pubrec' ? PubackReasons : PubrelReasons;
  return fc
    .tuple(packetIdArb, fc.constantFrom<number>(...reasons), ackPropertiesArb)
    .map(([messageId, reasonCode, properties]) => withProperties({ cmd, messageId, reasonCode } as MqttPacket, properties));
}

export function subscribeArb(level: ProtocolLevel, filter: fc.Arbitrary<string> = textArb(24).filter((t) => t.length > 0)): fc.Arbitrary<SubscribePacket> {
  const subscription: fc.Arbitrary<Subscription> =
    level === 5
      ? fc.record({ topic: filter, qos: qosArb, nl: fc.boolean(), rap: fc.boolean(), rh: fc.integer({ min: 0, max: 2 }) })
      : fc.record({ topic: filter, qos: qosArb });
  // mqtt-packet's type allows a Reason String here; the spec does not (table 2.4).
  type SubscribeProperties = { subscriptionIdentifier?: number; userProperties?: UserProperties };
  const properties = level === 5 ? someOf<SubscribeProperties>({ subscriptionIdentifier: subscriptionIdArb, userProperties: userPropertiesArb }) : fc.constant(undefined);
  return fc
    .tuple(packetIdArb, fc.array(subscription, { minLength: 1, maxLength: 4 }), properties)
    .map(([messageId, subscriptions, props]) => withProperties<SubscribePacket, SubscribeProperties>({ cmd: 'subscribe', messageId, subscriptions }, props));
}

export function subackArb(level: ProtocolLevel): fc.Arbitrary<SubackPacket> {
  const codes = level === 5 ? fc.constantFrom<number>(...SubackReasons) : fc.constantFrom(0, 1, 2, 0x80);
  return fc
    .tuple(packetIdArb, fc.array(codes, { minLength: 1, maxLength: 5 }), level === 5 ? ackPropertiesArb : fc.constant(undefined))
    .map(([messageId, granted, properties]) => withProperties<SubackPacket, AckProperties>({ cmd: 'suback', messageId, granted }, properties));
}

export function unsubscribeArb(level: ProtocolLevel, filter: fc.Arbitrary<string> = textArb(24).filter((t) => t.length > 0)): fc.Arbitrary<UnsubscribePacket> {
  const properties = level === 5 ? someOf<{ userProperties?: UserProperties }>({ userProperties: userPropertiesArb }) : fc.constant(undefined);
  return fc
    .tuple(packetIdArb, fc.array(filter, { minLength: 1, maxLength: 4 }), properties)
    .map(([messageId, unsubscriptions, props]) => withProperties<UnsubscribePacket, { userProperties?: UserProperties }>({ cmd: 'unsubscribe', messageId, unsubscriptions }, props));
}

export function unsubackArb(level: ProtocolLevel): fc.Arbitrary<UnsubackPacket> {
  // 3.x UNSUBACK has no payload; mqtt-packet's type still wants `granted`.
  if (level !== 5) return packetIdArb.map((messageId) => ({ cmd: 'unsuback', messageId }) as UnsubackPacket);
  return fc
    .tuple(packetIdArb, fc.array(fc.constantFrom<number>(...UnsubackReasons), { minLength: 1, maxLength: 5 }), ackPropertiesArb)
    .map(([messageId, granted, properties]) => withProperties<UnsubackPacket, AckProperties>({ cmd: 'unsuback', messageId, granted }, properties));
}

export function disconnectArb(level: ProtocolLevel): fc.Arbitrary<DisconnectPacket> {
  if (level !== 5) return fc.constant<DisconnectPacket>({ cmd: 'disconnect' });
  return fc
    .tuple(fc.constantFrom<number>(...DisconnectReasons), disconnectPropertiesArb)
    .map(([reasonCode, properties]) => withProperties<DisconnectPacket, DisconnectProperties>({ cmd: 'disconnect', reasonCode }, properties));
}

export function authArb(): fc.Arbitrary<AuthPacket> {
  return fc
    .tuple(fc.constantFrom<number>(...AuthReasons), authPropertiesArb)
    .map(([reasonCode, properties]) => withProperties<AuthPacket, AuthProperties>({ cmd: 'auth', reasonCode }, properties));
}

/** Every packet type that exists at `level`, in both directions. */
export function packetArb(level: ProtocolLevel): fc.Arbitrary<MqttPacket> {
  const arbitraries: Array<fc.Arbitrary<MqttPacket>> = [
    connectArb(level),
    connackArb(level),
    publishArb(level, { fromServer: false }),
    publishArb(level, { fromServer: true }),
    ackArb(level, 'puback'),
    ackArb(level, 'pubrec'),
    ackArb(level, 'pubrel'),
    ackArb(level, 'pubcomp'),
    subscribeArb(level),
    subackArb(level),
    unsubscribeArb(level),
    unsubackArb(level),
    fc.constant<MqttPacket>({ cmd: 'pingreq' }),
    fc.constant<MqttPacket>({ cmd: 'pingresp' }),
    disconnectArb(level),
  ];
  if (level === 5) arbitraries.push(authArb());
  return fc.oneof(...arbitraries);
}

/** A level and a packet valid at it. */
export const leveledPacketArb: fc.Arbitrary<{ level: ProtocolLevel; packet: MqttPacket }> = levelArb.chain((level) => packetArb(level).map((packet) => ({ level, packet })));

/** Sorted cut points inside `length` bytes: a random chunking of a stream. */
export function cutsArb(maxCuts = 8): fc.Arbitrary<number[]> {
  return fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: maxCuts });
}

/** Applies cut fractions from `cutsArb` to a stream of `length` bytes. */
export function chunk(bytes: Uint8Array, fractions: readonly number[]): Uint8Array[] {
  const cuts = [...new Set(fractions.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut < start) continue;
    chunks.push(bytes.subarray(start, cut));
    start = cut;
  }
  return chunks;
}
