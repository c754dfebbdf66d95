/**
 * The broker's own view of an application message, independent of the
 * protocol level it arrived with or will leave with.
 */
import type { QoS, UserProperties } from '../../shared/codec/types.ts';

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
  const { correlationData, ...rest } = properties;
  if (Object.keys(rest).length === 0 && correlationData === undefined) return null;
  return JSON.stringify(correlationData === undefined ? rest : { ...rest, correlationData: toBase64(correlationData) });
}

export function deserializeProperties(text: string | null | undefined): MessageProperties | undefined {
  if (text === null || text === undefined) return undefined;
  const parsed = JSON.parse(text) as MessageProperties & { correlationData?: string | Uint8Array };
  if (typeof parsed.correlationData === 'string') parsed.correlationData = fromBase64(parsed.correlationData);
  return parsed as MessageProperties;
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

export function toBytes(payload: string | Uint8Array): Uint8Array {
  return typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
}
