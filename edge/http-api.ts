/**
 * The HTTP publish API: `POST /publish` (namespace `default`) or
 * `POST /publish/<namespace>` with `Authorization: Bearer <MQTT_API_TOKEN>`
 * and a JSON body `{ "topic", "payload" | "payload_base64", "qos", "retain" }`.
 * Its messages, and the service binding's, are held to the limits of a
 * client's PUBLISH (checkApiMessage).
 */
import { readLimited } from './request-body.ts';
import { validateTopicName } from '../shared/topic.ts';
import { constantTimeEqual } from './auth/constant-time.ts';
import { decodeBase64 } from '../shared/base64.ts';
import { apiMessageOverLimits } from './core/limits.ts';

export interface ApiMessage {
  topic: string;
  /** UTF-8 text, or bytes given as `payload_base64`. */
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  retain: boolean;
}

export type ParsedPublish = { ok: true; message: ApiMessage } | { ok: false; status: number; error: string };

/** Bodies larger than this are refused before they are read whole. */
export const MaxApiBodyBytes = 1024 * 1024;

export function isAuthorized(request: Request, token: string | undefined): boolean {
  if (token === undefined || token === '') return false;
  const header = request.headers.get('Authorization') ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (match?.[1] === undefined) return false;
  const encoder = new TextEncoder();
  return constantTimeEqual(encoder.encode(match[1].trim()), encoder.encode(token));
}

/** The limits a message from outside MQTT is held to: those a client's PUBLISH is held to. */
export type ApiLimits = Parameters<typeof apiMessageOverLimits>[1];

export async function parsePublishRequest(request: Request, limits: ApiLimits): Promise<ParsedPublish> {
  const body = await readLimited(request, MaxApiBodyBytes);
  if (body === undefined) return { ok: false, status: 413, error: `body larger than ${MaxApiBodyBytes} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(body));
  } catch {
    return { ok: false, status: 400, error: 'body must be JSON: {"topic": "...", "payload": "...", "qos": 0, "retain": false}' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, status: 400, error: 'body must be a JSON object' };
  const fields = json as Record<string, unknown>;
  const { payload, payload_base64: payloadBase64 } = fields;
  if (payload !== undefined && payloadBase64 !== undefined) return { ok: false, status: 400, error: 'give "payload" or "payload_base64", not both' };
  let bytes: Uint8Array | undefined;
  if (typeof payload === 'string') bytes = new TextEncoder().encode(payload);
  else if (typeof payloadBase64 === 'string') bytes = decodeBase64(payloadBase64);
  else if (payload === undefined && payloadBase64 === undefined) bytes = new Uint8Array(0);
  if (bytes === undefined) return { ok: false, status: 400, error: '"payload" must be a string, "payload_base64" valid base64' };
  return checkApiMessage({ topic: fields['topic'], payload: bytes, qos: fields['qos'], retain: fields['retain'] }, limits);
}

/**
 * Checks a message from outside MQTT (the HTTP API's body, a service
 * binding's call) by the rules a client's PUBLISH is held to: a topic name
 * without wildcards, not under `$` (the broker's own); QoS 0-2 (default 0);
 * retain a boolean (default false); payload bytes; and within `limits`
 * (apiMessageOverLimits: topic length and levels, size, maximum QoS, retain).
 */
export function checkApiMessage(fields: { topic?: unknown; payload?: unknown; qos?: unknown; retain?: unknown }, limits: ApiLimits): ParsedPublish {
  const { topic, payload = new Uint8Array(0), qos = 0, retain = false } = fields;
  if (typeof topic !== 'string' || !validateTopicName(topic)) return { ok: false, status: 400, error: '"topic" must be a topic name without wildcards' };
  if (topic.startsWith('$')) return { ok: false, status: 400, error: 'topics starting with "$" are reserved for the broker' };
  if (qos !== 0 && qos !== 1 && qos !== 2) return { ok: false, status: 400, error: '"qos" must be 0, 1 or 2' };
  if (typeof retain !== 'boolean') return { ok: false, status: 400, error: '"retain" must be true or false' };
  if (!(payload instanceof Uint8Array)) return { ok: false, status: 400, error: '"payload" must be bytes (a Uint8Array)' };
  const message: ApiMessage = { topic, payload, qos, retain };
  const refusal = apiMessageOverLimits(message, limits);
  return refusal === undefined ? { ok: true, message } : { ok: false, ...refusal };
}
