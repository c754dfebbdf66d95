/**
 * Users at runtime through the admin API, on the real runtime: each change
 * holds for the next CONNECT, over WebSocket (MQTT.js) and TCP through the
 * sidecar (mosquitto_pub); configured users win; namespaces are separate
 * tenants, tried as an attacker would; bad requests get a clear 400.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, connectExpectingRefusal, publish, subscribe } from '../helpers/mqtt-clients.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';
import { uniqueNames } from '../helpers/names.ts';

const Token = 'admin-token-for-runtime-users';
const TenantAToken = 'tenant-a-only-token';
const Secret = 'runtime-users-bridge-secret';
const MosquittoPub = '/usr/bin/mosquitto_pub';

let edge: TestEdge;
let sidecar: TestSidecar;
let workDir: string;
let admin: ReturnType<typeof adminClient>;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'mqtt-runtime-users-'));
  const passwd = join(workDir, 'passwd');
  execFileSync('mosquitto_passwd', ['-c', '-b', passwd, 'operator', 'operator-pw']);
  edge = await startTestEdge({
    MQTT_ADMIN_TOKEN: Token,
    MQTT_BRIDGE_SECRET: Secret,
    MQTT_NAMESPACE_ACCESS: JSON.stringify({
      configured: { passwords: readFileSync(passwd, 'utf8') },
      'tenant-a': { adminToken: TenantAToken },
      'closed-b': { allowAnonymous: false },
    }),
  });
  sidecar = await startTestSidecar(`${edge.mqttUrl}/tcp-users`, { MQTT_BRIDGE_SECRET: Secret, MQTT_LOG_LEVEL: 'error' });
  admin = adminClient(edge.url, Token);
});
afterAll(async () => {
  await sidecar?.sidecar.close();
  await edge?.dispose();
  rmSync(workDir, { recursive: true, force: true });
});

const unique = uniqueNames();
const wsUrl = (namespace: string): string => `${edge.mqttUrl}/${namespace}`;

/** Connects with MQTT.js at 3.1.1 and at 5.0; the CONNACK codes of refusals, 0 when accepted. */
async function connackCodes(namespace: string, username: string | undefined, password: string | undefined): Promise<[number, number]> {
  const codes: number[] = [];
  for (const protocolVersion of [4, 5] as const) {
    const options = { protocolVersion, clientId: unique('c'), ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
    try {
      const client = await connectClient(wsUrl(namespace), options);
      await client.end();
      codes.push(0);
    } catch {
      codes.push(await connectExpectingRefusal(wsUrl(namespace), { ...options, clientId: unique('c') }));
    }
  }
  return codes as [number, number];
}

describe('users at runtime', () => {
  it('add → connect works; wrong password → 4 / 0x86; change → old refused; delete → refused', async () => {
    const ns = unique('users');
    expect((await admin('GET', `/admin/${ns}/users`)).body).toEqual({ namespace: ns, users: [] });
    const created = await admin('PUT', `/admin/${ns}/users/bob`, { password: 'first-pw' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ namespace: ns, username: 'bob', source: 'runtime', created: true });
    expect(await connackCodes(ns, 'bob', 'first-pw')).toEqual([0, 0]);
    expect(await connackCodes(ns, 'bob', 'wrong')).toEqual([4, 0x86]);
    // A namespace with runtime users behaves as if it had a password file: unknown names are refused, anonymous clients follow MQTT_ALLOW_ANONYMOUS.
    expect(await connackCodes(ns, 'mallory', 'first-pw')).toEqual([4, 0x86]);
    expect(await connackCodes(ns, undefined, undefined)).toEqual([0, 0]);

    const updated = await admin('PUT', `/admin/${ns}/users/bob`, { password: 'second-pw' });
    expect(updated.status).toBe(200);
    expect(updated.body['created']).toBe(false);
    expect(await connackCodes(ns, 'bob', 'first-pw')).toEqual([4, 0x86]);
    expect(await connackCodes(ns, 'bob', 'second-pw')).toEqual([0, 0]);

    const listed = await admin('GET', `/admin/${ns}/users`);
    expect(listed.body['users']).toEqual([{ username: 'bob', source: 'runtime', createdAt: expect.any(String), updatedAt: expect.any(String) }]);
    expect(listed.text).not.toMatch(/\$7\$|pw/);

    expect((await admin('DELETE', `/admin/${ns}/users/bob`)).status).toBe(200);
    expect(await connackCodes(ns, 'bob', 'second-pw')).toEqual([4, 0x86]);
    expect((await admin('DELETE', `/admin/${ns}/users/bob`)).status).toBe(404);
  });

  it('a connected client stays connected when its user is deleted; its next connection is refused', async () => {
    const ns = unique('kept');
    await admin('PUT', `/admin/${ns}/users/dana`, { password: 'dana-pw' });
    const dana = await connectClient(wsUrl(ns), { username: 'dana', password: 'dana-pw', clientId: unique('dana') });
    await subscribe(dana.client, 'dana/#', { qos: 1 });
    expect((await admin('DELETE', `/admin/${ns}/users/dana`)).status).toBe(200);
    // Still connected and served: its own publish comes back through the broker.
    await publish(dana.client, 'dana/after-delete', 'still here', { qos: 1 });
    expect((await dana.waitForMessages(1))[0]?.payload).toBe('still here');
    expect(await connectExpectingRefusal(wsUrl(ns), { username: 'dana', password: 'dana-pw', clientId: unique('dana') })).toBe(4);
    await dana.end();
  });

  it('names with %-encoded characters round-trip (a "/" in a username is one path segment)', async () => {
    const ns = unique('names');
    expect((await admin('PUT', `/admin/${ns}/users/${encodeURIComponent('site/äö 1')}`, { password: 'pw' })).status).toBe(201);
    expect(await connackCodes(ns, 'site/äö 1', 'pw')).toEqual([0, 0]);
    expect(((await admin('GET', `/admin/${ns}/users`)).body['users'] as Array<{ username: string }>).map((u) => u.username)).toEqual(['site/äö 1']);
  });

  it.skipIf(!existsSync(MosquittoPub))('mosquitto_pub over TCP through the sidecar: runtime user accepted, wrong password refused', async () => {
    await admin('PUT', '/admin/tcp-users/users/device-7', { password: 'device-pw' });
    const run = (password: string): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(MosquittoPub, ['-h', '127.0.0.1', '-p', String(sidecar.sidecar.tcpPort), '-V', 'mqttv311', '-u', 'device-7', '-P', password, '-t', 'devices/7', '-m', 'hello', '-q', '1']);
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('close', (code) => resolve({ code, stderr }));
      });
    expect(await run('device-pw')).toMatchObject({ code: 0 });
    const refused = await run('not-the-password');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/bad user name or password/i);
  });
});

