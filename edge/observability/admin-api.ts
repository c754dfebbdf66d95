/**
 * The admin HTTP API, per namespace, with `Authorization: Bearer <MQTT_ADMIN_TOKEN>`:
 *
 * | route | answer |
 * |---|---|
 * | `GET /admin/<ns>/stats` | `NamespaceStats` |
 * | `GET /admin/<ns>/clients?q=&offset=&limit=` | `{ namespace, clients: ClientSummary[], truncated, total, offset }` (sessions, online first; `q`: client id, username or address contains it) |
 * | `POST /admin/<ns>/clients/<id>/disconnect` | `{ namespace, clientId, disconnected: true }`; 404 if not connected |
 * | `GET /admin/<ns>/retained?limit=` | `{ namespace, retained: [{ topic, qos, payloadBytes, payloadPreview }], truncated }` |
 * | `DELETE /admin/<ns>/retained?topic=` | `{ namespace, topic, deleted: true }`; 404 if there was none |
 * | `GET /admin/<ns>/rules` | `{ namespace, rules: RuleReport[] }` (MQTT_RULES, with counts and the last error) |
 * | `/admin/<ns>/rules/dead-letters…` | list, retry and delete the rules' dead letters: admin-dead-letters.ts |
 * | `GET /admin/<ns>/history?minutes=` | `{ namespace, samples: HistorySample[] }` (per minute, oldest first; default 60, at most 1440) |
 * | `GET /admin/<ns>/topics?limit=` | `{ namespace, topics: [{ topic, rate, messages, retained }], untracked }` (busiest first) |
 * | `GET /admin/<ns>/subscriptions?limit=` | `{ namespace, subscriptions: [{ clientId, filter, qos, shareGroup?, online }], truncated }` |
 * | `GET /admin/<ns>/sidecars` | `{ namespace, sidecars: SidecarView[] }` (the sidecars' links open now, with their broker bridges as last reported) |
 * | `GET /admin/<ns>/events?limit=&type=&reason=` | `{ namespace, events: ConnectionEventEntry[], unsaved, capacity }` (the last refusals and disconnect causes, newest first) |
 * | `/admin/<ns>/users…`, `/admin/<ns>/acl…` | users and ACL entries at runtime: admin-users.ts |
 * | `GET`, `PATCH /admin/<ns>/quotas` | the namespace's limits, read and set at run time: admin-quotas.ts |
 * | `POST /admin/<ns>/drain` | `{ namespace, disconnected, wills }`: disconnects every client as a clean broker stop does (every will published first, 5.0 clients DISCONNECT 0x8B, sessions kept); `npm start` does it on exit |
 * | `POST /admin/<ns>/objects/<name>/restart` | `{ namespace, object, restarted: true }`: resets one of the namespace's objects (its core, or a gateway listed in `stats.objects`); its memory is lost and its clients are disconnected, as when Cloudflare restarts it. Any other name is 404, and no object is addressed by it. For operations and fault tests. |
 *
 * Errors are `{ "error": "..." }` with 400 (bad input), 401 (token), 403
 * (setting quotas with a namespace's own token), 404,
 * 405 (method, with `Allow`), 409 (users and ACL: a configured user; a
 * dead letter's retry: the outbox is full), 413
 * (a body over 4 KiB; only PUT users/<name>, POST acl and PATCH quotas take one) or 503
 * (the namespace could not be reached).
 */
import { validateTopicName } from '../../shared/topic.ts';
import type { EdgeEnv } from '../env.ts';
import { describeError, type Logger } from '../core/log.ts';
import { drainLimited, jsonError, jsonResponse, MaxAdminBodyBytes, namespaceStub, parseCount, parseLimit, parseOffset } from './http.ts';
import { isObjectOf } from '../gateway/gateway-names.ts';
import { EventLogCapacity, isRecordedEvent, RecordedEvents } from '../core/connection-events.ts';
import type { EventQuery } from '../core/readouts.ts';
import { handleUsersAction, parseUsersAction, usersAllowedMethods, type UsersAction } from './admin-users.ts';
import { handleQuotasAction, parseQuotasAction, quotasAllowedMethods, type QuotasAction } from './admin-quotas.ts';
import { deadLettersAllowedMethods, handleDeadLettersAction, isDeadLettersAction, parseDeadLettersAction, type DeadLettersAction } from './admin-dead-letters.ts';

