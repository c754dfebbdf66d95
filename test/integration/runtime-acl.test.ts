/**
 * ACL entries at runtime through the admin API, on the real runtime: they
 * join the configured ACL as lines of its file would (a user's entries
 * join that user's configured block), decide as mosquitto's ACL does
 * (per message delivered; a deny wins), hold for connected clients from
 * the next message, and stay within their namespace. "Not delivered" is
 * observed without sleeping: the same publisher sends a marker after the
 * message that must not arrive, and the marker's arrival means the other
 * would have arrived before it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, eventually, publish, subscribe, type TestClient } from '../helpers/mqtt-clients.ts';
import { openRawPeer } from '../helpers/raw-ws.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';
import { uniqueNames } from '../helpers/names.ts';

const Token = 'admin-token-for-runtime-acl';
const Secret = 'runtime-acl-bridge-secret';
const MosquittoSub = '/usr/bin/mosquitto_sub';
const Stdbuf = existsSync('/usr/bin/stdbuf') ? '/usr/bin/stdbuf' : undefined;
/** The configured ACL of namespace "shop": alice reads shared/#, the writer writes everything. */
const ConfiguredAcl = 'user alice\ntopic read shared/#\nuser writer\ntopic write #\n';

let edge: TestEdge;
let sidecar: TestSidecar;
let workDir: string;
let admin: ReturnType<typeof adminClient>;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'mqtt-runtime-acl-'));
  const passwd = join(workDir, 'passwd');
  execFileSync('mosquitto_passwd', ['-c', '-b', passwd, 'alice', 'alice-pw']);
  execFileSync('mosquitto_passwd', ['-b', passwd, 'writer', 'writer-pw']);
  edge = await startTestEdge({
    MQTT_ADMIN_TOKEN: Token,
    MQTT_BRIDGE_SECRET: Secret,
    MQTT_NAMESPACE_ACCESS: JSON.stringify({ shop: { passwords: readFileSync(passwd, 'utf8'), acl: ConfiguredAcl } }),
  });
  sidecar = await startTestSidecar(`${edge.mqttUrl}/shop`, { MQTT_BRIDGE_SECRET: Secret, MQTT_LOG_LEVEL: 'error' });
  admin = adminClient(edge.url, Token);
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await sidecar?.sidecar.close();
  await edge?.dispose();
  rmSync(workDir, { recursive: true, force: true });
});

const unique = uniqueNames();
const wsUrl = (namespace: string): string => `${edge.mqttUrl}/${namespace}`;
const shopUrl = (): string => wsUrl('shop');

async function addEntry(namespace: string, entry: Record<string, unknown>): Promise<number> {
  const answer = await admin('POST', `/admin/${namespace}/acl`, entry);
  expect(answer.status, answer.text).toBe(201);
  return answer.body['id'] as number;
}

/** PUBLISHes at QoS 1 from a raw 5.0 peer and returns the PUBACK reason codes, in order. */
async function pubackCodes(url: string, connect: { clientId: string; username?: string; password?: string }, topics: string[]): Promise<number[]> {
  const peer = await openRawPeer(url, 5);
  peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: connect.clientId, ...(connect.username === undefined ? {} : { username: connect.username, password: Buffer.from(connect.password ?? '') }) });
  await peer.waitFor('connack');
  topics.forEach((topic, i) => peer.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId: i + 1, retain: false, dup: false }));
  await eventually(() => peer.packets.filter((p) => p.cmd === 'puback').length === topics.length, 5000, 'PUBACKs');
  peer.ws.close();
  // Allowed is Success, or 0x10 No matching subscribers where nobody subscribes: 0 both.
  return peer.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { reasonCode?: number }).reasonCode ?? 0).map((code) => (code === 0x10 ? 0 : code));
}

