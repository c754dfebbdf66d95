/**
 * GET /admin/<ns>/events on the real Worker: the namespace's last
 * refusals and disconnect causes, caused over WebSocket and through the
 * sidecar's TCP port (the edge sees those devices on the sidecar's link),
 * each with its reason and code; kept across a restart of the namespace's
 * object; bounded however many come.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, type AdminAnswer } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, connectExpectingRefusal, type TestClient } from '../helpers/mqtt-clients.ts';
import { uniqueNames } from '../helpers/names.ts';
import { connectPacket, openPeer, type PeerTarget } from '../helpers/raw-peer.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';

const Namespace = 'events';
const Secret = 'connection-events-secret';
const Token = 'connection-events-admin';
/** The namespace's connection limit: small, so that "too many" is easy to reach. */
const MaxConnections = 3;

let edge: TestEdge;
let sidecar: TestSidecar;
let admin: ReturnType<typeof adminClient>;

beforeAll(async () => {
  edge = await startTestEdge({
    MQTT_BRIDGE_SECRET: Secret,
    MQTT_ADMIN_TOKEN: Token,
    MQTT_MAX_CONNECTIONS: String(MaxConnections),
    // Clients of this namespace need credentials: an anonymous one is not authorized.
    MQTT_NAMESPACE_ACCESS: JSON.stringify({ [Namespace]: { allowAnonymous: false } }),
  });
  sidecar = await startTestSidecar(`${edge.mqttUrl}/${Namespace}`, { MQTT_BRIDGE_SECRET: Secret });
  admin = adminClient(edge.url, Token);
  expect((await admin('PUT', `/admin/${Namespace}/users/device`, { password: 'device-pw' })).status).toBe(201);
});
afterAll(async () => {
  await sidecar?.sidecar.close();
  await edge?.dispose();
});

interface Entry {
  at: number;
  event: string;
  clientId?: string;
  username?: string;
  remoteAddress?: string;
  transport?: string;
  protocolLevel?: number;
  reason?: string;
  code?: number;
}
interface EventsAnswer {
  namespace: string;
  events: Entry[];
  unsaved: number;
  capacity: number;
}

async function events(query = 'limit=500'): Promise<EventsAnswer> {
  const answer: AdminAnswer = await admin('GET', `/admin/${Namespace}/events?${query}`);
  expect(answer.status, answer.text).toBe(200);
  return answer.body as unknown as EventsAnswer;
}

/** Waits for the entry of `event` for `clientId`, as the admin API lists it. */
async function entryOf(event: string, clientId: string): Promise<Entry> {
  let found: Entry | undefined;
  await expect.poll(async () => (found = (await events()).events.find((entry) => entry.event === event && entry.clientId === clientId)), { timeout: 15_000 }).toBeDefined();
  return found as Entry;
}

const unique = uniqueNames();
const credentials = { username: 'device', password: 'device-pw' };
/** The same, as a raw CONNECT carries them. */
const rawCredentials = { username: 'device', password: Buffer.from('device-pw') };
const paths = {
  ws: { url: () => `${edge.mqttUrl}/${Namespace}`, peer: (): PeerTarget => ({ kind: 'ws', url: `${edge.mqttUrl}/${Namespace}` }), transport: 'ws' },
  sidecar: { url: () => `mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`, peer: (): PeerTarget => ({ kind: 'tcp', port: sidecar.sidecar.tcpPort }), transport: 'link' },
} as const;

