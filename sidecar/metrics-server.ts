/**
 * The sidecar's operations listener: `GET /healthz` (200 while serving, 503
 * while stopping) and `GET /metrics` (Prometheus text; Bearer
 * MQTT_ADMIN_TOKEN when one is configured).
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { PrometheusContentType } from '../shared/prometheus.ts';
import { listen } from './listen.ts';

export interface MetricsServerOptions {
  host: string;
  port: number;
  token?: string;
  render(): string;
  isStopping(): boolean;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://sidecar').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      const stopping = options.isStopping();
      response.writeHead(stopping ? 503 : 200, { 'content-type': 'text/plain' }).end(stopping ? 'stopping\n' : 'ok\n');
      return;
    }
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (options.token !== undefined && !hasToken(request.headers.authorization, options.token)) {
      response.writeHead(401, { 'content-type': 'text/plain', 'WWW-Authenticate': 'Bearer' }).end('missing or wrong bearer token (MQTT_ADMIN_TOKEN)\n');
      return;
    }
    response.writeHead(200, { 'content-type': PrometheusContentType }).end(options.render());
  });
  // Requests carry no body worth reading; cap what a client can make us hold.
  server.maxHeadersCount = 50;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  const port = await listen(server, { host: options.host, port: options.port, hostSetting: 'MQTT_METRICS_HOST', portSetting: 'MQTT_METRICS_PORT' });
  return {
    port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function hasToken(header: string | undefined, token: string): boolean {
  const presented = Buffer.from(/^Bearer\s+(.+)$/i.exec(header ?? '')?.[1]?.trim() ?? '');
  const expected = Buffer.from(token);
  // timingSafeEqual needs equal lengths; compare against itself to spend the same time.
  if (presented.length !== expected.length) return timingSafeEqual(expected, expected) && false;
  return timingSafeEqual(presented, expected);
}
