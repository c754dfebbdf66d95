/**
 * Broker bridges with real parts: Debian's mosquitto as the remote broker,
 * the real Worker on workerd as this broker, the sidecar running the
 * bridge, MQTT.js clients on both sides. Every wait is for something
 * observable (a message, a log line); a check that something did NOT
 * happen is made only after a fence message that took the same path.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/free-port.ts';
import { repoRoot } from '../../scripts/local-edge.ts';
import { adminClient } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { hasMosquitto, type Mosquitto, type MosquittoOptions } from '../helpers/mosquitto.ts';
import { Started } from '../helpers/started.ts';
import { arrived, connectClient, publish, subscribe, tally, type TestClient } from '../helpers/mqtt-clients.ts';
import { hasMosquittoPasswd } from '../unit/auth/mosquitto-tools.ts';
import { closedPort, closeStarted, startTestSidecar, waitUntil, type TestSidecar } from './harness.ts';
import { LinkProtocolVersion } from '../../shared/link-protocol.ts';

const secret = 'bridge-test-secret';
const adminToken = 'bridge-test-admin';
let edge: TestEdge;
/** Brokers and clients a test started, closed after it (sidecars: closeStarted). */
const started = new Started();
let namespaceCounter = 0;

beforeAll(async () => {
  if (!hasMosquitto) return;
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: secret, MQTT_ADMIN_TOKEN: adminToken });
});
afterEach(async () => {
  await closeStarted();
  await started.closeAll();
});
afterAll(async () => {
  await edge?.dispose();
});

/** A namespace of its own per test, so no session or retained message leaks between tests. */
function freshNamespaceUrl(): string {
  namespaceCounter++;
  return `${edge.mqttUrl}/bridges-${process.pid}-${namespaceCounter}`;
}

const remoteBroker = (options: MosquittoOptions = {}): Promise<Mosquitto> => started.mosquitto(options);
const client = (url: string, options: Parameters<typeof connectClient>[1] = {}): Promise<TestClient> => started.client(url, options);

/** Starts a sidecar with MQTT_BRIDGES = the lines, waits for `bridge.connected` unless told not to. */
async function startBridge(localUrl: string, lines: string[], options: { waitConnected?: boolean } = {}): Promise<TestSidecar> {
  const sidecar = await startTestSidecar(localUrl, { MQTT_BRIDGE_SECRET: secret, MQTT_BRIDGES: lines.join('\n') });
  if (options.waitConnected !== false) await waitUntil(() => sidecar.events('bridge.connected').length > 0, 'bridge.connected', 10_000);
  return sidecar;
}