describe('configured users win', () => {
  it('PUT or DELETE of a configured name is 409; the configured password keeps working; both are listed with their source', async () => {
    const put = await admin('PUT', '/admin/configured/users/operator', { password: 'takeover' });
    expect(put.status).toBe(409);
    expect(put.body['error']).toMatch(/configured/);
    expect((await admin('DELETE', '/admin/configured/users/operator')).status).toBe(409);
    expect(await connackCodes('configured', 'operator', 'takeover')).toEqual([4, 0x86]);
    expect(await connackCodes('configured', 'operator', 'operator-pw')).toEqual([0, 0]);
    expect((await admin('PUT', '/admin/configured/users/helper', { password: 'helper-pw' })).status).toBe(201);
    expect(await connackCodes('configured', 'helper', 'helper-pw')).toEqual([0, 0]);
    expect((await admin('GET', '/admin/configured/users')).body['users']).toEqual([
      { username: 'operator', source: 'config' },
      { username: 'helper', source: 'runtime', createdAt: expect.any(String), updatedAt: expect.any(String) },
    ]);
  });
});

describe('namespaces are separate tenants', () => {
  it("a user of one namespace is nobody in another, even one that needs credentials", async () => {
    await admin('PUT', '/admin/tenant-a/users/eve', { password: 'eve-pw' });
    await admin('PUT', '/admin/closed-b/users/bea', { password: 'bea-pw' });
    expect(await connackCodes('tenant-a', 'eve', 'eve-pw')).toEqual([0, 0]);
    expect(await connackCodes('closed-b', 'bea', 'bea-pw')).toEqual([0, 0]);
    // eve's credentials in closed-b, over WebSocket and over the sidecar's namespace-pinned TCP port.
    expect(await connackCodes('closed-b', 'eve', 'eve-pw')).toEqual([4, 0x86]);
    // The same name in two namespaces: two users, each with its own password.
    await admin('PUT', '/admin/closed-b/users/eve', { password: 'other-eve-pw' });
    expect(await connackCodes('closed-b', 'eve', 'eve-pw')).toEqual([4, 0x86]);
    expect(await connackCodes('tenant-a', 'eve', 'other-eve-pw')).toEqual([4, 0x86]);
    expect(((await admin('GET', '/admin/tenant-a/users')).body['users'] as Array<{ username: string }>).map((u) => u.username)).toEqual(['eve']);
  });

  it("a namespace's own admin token cannot touch another namespace's users", async () => {
    const own = await admin('PUT', '/admin/tenant-a/users/scoped', { password: 'pw' }, { token: TenantAToken });
    expect(own.status).toBe(201);
    for (const [method, path, body] of [
      ['PUT', '/admin/closed-b/users/intruder', { password: 'pw' }],
      ['GET', '/admin/closed-b/users', undefined],
      ['DELETE', '/admin/closed-b/users/bea', undefined],
      ['POST', '/admin/closed-b/acl', { access: 'readwrite', topic: '#' }],
      ['PUT', '/admin/tenant-a%2F..%2Fclosed-b/users/intruder', { password: 'pw' }],
    ] as const) {
      const answer = await admin(method, path, body, { token: TenantAToken });
      expect([400, 401], `${method} ${path}`).toContain(answer.status);
    }
    expect(await connackCodes('closed-b', 'intruder', 'pw')).toEqual([4, 0x86]);
    expect(await connackCodes('closed-b', 'bea', 'bea-pw')).toEqual([0, 0]);
    expect((await admin('PUT', '/admin/closed-b/users/x', { password: 'pw' }, { token: 'wrong' })).status).toBe(401);
  });
});

