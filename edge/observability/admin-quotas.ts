/**
 * The admin API's quota routes (see admin-api.ts for the others):
 *
 * | route | answer |
 * |---|---|
 * | `GET /admin/<ns>/quotas` | `{ namespace, quotas: QuotaView[] }`: every limit, its value in force, the deployment's default, whether the namespace set its own, and when a change reaches connected clients |
 * | `PATCH /admin/<ns>/quotas` `{ "<name>": value \| null, ... }` | 200 `{ namespace, quotas, changed }`: sets each (null: back to the default), all or none; 400 naming the first bad one; 403 with a namespace's own token (a tenant does not raise its own limits) |
 *
 * Names are core/limit-settings.ts's (`maxConnections`, `namespacePublishRate`,
 * ...); docs/configuration.md lists them with what a client over each gets.
 */
import type { BrokerNamespaceRpc } from '../broker-types.ts';
import type { Logger } from '../core/log.ts';
import { jsonError, jsonResponse, MaxAdminBodyBytes } from './http.ts';
import { readJsonBody } from './json-body.ts';

export type QuotasAction = { kind: 'quotas' };

export const quotasAllowedMethods: Record<QuotasAction['kind'], string[]> = { quotas: ['GET', 'PATCH'] };

export function parseQuotasAction(parts: string[]): QuotasAction | undefined {
  return parts.length === 1 && parts[0] === 'quotas' ? { kind: 'quotas' } : undefined;
}

/** `operator`: the deployment's token; a namespace's own token may read its quotas, not raise them. */
export async function handleQuotasAction(request: Request, method: string, stub: BrokerNamespaceRpc, namespace: string, log: Logger, operator: boolean): Promise<Response> {
  if (method === 'GET') return jsonResponse(200, { namespace, quotas: await stub.quotas() });
  if (!operator) return jsonError(403, "a namespace's quotas are set with the deployment's admin token (MQTT_ADMIN_TOKEN); the namespace's own token may read them");
  const body = await readJsonBody(request, MaxAdminBodyBytes);
  if (!body.ok) return jsonError(body.status, body.error);
  const changes = body.value;
  if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) {
    return jsonError(400, 'the body is an object of quotas to set, e.g. {"maxConnections": 50, "namespacePublishRate": 100}; null sets one back to its default');
  }
  const outcome = await stub.setQuotas(changes as Record<string, unknown>);
  if (!outcome.ok) return jsonError(400, outcome.error);
  if (outcome.changed.length > 0) log.log('warn', 'admin_quotas', { namespace, changed: outcome.changed.join(',') });
  return jsonResponse(200, { namespace, quotas: outcome.quotas, changed: outcome.changed });
}
