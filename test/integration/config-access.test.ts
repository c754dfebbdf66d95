/**
 * Configuration without code: a mosquitto password file and ACL file, JWT,
 * anonymous access, connection limits, and the HTTP publish API, all
 * through [vars] on the project's own Worker.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerApiCaller, callBrokerApi } from '../helpers/broker-api-caller.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, connectExpectingRefusal, eventually, publish, sleep, subscribe } from '../helpers/mqtt-clients.ts';
import { openRawPeer } from '../helpers/raw-ws.ts';
import { uniqueNames } from '../helpers/names.ts';

const jwtSecret = 'a-test-secret-that-is-at-least-32-bytes-long';
const apiToken = 'api-token-for-tests';
const acl = `
# anonymous clients may read public topics
topic read public/#

user alice
topic readwrite alice/#
topic read public/#

user bob
topic write public/#

pattern readwrite clients/%c/#
# device topics for everyone; JWT claims narrow them per token
pattern read commands/#
pattern write devices/#
`;

let edge: TestEdge;
let workDir: string;

/** A password file written by the real mosquitto_passwd: $7$ (default) and $6$. */
function mosquittoPasswordFile(): string {
  const file = join(workDir, 'passwd');
  execFileSync('mosquitto_passwd', ['-c', '-b', file, 'alice', 'alice-pw']);
  execFileSync('mosquitto_passwd', ['-b', '-H', 'sha512', file, 'bob', 'bob-pw']);
  return readFileSync(file, 'utf8');
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'mqtt-config-'));
  edge = await startTestEdge(
    {
      MQTT_ALLOW_ANONYMOUS: 'true',
      MQTT_PASSWORDS: mosquittoPasswordFile(),
      MQTT_ACL: acl,
      MQTT_JWT_SECRET: jwtSecret,
      MQTT_API_TOKEN: apiToken,
    },
    { extraWorkers: [brokerApiCaller()] },
  );
});

afterAll(async () => {
  await edge?.dispose();
  rmSync(workDir, { recursive: true, force: true });
});

const unique = uniqueNames();

describe('mosquitto password file', () => {
  it('accepts passwords hashed by mosquitto_passwd ($7$ and $6$)', async () => {
    for (const [username, password] of [['alice', 'alice-pw'], ['bob', 'bob-pw']] as const) {
      const c = await connectClient(edge.mqttUrl, { username, password, clientId: unique(username) });
      await c.end();
    }
  });

  it('refuses a wrong password with 0x04 / 0x86 and an unknown user', async () => {
    expect(await connectExpectingRefusal(edge.mqttUrl, { username: 'alice', password: 'nope', clientId: unique('x') })).toBe(4);
    expect(await connectExpectingRefusal(edge.mqttUrl, { protocolVersion: 5, username: 'alice', password: 'nope', clientId: unique('x') })).toBe(0x86);
    expect(await connectExpectingRefusal(edge.mqttUrl, { username: 'mallory', password: 'guess', clientId: unique('x') })).toBe(4);
  });

  it('refuses anonymous clients with 0x05 / 0x87 when MQTT_ALLOW_ANONYMOUS=false', async () => {
    const closed = await startTestEdge({ MQTT_ALLOW_ANONYMOUS: 'false', MQTT_PASSWORDS: mosquittoPasswordFile() });
    try {
      expect(await connectExpectingRefusal(closed.mqttUrl, { clientId: unique('anon') })).toBe(5);
      expect(await connectExpectingRefusal(closed.mqttUrl, { protocolVersion: 5, clientId: unique('anon') })).toBe(0x87);
      const alice = await connectClient(closed.mqttUrl, { username: 'alice', password: 'alice-pw', clientId: unique('alice') });
      await alice.end();
    } finally {
      await closed.dispose();
    }
  });

  it('fails loudly on an unparsable line, naming the line, instead of letting anyone in', async () => {
    const broken = await startTestEdge({ MQTT_PASSWORDS: `alice:$7$101$abc$def\nthis line is not a password entry\n` });
    try {
      const response = await fetch(new URL('/mqtt', broken.url));
      expect(response.status).toBe(500);
      expect(await response.text()).toMatch(/MQTT_PASSWORDS line \d/);
    } finally {
      await broken.dispose();
    }
  });
});

