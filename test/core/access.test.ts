/**
 * Access control where it is decided late, in-process: a will is a publish
 * of the client that left, checked against the rules and its credentials'
 * grants as it goes out (the rules change at run time, a delayed will goes
 * out long after CONNECT, a re-authentication narrows the grants), and as
 * the client that left it; a share group member's messages handed over
 * when it leaves go only to a member that may read them; and a JWT
 * without `sub` gives its client no name for the ACL, whatever username it sent.
 */
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttPacket } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { accessPolicyFor, composeHooks, loadAccessConfig } from '../../edge/access.ts';
import { ClientAcl, parseAclFile, type Acl } from '../../edge/auth/acl.ts';
import type { AccessPolicy } from '../../edge/core/access.ts';
import type { AnyUserHooks, PublishContext } from '../../edge/core/hooks.ts';
import { CoreHarness, type HarnessConnection } from './harness.ts';

let harness: CoreHarness;
afterEach(() => harness?.close());

type Connect = Extract<MqttPacket, { cmd: 'connect' }>;

/** An ACL the test can change while the namespace runs, as the admin API's entries do (then `accessChanged`). */
function changeableAcl(text: string): { policy: AccessPolicy; set(text: string): void } {
  let acl: Acl = parseAclFile(text);
  return {
    policy: { forClient: (identity, clientId) => new ClientAcl(acl, { username: identity.username, clientId }) },
    set(next) {
      acl = parseAclFile(next);
      harness.core.accessChanged();
    },
  };
}

async function client(clientId: string, extra: Partial<Connect> = {}): Promise<HarnessConnection> {
  const connection = harness.open();
  await connection.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0, ...extra });
  expect(connection.received('connack')[0]?.reasonCode, `CONNACK of ${clientId}`).toBe(0);
  return connection;
}

async function subscribe(connection: HarnessConnection, topic: string): Promise<number | undefined> {
  await connection.send({ cmd: 'subscribe', messageId: harness.nextId() % 60000 + 1, subscriptions: [{ topic, qos: 0 }] });
  return connection.received('suback').at(-1)?.granted[0] as number | undefined;
}

const willOn = (topic: string, properties: Record<string, unknown> = {}): Partial<Connect> => ({ username: 'dev', will: { topic, payload: Buffer.from(`will of ${topic}`), qos: 0, retain: false, properties } });
const topicsOf = (connection: HarnessConnection): string[] => connection.received('publish').map((p) => p.topic);

const Acl = 'user dev\ntopic readwrite status/#\nuser watcher\ntopic read #\n';
const Revoked = 'user dev\ntopic readwrite other/#\nuser watcher\ntopic read #\n';