const numbered = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}/${i}`);

describe.skipIf(!hasMosquitto)('broker bridges to a real mosquitto', () => {
  it.each([
    ['mqttv311', 1],
    ['mqttv311', 2],
    ['mqttv50', 1],
    ['mqttv50', 2],
    ['mqttv31', 1],
  ] as const)('%s, QoS %i: messages cross both ways, each exactly once, and nothing loops', async (protocol, qos) => {
    const remote = await remoteBroker();
    const localUrl = freshNamespaceUrl();
    const sidecar = await startBridge(localUrl, [
      '# pasted from a mosquitto.conf',
      'connection b1',
      `address 127.0.0.1:${remote.port}`,
      `topic bridge/# both ${qos}`,
      `bridge_protocol_version ${protocol}`,
    ]);
    const localReceiver = await client(localUrl, { protocolVersion: 5, clientId: 'local-receiver' });
    const remoteReceiver = await client(remote.url, { protocolVersion: 5, clientId: 'remote-receiver' });
    await subscribe(localReceiver.client, 'bridge/#', { qos });
    await subscribe(remoteReceiver.client, 'bridge/#', { qos });
    const localSender = await client(localUrl, { protocolVersion: 5, clientId: 'local-sender' });
    const remoteSender = await client(remote.url, { protocolVersion: 4, clientId: 'remote-sender' });

    const fromLocal = numbered('bridge/from-local', 10);
    const fromRemote = numbered('bridge/from-remote', 10);
    await Promise.all([
      ...fromLocal.map((topic) => publish(localSender.client, topic, 'L', { qos })),
      ...fromRemote.map((topic) => publish(remoteSender.client, topic, 'R', { qos })),
    ]);
    await localReceiver.waitForMessages(20);
    await remoteReceiver.waitForMessages(20);
    // Fences: a bounced copy of anything above would have been forwarded before these.
    await publish(localSender.client, 'bridge/fence', 'from-local', { qos });
    await publish(remoteSender.client, 'bridge/fence', 'from-remote', { qos });
    for (const receiver of [localReceiver, remoteReceiver]) {
      await waitUntil(() => arrived(receiver, 'bridge/fence', 'from-local') && arrived(receiver, 'bridge/fence', 'from-remote'), 'both fences');
    }

    const expected = new Map([...fromLocal.map((t) => [`${t}=L`, 1] as const), ...fromRemote.map((t) => [`${t}=R`, 1] as const), ['bridge/fence=from-local', 1], ['bridge/fence=from-remote', 1]]);
    expect(tally(localReceiver.messages)).toEqual(expected);
    expect(tally(remoteReceiver.messages)).toEqual(expected);
    if (protocol !== 'mqttv50') {
      // try_private (on by default) reached mosquitto: it saw a bridge, not a plain client.
      expect(remote.log()).toContain(`New bridge connected from 127.0.0.1`);
      expect(remote.log()).toContain(`as ${hostname()}.b1`);
    }
    expect(sidecar.events('bridge.connected')).toHaveLength(1);
    expect(sidecar.events('bridge.connected')[0]).toMatchObject({ level: 'info', bridge: 'b1', address: `127.0.0.1:${remote.port}`, protocol });
  });

  it('without try_private, mosquitto sends a 3.1.1 bridge its own messages back: the check above would see it', async () => {
    const remote = await remoteBroker();
    const localUrl = freshNamespaceUrl();
    await startBridge(localUrl, ['connection b1', `address 127.0.0.1:${remote.port}`, 'topic bridge/# both 1', 'try_private false']);
    const localReceiver = await client(localUrl, { protocolVersion: 5 });
    await subscribe(localReceiver.client, 'bridge/#', { qos: 1 });
    const localSender = await client(localUrl, { protocolVersion: 5 });
    await publish(localSender.client, 'bridge/echo', 'once?', { qos: 1 });
    // The echo comes back through mosquitto; the edge's No Local stops it there, so exactly one extra copy.
    await localReceiver.waitForMessages(2);
    expect(remote.log()).toContain('New client connected from 127.0.0.1');
    const remoteSender = await client(remote.url);
    await publish(remoteSender.client, 'bridge/fence', 'x', { qos: 1 });
    await waitUntil(() => arrived(localReceiver, 'bridge/fence'), 'the fence');
    expect(tally(localReceiver.messages)).toEqual(new Map([['bridge/echo=once?', 2], ['bridge/fence=x', 1]]));
  });

  it('in-only topics come in and do not go out; out-only topics go out and do not come in', async () => {
    const remote = await remoteBroker();
    const localUrl = freshNamespaceUrl();
    await startBridge(localUrl, ['connection b1', `address 127.0.0.1:${remote.port}`, 'topic inward/# in 1', 'topic outward/# out 1']);
    const localReceiver = await client(localUrl, { protocolVersion: 5 });
    const remoteReceiver = await client(remote.url);
    await subscribe(localReceiver.client, ['inward/#', 'outward/#'], { qos: 1 });
    await subscribe(remoteReceiver.client, ['inward/#', 'outward/#'], { qos: 1 });
    const localSender = await client(localUrl, { protocolVersion: 5 });
    const remoteSender = await client(remote.url);

    await publish(localSender.client, 'inward/from-local', 'stays here', { qos: 1 });
    await publish(remoteSender.client, 'outward/from-remote', 'stays there', { qos: 1 });
    await publish(remoteSender.client, 'inward/from-remote', 'comes in', { qos: 1 });
    await publish(localSender.client, 'outward/from-local', 'goes out', { qos: 1 });
    // Each direction's last message is its fence: the one before it would have crossed first.
    await waitUntil(() => arrived(localReceiver, 'inward/from-remote'), 'inward/from-remote at the edge');
    await waitUntil(() => arrived(remoteReceiver, 'outward/from-local'), 'outward/from-local at mosquitto');
    // The ones published on each side arrived there too (with gateways, a local receiver may get its
    // own side's message after the bridge carried it away: so each is waited for, not assumed).
    await waitUntil(
      () => arrived(localReceiver, 'inward/from-local') && arrived(localReceiver, 'outward/from-local') && arrived(remoteReceiver, 'outward/from-remote') && arrived(remoteReceiver, 'inward/from-remote'),
      'the deliveries on each side',
    );

    // Each receiver also has what was published on its own side; what must not cross is missing.
    expect(tally(localReceiver.messages)).toEqual(new Map([['inward/from-local=stays here', 1], ['inward/from-remote=comes in', 1], ['outward/from-local=goes out', 1]]));
    expect(tally(remoteReceiver.messages)).toEqual(new Map([['outward/from-remote=stays there', 1], ['inward/from-remote=comes in', 1], ['outward/from-local=goes out', 1]]));
  });

  it('renames topics with local and remote prefixes as mosquitto does', async () => {
    const remote = await remoteBroker();
    const localUrl = freshNamespaceUrl();
    await startBridge(localUrl, [
      'connection b1',
      `address 127.0.0.1:${remote.port}`,
      'topic sensors/# out 1 site/ hq/site-a/',
      'topic commands/# in 1 site/ hq/site-a/',
      'topic "" in 1 site/reboot hq/reboot-all',
      'topic ping both 0 "" ""',
      'topic status out 1 "" hq/site-a/',
    ]);
    const localReceiver = await client(localUrl, { protocolVersion: 5 });
    const remoteReceiver = await client(remote.url);
    await subscribe(localReceiver.client, ['site/#', 'ping'], { qos: 1 });
    await subscribe(remoteReceiver.client, ['hq/#', 'ping'], { qos: 1 });
    const localSender = await client(localUrl, { protocolVersion: 5 });
    const remoteSender = await client(remote.url);

    await publish(localSender.client, 'site/sensors/t1', 'out', { qos: 1 });
    await publish(localSender.client, 'status', 'up', { qos: 1 });
    await publish(remoteSender.client, 'hq/site-a/commands/open', 'in', { qos: 1 });
    await publish(remoteSender.client, 'hq/reboot-all', 'now', { qos: 1 });
    await publish(remoteSender.client, 'ping', 'from-remote', { qos: 0 });
    await publish(localSender.client, 'ping', 'from-local', { qos: 0 });

    await waitUntil(() => arrived(remoteReceiver, 'hq/site-a/sensors/t1', 'out') && arrived(remoteReceiver, 'hq/site-a/status', 'up') && arrived(remoteReceiver, 'ping', 'from-local'), 'renamed messages at mosquitto');
    await waitUntil(() => arrived(localReceiver, 'site/commands/open', 'in') && arrived(localReceiver, 'site/reboot', 'now') && arrived(localReceiver, 'ping', 'from-remote'), 'renamed messages at the edge');
    await waitUntil(() => arrived(localReceiver, 'site/sensors/t1') && arrived(localReceiver, 'ping', 'from-local') && arrived(remoteReceiver, 'ping', 'from-remote'), 'the same-side deliveries');
    expect(tally(remoteReceiver.messages)).toEqual(
      new Map([
        ['hq/site-a/commands/open=in', 1],
        ['hq/reboot-all=now', 1],
        ['ping=from-remote', 1],
        ['hq/site-a/sensors/t1=out', 1],
        ['hq/site-a/status=up', 1],
        ['ping=from-local', 1],
      ]),
    );
    expect(tally(localReceiver.messages)).toEqual(
      new Map([
        ['site/sensors/t1=out', 1],
        ['site/commands/open=in', 1],
        ['site/reboot=now', 1],
        ['ping=from-remote', 1],
        ['ping=from-local', 1],
      ]),
    );
  });

  it.each([
    ['the Maximum Packet Size an MQTT 5 remote announces', 'mqttv50', ['allow_anonymous true', 'max_packet_size 1024'], []],
    ['bridge_max_packet_size, for a 3.1.1 remote', 'mqttv311', ['allow_anonymous true'], ['bridge_max_packet_size 1024']],
  ])('a message too large for %s is refused and logged, and the bridge stays connected', async (_what, protocol, remoteConfig, bridgeLines) => {
    const remote = await remoteBroker({ config: [...remoteConfig] });
    const localUrl = freshNamespaceUrl();
    const sidecar = await startBridge(localUrl, ['connection b1', `address 127.0.0.1:${remote.port}`, 'topic big/# out 1', `bridge_protocol_version ${protocol}`, ...bridgeLines]);
    const remoteReceiver = await client(remote.url);
    await subscribe(remoteReceiver.client, 'big/#', { qos: 1 });
    const localSender = await client(localUrl, { protocolVersion: 5 });
    await publish(localSender.client, 'big/large', 'x'.repeat(2_000), { qos: 1 });
    await publish(localSender.client, 'big/small', 'fence', { qos: 1 });
    await waitUntil(() => arrived(remoteReceiver, 'big/small'), 'the small message after it');
    expect(tally(remoteReceiver.messages)).toEqual(new Map([['big/small=fence', 1]]));
    expect(sidecar.events('bridge.forward-refused')).toEqual([expect.objectContaining({ level: 'warn', crossing: 'out', topic: 'big/large', qos: 1, reasonCode: 0x95 })]);
    expect(sidecar.events('bridge.disconnected')).toEqual([]);
  });

  describe('QoS 1 survives the remote going away', () => {
    let persistence: string;
    beforeAll(() => {
      persistence = mkdtempSync(join(tmpdir(), 'bridge-remote-db-'));
    });
    afterAll(() => rmSync(persistence, { recursive: true, force: true }));
    /** A remote that keeps its sessions across a restart (saved on SIGTERM). */
    const persistentRemote = (port?: number): Promise<Mosquitto> =>
      remoteBroker({ config: ['allow_anonymous true', 'persistence true', `persistence_location ${persistence}/`], ...(port === undefined ? {} : { port }) });

    it('is not lost while the remote restarts mid-stream on the same port', async () => {
      let remote = await persistentRemote();
      const localUrl = freshNamespaceUrl();
      const sidecar = await startBridge(localUrl, ['connection b1', `address 127.0.0.1:${remote.port}`, 'topic stream/# out 1', 'restart_timeout 1']);
      const remoteSession = { clientId: 'remote-keeper', clean: false, protocolVersion: 4 } as const;
      let keeper = await client(remote.url, remoteSession);
      await subscribe(keeper.client, 'stream/#', { qos: 1 });
      const localSender = await client(localUrl, { protocolVersion: 5 });

      for (const topic of numbered('stream/m', 10)) await publish(localSender.client, topic, 'before', { qos: 1 });
      await keeper.waitForMessages(10);
      await keeper.end();
      await remote.dispose();
      await waitUntil(() => sidecar.events('bridge.disconnected').some((line) => line['side'] === 'remote'), 'the bridge to notice');

      // Acknowledged by the edge while the remote is down: the bridge must hold them.
      const during = numbered('stream/m', 30).slice(10);
      for (const topic of during) await publish(localSender.client, topic, 'during', { qos: 1 });
      await waitUntil(() => sidecar.events('bridge.connect-failed').some((line) => line['side'] === 'remote'), 'a failed retry');

      remote = await persistentRemote(remote.port);
      keeper = await client(remote.url, remoteSession);
      await waitUntil(() => during.every((topic) => arrived(keeper, topic)), 'every message published while the remote was down', 15_000);
      // Logged once both sides are up again, which may come after the held messages went out.
      await waitUntil(() => sidecar.events('bridge.connected').length >= 2, 'bridge.connected again');
    });

    it('is not lost when the sidecar stops while the remote is down: the edge still has it and sends it again', async () => {
      let remote = await persistentRemote();
      const keeperSession = { clientId: 'remote-keeper-2', clean: false, protocolVersion: 4 } as const;
      const keeper = await client(remote.url, keeperSession);
      await subscribe(keeper.client, 'held/#', { qos: 1 });
      await keeper.end();
      const port = remote.port;
      await remote.dispose();

      const localUrl = freshNamespaceUrl();
      const bridge = ['connection b1', `address 127.0.0.1:${port}`, 'topic held/# out 1', 'restart_timeout 1'];
      const first = await startBridge(localUrl, bridge, { waitConnected: false });
      await waitUntil(() => first.events('bridge.side-up').some((line) => line['side'] === 'local'), 'the local side to subscribe');
      const localSender = await client(localUrl, { protocolVersion: 5 });
      const topics = numbered('held/m', 5);
      for (const topic of topics) await publish(localSender.client, topic, 'x', { qos: 1 });
      await first.sidecar.close();

      remote = await persistentRemote(port);
      await startBridge(localUrl, bridge);
      const keeperAgain = await client(remote.url, keeperSession);
      await waitUntil(() => topics.every((topic) => arrived(keeperAgain, topic)), 'every held message', 15_000);
    });
  });

  it('reconnects to the edge after it restarts, and what came in from the remote meanwhile arrives', async () => {
    const remote = await remoteBroker();
    const localUrl = freshNamespaceUrl();
    const sidecar = await startBridge(localUrl, ['connection b1', `address 127.0.0.1:${remote.port}`, 'topic up/# in 1', 'restart_timeout 1']);
    const receiverSession = { protocolVersion: 5, clientId: 'local-keeper', clean: false, properties: { sessionExpiryInterval: 3600 } } as const;
    const receiver = await client(localUrl, receiverSession);
    await subscribe(receiver.client, 'up/#', { qos: 1 });
    await receiver.end(true);

    await edge.restart();
    const remoteSender = await client(remote.url);
    const topics = numbered('up/m', 5);
    for (const topic of topics) await publish(remoteSender.client, topic, 'x', { qos: 1 });
    await waitUntil(() => sidecar.events('bridge.connected').length >= 2, 'the bridge back on the restarted edge', 15_000);
    expect(sidecar.events('bridge.disconnected').some((line) => line['side'] === 'local')).toBe(true);
    const back = await client(localUrl, receiverSession);
    await waitUntil(() => topics.every((topic) => arrived(back, topic)), 'every message from the remote', 15_000);
  });

  it('shows its state at the edge (GET /admin/<ns>/sidecars): connected, then not while the remote is down, then connected again', async () => {
    const remote = await remoteBroker();
    const port = remote.port;
    const localUrl = freshNamespaceUrl();
    const namespace = localUrl.split('/').pop() ?? '';
    await startBridge(localUrl, ['connection factory-7', `address 127.0.0.1:${port}`, 'topic up/# in 1', 'restart_timeout 1']);
    type Listing = { sidecars: Array<{ name: string; version: number; devices: number; connectedSince: number; bridges: Array<Record<string, unknown>> }> };
    const listing = async (): Promise<Listing> => (await adminClient(edge.url, adminToken)('GET', `/admin/${namespace}/sidecars`)).body as unknown as Listing;
    const bridgeState = async (): Promise<Record<string, unknown> | undefined> => (await listing()).sidecars[0]?.bridges[0];

    await expect.poll(bridgeState, { timeout: 15_000 }).toMatchObject({ name: 'factory-7', remote: `127.0.0.1:${port}`, state: 'connected', messagesIn: 0 });
    // The bridge's own connection to the edge is a channel of the link, as a device's is (with its credit).
    expect((await listing()).sidecars).toEqual([expect.objectContaining({ name: expect.stringContaining(':'), version: LinkProtocolVersion, devices: 1, connectedSince: expect.any(Number) })]);
    // One message in, counted (and reported with the next change at the latest).
    const receiver = await client(localUrl, { protocolVersion: 5 });
    await subscribe(receiver.client, 'up/#', { qos: 1 });
    await publish((await client(remote.url)).client, 'up/one', 'x', { qos: 1 });
    await receiver.waitForMessages(1);

    await remote.dispose();
    await expect.poll(async () => (await bridgeState())?.['state'], { timeout: 15_000 }).not.toBe('connected');
    expect(await bridgeState()).toMatchObject({ state: expect.stringMatching(/^(backing-off|connecting)$/), error: expect.any(String), messagesIn: 1 });

    await remoteBroker({ port });
    await expect.poll(async () => (await bridgeState())?.['state'], { timeout: 15_000 }).toBe('connected');
    expect((await bridgeState())?.['error']).toBeUndefined();
  });

  it('keeps retrying an unreachable remote while the sidecar keeps serving devices', async () => {
    const port = await closedPort();
    const localUrl = freshNamespaceUrl();
    const sidecar = await startBridge(localUrl, ['connection down', `address 127.0.0.1:${port}`, 'topic a/# both 1', 'restart_timeout 1'], { waitConnected: false });
    await waitUntil(() => sidecar.events('bridge.connect-failed').filter((line) => line['side'] === 'remote').length >= 2, 'two failed attempts');
    const failures = sidecar.events('bridge.connect-failed').filter((line) => line['side'] === 'remote');
    expect(failures[0]).toMatchObject({ level: 'warn', bridge: 'down', address: `127.0.0.1:${port}`, attempt: 1, retryInMs: 1000 });
    expect(String(failures[0]?.['error'])).toContain('ECONNREFUSED');
    expect(failures[1]).toMatchObject({ attempt: 2 });

    const device = await client(`mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`, { protocolVersion: 4, clientId: 'device-1' });
    await subscribe(device.client, 'device/#', { qos: 1 });
    await publish(device.client, 'device/hello', 'still here', { qos: 1 });
    await device.waitForMessages(1);
    expect(sidecar.events('bridge.connected')).toHaveLength(0);
  });

  describe.skipIf(!hasMosquittoPasswd())('credentials', () => {
    let dir: string;
    let passwords: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'bridge-passwd-'));
      execFileSync('mosquitto_passwd', ['-c', '-b', join(dir, 'passwd'), 'bridge-user', 'bridge-secret-pw']);
      passwords = readFileSync(join(dir, 'passwd'), 'utf8');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('logs in with remote_username / remote_password', async () => {
      const remote = await remoteBroker({ passwords, config: ['allow_anonymous false'] });
      const localUrl = freshNamespaceUrl();
      await startBridge(localUrl, ['connection b1', `address 127.0.0.1:${remote.port}`, 'topic secure/# in 1', 'remote_username bridge-user', 'remote_password bridge-secret-pw']);
      const localReceiver = await client(localUrl, { protocolVersion: 5 });
      await subscribe(localReceiver.client, 'secure/#', { qos: 1 });
      const remoteSender = await client(remote.url, { username: 'bridge-user', password: 'bridge-secret-pw' });
      await publish(remoteSender.client, 'secure/reading', '42', { qos: 1 });
      await localReceiver.waitForMessages(1);
      expect(localReceiver.messages[0]).toMatchObject({ topic: 'secure/reading', payload: '42' });
    });

    it('a wrong password is refused, retried, and never logged', async () => {
      const remote = await remoteBroker({ passwords, config: ['allow_anonymous false'] });
      const sidecar = await startBridge(freshNamespaceUrl(), ['connection b1', `address 127.0.0.1:${remote.port}`, 'topic secure/# in 1', 'remote_username bridge-user', 'remote_password not-the-password', 'restart_timeout 1'], {
        waitConnected: false,
      });
      await waitUntil(() => sidecar.events('bridge.connect-failed').filter((line) => line['side'] === 'remote').length >= 2, 'two refused attempts');
      const failure = sidecar.events('bridge.connect-failed').find((line) => line['side'] === 'remote');
      expect(String(failure?.['error'])).toMatch(/Not authorized|Bad username or password/);
      expect(JSON.stringify(sidecar.logs)).not.toContain('not-the-password');
    });
  });

  describe.skipIf(!hasOpenssl())('TLS to the remote (bridge_cafile, bridge_insecure)', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'bridge-tls-'));
      for (const [name, san] of [['right', 'IP:127.0.0.1'], ['wrong', 'DNS:elsewhere.example']] as const) {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`), '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`], { stdio: 'ignore' });
      }
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /** mosquitto with a TLS listener (its certificate: `cert`) beside the plain one the helper waits for. */
    async function tlsRemote(cert: 'right' | 'wrong'): Promise<{ remote: Mosquitto; tlsPort: number }> {
      const tlsPort = await freePort();
      const remote = await remoteBroker({ config: ['allow_anonymous true', `listener ${tlsPort} 127.0.0.1`, `certfile ${join(dir, `${cert}.pem`)}`, `keyfile ${join(dir, `${cert}.key`)}`] });
      return { remote, tlsPort };
    }

    it('verifies the remote against bridge_cafile and carries messages over TLS', async () => {
      const { remote, tlsPort } = await tlsRemote('right');
      const localUrl = freshNamespaceUrl();
      const sidecar = await startBridge(localUrl, ['connection b1', `address 127.0.0.1:${tlsPort}`, 'topic tls/# in 1', `bridge_cafile ${join(dir, 'right.pem')}`, 'restart_timeout 1']);
      expect(sidecar.events('bridge.connected')[0]).toMatchObject({ tls: true, address: `127.0.0.1:${tlsPort}` });
      const localReceiver = await client(localUrl, { protocolVersion: 5 });
      await subscribe(localReceiver.client, 'tls/#', { qos: 1 });
      const remoteSender = await client(remote.url);
      await publish(remoteSender.client, 'tls/reading', 'encrypted', { qos: 1 });
      await localReceiver.waitForMessages(1);
      expect(localReceiver.messages[0]).toMatchObject({ topic: 'tls/reading', payload: 'encrypted' });
    });

    it('refuses a certificate for another name unless bridge_insecure is true', async () => {
      const { tlsPort } = await tlsRemote('wrong');
      const lines = ['connection b1', `address 127.0.0.1:${tlsPort}`, 'topic tls/# in 1', `bridge_cafile ${join(dir, 'wrong.pem')}`, 'restart_timeout 1'];
      const strict = await startBridge(freshNamespaceUrl(), lines, { waitConnected: false });
      await waitUntil(() => strict.events('bridge.connect-failed').some((line) => line['side'] === 'remote'), 'a refused TLS handshake');
      expect(String(strict.events('bridge.connect-failed').find((line) => line['side'] === 'remote')?.['error'])).toContain('ERR_TLS_CERT_ALTNAME_INVALID');
      const insecure = await startBridge(freshNamespaceUrl(), [...lines, 'bridge_insecure true']);
      expect(insecure.events('bridge.connected')[0]).toMatchObject({ tls: true });
    });
  });

  it('sidecar/main.ts runs the bridges of MQTT_BRIDGES_FILE, one line as each connects, and on SIGTERM says "0" on the remote and exits 0', async () => {
    const remote = await remoteBroker();
    const localUrl = freshNamespaceUrl();
    const dir = mkdtempSync(join(tmpdir(), 'bridges-file-'));
    started.add(async () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'bridges.conf');
    writeFileSync(file, ['connection first', `address 127.0.0.1:${remote.port}`, 'topic one/# both 1', 'remote_clientid first-bridge', '', 'connection second', `address 127.0.0.1:${remote.port}`, 'topic two/# in 0', 'remote_clientid second-bridge', ''].join('\n'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'sidecar/main.ts'], {
      cwd: repoRoot,
      env: { ...process.env, MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: '0', MQTT_EDGE_URL: localUrl, MQTT_BRIDGE_SECRET: secret, MQTT_BRIDGES_FILE: file, MQTT_SHUTDOWN_GRACE_MS: '2000' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = once(child, 'exit') as Promise<[number | null]>;
    started.add(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const lines: Array<Record<string, unknown>> = [];
    let partial = '';
    child.stderr.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    const connected = (): Array<Record<string, unknown>> => lines.filter((line) => line['event'] === 'bridge.connected');
    await waitUntil(() => connected().length === 2, 'both bridges connected', 20_000);
    expect(connected().map((line) => line['bridge']).sort()).toEqual(['first', 'second']);

    const watcher = await client(remote.url, { protocolVersion: 5 });
    await subscribe(watcher.client, '$SYS/broker/connection/#', { qos: 1 });
    const state = (id: string): string | undefined => watcher.messages.filter((m) => m.topic === `$SYS/broker/connection/${id}/state`).at(-1)?.payload;
    await waitUntil(() => state('first-bridge') === '1' && state('second-bridge') === '1', 'the retained "1" of both bridges');

    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    await waitUntil(() => state('first-bridge') === '0' && state('second-bridge') === '0', 'the "0" of both bridges');
    expect(lines.filter((line) => line['event'] === 'bridge.stopped')).toHaveLength(2);
    expect(lines.at(-1)).toMatchObject({ event: 'sidecar.stopped' });
  });
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