describe('bad requests', () => {
  it('leave the connection usable: a refusal sent before the body was read does not reset the next request', async () => {
    // fetch() reuses one keep-alive connection; an answer given with the body unread used to
    // make the runtime reset it, and the next request on it failed with ECONNRESET.
    const ns = unique('reuse');
    for (let round = 0; round < 40; round++) {
      const refused = await admin('POST', `/admin/${ns}/users/bob`, { password: 'x'.repeat(3000) });
      expect(refused.status).toBe(405);
      const unauthorized = await admin('PUT', `/admin/${ns}/users/bob`, { password: 'x'.repeat(3000) }, { token: 'wrong' });
      expect(unauthorized.status).toBe(401);
      expect((await admin('GET', `/admin/${ns}/users`)).status).toBe(200);
    }
  });

  it('answer 400 / 405 / 413 with a message saying what is wrong', async () => {
    const ns = unique('bad');
    const cases: Array<[string, string, unknown, string | undefined, number, RegExp]> = [
      ['PUT', `/admin/${ns}/users/bob`, undefined, '{"password": ', 400, /not JSON/],
      ['PUT', `/admin/${ns}/users/bob`, undefined, undefined, 400, /JSON body is needed/],
      ['PUT', `/admin/${ns}/users/bob`, { pass: 'x' }, undefined, 400, /unknown field "pass"/],
      ['PUT', `/admin/${ns}/users/bob`, { password: '' }, undefined, 400, /1\.\.1024 bytes/],
      ['PUT', `/admin/${ns}/users/a%3Ab`, { password: 'pw' }, undefined, 400, /":"/],
      ['PUT', `/admin/${ns}/users/%E0%A4%A`, { password: 'pw' }, undefined, 400, /percent-encoding/],
      ['PUT', `/admin/${ns}/users/bob`, { password: 'x'.repeat(5000) }, undefined, 413, /larger than 4096/],
      ['POST', `/admin/${ns}/acl`, { access: 'read', topic: 'a/#/b' }, undefined, 400, /not a valid topic filter/],
      ['POST', `/admin/${ns}/acl`, { access: 'maybe', topic: 'a' }, undefined, 400, /"access" must be one of/],
      ['POST', `/admin/${ns}/acl`, { username: 'bob', pattern: true, access: 'read', topic: 'a/%u' }, undefined, 400, /leave out "username"/],
      ['DELETE', `/admin/${ns}/acl/abc`, undefined, undefined, 400, /not an ACL entry id/],
      ['DELETE', `/admin/${ns}/acl/12345`, undefined, undefined, 404, /no runtime ACL entry 12345/],
      ['POST', `/admin/${ns}/users/bob`, { password: 'pw' }, undefined, 405, /use PUT or DELETE/],
      ['DELETE', `/admin/${ns}/users`, undefined, undefined, 405, /use GET/],
    ];
    for (const [method, path, body, raw, status, message] of cases) {
      const answer = await admin(method, path, body, raw === undefined ? {} : { rawBody: raw });
      expect(answer.status, `${method} ${path} ${raw ?? JSON.stringify(body)}`).toBe(status);
      expect(answer.body['error'], `${method} ${path}`).toMatch(message);
    }
    // Nothing was created by any of them.
    expect((await admin('GET', `/admin/${ns}/users`)).body['users']).toEqual([]);
    expect((await admin('GET', `/admin/${ns}/acl`)).body['entries']).toEqual([]);
  });
});

describe('storage', () => {
  // Last in this file: the restart cuts the sidecar's link.
  it('users and entries outlive a restart of the runtime (memory is only a cache, SQLite holds them)', async () => {
    const ns = unique('restart');
    await admin('PUT', `/admin/${ns}/users/rita`, { password: 'rita-pw' });
    await admin('POST', `/admin/${ns}/acl`, { username: 'rita', access: 'readwrite', topic: 'rita/#' });
    await edge.restart();
    expect(await connackCodes(ns, 'rita', 'rita-pw')).toEqual([0, 0]);
    expect(await connackCodes(ns, 'rita', 'other')).toEqual([4, 0x86]);
    expect(((await admin('GET', `/admin/${ns}/acl`)).body['entries'] as unknown[]).length).toBe(1);
  });
});