describe('a will is checked when it goes out', () => {
  it('is not sent once the entry that allowed it was revoked; one still allowed is, and as its owner, not as the next holder of its client id', async () => {
    const acl = changeableAcl(Acl);
    harness = await CoreHarness.create({ access: acl.policy });
    const watcher = await client('watcher', { username: 'watcher' });
    expect(await subscribe(watcher, 'status/#')).toBe(0);
    const revoked = await client('revoked', willOn('status/revoked'));
    acl.set(Revoked);
    await revoked.drop();
    expect(topicsOf(watcher)).toEqual([]);
    expect(harness.logs.some((log) => log.event === 'will_refused' && log.fields['topic'] === 'status/revoked')).toBe(true);

    acl.set(Acl);
    const kept = await client('kept', willOn('status/kept'));
    // Taken over by a client that may not publish there: the will is dev's, and dev may.
    await client('kept', { username: 'watcher' });
    expect(topicsOf(watcher)).toEqual(['status/kept']);
    expect(kept.closedWith).toBeDefined();
  });

  it('is not sent after its delay once its grant was revoked in the meantime; one still allowed is', async () => {
    const acl = changeableAcl(Acl);
    harness = await CoreHarness.create({ access: acl.policy });
    const watcher = await client('watcher', { username: 'watcher' });
    await subscribe(watcher, 'status/#');
    const delayed = { clean: false, properties: { sessionExpiryInterval: 300 } };
    const away = await client('away', { ...willOn('status/away', { willDelayInterval: 10 }), ...delayed });
    await away.drop();
    acl.set(Revoked);
    await harness.advance(10_000);
    expect(topicsOf(watcher)).toEqual([]);

    acl.set(Acl);
    const later = await client('later', { ...willOn('status/later', { willDelayInterval: 10 }), ...delayed });
    await later.drop();
    await harness.advance(10_000);
    expect(topicsOf(watcher)).toEqual(['status/later']);
  });

  it("is held to the credentials' grants of the client as it is when it leaves (after a re-authentication)", async () => {
    // Enhanced authentication whose re-authentication narrows what the client may publish.
    const hooks: AnyUserHooks = {
      authenticate: ({ reauthenticate }) => ({ allow: true, grants: { publish: reauthenticate === true ? ['other/#'] : ['status/#'] } }),
    };
    harness = await CoreHarness.create({ hooks });
    const watcher = await client('watcher');
    await subscribe(watcher, 'status/#');
    const method = { authenticationMethod: 'TEST' };
    const narrowed = await client('narrowed', { will: { topic: 'status/narrowed', payload: Buffer.from('x'), qos: 0, retain: false }, properties: method });
    await narrowed.send({ cmd: 'auth', reasonCode: ReasonCode.ReAuthenticate, properties: method });
    expect(narrowed.received('auth').at(-1)?.reasonCode).toBe(ReasonCode.Success);
    await narrowed.drop();
    const unchanged = await client('unchanged', { will: { topic: 'status/unchanged', payload: Buffer.from('x'), qos: 0, retain: false }, properties: method });
    await unchanged.drop();
    expect(topicsOf(watcher)).toEqual(['status/unchanged']);
  });

  it('shows the onPublish hook a will as it shows that client\'s publishes: its identity as username, its 5.0 properties with the expiry left', async () => {
    const seen: PublishContext[] = [];
    const hooks: AnyUserHooks = {
      authenticate: () => ({ allow: true, identity: 'device-7' }),
      onPublish: (context) => {
        seen.push(context);
        return true;
      },
    };
    harness = await CoreHarness.create({ hooks });
    const leaving = await client('leaving', { username: 'device-7', will: { topic: 'wills/7', payload: Buffer.from('x'), qos: 0, retain: false, properties: { messageExpiryInterval: 60, contentType: 'text/plain' } } });
    await publish(leaving, 'live/7');
    await harness.advance(5_000);
    await leaving.drop();
    const [live, will] = seen;
    expect(live).toMatchObject({ topic: 'live/7', username: 'device-7' });
    expect(will).toMatchObject({ topic: 'wills/7', clientId: 'leaving', username: 'device-7', protocolLevel: 5, properties: { contentType: 'text/plain', messageExpiryInterval: 55 } });
  });
});

async function publish(connection: HarnessConnection, topic: string): Promise<void> {
  await connection.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
}

describe('a share group member leaves', () => {
  it('hands its unacknowledged messages only to a member that may read them', async () => {
    harness = await CoreHarness.create({ access: changeableAcl('user owner\ntopic readwrite #\nuser alice\ntopic readwrite #\ntopic deny secret/#\n').policy });
    const owner = await client('owner', { username: 'owner' });
    await owner.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/#', qos: 1 }] });
    const publisher = await client('publisher', { username: 'owner' });
    for (const topic of ['secret/1', 'public/1']) await publisher.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, messageId: harness.nextId(), retain: false, dup: false });
    // The owner was the group's only member: it has both, and acknowledges neither.
    expect(topicsOf(owner)).toEqual(['secret/1', 'public/1']);
    const alice = await client('alice', { username: 'alice' });
    await alice.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/#', qos: 1 }] });
    await owner.drop();
    expect(topicsOf(alice)).toEqual(['public/1']);
  });
});

describe('a JWT without sub', () => {
  it('gives its client no name for the ACL and the hooks, whatever username it sent', async () => {
    const secret = 'a-core-test-secret-of-at-least-32-bytes';
    const config = loadAccessConfig({ MQTT_JWT_SECRET: secret, MQTT_ACL: 'user ops\ntopic readwrite #\n' });
    const connected: Array<string | undefined> = [];
    const hooks = composeHooks(config, { onConnect: ({ username }) => void connected.push(username) }) as AnyUserHooks;
    harness = await CoreHarness.create({ hooks, ...(accessPolicyFor(config, 'default') === undefined ? {} : { access: accessPolicyFor(config, 'default') as AccessPolicy }) });
    const token = (claims: { sub?: string }): Promise<string> => {
      const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m');
      if (claims.sub !== undefined) jwt.setSubject(claims.sub);
      return jwt.sign(new TextEncoder().encode(secret));
    };
    const nameless = await client('nameless', { username: 'ops', password: Buffer.from(await token({})) });
    expect(await subscribe(nameless, '#')).toBe(ReasonCode.NotAuthorized);
    // With `sub`, the same username is ops.
    const ops = await client('ops', { username: 'ops', password: Buffer.from(await token({ sub: 'ops' })) });
    expect(await subscribe(ops, '#')).toBe(0);
    expect(connected).toEqual([undefined, 'ops']);
  });
});
