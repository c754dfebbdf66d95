/** Small HTTP helpers shared by the admin API, `/metrics` and the dashboard. */
import type { EdgeEnv } from '../env.ts';
import { readLimited } from '../request-body.ts';
import type { BrokerNamespaceRpc } from '../broker-types.ts';

/** Admin endpoints take no body; anything larger than this is refused unread. */
export const MaxAdminBodyBytes = 4096;

export function jsonResponse(status: number, body: unknown, extra: Record<string, string> = {}): Response {
  return new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...extra },
  });
}

export function jsonError(status: number, error: string, extra: Record<string, string> = {}): Response {
  return jsonResponse(status, { error }, extra);
}

/** The answer for a missing or wrong admin token, and for an admin API that is switched off. */
export function unauthorized(token: string | undefined, format: 'json' | 'text'): Response {
  const message = token === undefined || token === ''
    ? 'the admin API is off: set MQTT_ADMIN_TOKEN and send it as "Authorization: Bearer <token>"'
    : 'missing or wrong bearer token (MQTT_ADMIN_TOKEN)';
  const headers = { 'WWW-Authenticate': 'Bearer realm="mqtt-admin"' };
  if (format === 'json') return jsonError(401, message, headers);
  return new Response(`${message}\n`, { status: 401, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers } });
}

export function namespaceStub(env: EdgeEnv, namespace: string): BrokerNamespaceRpc {
  return env.BROKER.get(env.BROKER.idFromName(namespace)) as unknown as BrokerNamespaceRpc;
}

/**
 * Reads and discards a body the endpoint does not use, refusing one over
 * `limit` bytes: a client must not make the Worker buffer megabytes.
 * Returns false when the body is too large.
 */
export async function drainLimited(request: Request, limit: number): Promise<boolean> {
  return (await readLimited(request, limit)) !== undefined;
}

/** `?limit=`: an integer in 1..max, `fallback` when absent; undefined when invalid. */
export function parseLimit(url: URL, fallback: number, max: number): number | undefined {
  return parseCount(url, 'limit', fallback, max);
}

/** A count parameter: an integer in 1..max, `fallback` when absent; undefined when invalid. */
export function parseCount(url: URL, name: string, fallback: number, max: number): number | undefined {
  const text = url.searchParams.get(name);
  if (text === null || text === '') return fallback;
  if (!/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return value >= 1 && value <= max ? value : undefined;
}

/** `?offset=` of a paged list: an integer from 0, 0 when absent; undefined when invalid. */
export function parseOffset(url: URL): number | undefined {
  const text = url.searchParams.get('offset');
  if (text === null || text === '') return 0;
  if (!/^\d{1,9}$/.test(text)) return undefined;
  return Number(text);
}