/** Publishes `topics` in order from the writer, then a marker; resolves with what `reader` got up to the marker. */
async function deliveredOf(reader: TestClient, writer: TestClient, topics: string[], marker: string): Promise<string[]> {
  const before = reader.messages.length;
  for (const topic of topics) await publish(writer.client, topic, topic, { qos: 1 });
  await publish(writer.client, marker, 'marker', { qos: 1 });
  await eventually(() => reader.messages.slice(before).some((m) => m.topic === marker), 5000, `marker ${marker}`);
  return reader.messages.slice(before).map((m) => m.topic).filter((topic) => topic !== marker);
}

describe('runtime entries join the configured ACL', () => {
  it("an entry for a configured user joins that user's block: a deny narrows its read, a grant widens its write", async () => {
    const writer = await connectClient(shopUrl(), { username: 'writer', password: 'writer-pw', clientId: unique('writer') });
    const aliceBefore = await connectClient(shopUrl(), { username: 'alice', password: 'alice-pw', clientId: unique('alice') });
    await subscribe(aliceBefore.client, 'shared/#', { qos: 1 });
    expect(await deliveredOf(aliceBefore, writer, ['shared/a', 'shared/secret'], 'shared/m1')).toEqual(['shared/a', 'shared/secret']);
    expect(await pubackCodes(shopUrl(), { clientId: unique('alice5'), username: 'alice', password: 'alice-pw' }, ['shared/alice'])).toEqual([0x87]);

    const deny = await addEntry('shop', { username: 'alice', access: 'deny', topic: 'shared/secret' });
    await addEntry('shop', { username: 'alice', access: 'write', topic: 'shared/alice' });
    const aliceAfter = await connectClient(shopUrl(), { username: 'alice', password: 'alice-pw', clientId: unique('alice') });
    await subscribe(aliceAfter.client, 'shared/#', { qos: 1 });
    expect(await deliveredOf(aliceAfter, writer, ['shared/a', 'shared/secret'], 'shared/m2')).toEqual(['shared/a']);
    // Her configured read of shared/# still holds, and the new write is hers.
    expect(await pubackCodes(shopUrl(), { clientId: unique('alice5'), username: 'alice', password: 'alice-pw' }, ['shared/alice', 'shared/other'])).toEqual([0, 0x87]);

    // The client connected before the change gets the new rules from the next message on.
    expect(await deliveredOf(aliceBefore, writer, ['shared/secret', 'shared/b'], 'shared/m3')).toEqual(['shared/b']);
    // Removing the deny gives the secret back, at once, to both.
    expect((await admin('DELETE', `/admin/shop/acl/${deny}`)).status).toBe(200);
    expect(await deliveredOf(aliceAfter, writer, ['shared/secret'], 'shared/m4')).toEqual(['shared/secret']);
    expect(await deliveredOf(aliceBefore, writer, ['shared/secret'], 'shared/m5')).toEqual(['shared/secret']);
    expect((await admin('DELETE', `/admin/shop/acl/${deny}`)).status).toBe(404);
    await Promise.all([writer.end(), aliceBefore.end(), aliceAfter.end()]);
  });

  it('a deny wins over a configured grant from any block (the writer may write #)', async () => {
    await addEntry('shop', { username: 'writer', access: 'deny', topic: 'shared/forbidden/#' });
    expect(await pubackCodes(shopUrl(), { clientId: unique('w5'), username: 'writer', password: 'writer-pw' }, ['shared/forbidden/x', 'shared/fine'])).toEqual([0x87, 0]);
  });

  it('lists configured entries (no id) and runtime ones (with ids) with their source', async () => {
    const listed = await admin('GET', '/admin/shop/acl');
    const entries = listed.body['entries'] as Array<Record<string, unknown>>;
    expect(entries.slice(0, 2)).toEqual([
      { username: 'alice', pattern: false, access: 'read', topic: 'shared/#', source: 'config' },
      { username: 'writer', pattern: false, access: 'write', topic: '#', source: 'config' },
    ]);
    expect(entries.slice(2).every((e) => e['source'] === 'runtime' && typeof e['id'] === 'number')).toBe(true);
    expect(entries.slice(2)).toContainEqual({ id: expect.any(Number), username: 'writer', pattern: false, access: 'deny', topic: 'shared/forbidden/#', source: 'runtime' });
  });

  it.skipIf(!existsSync(MosquittoSub))('mosquitto_sub over TCP through the sidecar gets exactly what the merged ACL lets alice read', async () => {
    await addEntry('shop', { username: 'alice', access: 'deny', topic: 'shared/tcp-secret' });
    const args = ['-h', '127.0.0.1', '-p', String(sidecar.sidecar.tcpPort), '-V', 'mqttv311', '-u', 'alice', '-P', 'alice-pw', '-i', unique('sub'), '-t', 'shared/#', '-q', '1', '-v', '-d', '-C', '2'];
    const child = Stdbuf === undefined ? spawn(MosquittoSub, args) : spawn(Stdbuf, ['-oL', MosquittoSub, ...args]);
    children.add(child);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await eventually(() => stdout.includes('SUBACK'), 10_000, 'SUBACK for mosquitto_sub');
    const writer = await connectClient(shopUrl(), { username: 'writer', password: 'writer-pw', clientId: unique('writer') });
    // -C 2: it exits after two messages; the secret, sent first, would be one of them.
    for (const topic of ['shared/tcp-secret', 'shared/tcp-1', 'shared/tcp-2']) await publish(writer.client, topic, `payload-of-${topic}`, { qos: 1 });
    expect(await exited).toBe(0);
    children.delete(child);
    const lines = stdout.split('\n').filter((line) => line.startsWith('shared/'));
    expect(lines).toEqual(['shared/tcp-1 payload-of-shared/tcp-1', 'shared/tcp-2 payload-of-shared/tcp-2']);
    await writer.end();
  });
});

