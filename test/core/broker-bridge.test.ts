/**
 * Another broker's bridge as a client of this one, in-process: a 3.1 or
 * 3.1.1 CONNECT with the bridge bit in its Protocol Level (mosquitto's
 * `try_private`) is accepted and marked as a bridge; its subscriptions get
 * No Local and Retain As Published, as mosquitto gives a bridge; and its
 * connection state (mosquitto's notifications) is the one `$SYS` topic a
 * client may write: its own, retained and stored like any client's, under
 * the ACL. The same with a real mosquitto: test/sidecar/mosquitto-bridge.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttPacket } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { ClientAcl, parseAclFile } from '../../edge/auth/acl.ts';
import type { AccessPolicy } from '../../edge/core/access.ts';
import { Router } from '../../edge/core/router.ts';
import type { SubscriptionEntry } from '../../edge/core/topic-tree.ts';
import { CoreHarness, type HarnessConnection } from './harness.ts';

let harness: CoreHarness;
afterEach(() => harness?.close());

type Connect = Extract<MqttPacket, { cmd: 'connect' }>;

const stateTopic = (clientId: string): string => `$SYS/broker/connection/${clientId}/state`;

/** A CONNECT as mosquitto's bridge sends it: the bridge bit, a persistent session, the will "0" on its state topic. */
function bridgeConnect(clientId: string, level: 3 | 4, extra: Partial<Connect> = {}): Connect {
  return {
    cmd: 'connect',
    protocolId: level === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: level,
    bridgeMode: true,
    clientId,
    clean: false,
    keepalive: 60,
    will: { topic: stateTopic(clientId), payload: Buffer.from('0'), qos: 1, retain: true },
    ...extra,
  };
}

async function connect(packet: Connect): Promise<HarnessConnection> {
  const connection = harness.open();
  await connection.send(packet);
  return connection;
}

async function plainClient(clientId: string, level: 4 | 5 = 4, extra: Partial<Connect> = {}): Promise<HarnessConnection> {
  const connection = await connect({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: level, clientId, clean: true, keepalive: 0, ...extra });
  expect(connackCode(connection), `CONNACK of ${clientId}`).toBe(0);
  return connection;
}

function connackCode(connection: HarnessConnection): number | undefined {
  const connack = connection.received('connack')[0];
  return connack?.reasonCode ?? connack?.returnCode;
}

async function subscribe(connection: HarnessConnection, topic: string, qos: 0 | 1 = 1): Promise<void> {
  await connection.send({ cmd: 'subscribe', messageId: (harness.nextId() % 60000) + 1, subscriptions: [{ topic, qos }] });
}

let nextMessageId = 1;
async function publish(connection: HarnessConnection, topic: string, payload: string, options: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
  const qos = options.qos ?? 1;
  await connection.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: options.retain ?? false, dup: false, ...(qos > 0 ? { messageId: nextMessageId++ } : {}) } as MqttPacket);
}

const received = (connection: HarnessConnection): Array<{ topic: string; payload: string; retain: boolean }> =>
  connection.received('publish').map((p) => ({ topic: p.topic, payload: p.payload.toString(), retain: p.retain }));

function aclPolicy(text: string): AccessPolicy {
  const acl = parseAclFile(text);
  return { forClient: (identity, clientId) => new ClientAcl(acl, { username: identity.username, clientId }) };
}

