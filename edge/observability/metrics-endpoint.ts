/**
 * `GET /metrics` (namespace `default`), `/metrics/<ns>`, or
 * `/metrics?namespace=a&namespace=b` for several namespaces in one scrape,
 * with `Authorization: Bearer <MQTT_ADMIN_TOKEN>`; Prometheus text format.
 *
 * ```yaml
 * # prometheus.yml
 * scrape_configs:
 *   - job_name: mqtt
 *     scheme: https
 *     metrics_path: /metrics
 *     params: { namespace: [default, sensors] }
 *     authorization: { credentials: <MQTT_ADMIN_TOKEN> }
 *     static_configs: [{ targets: [edge-mqtt-broker.example.workers.dev] }]
 * ```
 */
import type { EdgeEnv } from '../env.ts';
import { describeError, type Logger } from '../core/log.ts';
import { jsonError, namespaceStub } from './http.ts';
import { formatPrometheus, namespaceMetricFamilies, PrometheusContentType } from './prometheus.ts';

/** One scrape asks at most this many namespaces (one Durable Object call each). */
export const MaxNamespacesPerScrape = 50;

/** Answers a scrape of already validated namespaces; the caller has checked the token. */
export async function handleMetricsRequest(request: Request, env: EdgeEnv, namespaces: string[], log: Logger): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return jsonError(405, 'use GET', { Allow: 'GET' });
  if (namespaces.length > MaxNamespacesPerScrape) return jsonError(400, `at most ${MaxNamespacesPerScrape} namespaces per scrape`);
  const unique = [...new Set(namespaces)];
  let all;
  try {
    // Labelled with the name asked for: that is the name the object is reached by.
    all = await Promise.all(unique.map(async (namespace) => ({ ...(await namespaceStub(env, namespace).stats()), namespace })));
  } catch (error) {
    log.log('error', 'metrics_failed', { namespaces: unique.join(','), error: describeError(error) });
    // Prometheus records a failed scrape (up == 0) rather than a partial one.
    return jsonError(503, `metrics unavailable: ${error instanceof Error ? error.message : String(error)}`);
  }
  const body = formatPrometheus(namespaceMetricFamilies(all));
  return new Response(request.method === 'HEAD' ? null : body, {
    status: 200,
    headers: { 'content-type': PrometheusContentType, 'cache-control': 'no-store' },
  });
}
