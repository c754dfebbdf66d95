/**
 * Serves the dashboard from the Worker's static assets (wrangler.toml
 * `[assets]`, binding ASSETS): `GET /` (a plain request; a WebSocket
 * upgrade on `/` still goes to the broker) and the files under
 * `/dashboard/`. The Worker runs first (`run_worker_first`) so that it can
 * tell the two apart and add the security headers the files cannot carry
 * themselves. Everything here is public: the page holds no data, and reads
 * everything through the admin API with the token the user types in.
 */
import type { EdgeEnv } from '../env.ts';

/** Paths of the dashboard: the page, and its modules, styles and MQTT.js. */
export function isDashboardPath(pathname: string): boolean {
  return pathname === '/' || pathname.startsWith('/dashboard/');
}

/** The dashboard's response for `request`, or undefined when the path is not the dashboard's. */
export async function serveDashboard(request: Request, url: URL, env: EdgeEnv): Promise<Response | undefined> {
  if (!isDashboardPath(url.pathname)) return undefined;
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return plain(405, 'use GET\n', { Allow: 'GET, HEAD' });
  }
  if (env.ASSETS === undefined) {
    return plain(404, 'the dashboard is not part of this Worker: give it the static assets ([assets] directory and binding = "ASSETS" in wrangler.toml)\n');
  }
  const asset = await env.ASSETS.fetch(request);
  const response = new Response(request.method === 'HEAD' ? null : asset.body, asset);
  const headers = response.headers;
  headers.set('x-content-type-options', 'nosniff');
  headers.set('referrer-policy', 'no-referrer');
  // Revalidated on every load (the assets answer with an ETag): a deploy's new modules are used at once.
  if (!headers.has('cache-control')) headers.set('cache-control', 'no-cache');
  if ((headers.get('content-type') ?? '').startsWith('text/html')) {
    headers.set('content-security-policy', contentSecurityPolicy(url));
    headers.set('x-frame-options', 'DENY');
  }
  return response;
}

/**
 * No inline script or style at all, so no nonce: everything comes from this
 * origin. The MQTT client connects back to this host only; 'self' does not
 * cover ws:/wss: in every browser.
 */
function contentSecurityPolicy(url: URL): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src 'self' ws://${url.host} wss://${url.host}`,
    // MQTT.js runs its keep-alive timer in a blob: worker, which background tabs do not throttle.
    'worker-src blob:',
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function plain(status: number, body: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...extra } });
}
