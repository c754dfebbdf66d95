/**
 * Serves the dashboard: `GET /` (a plain request; a WebSocket upgrade on `/`
 * still goes to the broker) and MQTT.js at `/dashboard/mqtt-<version>.min.js`.
 * Both are public: the page holds no data, and reads everything through the
 * admin API with the token the user types in.
 */
import { BrokerVersion } from '../observability/stats.ts';
import { mqttBrowserBundle, mqttBrowserBundleVersion } from './mqtt-browser-bundle.ts';
import { renderDashboardPage } from './page.ts';

/** Versioned, so browsers may cache it for good; a new MQTT.js gets a new path. */
export const MqttScriptPath = `/dashboard/mqtt-${mqttBrowserBundleVersion}.min.js`;

/** The dashboard's response for `request`, or undefined when the path is not the dashboard's. */
export function serveDashboard(request: Request, url: URL): Response | undefined {
  const isPage = url.pathname === '/';
  if (!isPage && url.pathname !== MqttScriptPath) return undefined;
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return new Response('use GET\n', { status: 405, headers: { Allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' } });
  }
  const headOnly = request.method === 'HEAD';
  return isPage ? pageResponse(url, headOnly) : scriptResponse(headOnly);
}

function scriptResponse(headOnly: boolean): Response {
  return new Response(headOnly ? null : mqttBrowserBundle, {
    headers: {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
    },
  });
}

function pageResponse(url: URL, headOnly: boolean): Response {
  const nonce = randomNonce();
  const html = renderDashboardPage({ nonce, mqttScriptPath: MqttScriptPath, version: BrokerVersion });
  // The MQTT client connects back to this host only; 'self' does not cover ws:/wss: in every browser.
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    `connect-src 'self' ws://${url.host} wss://${url.host}`,
    // MQTT.js runs its keep-alive timer in a blob: worker, which background tabs do not throttle.
    "worker-src blob:",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return new Response(headOnly ? null : html, {
    headers: {
      'content-type': 'text/html; charset=utf-8',
      // Tiny, and carries a fresh nonce: never cached.
      'cache-control': 'no-store',
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    },
  });
}

function randomNonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes));
}
