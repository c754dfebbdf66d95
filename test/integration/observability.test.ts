/**
 * Observability on the real Worker (workerd): the $SYS tree after a known
 * traffic pattern and its silence without subscribers, `/metrics` in
 * Prometheus format, and the admin API. Each test uses its own namespace.
 */
import type { IDisconnectPacket } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, eventually, publish, sleep, subscribe, type TestClient } from '../helpers/mqtt-clients.ts';
import { openRawPeer } from '../helpers/raw-ws.ts';

const token = 'admin-token-for-observability-tests';
/** Seconds; small so the tests see several $SYS updates quickly. */
const sysInterval = 0.5;

let edge: TestEdge;
const clients: TestClient[] = [];

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_ADMIN_TOKEN: token, MQTT_SYS_INTERVAL: String(sysInterval) });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.end(true)));
  await edge?.dispose();
});

async function connect(namespace: string, clientId: string, options: Parameters<typeof connectClient>[1] = {}): Promise<TestClient> {
  const client = await connectClient(`${edge.mqttUrl}/${namespace}`, { clientId, ...options });
  clients.push(client);
  return client;
}

function http(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(new URL(path, edge.url), init);
}

function admin(path: string, init: RequestInit = {}): Promise<Response> {
  return http(path, { ...init, headers: { Authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) } });
}

async function adminJson<T = Record<string, unknown>>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await admin(path, init);
  expect(response.status, `${init.method ?? 'GET'} ${path}: ${response.status}`).toBe(200);
  return (await response.json()) as T;
}

interface RetainedList {
  retained: Array<{ topic: string; qos: number; payloadBytes: number; payloadPreview: string }>;
  truncated: boolean;
}

interface ClientList {
  clients: Array<{ clientId: string; connected: boolean; protocolLevel: number; subscriptions: Array<{ filter: string; qos: number }> }>;
  truncated: boolean;
}

/** Polls `probe` until it returns something. */
async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The latest payload of each topic a client received. */
function latest(client: TestClient): Map<string, string> {
  return new Map(client.messages.map((message) => [message.topic, message.payload]));
}

