/**
 * Valid packets of every type at every level where the type exists. One
 * fixture gives encode, decode and round-trip tests; `bytes` (hex) pins the
 * wire form where we know it from the spec.
 */
import type { MqttPacket, ProtocolLevel, UnsubackPacket } from '../../../shared/codec/types.ts';

export interface PacketFixture {
  name: string;
  level: ProtocolLevel;
  packet: MqttPacket;
  /** Expected encoding, as hex. */
  bytes?: string;
}

const b = (text: string): Buffer => Buffer.from(text, 'utf8');

/** Packets whose shape is the same in 3.1 and 3.1.1. */
function classic(level: 3 | 4): PacketFixture[] {
  const protocolId = level === 3 ? 'MQIsdp' : 'MQTT';
  const fixtures: Array<Omit<PacketFixture, 'level'>> = [
    {
      name: 'CONNECT minimal',
      packet: { cmd: 'connect', protocolId, protocolVersion: level, clientId: 'client-1', clean: true, keepalive: 60 },
      bytes:
        level === 4
          ? '101400044d5154540402003c0008636c69656e742d31'
          : '101600064d514973647003 02003c0008636c69656e742d31',
    },
    {
      name: 'CONNECT with will, user name and password',
      packet: {
        cmd: 'connect',
        protocolId,
        protocolVersion: level,
        clientId: 'client-2',
        clean: false,
        keepalive: 0,
        will: { topic: 'status/client-2', payload: b('gone'), qos: 1, retain: true },
        username: 'user',
        password: b('secret'),
      },
    },
    {
      name: 'CONNECT with a non-ASCII client id and will QoS 2',
      packet: {
        cmd: 'connect',
        protocolId,
        protocolVersion: level,
        clientId: 'ünïcødé-😀',
        clean: true,
        keepalive: 65535,
        will: { topic: 'a/b', payload: b(''), qos: 2, retain: false },
      },
    },
    {
      // Bytes as mosquitto 2.0.11 sent them for `connection edge` (try_private and notifications on, the defaults) on host "vm".
      name: "CONNECT of a mosquitto bridge: the bridge bit in the level (0x83 / 0x84), its state topic's will",
      packet: {
        cmd: 'connect',
        protocolId,
        protocolVersion: level,
        bridgeMode: true,
        clientId: 'vm.edge',
        clean: false,
        keepalive: 60,
        will: { topic: '$SYS/broker/connection/vm.edge/state', payload: b('0'), qos: 1, retain: true },
      },
      bytes: `${level === 4 ? '103c00044d51545484' : '103e00064d514973647083'}2c003c0007766d2e656467650024245359532f62726f6b65722f636f6e6e656374696f6e2f766d2e656467652f7374617465000130`,
    },
    { name: 'CONNACK accepted', packet: { cmd: 'connack', sessionPresent: false, returnCode: 0 }, bytes: '20020000' },
    { name: 'CONNACK refused', packet: { cmd: 'connack', sessionPresent: false, returnCode: 5 }, bytes: '20020005' },
    {
      name: 'PUBLISH QoS 0',
      packet: { cmd: 'publish', topic: 'a/b', payload: b('hello'), qos: 0, dup: false, retain: false },
      bytes: '300a0003612f6268656c6c6f',
    },
    {
      name: 'PUBLISH QoS 0 empty payload, retained',
      packet: { cmd: 'publish', topic: 'sensors/temp', payload: b(''), qos: 0, dup: false, retain: true },
    },
    {
      name: 'PUBLISH QoS 1',
      packet: { cmd: 'publish', topic: 'a/b', payload: b('x'), qos: 1, dup: false, retain: true, messageId: 1 },
      bytes: '33080003612f62000178',
    },
    {
      name: 'PUBLISH QoS 2 duplicate',
      packet: { cmd: 'publish', topic: 'ünï/cødé', payload: Buffer.alloc(300, 7), qos: 2, dup: true, retain: false, messageId: 65535 },
    },
    { name: 'PUBACK', packet: { cmd: 'puback', messageId: 7 }, bytes: '40020007' },
    { name: 'PUBREC', packet: { cmd: 'pubrec', messageId: 8 }, bytes: '50020008' },
    { name: 'PUBREL', packet: { cmd: 'pubrel', messageId: 9 }, bytes: '62020009' },
    { name: 'PUBCOMP', packet: { cmd: 'pubcomp', messageId: 10 }, bytes: '7002000a' },
    {
      name: 'SUBSCRIBE',
      packet: {
        cmd: 'subscribe',
        messageId: 11,
        subscriptions: [
          { topic: 'a/+', qos: 0 },
          { topic: 'b/#', qos: 2 },
        ],
      },
      bytes: '820e000b0003612f2b000003622f2302',
    },
    { name: 'SUBACK', packet: { cmd: 'suback', messageId: 11, granted: [0, 1, 2, 128] }, bytes: '9006000b00010280' },
    { name: 'UNSUBSCRIBE', packet: { cmd: 'unsubscribe', messageId: 12, unsubscriptions: ['a/+', 'b/#'] }, bytes: 'a20c000c0003612f2b0003622f23' },
    // mqtt-packet's type requires `granted`, but 3.x UNSUBACK has no payload and decodes without it.
    { name: 'UNSUBACK', packet: { cmd: 'unsuback', messageId: 12 } as UnsubackPacket, bytes: 'b002000c' },
    { name: 'PINGREQ', packet: { cmd: 'pingreq' }, bytes: 'c000' },
    { name: 'PINGRESP', packet: { cmd: 'pingresp' }, bytes: 'd000' },
    { name: 'DISCONNECT', packet: { cmd: 'disconnect' }, bytes: 'e000' },
  ];
  return fixtures.map((fixture) => ({ ...fixture, level }));
}