/** Default and largest `?limit=` of the list endpoints. */
const DefaultListLimit = 1000;
const MaxListLimit = 10_000;

type AdminAction =
  | { kind: 'stats' }
  | { kind: 'clients' }
  | { kind: 'disconnect'; clientId: string }
  | { kind: 'retained' }
  | { kind: 'rules' }
  | { kind: 'history' }
  | { kind: 'topics' }
  | { kind: 'subscriptions' }
  | { kind: 'events' }
  | { kind: 'sidecars' }
  | { kind: 'restart'; object: string }
  | { kind: 'drain' }
  | UsersAction
  | QuotasAction
  | DeadLettersAction;

/** What follows `/admin/<ns>/`: one of the routes above; undefined for none, null for a client id that is not valid percent-encoding. */
function parseAction(rest: string): AdminAction | undefined | null {
  const parts = rest.replace(/\/$/, '').split('/');
  const users = parseUsersAction(parts);
  if (users !== undefined) return users;
  const deadLetters = parseDeadLettersAction(parts);
  if (deadLetters !== undefined) return deadLetters;
  const quotas = parseQuotasAction(parts);
  if (quotas !== undefined) return quotas;
  if (parts.length === 1 && parts[0] === 'stats') return { kind: 'stats' };
  if (parts.length === 1 && parts[0] === 'clients') return { kind: 'clients' };
  if (parts.length === 1 && parts[0] === 'retained') return { kind: 'retained' };
  if (parts.length === 1 && parts[0] === 'rules') return { kind: 'rules' };
  if (parts.length === 1 && parts[0] === 'history') return { kind: 'history' };
  if (parts.length === 1 && parts[0] === 'topics') return { kind: 'topics' };
  if (parts.length === 1 && parts[0] === 'subscriptions') return { kind: 'subscriptions' };
  if (parts.length === 1 && parts[0] === 'drain') return { kind: 'drain' };
  if (parts.length === 1 && parts[0] === 'events') return { kind: 'events' };
  if (parts.length === 1 && parts[0] === 'sidecars') return { kind: 'sidecars' };
  if (parts.length === 3 && parts[0] === 'objects' && parts[2] === 'restart' && parts[1] !== undefined && parts[1] !== '') {
    try {
      return { kind: 'restart', object: decodeURIComponent(parts[1]) };
    } catch {
      return null;
    }
  }
  if (parts.length === 3 && parts[0] === 'clients' && parts[2] === 'disconnect' && parts[1] !== undefined && parts[1] !== '') {
    try {
      return { kind: 'disconnect', clientId: decodeURIComponent(parts[1]) };
    } catch {
      return null;
    }
  }
  return undefined;
}

const allowedMethods: Record<AdminAction['kind'], string[]> = {
  stats: ['GET'],
  clients: ['GET'],
  disconnect: ['POST'],
  retained: ['GET', 'DELETE'],
  rules: ['GET'],
  history: ['GET'],
  topics: ['GET'],
  subscriptions: ['GET'],
  events: ['GET'],
  sidecars: ['GET'],
  restart: ['POST'],
  drain: ['POST'],
  ...usersAllowedMethods,
  ...quotasAllowedMethods,
  ...deadLettersAllowedMethods,
};

/** `?minutes=` of the history: the last hour unless asked, at most a day. */
const DefaultHistoryMinutes = 60;
const MaxHistoryMinutes = 1440;
/** The topic list is as long as the namespace keeps (core/topic-rates.ts); this only trims it. */
const DefaultTopicLimit = 100;
const MaxTopicLimit = 256;

/** Routes whose requests carry a JSON body (read by their handler, with the same limit). */
const TakesBody = (kind: AdminAction['kind'], method: string): boolean =>
  (kind === 'user' && method === 'PUT') || (kind === 'acl' && method === 'POST') || (kind === 'quotas' && method === 'PATCH');

/**
 * Answers one admin request for `namespace` (already validated by the
 * router; null when invalid). The caller has checked the token.
 */