describe('a bridge announced by the bridge bit of the protocol level (mosquitto try_private)', () => {
  it.each([
    [4, 'MQTT 0x84'],
    [3, 'MQIsdp 0x83'],
  ] as const)('accepts a level-%i bridge (%s), marks it, and does not send it back what it publishes', async (level, _name) => {
    harness = await CoreHarness.create();
    const bridge = await connect(bridgeConnect('vm.edge', level));
    expect(connackCode(bridge)).toBe(0);
    expect(bridge.attachment?.brokerBridge).toBe(true);
    expect(harness.core.listClients().find((c) => c.clientId === 'vm.edge')).toMatchObject({ connected: true, brokerBridge: true });
    // A plain client of the same level, for contrast: no bridge, so no No Local before 5.0.
    const plain = await plainClient('plain', 4);
    expect(harness.core.listClients().find((c) => c.clientId === 'plain')?.brokerBridge).toBeUndefined();
    await subscribe(bridge, '#');
    await subscribe(plain, '#');

    await publish(bridge, 'from/bridge', 'b');
    await publish(plain, 'from/plain', 'p');
    // The plain client's own message is its fence: the bridge's came first on every path.
    expect(received(plain).map((m) => m.topic)).toEqual(['from/bridge', 'from/plain']);
    expect(received(bridge).map((m) => m.topic)).toEqual(['from/plain']);
  });

  it('sends a bridge messages with the retain flag they were published with (Retain As Published), a plain 3.1.1 client without', async () => {
    harness = await CoreHarness.create();
    const bridge = await connect(bridgeConnect('vm.edge', 4));
    const plain = await plainClient('plain', 4);
    const publisher = await plainClient('publisher', 5);
    await subscribe(bridge, 'r/#');
    await subscribe(plain, 'r/#');
    await publish(publisher, 'r/kept', 'retained', { retain: true });
    await publish(publisher, 'r/live', 'not retained');
    expect(received(bridge)).toEqual([
      { topic: 'r/kept', payload: 'retained', retain: true },
      { topic: 'r/live', payload: 'not retained', retain: false },
    ]);
    // [MQTT-3.3.1-9] before 5.0 a live message goes out with retain cleared.
    expect(received(plain).map((m) => m.retain)).toEqual([false, false]);
  });

  it('keeps the mark through hibernation: a bridge subscribing after a wake still gets No Local', async () => {
    harness = await CoreHarness.create();
    const bridge = await connect(bridgeConnect('vm.edge', 4));
    await harness.hibernate();
    await subscribe(bridge, 'x/#');
    await publish(bridge, 'x/echo', 'once');
    const fence = await plainClient('fence', 4);
    await publish(fence, 'x/fence', 'f');
    expect(received(bridge).map((m) => m.topic)).toEqual(['x/fence']);
  });

  it('refuses the bridge bit on levels it does not belong to (0x85, 0x44) as any unknown level: CONNACK 0x01', async () => {
    harness = await CoreHarness.create();
    for (const level of [0x85, 0x44]) {
      const connection = harness.open();
      // Hand-made bytes: mqtt-packet writes no such level.
      const body = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, level, 0x02, 0, 60, 0, 1, 0x78]);
      await connection.sendBytes(Buffer.concat([Buffer.from([0x10, body.length]), body]));
      expect(connection.received('connack')[0]?.returnCode, `level 0x${level.toString(16)}`).toBe(1);
      expect(connection.closedWith).toBeDefined();
    }
  });
});

