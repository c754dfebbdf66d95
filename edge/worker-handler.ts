/**
 * The edge Worker's fetch handler: routing only. WebSocket upgrades for MQTT
 * go to the Durable Object of their namespace; `/publish` is the HTTP API;
 * `/admin/<ns>/...` and `/metrics` the admin API (MQTT_ADMIN_TOKEN); a plain
 * GET of `/` the dashboard; everything else is answered here.
 */
import { LinkSubprotocols } from '../shared/link-protocol.ts';
import { InternalHeader } from './internal-headers.ts';
import { BridgeHeader, LinkRefusalFix, type LinkRefusal } from '../shared/bridge-secret.ts';
import type { EdgeEnv } from './env.ts';
import type { BrokerNamespaceRpc, BrokerResolver, ResolvedBroker } from './broker-types.ts';
import { isAuthorized, parsePublishRequest } from './http-api.ts';
import { discardUnreadBody } from './request-body.ts';
import { constantTimeEqual } from './auth/constant-time.ts';
import { consoleLogger, describeError, type Logger } from './core/log.ts';
import { serveDashboard } from './dashboard/serve.ts';
import { handleAdminRequest } from './observability/admin-api.ts';
import { unauthorized } from './observability/http.ts';
import { handleMetricsRequest } from './observability/metrics-endpoint.ts';
import { handleNamespaceList } from './observability/namespace-list.ts';
import { SeenNamespaces } from './observability/seen-namespaces.ts';
import { NamespaceNamePattern, namespaceFromPathSegment } from './namespaces.ts';
import { gatewayName, locationHintFor, pickGatewayIndex, type RequestPlace } from './gateway/gateway-names.ts';

/** Subprotocols MQTT clients offer: `mqtt` (3.1.1/5.0) and `mqttv3.1` (3.1) [MQTT-6.0.0-3]. */
const MqttSubprotocols = ['mqtt', 'mqttv3.1'];
const InvalidNamespace = 'invalid namespace: use 1-64 letters, digits, ".", "_" or "-"\n';

export function createWorkerHandler(resolve: BrokerResolver): ExportedHandler<EdgeEnv> {
  const log = consoleLogger({ component: 'worker' });
  const seen = new SeenNamespaces();
  // Routing; fetch() below keeps the client's connection usable after an answer that left the body unread.
  const route = async (request: Request, env: EdgeEnv): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname === '/healthz') return text(200, 'ok\n');
    // The dashboard is static and holds no data: it loads even with bad configuration, and shows the API's errors.
    if (!isWebSocketUpgrade(request)) {
      const page = await serveDashboard(request, url, env);
      if (page !== undefined) return page;
    }
    let resolved: ResolvedBroker;
    try {
      resolved = resolve(env);
    } catch (error) {
      // Bad configuration fails loudly on every request rather than letting anyone in.
      log.log('error', 'config_error', { error: describeError(error) });
      return text(500, `broker configuration error: ${error instanceof Error ? error.message : String(error)}\n`);
    }
    const publishNamespace = apiNamespace(url.pathname);
    if (publishNamespace !== undefined) return handlePublish(request, env, resolved, publishNamespace);
    if (url.pathname === '/admin/namespaces' || url.pathname === '/admin/namespaces/') {
      // Lists every namespace: the global token only, not one namespace's own.
      if (!isAdmin(request, env, resolved, [])) return unauthorized(env.MQTT_ADMIN_TOKEN, 'json');
      return handleNamespaceList(request, env, resolved.namespaces, seen, log);
    }
    const admin = adminRoute(url.pathname);
    if (admin !== undefined) {
      if (!isAdmin(request, env, resolved, admin.namespace === null ? [] : [admin.namespace])) return unauthorized(env.MQTT_ADMIN_TOKEN, 'json');
      if (admin.namespace !== null && !resolved.namespaces.has(admin.namespace)) return unknownNamespace(admin.namespace, 'json');
      // Some changes (quotas) are the deployment's to make, not a tenant's: they take the global token.
      const operator = isAdmin(request, env, resolved, []);
      return handleAdminRequest(request, env, admin.namespace, admin.rest, log, operator);
    }
    const metrics = metricsNamespaces(url);
    if (metrics !== undefined) return handleMetrics(request, env, metrics, resolved, log);
    return handleMqttUpgrade(request, env, url, resolved, seen, log);
  };
  return {
    async fetch(request, env) {
      const response = await route(request, env);
      if (!isWebSocketUpgrade(request)) await discardUnreadBody(request);
      return response;
    },
  };
}

/**
 * The global MQTT_ADMIN_TOKEN opens every namespace; a namespace's own
 * adminToken (MQTT_NAMESPACE_ACCESS) opens that one: all asked for must accept it.
 */
function isAdmin(request: Request, env: EdgeEnv, resolved: ResolvedBroker, namespaces: string[]): boolean {
  if (isAuthorized(request, env.MQTT_ADMIN_TOKEN)) return true;
  if (namespaces.length === 0) return false;
  return namespaces.every((name) => resolved.namespaces.has(name) && isAuthorized(request, resolved.accessFor(name).adminToken));
}

