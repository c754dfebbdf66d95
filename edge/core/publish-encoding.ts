/**
 * A routed message as the bytes of the PUBLISH one subscriber gets: its
 * protocol level, QoS, retain flag, packet id, subscription identifiers,
 * remaining expiry and topic alias. Subscribers that get the same bytes
 * share one encoding per routed message, with their packet id patched in.
 */
import type { PublishPacket } from '../../shared/codec/types.ts';
import type { ClientLink } from './link.ts';
import type { BrokerMessage } from './message.ts';

/** Encoded PUBLISH packets of one routed message, by the form subscribers get it in. */
export type EncodeCache = Map<string, Uint8Array>;

/**
 * Encodings that more than one subscriber got (the same bytes object): a
 * transport that serves many connections (the sidecar's link) looks only at
 * these for what it can send once, and at nothing for the usual one-to-one
 * message.
 */
const sharedEncodings = new WeakSet<Uint8Array>();

export function isSharedEncoding(bytes: Uint8Array): boolean {
  return sharedEncodings.has(bytes);
}

export interface EncodedPublish {
  /** The PUBLISH; when `packetId` is set, a shared encoding that gets this packet id patched in on the way out. */
  bytes: Uint8Array;
  packetId?: number;
  /** A topic alias this PUBLISH teaches the client, to confirm once it really goes out. */
  alias?: number;
}

/** Encodes one PUBLISH for `link`, reusing `cache` where the bytes would be the same. */
export function encodePublish(
  link: ClientLink,
  message: BrokerMessage,
  subscriptionIds: readonly number[],
  packetId: number | undefined,
  dup: boolean,
  now: number,
  cache?: EncodeCache,
): EncodedPublish {
  // Subscribers that get the same bytes (same level, QoS, retain, and no
  // per-subscriber properties) share one encoding; QoS 1/2 patch their packet
  // id in when the bytes leave (or the sidecar does: see the link's FANOUT).
  const shareable = cache !== undefined && !dup && (!link.isV5 || (subscriptionIds.length === 0 && message.expiresAt === undefined && (link.state.clientTopicAliasMaximum ?? 0) === 0));
  const cacheKey = shareable ? `${link.level}:${message.qos}:${message.retain ? 1 : 0}` : undefined;
  const cached = cacheKey === undefined ? undefined : cache?.get(cacheKey);
  if (cached !== undefined) {
    sharedEncodings.add(cached);
    return packetId === undefined ? { bytes: cached } : { bytes: cached, packetId };
  }

  const packet: PublishPacket = {
    cmd: 'publish',
    topic: message.topic,
    payload: Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength),
    qos: message.qos,
    retain: message.retain,
    dup,
  };
  if (packetId !== undefined) packet.messageId = packetId;
  let alias: number | undefined;
  if (link.isV5) {
    const { correlationData, ...passOn } = message.properties ?? {};
    const properties: NonNullable<PublishPacket['properties']> = passOn;
    if (correlationData !== undefined) properties.correlationData = Buffer.from(correlationData);
    if (message.expiresAt !== undefined) {
      // [MQTT-3.3.2-6] forward the remaining lifetime, not the original one.
      properties.messageExpiryInterval = Math.max(1, Math.ceil((message.expiresAt - now) / 1000));
    }
    if (subscriptionIds.length === 1) properties.subscriptionIdentifier = subscriptionIds[0] as number;
    else if (subscriptionIds.length > 1) properties.subscriptionIdentifier = [...subscriptionIds];
    const aliasChoice = link.outboundAliasFor(message.topic);
    if (aliasChoice !== undefined) {
      alias = aliasChoice.alias;
      properties.topicAlias = aliasChoice.alias;
      // Once the client knows the alias, the topic can be left out [MQTT-3.3.2-12].
      if (aliasChoice.known) packet.topic = '';
    }
    if (Object.keys(properties).length > 0) packet.properties = properties;
  }
  const bytes = link.encode(packet);
  if (cacheKey !== undefined) {
    cache?.set(cacheKey, bytes);
    // The first subscriber's bytes are the shared ones: marked like the others', so all can be sent as one.
    if (packetId !== undefined) return { bytes, packetId };
  }
  return alias === undefined ? { bytes } : { bytes, alias };
}