describe("a bridge's connection state: $SYS/broker/connection/<client id>/state", () => {
  it('is written by its own client only, retained in storage through a restart, and its will "0" goes out there', async () => {
    harness = await CoreHarness.create();
    const bridge = await connect(bridgeConnect('vm.edge', 4));
    expect(connackCode(bridge)).toBe(0);
    await publish(bridge, stateTopic('vm.edge'), '1', { retain: true });
    expect(harness.core.listRetained(100).map((r) => r.topic)).toContain(stateTopic('vm.edge'));

    await harness.hibernate();
    const watcher = await plainClient('watcher', 5);
    await subscribe(watcher, '$SYS/broker/connection/+/state');
    expect(received(watcher)).toEqual([{ topic: stateTopic('vm.edge'), payload: '1', retain: true }]);

    await bridge.drop();
    expect(received(watcher).at(-1)).toEqual({ topic: stateTopic('vm.edge'), payload: '0', retain: false });
    const late = await plainClient('late', 4);
    await subscribe(late, stateTopic('vm.edge'));
    expect(received(late)).toEqual([{ topic: stateTopic('vm.edge'), payload: '0', retain: true }]);
  });

  it("is open to a 5.0 client too (mosquitto's 5.0 bridge sends no bridge bit), for its own client id", async () => {
    harness = await CoreHarness.create();
    const bridge = await plainClient('v5.edge', 5, { will: { topic: stateTopic('v5.edge'), payload: Buffer.from('0'), qos: 1, retain: true } });
    await publish(bridge, stateTopic('v5.edge'), '1', { retain: true });
    // Accepted: nobody subscribes yet, so 0x10 No matching subscribers (docs/conformance-decisions.md).
    expect(bridge.received('puback').at(-1)?.reasonCode ?? 0).toBe(0x10);
    const watcher = await plainClient('watcher', 4);
    await subscribe(watcher, '$SYS/broker/connection/#');
    expect(received(watcher)).toEqual([{ topic: stateTopic('v5.edge'), payload: '1', retain: true }]);
  });

  it("refuses another client's state topic and the rest of $SYS, as publish (PUBACK 0x87) and as will (CONNACK 0x87 / 0x05)", async () => {
    harness = await CoreHarness.create();
    const watcher = await plainClient('watcher', 5);
    await subscribe(watcher, '$SYS/#');
    const client = await plainClient('intruder', 5);
    for (const topic of [stateTopic('vm.edge'), '$SYS/broker/uptime', '$SYS/broker/connection/intruder/other', '$SYS/broker/connection/intruder']) {
      await publish(client, topic, '1', { retain: true });
      expect(client.received('puback').at(-1)?.reasonCode, topic).toBe(ReasonCode.NotAuthorized);
    }
    const foreignWill = await connect(bridgeConnect('intruder-2', 4, { will: { topic: stateTopic('vm.edge'), payload: Buffer.from('0'), qos: 1, retain: true } }));
    expect(connackCode(foreignWill)).toBe(5);
    const foreignWill5 = await connect({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'intruder-3', clean: true, keepalive: 0, will: { topic: '$SYS/broker/uptime', payload: Buffer.from('x'), qos: 0, retain: false } });
    expect(connackCode(foreignWill5)).toBe(ReasonCode.NotAuthorized);
    expect(received(watcher)).toEqual([]);
    expect(harness.core.listRetained(100)).toEqual([]);
  });

  it("does not count as a $SYS subscription: one only to bridges' states does not wake the namespace to publish the broker's $SYS tree", () => {
    const router = new Router();
    const entry = (clientId: string, filter: string): SubscriptionEntry => ({ clientId, filter, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 });
    expect(router.add(entry('states', '$SYS/broker/connection/#'))).toBe(false);
    expect(router.add(entry('states', '$SYS/broker/connection/+/state'))).toBe(false);
    expect(router.hasSystemSubscription('states')).toBe(false);
    expect(router.add(entry('everything', '$SYS/#'))).toBe(true);
    expect(router.add(entry('load', '$SYS/broker/+/connections/#'))).toBe(true);
  });

  it('is subject to the ACL as any publish: refused without a rule for it, allowed by `pattern write $SYS/broker/connection/%c/state`', async () => {
    harness = await CoreHarness.create({ access: aclPolicy('pattern readwrite bridged/#\n') });
    const refused = await connect(bridgeConnect('vm.edge', 4));
    expect(connackCode(refused)).toBe(5);
    harness.close();

    harness = await CoreHarness.create({ access: aclPolicy('pattern readwrite bridged/#\npattern write $SYS/broker/connection/%c/state\n') });
    const bridge = await connect(bridgeConnect('vm.edge', 4));
    expect(connackCode(bridge)).toBe(0);
    await publish(bridge, stateTopic('vm.edge'), '1', { retain: true });
    // The pattern is the client's own: another client's state stays out of reach.
    await publish(bridge, stateTopic('other'), '1', { retain: true });
    expect(harness.core.listRetained(100).map((r) => r.topic)).toEqual([stateTopic('vm.edge')]);
  });
});