async function handleMetrics(request: Request, env: EdgeEnv, namespaces: string[] | null, resolved: ResolvedBroker, log: Logger): Promise<Response> {
  if (!isAdmin(request, env, resolved, namespaces ?? [])) return unauthorized(env.MQTT_ADMIN_TOKEN, 'text');
  if (namespaces === null) return text(400, InvalidNamespace);
  const declared = resolved.namespaces;
  const unknown = namespaces.find((name) => !declared.has(name));
  if (unknown !== undefined) return unknownNamespace(unknown, 'text');
  return handleMetricsRequest(request, env, namespaces, log);
}

/**
 * Only declared namespaces exist (MQTT_NAMESPACES): anything else is 404,
 * answered here, before any Durable Object is addressed.
 */
function unknownNamespace(namespace: string, format: 'json' | 'text'): Response {
  const message = `unknown namespace "${namespace}": declare it in MQTT_NAMESPACES`;
  return format === 'json' ? json(404, { error: message }) : text(404, `${message}\n`);
}

async function handlePublish(request: Request, env: EdgeEnv, resolved: ResolvedBroker, namespace: string | null): Promise<Response> {
  if (request.method !== 'POST') return text(405, 'use POST\n', { Allow: 'POST' });
  const namespaceToken = namespace !== null && resolved.namespaces.has(namespace) ? resolved.accessFor(namespace).apiToken : undefined;
  if (!isAuthorized(request, env.MQTT_API_TOKEN) && !isAuthorized(request, namespaceToken)) {
    return text(401, 'missing or wrong bearer token (MQTT_API_TOKEN)\n', { 'WWW-Authenticate': 'Bearer' });
  }
  if (namespace === null) return text(400, InvalidNamespace);
  if (!resolved.namespaces.has(namespace)) return unknownNamespace(namespace, 'text');
  const parsed = await parsePublishRequest(request, resolved.limits);
  if (!parsed.ok) return json(parsed.status, { error: parsed.error });
  const stub = env.BROKER.get(env.BROKER.idFromName(namespace)) as unknown as BrokerNamespaceRpc;
  const refusal = await stub.publish(parsed.message);
  if (refusal !== undefined) return json(refusal.status, { error: refusal.error });
  return json(200, { ok: true, namespace, topic: parsed.message.topic });
}

function isWebSocketUpgrade(request: Request): boolean {
  return request.headers.get('Upgrade')?.toLowerCase() === 'websocket';
}