describe('mosquitto ACL file', () => {
  it('refuses a SUBSCRIBE the ACL does not allow (0x80 / 0x87) and allows the rest', async () => {
    // MQTT.js rejects a SUBACK with failures, so raw peers read the codes.
    const c3 = await openRawPeer(edge.mqttUrl, 4);
    c3.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: unique('alice'), clean: true, keepalive: 0, username: 'alice', password: Buffer.from('alice-pw') });
    await c3.waitFor('connack');
    c3.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'alice/x', qos: 1 }, { topic: 'public/news', qos: 1 }, { topic: 'secret/#', qos: 1 }] });
    expect(((await c3.waitFor('suback')) as { granted: number[] }).granted).toEqual([1, 1, 0x80]);
    c3.ws.close();
    const peer = await openRawPeer(edge.mqttUrl, 5);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: unique('alice5'), clean: true, keepalive: 0, username: 'alice', password: Buffer.from('alice-pw') });
    await peer.waitFor('connack');
    peer.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'secret/#', qos: 1 }, { topic: 'alice/#', qos: 1 }] });
    const suback = (await peer.waitFor('suback')) as { granted: number[] };
    expect(suback.granted).toEqual([0x87, 1]);
    peer.ws.close();
  });

  it('drops a PUBLISH the ACL does not allow (5.0: PUBACK 0x87) and substitutes %c in patterns', async () => {
    const reader = await connectClient(edge.mqttUrl, { username: 'alice', password: 'alice-pw', clientId: unique('reader') });
    await subscribe(reader.client, 'public/#', { qos: 1 });
    const clientId = unique('writer');
    const peer = await openRawPeer(edge.mqttUrl, 5);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0, username: 'alice', password: Buffer.from('alice-pw') });
    await peer.waitFor('connack');
    peer.send({ cmd: 'publish', topic: 'public/by-alice', payload: Buffer.from('not allowed'), qos: 1, messageId: 1, retain: false, dup: false });
    const refused = (await peer.waitFor('puback')) as { reasonCode?: number };
    expect(refused.reasonCode).toBe(0x87);
    peer.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: `clients/${clientId}/#`, qos: 1 }, { topic: 'clients/someone-else/#', qos: 1 }] });
    const suback = (await peer.waitFor('suback')) as { granted: number[] };
    expect(suback.granted).toEqual([1, 0x87]);
    const bob = await connectClient(edge.mqttUrl, { username: 'bob', password: 'bob-pw', clientId: unique('bob') });
    await publish(bob.client, 'public/by-bob', 'allowed', { qos: 1 });
    const [message] = await reader.waitForMessages(1);
    expect(message).toMatchObject({ topic: 'public/by-bob', payload: 'allowed' });
    await sleep(200);
    expect(reader.messages).toHaveLength(1);
    peer.ws.close();
    await Promise.all([reader.end(), bob.end()]);
  });
});

describe('JWT', () => {
  const secret = new TextEncoder().encode(jwtSecret);
  const token = (claims: Record<string, unknown>, expiresIn: string | number = '5m', key: Uint8Array = secret): Promise<string> =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(expiresIn).sign(key);

  it('lets a valid token in and limits it to the filters in its claims', async () => {
    const password = await token({ sub: 'device-7', mqtt: { publish: ['devices/7/#'], subscribe: ['commands/7/#'] } });
    const peer = await openRawPeer(edge.mqttUrl, 5);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: unique('jwt'), clean: true, keepalive: 0, username: 'device-7', password: Buffer.from(password) });
    expect(((await peer.waitFor('connack')) as { reasonCode?: number }).reasonCode).toBe(0);
    peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'commands/7/+', qos: 1 }, { topic: 'commands/8/+', qos: 1 }] });
    expect(((await peer.waitFor('suback')) as { granted: number[] }).granted).toEqual([1, 0x87]);
    peer.send({ cmd: 'publish', topic: 'devices/8/state', payload: Buffer.from('x'), qos: 1, messageId: 2, retain: false, dup: false });
    peer.send({ cmd: 'publish', topic: 'devices/7/state', payload: Buffer.from('x'), qos: 1, messageId: 3, retain: false, dup: false });
    await eventually(() => peer.packets.filter((p) => p.cmd === 'puback').length === 2, 5000, 'two PUBACK');
    const codes = peer.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { reasonCode?: number }).reasonCode ?? 0);
    // Allowed and nobody subscribes: 0x10 No matching subscribers.
    expect(codes).toEqual([0x87, 0x10]);
    peer.ws.close();
  });

  it('refuses an expired token and a token with a wrong signature (0x04 / 0x86)', async () => {
    const expired = await token({ sub: 'old' }, Math.floor(Date.now() / 1000) - 60);
    expect(await connectExpectingRefusal(edge.mqttUrl, { username: 'jwt', password: expired, clientId: unique('x') })).toBe(4);
    const forged = await token({ sub: 'forged' }, '5m', new TextEncoder().encode('another-secret-that-is-32-bytes-long!!'));
    expect(await connectExpectingRefusal(edge.mqttUrl, { protocolVersion: 5, username: 'jwt', password: forged, clientId: unique('x') })).toBe(0x86);
  });
});