function v5(): PacketFixture[] {
  const fixtures: Array<Omit<PacketFixture, 'level'>> = [
    {
      name: 'CONNECT minimal',
      packet: { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'client-1', clean: true, keepalive: 60 },
      bytes: '101500044d5154540502003c000008636c69656e742d31',
    },
    {
      name: 'CONNECT with properties, will properties and auth',
      packet: {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 5,
        clientId: '',
        clean: true,
        keepalive: 30,
        properties: {
          sessionExpiryInterval: 3600,
          receiveMaximum: 20,
          maximumPacketSize: 65536,
          topicAliasMaximum: 10,
          requestResponseInformation: true,
          requestProblemInformation: false,
          userProperties: { region: 'eu', tag: ['a', 'b'] },
          authenticationMethod: 'SCRAM-SHA-1',
          authenticationData: b('client-first'),
        },
        will: {
          topic: 'status/x',
          payload: b('offline'),
          qos: 1,
          retain: false,
          properties: {
            willDelayInterval: 5,
            payloadFormatIndicator: true,
            messageExpiryInterval: 60,
            contentType: 'text/plain',
            responseTopic: 'reply/x',
            correlationData: b('corr'),
            userProperties: { k: 'v' },
          },
        },
        username: 'user',
        password: b('pw'),
      },
    },
    { name: 'CONNACK success', packet: { cmd: 'connack', sessionPresent: true, reasonCode: 0 }, bytes: '2003010000' },
    {
      name: 'CONNACK with properties',
      packet: {
        cmd: 'connack',
        sessionPresent: false,
        reasonCode: 0,
        properties: {
          sessionExpiryInterval: 120,
          receiveMaximum: 100,
          maximumQoS: 1,
          retainAvailable: false,
          maximumPacketSize: 1048576,
          assignedClientIdentifier: 'auto-1',
          topicAliasMaximum: 16,
          reasonString: 'welcome',
          userProperties: { server: 'edge' },
          wildcardSubscriptionAvailable: true,
          subscriptionIdentifiersAvailable: true,
          sharedSubscriptionAvailable: false,
          serverKeepAlive: 45,
          responseInformation: 'resp/',
          serverReference: 'other:1883',
          authenticationMethod: 'SCRAM-SHA-1',
          authenticationData: b('server-final'),
        },
      },
    },
    { name: 'CONNACK refused', packet: { cmd: 'connack', sessionPresent: false, reasonCode: 0x87 } },
    {
      name: 'PUBLISH QoS 0 without properties',
      packet: { cmd: 'publish', topic: 'a/b', payload: b('hello'), qos: 0, dup: false, retain: false },
      bytes: '300b0003612f620068656c6c6f',
    },
    {
      name: 'PUBLISH QoS 1 with properties',
      packet: {
        cmd: 'publish',
        topic: 'a/b',
        payload: b('{"t":21}'),
        qos: 1,
        dup: false,
        retain: true,
        messageId: 42,
        properties: {
          payloadFormatIndicator: true,
          messageExpiryInterval: 300,
          topicAlias: 3,
          responseTopic: 'reply/a',
          correlationData: b('id-1'),
          userProperties: { a: '1', b: ['2', '3'] },
          contentType: 'application/json',
        },
      },
    },
    {
      name: 'PUBLISH QoS 2 with repeated subscription identifiers (server to client)',
      packet: {
        cmd: 'publish',
        topic: 'x',
        payload: b('y'),
        qos: 2,
        dup: true,
        retain: false,
        messageId: 1000,
        properties: { subscriptionIdentifier: [1, 268435455] },
      },
    },
    {
      name: 'PUBLISH with empty topic and a topic alias',
      packet: { cmd: 'publish', topic: '', payload: b('z'), qos: 0, dup: false, retain: false, properties: { topicAlias: 3 } },
    },
    { name: 'PUBACK short form', packet: { cmd: 'puback', messageId: 7, reasonCode: 0 }, bytes: '40020007' },
    {
      name: 'PUBACK with reason and reason string',
      packet: { cmd: 'puback', messageId: 7, reasonCode: 0x10, properties: { reasonString: 'nobody listening' } },
    },
    { name: 'PUBREC with reason', packet: { cmd: 'pubrec', messageId: 8, reasonCode: 0x97 }, bytes: '500400089700' },
    {
      name: 'PUBREL with reason and user property',
      packet: { cmd: 'pubrel', messageId: 9, reasonCode: 0x92, properties: { userProperties: { why: 'lost' } } },
    },
    { name: 'PUBCOMP short form', packet: { cmd: 'pubcomp', messageId: 10, reasonCode: 0 }, bytes: '7002000a' },
    {
      name: 'SUBSCRIBE with options and subscription identifier',
      packet: {
        cmd: 'subscribe',
        messageId: 11,
        properties: { subscriptionIdentifier: 7, userProperties: { u: 'v' } },
        subscriptions: [
          { topic: 'a/+', qos: 1, nl: true, rap: true, rh: 2 },
          { topic: '$share/g/b/#', qos: 0, nl: false, rap: false, rh: 0 },
        ],
      },
    },
    {
      name: 'SUBACK with failures',
      packet: { cmd: 'suback', messageId: 11, granted: [0, 1, 2, 0x80, 0x87, 0x8f, 0xa2], properties: { reasonString: 'partly' } },
    },
    {
      name: 'UNSUBSCRIBE with user property',
      packet: { cmd: 'unsubscribe', messageId: 12, unsubscriptions: ['a/+', 'b/#'], properties: { userProperties: { x: 'y' } } },
    },
    { name: 'UNSUBACK', packet: { cmd: 'unsuback', messageId: 12, granted: [0, 0x11] }, bytes: 'b005000c000011' },
    { name: 'PINGREQ', packet: { cmd: 'pingreq' }, bytes: 'c000' },
    { name: 'PINGRESP', packet: { cmd: 'pingresp' }, bytes: 'd000' },
    { name: 'DISCONNECT normal', packet: { cmd: 'disconnect', reasonCode: 0 }, bytes: 'e0020000' },
    {
      name: 'DISCONNECT with will and properties',
      packet: {
        cmd: 'disconnect',
        reasonCode: 0x04,
        properties: { sessionExpiryInterval: 0, reasonString: 'bye', userProperties: { a: 'b' } },
      },
    },
    {
      name: 'DISCONNECT from server with server reference',
      packet: { cmd: 'disconnect', reasonCode: 0x9c, properties: { serverReference: 'other:1883' } },
    },
    {
      name: 'AUTH continue',
      packet: {
        cmd: 'auth',
        reasonCode: 0x18,
        properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: b('step'), reasonString: 'more', userProperties: { q: 'r' } },
      },
    },
    { name: 'AUTH success', packet: { cmd: 'auth', reasonCode: 0 }, bytes: 'f0020000' },
  ];
  return fixtures.map((fixture) => ({ ...fixture, level: 5 as const }));
}

export const fixtures: readonly PacketFixture[] = [...classic(3), ...classic(4), ...v5()];

export const levels: readonly ProtocolLevel[] = [3, 4, 5];

export function fixturesAt(level: ProtocolLevel): PacketFixture[] {
  return fixtures.filter((fixture) => fixture.level === level);
}