/** `name{labels}` → value, from a Prometheus text exposition. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

describe('$SYS topics', () => {
  it('publishes nothing under $SYS while nobody subscribes to a $SYS filter', async () => {
    const namespace = 'obs-quiet';
    const busy = await connect(namespace, 'busy');
    // '#' does not match topics starting with '$' [MQTT-4.7.2-1]: not a $SYS subscriber.
    await subscribe(busy.client, '#');
    for (let i = 0; i < 3; i++) await publish(busy.client, `quiet/${i}`, 'x', { qos: 1 });
    await sleep(sysInterval * 1000 * 4);
    const before = await adminJson<RetainedList>(`/admin/${namespace}/retained`);
    expect(before.retained.filter((message) => message.topic.startsWith('$SYS'))).toEqual([]);
    expect(busy.messages.filter((message) => message.topic.startsWith('$SYS'))).toEqual([]);

    // A $SYS subscriber makes the tree appear at once...
    const watcher = await connect(namespace, 'watcher');
    await subscribe(watcher.client, '$SYS/broker/uptime');
    await watcher.waitForMessages(1);
    const uptimeNow = async (): Promise<string | undefined> =>
      (await adminJson<RetainedList>(`/admin/${namespace}/retained`)).retained.find((message) => message.topic === '$SYS/broker/uptime')?.payloadPreview;
    expect(await uptimeNow()).toMatch(/^\d+ seconds$/);

    // ...and it stops again with the last subscription: the retained uptime no longer moves.
    await new Promise<void>((resolve, reject) => watcher.client.unsubscribe('$SYS/broker/uptime', (error) => (error ? reject(error) : resolve())));
    await sleep(sysInterval * 1000);
    const frozen = await uptimeNow();
    await sleep(2500);
    expect(await uptimeNow()).toBe(frozen);
  });

  it('reports the numbers of a known traffic pattern, in mosquitto formats', async () => {
    const namespace = 'obs-traffic';
    const messages = 7;
    const watcher = await connect(namespace, 'watcher');
    await subscribe(watcher.client, ['$SYS/#', 'traffic/#']);
    const publisher = await connect(namespace, 'publisher');
    for (let i = 0; i < messages; i++) await publish(publisher.client, `traffic/${i}`, `message ${i}`, { qos: 1, retain: i === messages - 1 });
    await eventually(() => watcher.messages.filter((message) => message.topic.startsWith('traffic/')).length === messages, 10_000, 'the messages to arrive');

    await eventually(() => latest(watcher).get('$SYS/broker/publish/messages/received') === String(messages), 10_000, 'publish/messages/received to reach the count');
    const values = latest(watcher);
    expect(values.get('$SYS/broker/version')).toMatch(/^edge-mqtt-broker version \d+\.\d+\.\d+/);
    expect(values.get('$SYS/broker/uptime')).toMatch(/^\d+ seconds$/);
    expect(values.get('$SYS/broker/clients/connected')).toBe('2');
    expect(values.get('$SYS/broker/clients/total')).toBe('2');
    expect(values.get('$SYS/broker/clients/maximum')).toBe('2');
    expect(values.get('$SYS/broker/clients/disconnected')).toBe('0');
    expect(values.get('$SYS/broker/subscriptions/count')).toBe('2');
    expect(values.get('$SYS/broker/publish/messages/dropped')).toBe('0');
    // Two CONNECTs, a SUBSCRIBE and the PUBLISHes at least (PUBACKs and PINGREQs may add to it).
    expect(Number(values.get('$SYS/broker/messages/received'))).toBeGreaterThanOrEqual(messages + 3);
    expect(Number(values.get('$SYS/broker/bytes/received'))).toBeGreaterThan(messages * 'message 0'.length);
    // The watcher got every message, and $SYS messages too.
    expect(Number(values.get('$SYS/broker/publish/messages/sent'))).toBeGreaterThanOrEqual(messages);
    expect(Number(values.get('$SYS/broker/messages/sent'))).toBeGreaterThanOrEqual(messages + 2 * 2);
    expect(Number(values.get('$SYS/broker/bytes/sent'))).toBeGreaterThan(0);

    // The retained count includes the broker's own $SYS messages, as in mosquitto.
    await eventually(() => Number(latest(watcher).get('$SYS/broker/retained messages/count')) > 1, 10_000, 'retained count');
    const stats = await adminJson<{ retained: number }>(`/admin/${namespace}/stats`);
    expect(Number(latest(watcher).get('$SYS/broker/retained messages/count'))).toBeLessThanOrEqual(stats.retained);

    // Load averages: per minute, two decimals, all windows, non-zero after traffic.
    for (const series of ['messages/received', 'messages/sent', 'publish/received', 'publish/sent', 'publish/dropped', 'bytes/received', 'bytes/sent', 'connections']) {
      for (const window of ['1min', '5min', '15min']) expect(values.get(`$SYS/broker/load/${series}/${window}`), `${series}/${window}`).toMatch(/^\d+\.\d\d$/);
    }
    expect(Number(values.get('$SYS/broker/load/publish/received/1min'))).toBeGreaterThan(0);
    expect(Number(values.get('$SYS/broker/load/connections/15min'))).toBeGreaterThan(0);

    // A client cannot write into the broker's tree.
    await publish(publisher.client, '$SYS/broker/uptime', 'forged', { qos: 1 });
    await sleep(sysInterval * 1000 * 2);
    expect(watcher.messages.some((message) => message.payload === 'forged')).toBe(false);
  });
});

describe('GET /metrics', () => {
  const namespace = 'obs-metrics';
  const messages = 5;

  beforeAll(async () => {
    const reader = await connect(namespace, 'reader');
    await subscribe(reader.client, 'm/#', { qos: 1 });
    const writer = await connect(namespace, 'writer');
    for (let i = 0; i < messages; i++) await publish(writer.client, `m/${i}`, 'x', { qos: 1 });
    await reader.waitForMessages(messages);
  });

  it('refuses a missing or wrong token with 401', async () => {
    const missing = await http('/metrics');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await http('/metrics', { headers: { Authorization: 'Bearer not-the-token' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toMatch(/MQTT_ADMIN_TOKEN/);
  });

  it('exposes the namespace in Prometheus text format', async () => {
    const response = await admin(`/metrics?namespace=${namespace}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    const samples = parseMetrics(text);
    const label = `{namespace="${namespace}"}`;
    expect(samples.get(`mqtt_clients_connected${label}`)).toBe(2);
    expect(samples.get(`mqtt_sessions${label}`)).toBe(2);
    expect(samples.get(`mqtt_clients_maximum${label}`)).toBe(2);
    expect(samples.get(`mqtt_connections_total${label}`)).toBe(2);
    expect(samples.get(`mqtt_subscriptions${label}`)).toBe(1);
    expect(samples.get(`mqtt_publish_messages_received_total${label}`)).toBe(messages);
    expect(samples.get(`mqtt_publish_messages_sent_total${label}`)).toBe(messages);
    expect(samples.get(`mqtt_publish_messages_dropped_total${label}`)).toBe(0);
    expect(samples.get(`mqtt_messages_received_total${label}`)).toBeGreaterThanOrEqual(messages + 3);
    expect(samples.get(`mqtt_bytes_received_total${label}`)).toBeGreaterThan(0);
    expect(samples.get(`mqtt_uptime_seconds${label}`)).toBeGreaterThanOrEqual(0);
    // The isolate's memory, estimated: at least the idle isolate's 4 MB, and the two connections and their subscription on top.
    expect(samples.get(`mqtt_memory_estimated_bytes${label}`)).toBe(4 * 1024 * 1024 + 2 * 900 + 390);
    expect(samples.get(`mqtt_input_partial_bytes${label}`)).toBe(0);
    expect([...samples.keys()].some((key) => /^mqtt_info\{namespace="obs-metrics",version="\d+\.\d+\.\d+[^"]*"\}$/.test(key))).toBe(true);

    // HELP and TYPE for every family; counters and only counters end in _total.
    const families = [...new Set([...samples.keys()].map((key) => key.replace(/\{.*$/, '')))];
    for (const family of families) {
      expect(text).toContain(`# HELP ${family} `);
      const type = new RegExp(`^# TYPE ${family} (counter|gauge)$`, 'm').exec(text)?.[1];
      expect(type, family).toBe(family.endsWith('_total') ? 'counter' : 'gauge');
    }
  });

  it('takes the namespace from the path, several from the query, "default" without either', async () => {
    const byPath = parseMetrics(await (await admin(`/metrics/${namespace}`)).text());
    expect(byPath.get(`mqtt_clients_connected{namespace="${namespace}"}`)).toBe(2);
    const several = parseMetrics(await (await admin(`/metrics?namespace=${namespace}&namespace=obs-empty`)).text());
    expect(several.get(`mqtt_clients_connected{namespace="${namespace}"}`)).toBe(2);
    expect(several.get('mqtt_clients_connected{namespace="obs-empty"}')).toBe(0);
    const fallback = parseMetrics(await (await admin('/metrics')).text());
    expect(fallback.has('mqtt_clients_connected{namespace="default"}')).toBe(true);
  });

  it('answers bad requests clearly', async () => {
    expect((await admin('/metrics/not%20valid')).status).toBe(400);
    expect((await admin('/metrics?namespace=ok&namespace=no!')).status).toBe(400);
    const post = await admin('/metrics', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
  });
});

describe('admin API', () => {
  const namespace = 'obs-admin';

  it('refuses a missing or wrong token with 401 and a JSON error', async () => {
    for (const headers of [{}, { Authorization: 'Bearer wrong' }, { Authorization: token }]) {
      const response = await http(`/admin/${namespace}/clients`, { headers });
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(((await response.json()) as { error: string }).error).toMatch(/token/);
    }
  });

  it('lists clients with their sessions and subscriptions, and disconnects one', async () => {
    const keeper = await connect(namespace, 'keeper', { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } });
    await subscribe(keeper.client, 'k/#', { qos: 1 });
    const victim = await connect(namespace, 'victim', { protocolVersion: 5 });
    await subscribe(victim.client, ['v/+', 'w/#']);

    const listed = await adminJson<ClientList>(`/admin/${namespace}/clients`);
    expect(listed.truncated).toBe(false);
    const byId = new Map(listed.clients.map((client) => [client.clientId, client]));
    expect(byId.get('keeper')).toMatchObject({ connected: true, protocolLevel: 5, subscriptions: [{ filter: 'k/#', qos: 1 }] });
    expect(byId.get('victim')?.connected).toBe(true);
    expect(byId.get('victim')?.subscriptions.map((s) => s.filter).sort()).toEqual(['v/+', 'w/#']);

    const disconnected = new Promise<IDisconnectPacket>((resolve) => victim.client.once('disconnect', resolve));
    const closed = new Promise<void>((resolve) => victim.client.once('close', () => resolve()));
    const answer = await adminJson(`/admin/${namespace}/clients/victim/disconnect`, { method: 'POST' });
    expect(answer).toEqual({ namespace, clientId: 'victim', disconnected: true });
    // MQTT 5: DISCONNECT with 0x98 Administrative action, then the close.
    expect((await disconnected).reasonCode).toBe(0x98);
    await closed;

    // Its session (clean, no expiry) is gone; the keeper's stays, offline once it leaves.
    const after = await adminJson<ClientList>(`/admin/${namespace}/clients`);
    expect(after.clients.map((client) => client.clientId)).toEqual(['keeper']);
    await keeper.end();
    const offline = await until(async () => {
      const list = await adminJson<ClientList>(`/admin/${namespace}/clients`);
      return list.clients[0]?.connected === false ? list : undefined;
    }, 'the keeper to be listed offline');
    expect(offline.clients).toMatchObject([{ clientId: 'keeper', connected: false, subscriptions: [{ filter: 'k/#', qos: 1 }] }]);

    const again = await admin(`/admin/${namespace}/clients/victim/disconnect`, { method: 'POST' });
    expect(again.status).toBe(404);
    expect(((await again.json()) as { error: string }).error).toMatch(/not connected/);
  });

  it("shows each client's in-flight window, queue and inbound QoS 2 awaiting PUBREL (issue 12)", async () => {
    const ns = 'obs-inflight';
    // A 5.0 subscriber with Receive Maximum 2 that never acknowledges.
    const slow = await openRawPeer(`${edge.mqttUrl}/${ns}`, 5);
    slow.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'slow', clean: true, keepalive: 60, properties: { receiveMaximum: 2 } });
    await slow.waitFor('connack');
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'f/#', qos: 1 }] });
    await slow.waitFor('suback');
    const publisher = await connect(ns, 'fast', { protocolVersion: 5 });
    for (let i = 0; i < 5; i++) await publish(publisher.client, 'f/x', String(i), { qos: 1 });
    // A QoS 2 publisher that never sends PUBREL.
    const halfway = await openRawPeer(`${edge.mqttUrl}/${ns}`, 5);
    halfway.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'halfway', clean: true, keepalive: 60 });
    await halfway.waitFor('connack');
    halfway.send({ cmd: 'publish', topic: 'g/x', payload: Buffer.from('q2'), qos: 2, messageId: 7, retain: false, dup: false });
    await halfway.waitFor('pubrec');

    const listed = await adminJson<{ clients: Array<Record<string, unknown>> }>(`/admin/${ns}/clients`);
    const byId = new Map(listed.clients.map((client) => [client['clientId'], client]));
    expect(byId.get('slow')).toMatchObject({ connected: true, inflight: 2, inflightMemoryOnly: 2, inflightStored: 0, queued: 3, receiveMaximum: 2, awaitingRel: 0 });
    expect(byId.get('slow')?.['stalledSince']).toBeUndefined();
    expect(byId.get('halfway')).toMatchObject({ connected: true, inflight: 0, queued: 0, awaitingRel: 1 });
    const metrics = await (await admin(`/metrics/${ns}`)).text();
    expect(metrics).toContain(`mqtt_clients_stalled{namespace="${ns}"} 0`);
    expect(metrics).toContain(`mqtt_stalls_detected_total{namespace="${ns}"} 0`);
    slow.ws.terminate();
    halfway.ws.terminate();
  });

  it('disconnects a client whose id needs escaping in the path', async () => {
    const odd = await connect(namespace, 'odd/id with space', { protocolVersion: 4 });
    const closed = new Promise<void>((resolve) => odd.client.once('close', () => resolve()));
    await adminJson(`/admin/${namespace}/clients/${encodeURIComponent('odd/id with space')}/disconnect`, { method: 'POST' });
    await closed;
  });

  it('lists and deletes retained messages', async () => {
    const writer = await connect(namespace, 'retainer');
    await publish(writer.client, 'r/one', 'first', { qos: 1, retain: true });
    await publish(writer.client, 'r/two', 'second', { qos: 1, retain: true });
    const listed = await adminJson<RetainedList>(`/admin/${namespace}/retained`);
    expect(listed.retained.filter((message) => message.topic.startsWith('r/')).sort((a, b) => a.topic.localeCompare(b.topic))).toEqual([
      { topic: 'r/one', qos: 1, payloadBytes: 5, payloadPreview: 'first' },
      { topic: 'r/two', qos: 1, payloadBytes: 6, payloadPreview: 'second' },
    ]);

    expect(await adminJson(`/admin/${namespace}/retained?topic=r%2Fone`, { method: 'DELETE' })).toEqual({ namespace, topic: 'r/one', deleted: true });
    const remaining = await adminJson<RetainedList>(`/admin/${namespace}/retained`);
    expect(remaining.retained.map((message) => message.topic)).not.toContain('r/one');
    // A new subscriber gets only what is left.
    const late = await connect(namespace, 'late');
    await subscribe(late.client, 'r/#');
    await late.waitForMessages(1);
    await sleep(200);
    expect(late.messages.map((message) => `${message.topic}=${message.payload}`)).toEqual(['r/two=second']);

    const gone = await admin(`/admin/${namespace}/retained?topic=r%2Fone`, { method: 'DELETE' });
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { error: string }).error).toMatch(/no retained message/);
    expect((await admin(`/admin/${namespace}/retained?topic=r%2F%23`, { method: 'DELETE' })).status).toBe(400);
    expect((await admin(`/admin/${namespace}/retained`, { method: 'DELETE' })).status).toBe(400);
    // limit cuts the list and says so.
    await publish(writer.client, 'r/three', 'third', { qos: 1, retain: true });
    const one = await adminJson<RetainedList>(`/admin/${namespace}/retained?limit=1`);
    expect(one.retained).toHaveLength(1);
    expect(one.truncated).toBe(true);
    expect((await adminJson<RetainedList>(`/admin/${namespace}/retained?limit=2`)).truncated).toBe(false);
  });

  it('reports stats as JSON', async () => {
    const stats = await adminJson<Record<string, unknown>>(`/admin/${namespace}/stats`);
    expect(stats).toMatchObject({ namespace, connected: expect.any(Number), sessions: expect.any(Number), counters: expect.objectContaining({ publishReceived: 3 }) });
    expect(stats['version']).toMatch(/^\d+\.\d+\.\d+/);
    expect(stats['memory']).toMatchObject({ estimatedBytes: expect.any(Number), limitBytes: 128 * 1024 * 1024, parts: expect.objectContaining({ connections: expect.any(Number), input: 0 }) });
  });

  it('answers bad requests with clear JSON errors', async () => {
    const cases: Array<[string, RequestInit, number, RegExp]> = [
      [`/admin/${namespace}/nothing-here`, {}, 404, /no such admin route/],
      ['/admin', {}, 404, /no such admin route/],
      [`/admin/${namespace}`, {}, 404, /no such admin route/],
      ['/admin/bad%20name/stats', {}, 400, /invalid namespace/],
      [`/admin/${namespace}/clients?limit=0`, {}, 400, /limit/],
      [`/admin/${namespace}/clients?limit=abc`, {}, 400, /limit/],
      [`/admin/${namespace}/clients/x/disconnect`, { method: 'GET' }, 405, /POST/],
      [`/admin/${namespace}/stats`, { method: 'PUT' }, 405, /GET/],
      [`/admin/${namespace}/clients/x/disconnect`, { method: 'POST', body: 'x'.repeat(10_000) }, 413, /no body/],
    ];
    for (const [path, init, status, message] of cases) {
      const response = await admin(path, init);
      expect(response.status, `${init.method ?? 'GET'} ${path}`).toBe(status);
      expect(((await response.json()) as { error: string }).error).toMatch(message);
    }
    expect((await admin(`/admin/${namespace}/stats`, { method: 'PUT' })).headers.get('allow')).toBe('GET');
  });
});

describe('routes', () => {
  it('serves the dashboard on a plain GET / and still takes MQTT over a WebSocket upgrade on /', async () => {
    const page = await http('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    // Static files only: no inline script or style is allowed.
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self';/);
    expect(page.headers.get('content-security-policy')).not.toMatch(/unsafe-inline/);
    expect(await page.text()).toContain('<title>MQTT broker dashboard</title>');
    const root = new URL(edge.url);
    root.protocol = 'ws:';
    root.pathname = '/';
    const overRoot = await connectClient(root.toString(), { clientId: 'root-path-client' });
    clients.push(overRoot);
    expect(overRoot.connack.returnCode ?? overRoot.connack.reasonCode ?? 0).toBe(0);
  });
});

describe('after a restart', () => {
  it('resumes $SYS for a persisted subscription, from the counters that were saved', async () => {
    const namespace = 'obs-restart';
    const watcher = await connect(namespace, 'sys-keeper', { protocolVersion: 4, clean: false });
    await subscribe(watcher.client, '$SYS/broker/#');
    const writer = await connect(namespace, 'writer');
    for (let i = 0; i < 3; i++) await publish(writer.client, 'restart/x', String(i), { qos: 1 });
    await eventually(() => latest(watcher).get('$SYS/broker/publish/messages/received') === '3', 10_000, 'the count before the restart');
    // Counters reach storage on the next alarm; $SYS alarms come every interval.
    await sleep(sysInterval * 1000 * 3);
    await watcher.end(true);
    await writer.end(true);

    await edge.restart();

    // The session and its $SYS subscription survived: updates flow again without subscribing anew.
    const back = await connect(namespace, 'sys-keeper', { protocolVersion: 4, clean: false });
    expect(back.connack.sessionPresent).toBe(true);
    await eventually(() => latest(back).get('$SYS/broker/clients/connected') === '1', 10_000, '$SYS updates after the restart');
    // Unchanged values went out (retained) while the client was away; subscribing again replays them.
    await subscribe(back.client, '$SYS/broker/#');
    await eventually(() => latest(back).get('$SYS/broker/publish/messages/received') === '3' && latest(back).has('$SYS/broker/version'), 10_000, 'the retained $SYS tree');
    const uptime = Number(/^(\d+) seconds$/.exec(latest(back).get('$SYS/broker/uptime') ?? '')?.[1]);
    expect(uptime).toBeGreaterThanOrEqual(1);
    const metrics = parseMetrics(await (await admin(`/metrics/${namespace}`)).text());
    expect(metrics.get(`mqtt_publish_messages_received_total{namespace="${namespace}"}`)).toBe(3);
  });
});

describe('switched off', () => {
  let bare: TestEdge;

  beforeAll(async () => {
    bare = await startTestEdge({ MQTT_SYS_INTERVAL: '0' });
  });

  afterAll(async () => {
    await bare?.dispose();
  });

  it('refuses everyone on /admin and /metrics without MQTT_ADMIN_TOKEN, and says why', async () => {
    for (const path of ['/metrics', '/admin/default/stats']) {
      for (const headers of [{}, { Authorization: 'Bearer ' }, { Authorization: 'Bearer undefined' }]) {
        const response = await fetch(new URL(path, bare.url), { headers });
        expect(response.status, path).toBe(401);
        expect(await response.text()).toMatch(/admin API is off: set MQTT_ADMIN_TOKEN/);
      }
    }
  });

  it('publishes no $SYS tree with MQTT_SYS_INTERVAL=0', async () => {
    const watcher = await connectClient(bare.mqttUrl, { clientId: 'sys-off' });
    clients.push(watcher);
    await subscribe(watcher.client, '$SYS/#');
    await sleep(1500);
    expect(watcher.messages).toEqual([]);
  });
});