describe('limits', () => {
  it('holds MQTT_MAX_CONNECTIONS under a burst: the rest get CONNACK 3 / 0x97', async () => {
    const limited = await startTestEdge({ MQTT_MAX_CONNECTIONS: '5' });
    try {
      const attempts = Array.from({ length: 20 }, (_, i) =>
        new Promise<{ ok: boolean; code?: number; client: mqtt.MqttClient }>((resolve) => {
          const client = mqtt.connect(limited.mqttUrl, { protocolVersion: i % 2 === 0 ? 4 : 5, clientId: `burst-${i}`, reconnectPeriod: 0 });
          client.on('connect', () => resolve({ ok: true, client }));
          client.on('packetreceive', (packet) => {
            const code = (packet as { reasonCode?: number; returnCode?: number }).reasonCode ?? (packet as { returnCode?: number }).returnCode;
            if (packet.cmd === 'connack' && code !== 0) resolve({ ok: false, code: code as number, client });
          });
          client.on('error', () => undefined);
        }),
      );
      const results = await Promise.all(attempts);
      expect(results.filter((r) => r.ok)).toHaveLength(5);
      const codes = new Set(results.filter((r) => !r.ok).map((r) => r.code));
      expect([...codes].every((code) => code === 3 || code === 0x97)).toBe(true);
      for (const r of results) r.client.end(true);
    } finally {
      await limited.dispose();
    }
  });
});

describe('HTTP publish API and service binding', () => {
  const post = (path: string, body: unknown, token?: string): Promise<Response> =>
    fetch(new URL(path, edge.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('answers 401 without the token and 400 for a bad body', async () => {
    expect((await post('/publish', { topic: 'public/x', payload: 'x' })).status).toBe(401);
    expect((await post('/publish', { topic: 'public/x', payload: 'x' }, 'wrong')).status).toBe(401);
    const bad = await post('/publish', '{not json', apiToken);
    expect(bad.status).toBe(400);
    expect((await bad.json()) as { error: string }).toHaveProperty('error');
    expect((await post('/publish', { topic: 'a/+/b', payload: 'x' }, apiToken)).status).toBe(400);
    expect((await post('/publish', { topic: 'a', payload: 'x', qos: 3 }, apiToken)).status).toBe(400);
  });

  it('publishes text and base64 payloads, retained, into a namespace', async () => {
    const topic = `public/${unique('http')}`;
    const sub = await connectClient(`${edge.mqttUrl}/apins`, { clientId: unique('sub') });
    await subscribe(sub.client, topic, { qos: 1 });
    expect((await post('/publish/apins', { topic, payload: 'hello http', qos: 1 }, apiToken)).status).toBe(200);
    expect((await post('/publish/apins', { topic, payload_base64: Buffer.from([0, 1, 2]).toString('base64'), retain: true }, apiToken)).status).toBe(200);
    const [text, binary] = await sub.waitForMessages(2);
    expect(text?.payload).toBe('hello http');
    expect([...(binary?.packet.payload as Buffer)]).toEqual([0, 1, 2]);
    await sub.end();
  });

  it('holds a message to the topic limits of a client\'s PUBLISH (MQTT_MAX_TOPIC_LEVELS, MQTT_MAX_TOPIC_LENGTH): 400 with the reason, over HTTP and the service binding', async () => {
    const deep = Array.from({ length: 40 }, (_, i) => `l${i}`).join('/');
    const levels = await post('/publish', { topic: deep, payload: 'x' }, apiToken);
    expect(levels.status).toBe(400);
    expect(((await levels.json()) as { error: string }).error).toMatch(/40 levels, more than 32 \(MQTT_MAX_TOPIC_LEVELS\)/);
    const long = await post('/publish', { topic: 'x'.repeat(1025), payload: 'x' }, apiToken);
    expect(long.status).toBe(400);
    expect(((await long.json()) as { error: string }).error).toMatch(/MQTT_MAX_TOPIC_LENGTH/);
    expect(await callBrokerApi(edge.miniflare, { namespace: 'default', message: { topic: deep, payload: 'x', qos: 0, retain: false } })).toMatch(/^refused: .*MQTT_MAX_TOPIC_LEVELS/);
  });

  it('publishes from another Worker through the BrokerApi service binding', async () => {
    const topic = `public/${unique('rpc')}`;
    const sub = await connectClient(edge.mqttUrl, { clientId: unique('sub') });
    await subscribe(sub.client, topic, { qos: 1 });
    expect(await callBrokerApi(edge.miniflare, { namespace: 'default', message: { topic, payload: 'via rpc', qos: 1, retain: false } })).toBe('published');
    const [message] = await sub.waitForMessages(1);
    expect(message?.payload).toBe('via rpc');
    await sub.end();
  });
});
