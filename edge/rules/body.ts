/**
 * What a rule sends: one JSON document per message, the same for every
 * target (a webhook's body, a queue message, an R2 object), and its
 * HMAC-SHA256 signature for webhooks.
 *
 * @example
 * { "namespace": "default", "rule": "alerts", "id": 17, "topic": "alerts/door",
 *   "payload": "open", "qos": 1, "retain": false, "clientId": "door-1", "ts": 1780000000000 }
 */
import { encodeBase64 } from '../../shared/base64.ts';

/** A matched message as the outbox keeps it. */
export interface RuleMessage {
  /** Outbox row id: unique per namespace and never reused, so receivers can drop duplicates. */
  id: number;
  rule: string;
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** The publisher; undefined for the broker's own messages (HTTP API, republish). */
  clientId?: string;
  /** When the broker accepted the message (ms since the epoch). */
  ts: number;
  /** Republish hops that led to this message (0: a client's or the API's own). */
  depth: number;
}

export interface RuleMessageBody {
  namespace: string;
  rule: string;
  id: number;
  topic: string;
  /** The payload as text when it is valid UTF-8 … */
  payload?: string;
  /** … else as base64. Exactly one of the two is present. */
  payload_base64?: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  clientId: string | null;
  ts: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A payload as JSON shows it: `payload` when it is valid UTF-8, else `payload_base64` (the body, the dead letters' list). */
export function payloadFields(payload: Uint8Array): { payload: string } | { payload_base64: string } {
  try {
    return { payload: strictUtf8.decode(payload) };
  } catch {
    return { payload_base64: encodeBase64(payload) };
  }
}

export function messageBody(namespace: string, message: RuleMessage): RuleMessageBody {
  return {
    namespace,
    rule: message.rule,
    id: message.id,
    topic: message.topic,
    ...payloadFields(message.payload),
    qos: message.qos,
    retain: message.retain,
    clientId: message.clientId ?? null,
    ts: message.ts,
  };
}

/** The signature header's name and value format: `sha256=<hex>` of the raw body, as GitHub's webhooks. */
export const SignatureHeader = 'X-Mqtt-Signature';

export async function signBody(secret: string, body: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(body)));
  return `sha256=${Array.from(mac, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}
