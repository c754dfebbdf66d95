/**
 * Attacks on access control (issue 13, findings 2, 3, 4 and 7), rerun
 * against the real Worker on workerd, each while a well-behaved client of
 * the namespace under attack measures its latency: credentials that belong
 * to one namespace, a takeover of another user's session, wills as a way
 * around the ACL, a JWT for somebody else, a forged client address; and
 * the holes found after: a token of the global key in a namespace with
 * access of its own, a token without `sub` picking its ACL name, a will
 * sent after the entry that allowed it was revoked, a share group member
 * handed messages it may not read.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { adminClient } from '../helpers/admin-api.ts';
import { eventually } from '../helpers/mqtt-clients.ts';
import { openRawPeer } from '../helpers/raw-ws.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { expectUnharmed, startVictim, type Victim } from './victim.ts';

const jwtSecret = 'an-access-test-secret-of-at-least-32-bytes';
/** MQTT_JWT_SECRET: the key of tokens for namespaces without access of their own. */
const globalJwtSecret = 'the-global-secret-of-the-access-attacks!';
const tenantAcl = `
user alice
topic readwrite #
topic deny secret/#
user owner
topic readwrite #
user victim
topic readwrite victim/#
user auditor
topic read #
pattern readwrite $fence/%c
`;

let edge: TestEdge;
let hooks: TestEdge;
let dir: string;
const opened: MqttClient[] = [];