describe('the log of refusals and disconnect causes', () => {
  describe.each(['ws', 'sidecar'] as const)('over %s', (path) => {
    const via = paths[path];

    it('lists refusals for bad credentials, an anonymous client and one over the connection limit', async () => {
      const badPassword = unique(`${path}-bad-password`);
      const anonymous = unique(`${path}-anonymous`);
      expect(await connectExpectingRefusal(via.url(), { clientId: badPassword, username: 'device', password: 'wrong', protocolVersion: 4 })).toBe(4);
      expect(await connectExpectingRefusal(via.url(), { clientId: anonymous, protocolVersion: 5 })).toBe(0x87);
      expect(await entryOf('connection.refused', badPassword)).toMatchObject({ username: 'device', transport: via.transport, protocolLevel: 4, reason: 'bad-username-or-password', code: 4 });
      expect(await entryOf('connection.refused', anonymous)).toMatchObject({ transport: via.transport, protocolLevel: 5, reason: 'not-authorized', code: 0x87 });

      const connected: TestClient[] = [];
      for (let i = 0; i < MaxConnections; i++) connected.push(await connectClient(via.url(), { clientId: unique(`${path}-filler`), ...credentials, protocolVersion: 4 }));
      const tooMany = unique(`${path}-too-many`);
      expect(await connectExpectingRefusal(via.url(), { clientId: tooMany, ...credentials, protocolVersion: 4 })).toBe(3);
      expect(await entryOf('connection.refused', tooMany)).toMatchObject({ transport: via.transport, reason: 'server-unavailable', code: 3 });
      for (const client of connected) await client.end();
      // Each of them left on its own: a closed entry with that cause.
      expect(await entryOf('connection.closed', connected[0]?.client.options.clientId ?? '')).toMatchObject({ reason: 'client-disconnect', username: 'device' });
      // The password is never part of it.
      expect(JSON.stringify(await events())).not.toMatch(/device-pw|"wrong"/);
    });

    it('lists a protocol error, a keep-alive timeout and a takeover with their causes', async () => {
      const malformed = unique(`${path}-malformed`);
      const peer = await openPeer(via.peer(), 5);
      peer.send(connectPacket(malformed, rawCredentials));
      await peer.waitFor('connack');
      // QoS 3 is malformed [MQTT-3.3.1-4].
      peer.sendBytes(new Uint8Array([0x36, 0x03, 0x00, 0x01, 0x61]));
      await peer.closed;
      expect(await entryOf('connection.closed', malformed)).toMatchObject({ transport: via.transport, reason: 'protocol-error' });
      // The edge decodes a WebSocket client's packets itself; a device's are checked by the sidecar, which says why it closed it.
      if (path === 'ws') expect(await entryOf('connection.protocol-error', malformed)).toMatchObject({ reason: 'malformed-packet', code: 0x81 });

      const silent = unique(`${path}-silent`);
      const quiet = await openPeer(via.peer(), 4);
      quiet.send(connectPacket(silent, { ...rawCredentials, keepalive: 1 }, 4));
      await quiet.closed;
      expect(await entryOf('connection.closed', silent)).toMatchObject({ transport: via.transport, reason: 'keepalive-timeout' });
      if (path === 'ws') await entryOf('connection.keepalive-timeout', silent);

      const twice = unique(`${path}-twice`);
      const first = await connectClient(via.url(), { clientId: twice, ...credentials, protocolVersion: 5 });
      const firstClosed = new Promise<void>((resolve) => first.client.once('close', () => resolve()));
      const second = await connectClient(via.url(), { clientId: twice, ...credentials, protocolVersion: 5 });
      await firstClosed;
      expect(await entryOf('connection.taken-over', twice)).toMatchObject({ username: 'device' });
      expect(await entryOf('connection.closed', twice)).toMatchObject({ reason: 'takeover' });
      await second.end();
      await first.end(true);
    });
  });

  it('filters by type and reason, and refuses what it does not know', async () => {
    const refused = await events('type=connection.refused&limit=500');
    expect(refused.events.length).toBeGreaterThan(0);
    expect(refused.events.every((entry) => entry.event === 'connection.refused')).toBe(true);
    const takeovers = await events('type=connection.closed,connection.taken-over&reason=takeover');
    expect(takeovers.events.length).toBeGreaterThan(0);
    expect(takeovers.events.every((entry) => entry.reason === 'takeover' && entry.event === 'connection.closed')).toBe(true);
    expect((await events('limit=1')).events).toHaveLength(1);
    for (const query of ['limit=0', 'limit=501', 'type=connection.accepted', 'type=nonsense']) {
      expect((await admin('GET', `/admin/${Namespace}/events?${query}`)).status, query).toBe(400);
    }
    expect((await admin('POST', `/admin/${Namespace}/events`)).status).toBe(405);
  });

  it('stays bounded: the newest entries of many refusals, never more than it keeps', async () => {
    const batch = 25;
    for (let start = 0; start < 525; start += batch) {
      await Promise.all(
        Array.from({ length: batch }, async (_, i) => {
          const peer = await openPeer(paths.ws.peer(), 4);
          peer.send(connectPacket(`flood-${start + i}`, { username: 'device', password: Buffer.from('wrong') }, 4));
          await peer.closed;
        }),
      );
    }
    const answer = await events('limit=500');
    expect(answer.capacity).toBe(500);
    expect(answer.events).toHaveLength(500);
    expect(answer.events.filter((entry) => entry.clientId?.startsWith('flood-')).length).toBeGreaterThan(450);
    expect(answer.events.some((entry) => entry.clientId === 'flood-0')).toBe(false);
  });

  it('keeps them across a restart of the namespace object, once the counter flush has written them', async () => {
    const marker = unique('before-restart');
    expect(await connectExpectingRefusal(paths.ws.url(), { clientId: marker, username: 'device', password: 'wrong', protocolVersion: 5 })).toBe(0x86);
    await entryOf('connection.refused', marker);
    // Written within seconds, with the counters.
    await expect.poll(async () => (await events()).unsaved, { timeout: 15_000 }).toBe(0);
    const before = (await events('type=connection.refused&limit=500')).events;
    // A device online across the restart (the sidecar's link ends with the object, in either shape of the
    // namespace): the object that comes back finds its session without a connection.
    const witness = unique('witness');
    const online = await connectClient(paths.sidecar.url(), { clientId: witness, ...credentials, protocolVersion: 5 });
    const dropped = new Promise<void>((resolve) => online.client.once('close', () => resolve()));
    expect((await admin('POST', `/admin/${Namespace}/objects/${Namespace}/restart`)).status).toBe(200);
    await dropped;
    // The object comes back with none of its memory: what it lists of before is what it stored.
    expect(await entryOf('connection.closed', witness)).toMatchObject({ reason: 'network-error' });
    const after = (await events('type=connection.refused&limit=500')).events.map((entry) => `${entry.clientId}@${entry.at}`);
    expect(after).toEqual(before.map((entry) => `${entry.clientId}@${entry.at}`));
    await online.end(true);
  });
});
