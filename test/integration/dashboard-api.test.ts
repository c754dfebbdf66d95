/**
 * The admin routes the dashboard reads beyond stats and retained messages,
 * on the real Worker: the per-minute history, the busiest topics,
 * subscriptions across clients, the clients searched and paged, and the
 * namespace list, with their validation and their tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, publish, subscribe, type TestClient } from '../helpers/mqtt-clients.ts';

const token = 'admin-token-for-dashboard-api-tests';

let edge: TestEdge;
const clients: TestClient[] = [];

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_ADMIN_TOKEN: token, MQTT_NAMESPACES: 'default lab tenant-*' });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.end(true)));
  await edge?.dispose();
});

function admin(path: string): Promise<Response> {
  return fetch(new URL(path, edge.url), { headers: { Authorization: `Bearer ${token}` } });
}

async function adminJson<T>(path: string): Promise<T> {
  const response = await admin(path);
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
}

describe('the dashboard admin routes', () => {
  it('answer with history, topics and subscriptions of a namespace', async () => {
    const publisher = await connectClient(`${edge.mqttUrl}/tenant-x`, { clientId: 'publisher', protocolVersion: 5 });
    const worker = await connectClient(`${edge.mqttUrl}/tenant-x`, { clientId: 'worker', protocolVersion: 5 });
    clients.push(publisher, worker);
    await subscribe(worker.client, ['$share/pool/jobs/#', 'status/+'], { qos: 1 });
    for (let i = 0; i < 5; i++) await publish(publisher.client, 'jobs/resize', String(i), { qos: 1 });
    await publish(publisher.client, 'status/publisher', 'up', { qos: 1, retain: true });

    const subscriptions = await adminJson<{ namespace: string; subscriptions: unknown[]; truncated: boolean }>('/admin/tenant-x/subscriptions');
    expect(subscriptions).toEqual({
      namespace: 'tenant-x',
      subscriptions: [
        { clientId: 'worker', filter: '$share/pool/jobs/#', qos: 1, shareGroup: 'pool', online: true },
        { clientId: 'worker', filter: 'status/+', qos: 1, online: true },
      ],
      truncated: false,
    });
    expect((await adminJson<{ truncated: boolean }>('/admin/tenant-x/subscriptions?limit=1')).truncated).toBe(true);

    // Topics are counted at once; their rates come with the next fold (a second later at most).
    await expect
      .poll(async () => (await adminJson<{ topics: Array<{ topic: string; rate: number }> }>('/admin/tenant-x/topics')).topics.find((t) => t.topic === 'jobs/resize')?.rate ?? 0, { timeout: 10_000 })
      .toBeGreaterThan(0);
    const topics = await adminJson<{ namespace: string; topics: Array<{ topic: string; messages: number; retained: boolean }>; untracked: number }>('/admin/tenant-x/topics');
    expect(topics.namespace).toBe('tenant-x');
    expect(topics.untracked).toBe(0);
    expect(topics.topics.find((t) => t.topic === 'jobs/resize')).toMatchObject({ messages: 5, retained: false });
    expect(topics.topics.find((t) => t.topic === 'status/publisher')).toMatchObject({ messages: 1, retained: true });

    // The first minute's row is written with the first counter flush, seconds after the traffic.
    await expect.poll(async () => (await adminJson<{ samples: unknown[] }>('/admin/tenant-x/history')).samples.length, { timeout: 15_000 }).toBe(1);
    const history = await adminJson<{ namespace: string; samples: Array<{ t: number; messagesIn: number; connections: number }> }>('/admin/tenant-x/history?minutes=5');
    expect(history.namespace).toBe('tenant-x');
    expect(history.samples[0]?.t ?? 0).toBeLessThanOrEqual(Date.now());
    // Samples are whole minutes.
    expect((history.samples[0]?.t ?? 1) % 60_000).toBe(0);
    expect(history.samples[0]?.messagesIn).toBeGreaterThanOrEqual(9);
  });

  it('searches the clients by client id or username and pages through them, with the total', async () => {
    const url = `${edge.mqttUrl}/tenant-search`;
    const names = Array.from({ length: 12 }, (_, i) => `probe-${String(i).padStart(2, '0')}`);
    for (const [i, clientId] of names.entries()) {
      clients.push(await connectClient(url, { clientId, username: i % 4 === 0 ? 'Night_Shift' : 'day', protocolVersion: 5 }));
    }
    clients.push(await connectClient(url, { clientId: 'other', protocolVersion: 5 }));
    type Page = { namespace: string; clients: Array<{ clientId: string; username?: string }>; truncated: boolean; total: number; offset: number };

    // Without the new parameters: every client (up to the limit), as before, now with the total.
    const all = await adminJson<Page>('/admin/tenant-search/clients');
    expect(all).toMatchObject({ namespace: 'tenant-search', truncated: false, total: 13, offset: 0 });
    expect(all.clients).toHaveLength(13);

    const pages: string[] = [];
    for (let offset = 0; offset < 12; offset += 5) {
      const page = await adminJson<Page>(`/admin/tenant-search/clients?q=probe&offset=${offset}&limit=5`);
      expect(page).toMatchObject({ total: 12, offset, truncated: offset + 5 < 12 });
      pages.push(...page.clients.map((client) => client.clientId));
    }
    expect(pages).toEqual(names);
    // A username, in another case; `_` is a character, not LIKE's wildcard.
    const night = await adminJson<Page>('/admin/tenant-search/clients?q=night_');
    expect(night.clients.map((client) => client.clientId)).toEqual(['probe-00', 'probe-04', 'probe-08']);
    expect((await adminJson<Page>('/admin/tenant-search/clients?q=night%25')).total).toBe(0);
    expect((await adminJson<Page>('/admin/tenant-search/clients?q=PROBE-1&limit=1')).clients.map((client) => client.clientId)).toEqual(['probe-10']);

    for (const path of ['/admin/tenant-search/clients?offset=-1', '/admin/tenant-search/clients?offset=x', `/admin/tenant-search/clients?q=${'x'.repeat(257)}`]) {
      expect((await admin(path)).status, path).toBe(400);
    }
  });

  it('refuses bad parameters', async () => {
    for (const path of ['/admin/default/history?minutes=0', '/admin/default/history?minutes=1441', '/admin/default/topics?limit=257', '/admin/default/subscriptions?limit=x']) {
      const response = await admin(path);
      expect(response.status, path).toBe(400);
    }
    expect((await fetch(new URL('/admin/default/history', edge.url), { method: 'POST', headers: { Authorization: `Bearer ${token}` } })).status).toBe(405);
  });

  it('lists the declared namespaces, saying which exact ones have storage and which clients opened here, with the global token only', async () => {
    const client = await connectClient(`${edge.mqttUrl}/lab`, { clientId: 'lab-client' });
    clients.push(client);
    const list = await adminJson<{ namespaces: Array<{ name: string; hasStorage?: boolean; seen?: boolean }>; patterns: string[] }>('/admin/namespaces');
    // tenant-x and tenant-search, opened by tests above, are known only from the pattern: listed because this Worker routed clients to them.
    expect(list).toEqual({
      namespaces: [{ name: 'default', hasStorage: false }, { name: 'lab', hasStorage: true, seen: true }, { name: 'tenant-x', seen: true }, { name: 'tenant-search', seen: true }],
      patterns: ['tenant-*'],
    });
    expect((await fetch(new URL('/admin/namespaces', edge.url))).status).toBe(401);
    // Asking wrote nothing for the namespace nobody used.
    expect((await adminJson<{ namespaces: Array<{ name: string; hasStorage?: boolean }> }>('/admin/namespaces')).namespaces[0]).toEqual({ name: 'default', hasStorage: false });
  });
});
