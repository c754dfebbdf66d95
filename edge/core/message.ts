/**
 * The broker's own view of an application message, independent of the
 * protocol level it arrived with or will leave with.
 */
import type { QoS, UserProperties } from '../../shared/codec/basic-types.ts';
import { userPropertiesFromPairs, userPropertyPairs, type UserPropertyPair } from '../../shared/codec/user-properties.ts';
import { decodeBase64, encodeBase64 } from '../../shared/base64.ts';

/** MQTT 5 properties that travel with a message from publisher to subscriber. */
export interface MessageProperties {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array;
  userProperties?: UserProperties;
}

export interface BrokerMessage {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  properties?: MessageProperties;
  /** Absolute time (ms) after which the message must not be delivered [MQTT-3.3.2-5]. */
  expiresAt?: number;
  /** Client id of the publisher, for No Local; undefined for broker-made messages. */
  senderClientId?: string;
}

/** JSON form of MessageProperties for SQLite (binary correlation data as base64). */
export function serializeProperties(properties: MessageProperties | undefined): string | null {
  if (properties === undefined) return null;
  const { correlationData, userProperties, ...rest } = properties;
  if (Object.keys(rest).length === 0 && correlationData === undefined && userProperties === undefined) return null;
  // User Properties are stored as pairs so their order survives [MQTT-3.3.2-18].
  return JSON.stringify({
    ...rest,
    ...(correlationData === undefined ? {} : { correlationData: encodeBase64(correlationData) }),
    ...(userProperties === undefined ? {} : { userPropertyPairs: userPropertyPairs(userProperties) }),
  });
}

export function deserializeProperties(text: string | null | undefined): MessageProperties | undefined {
  if (text === null || text === undefined) return undefined;
  const { correlationData, userPropertyPairs: pairs, ...rest } = JSON.parse(text) as MessageProperties & {
    correlationData?: string;
    userPropertyPairs?: UserPropertyPair[];
  };
  const properties: MessageProperties = rest;
  if (typeof correlationData === 'string') properties.correlationData = decodeBase64(correlationData) ?? new Uint8Array(0);
  if (pairs !== undefined) properties.userProperties = userPropertiesFromPairs(pairs);
  return properties;
}

export function toBytes(payload: string | Uint8Array): Uint8Array {
  return typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
}
