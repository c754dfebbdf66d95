/**
 * The admin list of clients, searched and paged in the core: online first,
 * then by client id; a search matches a substring of the client id, the
 * username (both in SQLite) or a connected client's address (in memory);
 * LIKE's wildcards in a search are taken literally; and a page reads only
 * its own clients' details, however many sessions the namespace has.
 */
import { describe, expect, it } from 'vitest';
import { CoreHarness, type HarnessConnection } from './harness.ts';

async function connect(harness: CoreHarness, clientId: string, options: { username?: string; address?: string; persistent?: boolean } = {}): Promise<HarnessConnection> {
  const connection = harness.open({ remoteAddress: options.address ?? '127.0.0.1:1000' });
  await connection.send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 5,
    clientId,
    clean: options.persistent !== true,
    keepalive: 0,
    ...(options.username === undefined ? {} : { username: options.username }),
    properties: options.persistent === true ? { sessionExpiryInterval: 3600 } : {},
  });
  return connection;
}

const ids = (page: { clients: Array<{ clientId: string }> }): string[] => page.clients.map((client) => client.clientId);

describe('searching and paging the clients', () => {
  it('pages through every session, online first, each once, with the total', async () => {
    const harness = await CoreHarness.create();
    for (let i = 0; i < 25; i++) {
      const connection = await connect(harness, `dev-${String(i).padStart(2, '0')}`, { persistent: true });
      // Every third one has gone offline; its session stays.
      if (i % 3 === 0) await connection.send({ cmd: 'disconnect', properties: {} });
    }
    const seen: string[] = [];
    for (let offset = 0; offset < 30; offset += 10) {
      const page = harness.core.findClients({ offset, limit: 10 });
      expect(page.total).toBe(25);
      seen.push(...ids(page));
    }
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
    const online = seen.filter((id) => Number(id.slice(4)) % 3 !== 0);
    const offline = seen.filter((id) => Number(id.slice(4)) % 3 === 0);
    expect(seen).toEqual([...online.sort(), ...offline.sort()]);
    // Beyond the end: an empty page, still with the total.
    expect(harness.core.findClients({ offset: 100, limit: 10 })).toEqual({ clients: [], total: 25 });
    harness.close();
  });

  it('matches a substring of the client id, the username or a connected client\'s address, ignoring case', async () => {
    const harness = await CoreHarness.create();
    await connect(harness, 'Kitchen-Sensor', { address: '10.0.0.7:5000' });
    await connect(harness, 'hall-sensor', { username: 'Facility-Bot', address: '10.0.0.8:5001' });
    const gone = await connect(harness, 'garage-door', { username: 'door', address: '192.168.1.9:7000', persistent: true });
    await gone.send({ cmd: 'disconnect', properties: {} });

    expect(ids(harness.core.findClients({ search: 'kitchen', offset: 0, limit: 10 }))).toEqual(['Kitchen-Sensor']);
    expect(ids(harness.core.findClients({ search: 'SENSOR', offset: 0, limit: 10 }))).toEqual(['Kitchen-Sensor', 'hall-sensor']);
    expect(ids(harness.core.findClients({ search: 'facility', offset: 0, limit: 10 }))).toEqual(['hall-sensor']);
    expect(ids(harness.core.findClients({ search: 'door', offset: 0, limit: 10 }))).toEqual(['garage-door']);
    expect(ids(harness.core.findClients({ search: '10.0.0.8', offset: 0, limit: 10 }))).toEqual(['hall-sensor']);
    expect(harness.core.findClients({ search: '10.0.0.', offset: 0, limit: 1 })).toMatchObject({ total: 2, clients: [{ clientId: 'Kitchen-Sensor' }] });
    // An offline client's address is not kept: it is not found by it.
    expect(harness.core.findClients({ search: '192.168', offset: 0, limit: 10 })).toEqual({ clients: [], total: 0 });
    expect(harness.core.findClients({ search: 'nothing-like-it', offset: 0, limit: 10 }).total).toBe(0);
    harness.close();
  });

  it('takes %, _ and \\ in a search literally', async () => {
    const harness = await CoreHarness.create();
    for (const clientId of ['a_b', 'axb', '100%', '1000', 'back\\slash', 'backslash']) await connect(harness, clientId);
    expect(ids(harness.core.findClients({ search: '_', offset: 0, limit: 10 }))).toEqual(['a_b']);
    expect(ids(harness.core.findClients({ search: '%', offset: 0, limit: 10 }))).toEqual(['100%']);
    expect(ids(harness.core.findClients({ search: '\\', offset: 0, limit: 10 }))).toEqual(['back\\slash']);
    harness.close();
  });

  it('reads the details of the page only, however many sessions there are', async () => {
    const harness = await CoreHarness.create();
    for (let i = 0; i < 300; i++) {
      const connection = await connect(harness, `many-${i}`, { persistent: true });
      await connection.send({ cmd: 'disconnect', properties: {} });
    }
    const queries: Array<{ query: string; bindings: unknown[] }> = [];
    const exec = harness.sql.exec.bind(harness.sql);
    harness.sql.exec = (query, ...bindings) => {
      queries.push({ query, bindings });
      return exec(query, ...bindings);
    };
    const page = harness.core.findClients({ search: 'many-2', offset: 5, limit: 10 });
    expect(page.total).toBe(111);
    expect(page.clients).toHaveLength(10);
    // Two queries of the sessions table (the page and the count); every other one is about a client of the page.
    expect(queries.filter(({ query }) => /FROM sessions/.test(query))).toHaveLength(2);
    const perClient = queries.filter(({ query }) => /WHERE client_id = \?/.test(query));
    expect(perClient.length).toBeGreaterThan(0);
    expect(new Set(perClient.map(({ bindings }) => bindings[0]))).toEqual(new Set(ids(page)));
    harness.close();
  });
});