function passwordFile(name: string, users: Array<[string, string]>): string {
  const file = join(dir, name);
  users.forEach(([user, password], index) => execFileSync('mosquitto_passwd', [...(index === 0 ? ['-c'] : []), '-b', file, user, password]));
  return readFileSync(file, 'utf8');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mqtt-access-attacks-'));
  const tenantA = passwordFile('a', [['alice', 'alice-pw'], ['owner', 'owner-pw'], ['victim', 'victim-pw']]);
  const tenantB = passwordFile('b', [['bob', 'bob-pw'], ['victim', 'victim-pw']]);
  edge = await startTestEdge({
    MQTT_NAMESPACES: 'tenant-a tenant-b tokens',
    MQTT_ALLOW_ANONYMOUS: 'false',
    MQTT_JWT_SECRET: globalJwtSecret,
    MQTT_NAMESPACE_ACCESS: JSON.stringify({
      'tenant-a': { passwords: tenantA, acl: tenantAcl, adminToken: 'admin-of-a' },
      'tenant-b': { passwords: tenantB, acl: 'user bob\ntopic readwrite #\nuser victim\ntopic readwrite victim/#\n' },
      tokens: { jwtSecret, acl: 'user device-17\ntopic readwrite devices/17/#\nuser ops\ntopic readwrite #\nuser victim\ntopic readwrite victim/#\n' },
    }),
  });
  hooks = await startTestEdge({ MQTT_NAMESPACES: 'default' }, { scriptPath: process.env['HOOKS_BUNDLE'] as string });
});
afterAll(async () => {
  for (const client of opened) client.end(true);
  await edge?.dispose();
  await hooks?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function url(namespace: string): string {
  return `${edge.mqttUrl}/${namespace}`;
}

/** The CONNACK code of a connection attempt (0 when accepted; the client is kept open then). */
function connackCode(target: string, options: IClientOptions, onMessage?: (topic: string) => void): Promise<{ code: number; client: MqttClient }> {
  return new Promise((resolve) => {
    const client = mqtt.connect(target, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    opened.push(client);
    client.on('error', () => undefined);
    // Queued messages may come in the same WebSocket message as the CONNACK: listen before it.
    if (onMessage !== undefined) client.on('message', (topic) => onMessage(topic));
    client.on('packetreceive', (packet) => {
      if (packet.cmd !== 'connack') return;
      const connack = packet as { reasonCode?: number; returnCode?: number };
      resolve({ code: connack.reasonCode ?? connack.returnCode ?? 0, client });
    });
  });
}

async function victimOf(namespace: string): Promise<Victim> {
  return startVictim(`${url(namespace)}`, { clientId: `victim-${namespace}`, username: 'victim', password: 'victim-pw' });
}

async function expectVictimUnharmed(victim: Victim, attack: string): Promise<void> {
  expectUnharmed(await victim.stop(), attack);
}

/** Waits until `client` got a message on `topic` published after everything before it (a fence). */
async function fence(client: MqttClient, clientId: string): Promise<void> {
  const topic = `$fence/${clientId}`;
  const arrived = new Promise<void>((resolve) => client.on('message', (t) => t === topic && resolve()));
  await client.subscribeAsync(topic, { qos: 1 });
  await client.publishAsync(topic, 'fence', { qos: 1 });
  await arrived;
}

describe('credentials are scoped to namespaces', () => {
  it("refuses tenant-a's users in tenant-b, and tenant-b's retained messages stay tenant-b's", async () => {
    const victim = await victimOf('tenant-b');
    const bob = await connackCode(url('tenant-b'), { username: 'bob', password: 'bob-pw', protocolVersion: 5 });
    expect(bob.code).toBe(0);
    await bob.client.publishAsync('b/private', 'only for b', { qos: 1, retain: true });
    const alice = await connackCode(url('tenant-b'), { username: 'alice', password: 'alice-pw', protocolVersion: 5 });
    expect(alice.code).toBe(0x86);
    const alice3 = await connackCode(url('tenant-b'), { username: 'alice', password: 'alice-pw', protocolVersion: 4 });
    expect(alice3.code).toBe(4);
    await expectVictimUnharmed(victim, 'logins with another namespace\'s credentials');
  });

  it('refuses a JWT outside the namespaces it names (mqtt.namespaces), with 0x87 / 0x05', async () => {
    const token = await new SignJWT({ mqtt: { namespaces: ['elsewhere', 'lab-*'] } }).setProtectedHeader({ alg: 'HS256' }).setSubject('ops').setExpirationTime('5m').sign(new TextEncoder().encode(jwtSecret));
    expect((await connackCode(url('tokens'), { username: 'ops', password: token, protocolVersion: 5 })).code).toBe(0x87);
    expect((await connackCode(url('tokens'), { username: 'ops', password: token, protocolVersion: 4 })).code).toBe(5);
    const good = await new SignJWT({ mqtt: { namespaces: ['tok*'] } }).setProtectedHeader({ alg: 'HS256' }).setSubject('ops').setExpirationTime('5m').sign(new TextEncoder().encode(jwtSecret));
    expect((await connackCode(url('tokens'), { username: 'ops', password: good, protocolVersion: 5 })).code).toBe(0);
  });

  it("ties a JWT's sub to the username, and uses sub as the ACL's user", async () => {
    const device = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('device-17').setExpirationTime('5m').sign(new TextEncoder().encode(jwtSecret));
    // A token for device-17 presented as ops does not get ops's ACL block.
    expect((await connackCode(url('tokens'), { username: 'ops', password: device, protocolVersion: 5 })).code).toBe(0x86);
    const asDevice = await connackCode(url('tokens'), { username: 'device-17', password: device, protocolVersion: 5, clientId: 'dev17' });
    expect(asDevice.code).toBe(0);
    const codes = await new Promise<number[]>((resolve) => {
      asDevice.client.on('packetreceive', (packet) => packet.cmd === 'suback' && resolve((packet as { granted: number[] }).granted));
      asDevice.client.subscribe(['devices/18/#', 'devices/17/#'], { qos: 1 }, () => undefined);
    });
    expect(codes).toEqual([0x87, 1]);
  });

  it('accepts only the namespace\'s own admin token, or the global one', async () => {
    const own = await fetch(new URL('/admin/tenant-a/stats', edge.url), { headers: { Authorization: 'Bearer admin-of-a' } });
    expect(own.status).toBe(200);
    const other = await fetch(new URL('/admin/tenant-b/stats', edge.url), { headers: { Authorization: 'Bearer admin-of-a' } });
    expect(other.status).toBe(401);
  });
});

describe('a takeover does not take access', () => {
  it('lets alice (denied secret/#) resume owner\'s session but not read its secret messages, queued or live', async () => {
    const victim = await victimOf('tenant-a');
    const owner = await connackCode(url('tenant-a'), { username: 'owner', password: 'owner-pw', clientId: 'shared-id', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
    await owner.client.subscribeAsync(['secret/#', 'public/#'], { qos: 1 });
    await owner.client.endAsync();
    const publisher = await connackCode(url('tenant-a'), { username: 'owner', password: 'owner-pw', clientId: 'publisher', protocolVersion: 5 });
    await publisher.client.publishAsync('secret/queued', 'q', { qos: 1 });
    await publisher.client.publishAsync('public/queued', 'q', { qos: 1 });

    const received: string[] = [];
    const alice = await connackCode(url('tenant-a'), { username: 'alice', password: 'alice-pw', clientId: 'shared-id', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } }, (topic) => received.push(topic));
    expect(alice.code).toBe(0);
    await publisher.client.publishAsync('secret/live', 'l', { qos: 1 });
    await publisher.client.publishAsync('public/live', 'l', { qos: 1 });
    await fence(alice.client, 'shared-id');
    expect(received.filter((t) => !t.startsWith('$fence')).sort()).toEqual(['public/live', 'public/queued']);
    await expectVictimUnharmed(victim, 'a takeover by another identity');
  });

  it('refuses a will on a denied topic, and one on $SYS, at CONNECT', async () => {
    const denied = await connackCode(url('tenant-a'), { username: 'alice', password: 'alice-pw', protocolVersion: 5, will: { topic: 'secret/will', payload: Buffer.from('x'), qos: 1, retain: true } });
    expect(denied.code).toBe(0x87);
    const system = await connackCode(url('tenant-a'), { username: 'owner', password: 'owner-pw', protocolVersion: 4, will: { topic: '$SYS/broker/version', payload: Buffer.from('pwned'), qos: 0, retain: true } });
    expect(system.code).toBe(5);
    const share = await connackCode(url('tenant-a'), { username: 'owner', password: 'owner-pw', protocolVersion: 5, will: { topic: '$share/g/x', payload: Buffer.from('x'), qos: 0, retain: false } });
    expect(share.code).toBe(0x87);
  });

  it('runs the onPublish hook when a will goes out, and a refusal there stops the will', async () => {
    const watcher = mqtt.connect(hooks.mqttUrl, { reconnectPeriod: 0, protocolVersion: 5 });
    opened.push(watcher);
    await new Promise((resolve) => watcher.once('connect', resolve));
    const got: string[] = [];
    watcher.on('message', (topic) => got.push(topic));
    // The fixture's onSubscribe refuses filters starting with deny/, its onPublish topics starting with deny/.
    await watcher.subscribeAsync(['+/will', 'wills/#', 'fence'], { qos: 1 });
    for (const topic of ['deny/will', 'wills/ok']) {
      const dying = mqtt.connect(hooks.mqttUrl, { reconnectPeriod: 0, protocolVersion: 5, clientId: `dying-${topic.replace('/', '-')}`, will: { topic, payload: Buffer.from('bye'), qos: 1, retain: false } });
      await new Promise((resolve) => dying.once('connect', resolve));
      dying.stream.destroy();
    }
    const fenced = new Promise<void>((resolve) => watcher.on('message', (topic) => topic === 'fence' && resolve()));
    // Wills go out when the broker notices the drops; wait for the hook's record of both, then fence.
    const deadline = Date.now() + 10_000;
    while (hooks.logs.filter((line) => line.includes('"hook":"onPublish"') && /"topic":"(deny\/will|wills\/ok)"/.test(line)).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await watcher.publishAsync('fence', 'x', { qos: 1 });
    await fenced;
    expect(got.filter((t) => t !== 'fence')).toEqual(['wills/ok']);
  });
});

describe('addresses', () => {
  it('does not believe a CF-Connecting-IP the client sent, where Cloudflare does not set it', async () => {
    const ws = new WebSocket(hooks.mqttUrl, 'mqtt', { headers: { 'CF-Connecting-IP': '198.51.100.7' } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const connacked = new Promise((resolve) => ws.once('message', resolve));
    ws.send(encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'forger', clean: true, keepalive: 0 }, 4));
    await connacked;
    ws.close();
    const call = hooks.logs.map((line) => (line.startsWith('HOOK ') ? (JSON.parse(line.slice(5)) as { hook: string; clientId: string; remoteAddress?: string }) : undefined)).find((c) => c?.hook === 'authenticate' && c.clientId === 'forger');
    expect(call).toBeDefined();
    expect(call?.remoteAddress).not.toBe('198.51.100.7');
  });
});

/** A token signed with `secret` that expires in five minutes. */
function sign(secret: string, claims: { sub?: string; namespaces?: string[] } = {}): Promise<string> {
  const jwt = new SignJWT(claims.namespaces === undefined ? {} : { mqtt: { namespaces: claims.namespaces } }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m');
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** The SUBACK codes of one SUBSCRIBE. */
function subackCodes(client: MqttClient, filters: string[]): Promise<number[]> {
  return new Promise((resolve) => {
    client.on('packetreceive', (packet) => packet.cmd === 'suback' && resolve((packet as { granted: number[] }).granted));
    client.subscribe(filters, { qos: 1 }, () => undefined);
  });
}

describe('tokens', () => {
  it("refuses a token of the global key that names no namespace in a namespace with access of its own, and takes one that names it", async () => {
    const victim = await victimOf('tenant-a');
    // auditor has no password in tenant-a, only an ACL block (read #): the token would make the client auditor.
    const everywhere = await sign(globalJwtSecret, { sub: 'auditor' });
    expect((await connackCode(url('tenant-a'), { username: 'auditor', password: everywhere, protocolVersion: 5, clientId: 'global-token-5' })).code).toBe(0x87);
    expect((await connackCode(url('tenant-a'), { username: 'auditor', password: everywhere, protocolVersion: 4, clientId: 'global-token-4' })).code).toBe(5);
    const named = await sign(globalJwtSecret, { sub: 'auditor', namespaces: ['tenant-a'] });
    expect((await connackCode(url('tenant-a'), { username: 'auditor', password: named, protocolVersion: 5, clientId: 'named-token' })).code).toBe(0);
    await expectVictimUnharmed(victim, 'a token of the global key in a namespace with access of its own');
  });

  it("gives a token without sub no ACL name: the username it picks (ops, readwrite #) gets nothing of ops's", async () => {
    const victim = await startVictim(url('tokens'), { clientId: 'victim-tokens', username: 'victim', password: await sign(jwtSecret, { sub: 'victim' }) });
    const nameless = await sign(jwtSecret);
    for (const protocolVersion of [5, 4] as const) {
      const attacker = await connackCode(url('tokens'), { username: 'ops', password: nameless, protocolVersion, clientId: `nameless-${protocolVersion}` });
      expect(attacker.code).toBe(0);
      const refused = protocolVersion === 5 ? 0x87 : 0x80;
      expect(await subackCodes(attacker.client, ['#', 'victim/#', 'devices/17/#'])).toEqual([refused, refused, refused]);
    }
    await expectVictimUnharmed(victim, 'a token without sub choosing a username');
  });
});

describe('wills after a revocation', () => {
  it('does not send a will whose ACL entry was revoked at run time, retained or live', async () => {
    const victim = await victimOf('tenant-a');
    const admin = adminClient(edge.url, 'admin-of-a');
    expect((await admin('PUT', '/admin/tenant-a/users/mallory', { password: 'mallory-pw' })).status).toBe(201);
    const entry = await admin('POST', '/admin/tenant-a/acl', { username: 'mallory', access: 'readwrite', topic: 'alerts/#' });
    expect(entry.status).toBe(201);
    const watcher = await connackCode(url('tenant-a'), { username: 'owner', password: 'owner-pw', protocolVersion: 5, clientId: 'alerts-watcher' });
    const got: string[] = [];
    watcher.client.on('message', (topic) => got.push(topic));
    await watcher.client.subscribeAsync('alerts/#', { qos: 1 });
    const mallory = await connackCode(url('tenant-a'), { username: 'mallory', password: 'mallory-pw', protocolVersion: 5, clientId: 'mallory', will: { topic: 'alerts/fire', payload: Buffer.from('evacuate'), qos: 1, retain: true } });
    expect(mallory.code).toBe(0);
    expect((await admin('DELETE', `/admin/tenant-a/acl/${String(entry.body['id'])}`)).status).toBe(200);
    mallory.client.stream.destroy();
    // The broker notices the drop and refuses the will: wait for that, then fence what the watcher got.
    const deadline = Date.now() + 10_000;
    while (!edge.logs.some((line) => line.includes('"will_refused"') && line.includes('alerts/fire')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await fence(watcher.client, 'alerts-watcher');
    expect(got.filter((topic) => topic.startsWith('alerts/'))).toEqual([]);
    expect((await admin('GET', '/admin/tenant-a/retained')).body['retained']).not.toContainEqual(expect.objectContaining({ topic: 'alerts/fire' }));
    await expectVictimUnharmed(victim, 'a will whose grant was revoked');
  });
});

describe('share groups', () => {
  it("does not hand a leaving member's unacknowledged messages to a member that may not read them", async () => {
    const victim = await victimOf('tenant-a');
    // The owner never acknowledges: what it got stays its session's, to be handed over when it goes.
    const owner = await openRawPeer(url('tenant-a'), 5);
    owner.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'share-owner', clean: true, keepalive: 0, username: 'owner', password: Buffer.from('owner-pw') });
    await owner.waitFor('connack');
    owner.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/+/shared', qos: 1 }] });
    await owner.waitFor('suback');
    const held = (): string[] => owner.packets.flatMap((packet) => (packet.cmd === 'publish' ? [packet.topic] : []));
    const publisher = await connackCode(url('tenant-a'), { username: 'owner', password: 'owner-pw', protocolVersion: 5, clientId: 'share-publisher' });
    await publisher.client.publishAsync('secret/shared', 's', { qos: 1 });
    await publisher.client.publishAsync('public/shared', 'p', { qos: 1 });
    await eventually(() => held().includes('secret/shared') && held().includes('public/shared'), 10_000, 'the owner holding both');
    const got: string[] = [];
    const alice = await connackCode(url('tenant-a'), { username: 'alice', password: 'alice-pw', protocolVersion: 5, clientId: 'share-alice' }, (topic) => got.push(topic));
    await alice.client.subscribeAsync('$share/g/+/shared', { qos: 1 });
    owner.ws.terminate();
    await eventually(() => got.includes('public/shared'), 10_000, 'the hand-over');
    await fence(alice.client, 'share-alice');
    expect(got.filter((topic) => !topic.startsWith('$fence/'))).toEqual(['public/shared']);
    await expectVictimUnharmed(victim, 'a share group hand-over');
  });
});