/** `operator`: the request carries the deployment's token (MQTT_ADMIN_TOKEN), not only the namespace's own. */
export async function handleAdminRequest(request: Request, env: EdgeEnv, namespace: string | null, rest: string, log: Logger, operator = true): Promise<Response> {
  const action = parseAction(rest);
  if (action === undefined) {
    return jsonError(404, `no such admin route "${new URL(request.url).pathname}": use /admin/<namespace>/stats, /clients, /clients/<id>/disconnect, /retained, /rules, /rules/dead-letters, /history, /topics, /subscriptions, /events, /sidecars, /drain, /quotas, /users, /users/<name>, /acl or /acl/<id>`);
  }
  if (action === null) return jsonError(400, 'the client id or username in the path is not valid percent-encoding');
  if (namespace === null) return jsonError(400, 'invalid namespace: use 1-64 letters, digits, ".", "_" or "-"');
  const allowed = allowedMethods[action.kind];
  const method = request.method === 'HEAD' ? 'GET' : request.method;
  if (!allowed.includes(method)) return jsonError(405, `use ${allowed.join(' or ')}`, { Allow: allowed.join(', ') });
  if (!TakesBody(action.kind, method) && !(await drainLimited(request, MaxAdminBodyBytes))) return jsonError(413, `this endpoint takes no body (at most ${MaxAdminBodyBytes} bytes are accepted)`);

  const url = new URL(request.url);
  const stub = namespaceStub(env, namespace);
  try {
    switch (action.kind) {
      case 'stats':
        return jsonResponse(200, { ...(await stub.stats()), namespace });
      case 'clients':
        return await listClients(stub, namespace, url);
      case 'restart': {
        // Asks the core for its objects only about a name of one of its gateways; nothing else is addressed.
        if (!(await isObjectOf(namespace, action.object, async () => (await stub.stats()).objects ?? []))) {
          return jsonError(404, `"${action.object}" is not an object of namespace "${namespace}": see "objects" in /admin/${namespace}/stats`);
        }
        log.log('warn', 'admin_restart', { namespace, object: action.object });
        await namespaceStub(env, action.object).restartObject(action.object);
        return jsonResponse(200, { namespace, object: action.object, restarted: true });
      }
      case 'drain': {
        const drained = await stub.drain();
        log.log('warn', 'admin_drain', { namespace, ...drained });
        return jsonResponse(200, { namespace, ...drained });
      }
      case 'disconnect': {
        const disconnected = await stub.disconnectClient(action.clientId);
        if (!disconnected) return jsonError(404, `client "${action.clientId}" is not connected to namespace "${namespace}"`);
        log.log('info', 'admin_disconnect', { namespace, client: action.clientId });
        return jsonResponse(200, { namespace, clientId: action.clientId, disconnected: true });
      }
      case 'rules':
        // The rules' numbers are part of the namespace's stats: one read, one RPC.
        return jsonResponse(200, { namespace, rules: (await stub.stats()).rules });
      case 'retained':
        return method === 'GET' ? await listRetained(stub, namespace, url) : await deleteRetained(stub, namespace, url, log);
      case 'history': {
        const minutes = parseCount(url, 'minutes', DefaultHistoryMinutes, MaxHistoryMinutes);
        if (minutes === undefined) return jsonError(400, `"minutes" must be an integer in 1..${MaxHistoryMinutes}`);
        return jsonResponse(200, { namespace, samples: await stub.history(minutes) });
      }
      case 'topics': {
        const limit = parseLimit(url, DefaultTopicLimit, MaxTopicLimit);
        if (limit === undefined) return jsonError(400, `"limit" must be an integer in 1..${MaxTopicLimit}`);
        return jsonResponse(200, { namespace, ...(await stub.topics(limit)) });
      }
      case 'subscriptions': {
        const limit = parseLimit(url, DefaultListLimit, MaxListLimit);
        if (limit === undefined) return jsonError(400, `"limit" must be an integer in 1..${MaxListLimit}`);
        const subscriptions = await stub.listSubscriptions(limit + 1);
        return jsonResponse(200, { namespace, subscriptions: subscriptions.slice(0, limit), truncated: subscriptions.length > limit });
      }
      case 'events':
        return await listEvents(stub, namespace, url);
      case 'sidecars':
        return jsonResponse(200, { namespace, sidecars: await stub.sidecars() });
      case 'quotas':
        return await handleQuotasAction(request, method, stub, namespace, log, operator);
      default:
        if (isDeadLettersAction(action)) return await handleDeadLettersAction(url, method, action, stub, namespace, log);
        return await handleUsersAction(request, method, action, stub, namespace, log);
    }
  } catch (error) {
    log.log('error', 'admin_failed', { namespace, action: action.kind, error: describeError(error) });
    return jsonError(503, `namespace "${namespace}" could not answer: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Default `?limit=` of the event log; the largest is what it keeps. */
const DefaultEventLimit = 100;

/**
 * The namespace's last refusals and disconnect causes, newest first:
 * `?type=` (repeated, or comma-separated) keeps those event types,
 * `?reason=` one reason. `unsaved`: events not in storage yet (they are
 * written with the next counter flush, within seconds).
 */
async function listEvents(stub: ReturnType<typeof namespaceStub>, namespace: string, url: URL): Promise<Response> {
  const limit = parseLimit(url, DefaultEventLimit, EventLogCapacity);
  if (limit === undefined) return jsonError(400, `"limit" must be an integer in 1..${EventLogCapacity}`);
  const types = url.searchParams.getAll('type').flatMap((value) => value.split(',')).map((value) => value.trim()).filter((value) => value !== '');
  const unknown = types.find((type) => !isRecordedEvent(type));
  if (unknown !== undefined) return jsonError(400, `"type" must be one of ${RecordedEvents.join(', ')}; got "${unknown.slice(0, 64)}"`);
  const reason = url.searchParams.get('reason') ?? '';
  const query: EventQuery = { limit, ...(types.length === 0 ? {} : { types: types.filter(isRecordedEvent) }), ...(reason === '' ? {} : { reason }) };
  return jsonResponse(200, { namespace, ...(await stub.connectionEvents(query)), capacity: EventLogCapacity });
}

/** Longest `?q=` of the clients list: a client id is at most 65,535 bytes, but nobody types that. */
const MaxClientSearch = 256;

/**
 * `?q=` keeps the clients whose client id, username or address contains it;
 * `?offset=` skips that many. Without either, the first `limit` clients as
 * before. `total` counts them all (or all that match); `truncated` says
 * more follow this page.
 */
async function listClients(stub: ReturnType<typeof namespaceStub>, namespace: string, url: URL): Promise<Response> {
  const limit = parseLimit(url, DefaultListLimit, MaxListLimit);
  if (limit === undefined) return jsonError(400, `"limit" must be an integer in 1..${MaxListLimit}`);
  const offset = parseOffset(url);
  if (offset === undefined) return jsonError(400, '"offset" must be an integer from 0');
  const search = url.searchParams.get('q') ?? '';
  if (search.length > MaxClientSearch) return jsonError(400, `"q" must be at most ${MaxClientSearch} characters`);
  const page = await stub.findClients({ ...(search === '' ? {} : { search }), offset, limit });
  return jsonResponse(200, { namespace, clients: page.clients, truncated: offset + page.clients.length < page.total, total: page.total, offset });
}

async function listRetained(stub: ReturnType<typeof namespaceStub>, namespace: string, url: URL): Promise<Response> {
  const limit = parseLimit(url, DefaultListLimit, MaxListLimit);
  if (limit === undefined) return jsonError(400, `"limit" must be an integer in 1..${MaxListLimit}`);
  const retained = await stub.listRetained(limit + 1);
  return jsonResponse(200, { namespace, retained: retained.slice(0, limit), truncated: retained.length > limit });
}

async function deleteRetained(stub: ReturnType<typeof namespaceStub>, namespace: string, url: URL, log: Logger): Promise<Response> {
  const topic = url.searchParams.get('topic');
  if (topic === null || topic === '') return jsonError(400, 'give the topic: DELETE /admin/<namespace>/retained?topic=<topic>');
  // A filter would look like a bulk delete; only one exact topic is deleted.
  if (!validateTopicName(topic)) return jsonError(400, '"topic" must be a topic name without wildcards');
  const deleted = await stub.deleteRetained(topic);
  if (!deleted) return jsonError(404, `no retained message on "${topic}" in namespace "${namespace}"`);
  log.log('info', 'admin_retained_deleted', { namespace, topic });
  return jsonResponse(200, { namespace, topic, deleted: true });
}