describe('runtime entries in a namespace without a configured ACL', () => {
  it('the first entry turns an ACL on: then only what a rule grants is allowed; patterns substitute %c and %u', async () => {
    const ns = unique('open');
    const anonymousWriter = await pubackCodes(wsUrl(ns), { clientId: unique('anon') }, ['public/anything']);
    expect(anonymousWriter).toEqual([0]);

    // No username: the lines before any `user` line, for anonymous clients only.
    await addEntry(ns, { access: 'read', topic: 'public/#' });
    await addEntry(ns, { pattern: true, access: 'write', topic: 'public/%c' });
    await addEntry(ns, { pattern: true, access: 'readwrite', topic: 'users/%u/#' });
    expect((await admin('PUT', `/admin/${ns}/users/bob`, { password: 'bob-pw' })).status).toBe(201);

    const reader = await connectClient(wsUrl(ns), { clientId: unique('reader') });
    await subscribe(reader.client, '#', { qos: 1 });
    const writerId = unique('w');
    const writer = await connectClient(wsUrl(ns), { clientId: writerId });
    // The anonymous writer may write only public/<its client id>; the reader, anonymous, reads public/# only.
    expect(await deliveredOf(reader, writer, [`public/${writerId}-not`, 'private/x'], `public/${writerId}`)).toEqual([]);
    expect(await pubackCodes(wsUrl(ns), { clientId: 'c7' }, ['public/c7', 'public/c8'])).toEqual([0, 0x87]);
    // bob's own subtree through %u; nobody else's; and no anonymous rule applies to him.
    expect(await pubackCodes(wsUrl(ns), { clientId: unique('bob'), username: 'bob', password: 'bob-pw' }, ['users/bob/x', 'users/carol/x', 'public/x'])).toEqual([0, 0x87, 0x87]);
    await Promise.all([reader.end(), writer.end()]);
  });

  it("one namespace's entries do not reach another", async () => {
    const a = unique('tenant-a');
    const b = unique('tenant-b');
    await addEntry(a, { access: 'deny', topic: '#' });
    expect(await pubackCodes(wsUrl(a), { clientId: unique('c') }, ['x/y'])).toEqual([0x87]);
    expect(await pubackCodes(wsUrl(b), { clientId: unique('c') }, ['x/y'])).toEqual([0]);
    expect((await admin('GET', `/admin/${b}/acl`)).body['entries']).toEqual([]);
  });
});