async function handleMqttUpgrade(request: Request, env: EdgeEnv, url: URL, resolved: ResolvedBroker, seen: SeenNamespaces, log: Logger): Promise<Response> {
  const namespace = namespaceFromPath(url.pathname);
  const isUpgrade = isWebSocketUpgrade(request);
  if (namespace === undefined) return text(404, 'not found\n');
  if (!isUpgrade) return text(404, 'not found: MQTT clients connect here over WebSocket\n');
  if (namespace === null) return text(400, InvalidNamespace);
  if (!resolved.namespaces.has(namespace)) return unknownNamespace(namespace, 'text');

  const offered = (request.headers.get('Sec-WebSocket-Protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  const bridged = isTrustedBridge(request, env);
  // A sidecar's link carries many devices (docs/link-protocol.md); only a sidecar with the secret may open one.
  // It offers the versions it speaks: the newest this edge speaks too is the link's.
  const linkSubprotocol = LinkSubprotocols.find((p) => offered.includes(p));
  const isLink = linkSubprotocol !== undefined;
  if (isLink && !bridged) return refuseLink(request, env, log);
  const subprotocol = linkSubprotocol ?? offered.find((p) => MqttSubprotocols.includes(p));
  if (offered.length > 0 && subprotocol === undefined) {
    const link = offered.find((p) => p.startsWith('mqtt-link.'));
    if (link !== undefined) return text(400, `unsupported sidecar link version "${link}": this edge speaks ${LinkSubprotocols.join(', ')}\n`);
    return text(400, `unsupported WebSocket subprotocol "${offered.join(', ')}": offer "mqtt"\n`);
  }

  seen.add(namespace);
  const headers = new Headers(request.headers);
  for (const name of Object.values(InternalHeader)) headers.delete(name);
  headers.set(InternalHeader.Namespace, namespace);
  if (subprotocol !== undefined) headers.set(InternalHeader.Subprotocol, subprotocol);
  if (isLink) headers.set(InternalHeader.Link, '1');
  const claimedAddress = request.headers.get(BridgeHeader.ClientAddress);
  // On Cloudflare the edge sets CF-Connecting-IP itself; a local runtime passes on what the client sent.
  const connectingIp = resolved.trustConnectingIp ? request.headers.get('CF-Connecting-IP') : null;
  const address = bridged && claimedAddress !== null ? claimedAddress : connectingIp;
  if (address !== null) headers.set(InternalHeader.RemoteAddress, address);
  if (bridged) headers.set(InternalHeader.Bridged, '1');
  headers.delete(BridgeHeader.Secret);
  headers.delete(BridgeHeader.ClientAddress);

  if (resolved.gateways > 1 && !isLink && !bridged) {
    // A WebSocket client attaches to one of its region's gateways, created in that region (docs/scale.md).
    const hint = locationHintFor(request.cf as RequestPlace | undefined);
    const name = gatewayName(namespace, hint ?? 'any', pickGatewayIndex(resolved.gateways));
    headers.set(InternalHeader.Gateway, name);
    const id = env.BROKER.idFromName(name);
    const gateway = hint === undefined ? env.BROKER.get(id) : env.BROKER.get(id, { locationHint: hint });
    return gateway.fetch(new Request(request.url, { method: 'GET', headers }));
  }
  const stub = env.BROKER.get(env.BROKER.idFromName(namespace));
  return stub.fetch(new Request(request.url, { method: 'GET', headers }));
}

/**
 * `/` and `/mqtt` → "default"; `/mqtt/<name>` → name; null for an invalid
 * name; undefined for paths that are not MQTT endpoints.
 */
function namespaceFromPath(pathname: string): string | null | undefined {
  if (pathname === '/' || pathname === '/mqtt' || pathname === '/mqtt/') return 'default';
  const match = /^\/mqtt\/([^/]+)\/?$/.exec(pathname);
  return match?.[1] === undefined ? undefined : validNamespace(match[1]);
}

/** `/publish` → "default", `/publish/<name>` → name (null if invalid), else undefined. */
function apiNamespace(pathname: string): string | null | undefined {
  if (pathname === '/publish' || pathname === '/publish/') return 'default';
  const match = /^\/publish\/([^/]+)\/?$/.exec(pathname);
  return match?.[1] === undefined ? undefined : validNamespace(match[1]);
}

/**
 * `/admin/<name>/<rest>` → the namespace (null if invalid) and the rest;
 * any other path under `/admin` → an empty rest (answered 404 with the
 * routes that exist); undefined for paths outside `/admin`.
 */
function adminRoute(pathname: string): { namespace: string | null; rest: string } | undefined {
  if (pathname !== '/admin' && !pathname.startsWith('/admin/')) return undefined;
  const match = /^\/admin\/([^/]+)\/(.*)$/.exec(pathname);
  if (match?.[1] === undefined || match[2] === undefined) return { namespace: null, rest: '' };
  return { namespace: validNamespace(match[1]), rest: match[2] };
}

/**
 * `/metrics` → the `?namespace=` values, or "default"; `/metrics/<name>` →
 * that one; null if any name is invalid; undefined for other paths.
 */
function metricsNamespaces(url: URL): string[] | null | undefined {
  if (url.pathname === '/metrics' || url.pathname === '/metrics/') {
    const asked = url.searchParams.getAll('namespace');
    if (asked.length === 0) return ['default'];
    const names = asked.map((name) => (NamespaceNamePattern.test(name) ? name : null));
    return names.every((name): name is string => name !== null) ? names : null;
  }
  const match = /^\/metrics\/([^/]+)\/?$/.exec(url.pathname);
  if (match?.[1] === undefined) return undefined;
  const name = validNamespace(match[1]);
  return name === null ? null : [name];
}

function validNamespace(encoded: string): string | null {
  return namespaceFromPathSegment(encoded);
}

/**
 * A sidecar's link is for a sidecar with the secret only. A sidecar and an
 * edge that disagree about it both say so, with what to set: the edge here,
 * the sidecar from the header (shared/bridge-secret.ts).
 */
function refuseLink(request: Request, env: EdgeEnv, log: Logger): Response {
  const configured = env.MQTT_BRIDGE_SECRET !== undefined && env.MQTT_BRIDGE_SECRET !== '';
  const reason: LinkRefusal = !configured ? 'no-secret-configured' : request.headers.get(BridgeHeader.Secret) === null ? 'secret-missing' : 'secret-mismatch';
  // A sidecar without a secret asks an edge without one at start: they agree, and it runs a WebSocket per device.
  log.log(reason === 'no-secret-configured' && request.headers.get(BridgeHeader.Secret) === null ? 'info' : 'warn', 'link_refused', {
    reason,
    remote: request.headers.get('CF-Connecting-IP'),
    fix: LinkRefusalFix[reason],
  });
  return text(403, `sidecar link refused: ${LinkRefusalFix[reason]}\n`, { [BridgeHeader.LinkRefused]: reason });
}

/** The sidecar's claim of a client address is believed only with the shared secret. */
function isTrustedBridge(request: Request, env: EdgeEnv): boolean {
  const expected = env.MQTT_BRIDGE_SECRET;
  const presented = request.headers.get(BridgeHeader.Secret);
  if (expected === undefined || expected === '' || presented === null) return false;
  const encoder = new TextEncoder();
  return constantTimeEqual(encoder.encode(presented), encoder.encode(expected));
}

function text(status: number, body: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...extra } });
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}
