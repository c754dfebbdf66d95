/**
 * The edge Worker: routing only. WebSocket upgrades for MQTT go to the
 * Durable Object of their namespace; everything else is answered here.
 */
import { InternalHeader, BridgeHeader } from './internal-headers.ts';
import type { EdgeEnv } from './config.ts';

export { BrokerNamespace } from './broker-object.ts';

/** Subprotocols MQTT clients offer: `mqtt` (3.1.1/5.0) and `mqttv3.1` (3.1) [MQTT-6.0.0-3]. */
const MqttSubprotocols = ['mqtt', 'mqttv3.1'];
const NamespacePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export default {
  async fetch(request: Request, env: EdgeEnv): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/healthz') return new Response('ok\n', { headers: { 'content-type': 'text/plain' } });

    const namespace = namespaceFromPath(url.pathname);
    const isUpgrade = request.headers.get('Upgrade')?.toLowerCase() === 'websocket';
    if (namespace === undefined) return text(404, 'not found\n');
    if (!isUpgrade) return text(404, 'not found: MQTT clients connect here over WebSocket\n');
    if (namespace === null) return text(400, 'invalid namespace: use 1-64 letters, digits, ".", "_" or "-"\n');

    const offered = (request.headers.get('Sec-WebSocket-Protocol') ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0);
    const subprotocol = offered.find((p) => MqttSubprotocols.includes(p));
    if (offered.length > 0 && subprotocol === undefined) {
      return text(400, `unsupported WebSocket subprotocol "${offered.join(', ')}": offer "mqtt"\n`);
    }

    const headers = new Headers(request.headers);
    for (const name of Object.values(InternalHeader)) headers.delete(name);
    headers.set(InternalHeader.Namespace, namespace);
    if (subprotocol !== undefined) headers.set(InternalHeader.Subprotocol, subprotocol);
    const bridged = await isTrustedBridge(request, env);
    const claimedAddress = request.headers.get(BridgeHeader.ClientAddress);
    const address = bridged && claimedAddress !== null ? claimedAddress : request.headers.get('CF-Connecting-IP');
    if (address !== null) headers.set(InternalHeader.RemoteAddress, address);
    if (bridged) headers.set(InternalHeader.Bridged, '1');
    headers.delete(BridgeHeader.Secret);

    const stub = env.BROKER.get(env.BROKER.idFromName(namespace));
    return stub.fetch(new Request(request.url, { method: 'GET', headers }));
  },
} satisfies ExportedHandler<EdgeEnv>;

/**
 * `/` and `/mqtt` → "default"; `/mqtt/<name>` → name; null for an invalid
 * name; undefined for paths that are not MQTT endpoints.
 */
function namespaceFromPath(pathname: string): string | null | undefined {
  if (pathname === '/' || pathname === '/mqtt' || pathname === '/mqtt/') return 'default';
  const match = /^\/mqtt\/([^/]+)\/?$/.exec(pathname);
  if (match?.[1] === undefined) return undefined;
  const name = decodeURIComponent(match[1]);
  return NamespacePattern.test(name) ? name : null;
}

/** The sidecar's claim of a client address is believed only with the shared secret. */
async function isTrustedBridge(request: Request, env: EdgeEnv): Promise<boolean> {
  const expected = env.MQTT_BRIDGE_SECRET;
  const presented = request.headers.get(BridgeHeader.Secret);
  if (expected === undefined || expected === '' || presented === null) return false;
  return constantTimeEqual(presented, expected);
}

function constantTimeEqual(a: string, b: string): boolean {
  const encoder = new TextEncoder();
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  if (left.byteLength !== right.byteLength) {
    // Compare anyway so the time does not reveal where the lengths differ.
    crypto.subtle.timingSafeEqual(right, right);
    return false;
  }
  return crypto.subtle.timingSafeEqual(left, right);
}

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}
