/**
 * Captures of real MQTT.js traffic, to mutate.
 *
 * MQTT.js runs against an in-memory stream (its `streamBuilder` hook) with
 * a scripted fake broker on the other end: every byte the client writes is
 * recorded and cut into packets. The script walks through what a client
 * sends in a session at each level: CONNECT with a will, credentials and
 * (5.0) properties, SUBSCRIBE with options, PUBLISH at QoS 0/1/2 with
 * properties and a topic alias, the acknowledgements of QoS 1 and 2
 * deliveries (PUBACK, PUBREC, PUBCOMP), PUBREL, UNSUBSCRIBE, PINGREQ and
 * DISCONNECT.
 */
import { Duplex } from 'node:stream';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import type { ProtocolLevel } from '../../shared/codec/types.ts';
import { concatBytes, splitStream } from './wire.ts';

export interface Capture {
  level: ProtocolLevel;
  /** Where it came from, for failure reports. */
  source: string;
  cmd: string;
  bytes: Uint8Array;
}

/** A fake broker on an in-memory duplex: answers what MQTT.js needs to go on, records what it sends. */
class RecordingStream extends Duplex {
  readonly written: Uint8Array[] = [];
  private readonly parser;

  constructor(private readonly level: ProtocolLevel) {
    super();
    this.parser = mqttPacket.parser({ protocolVersion: level });
    this.parser.on('packet', (packet) => this.answer(packet));
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written.push(new Uint8Array(chunk));
    this.parser.parse(chunk);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.push(null);
    callback();
  }

  reply(packet: mqttPacket.Packet): void {
    this.push(mqttPacket.generate(packet, { protocolVersion: this.level }));
  }

  private answer(packet: mqttPacket.Packet): void {
    const v5 = this.level === 5;
    switch (packet.cmd) {
      case 'connect':
        this.reply(v5 ? { cmd: 'connack', sessionPresent: false, reasonCode: 0, properties: { topicAliasMaximum: 10, receiveMaximum: 20 } } : { cmd: 'connack', sessionPresent: false, returnCode: 0 });
        break;
      case 'subscribe':
        this.reply({ cmd: 'suback', messageId: packet.messageId as number, granted: packet.subscriptions.map((s) => s.qos) });
        break;
      case 'unsubscribe':
        this.reply(v5 ? { cmd: 'unsuback', messageId: packet.messageId as number, granted: packet.unsubscriptions.map(() => 0) } : ({ cmd: 'unsuback', messageId: packet.messageId } as mqttPacket.IUnsubackPacket));
        break;
      case 'publish':
        if (packet.qos === 1) this.reply({ cmd: 'puback', messageId: packet.messageId as number, ...(v5 ? { reasonCode: 0 } : {}) });
        if (packet.qos === 2) this.reply({ cmd: 'pubrec', messageId: packet.messageId as number, ...(v5 ? { reasonCode: 0 } : {}) });
        break;
      case 'pubrel':
        this.reply({ cmd: 'pubcomp', messageId: packet.messageId as number, ...(v5 ? { reasonCode: 0 } : {}) });
        break;
      case 'pubrec':
        this.reply({ cmd: 'pubrel', messageId: packet.messageId as number, ...(v5 ? { reasonCode: 0 } : {}) });
        break;
      case 'pingreq':
        this.reply({ cmd: 'pingresp' });
        break;
      default:
        break;
    }
  }
}

function promised(run: (done: (error?: Error) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => run((error) => (error ? reject(error) : resolve())));
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

/** Records what MQTT.js sends at `level` through one scripted session. */
export async function recordMqttJs(level: ProtocolLevel): Promise<Capture[]> {
  const v5 = level === 5;
  const stream = new RecordingStream(level);
  const options: mqtt.IClientOptions = {
    protocolVersion: level,
    ...(level === 3 ? { protocolId: 'MQIsdp' as const } : {}),
    clientId: `capture-${level}`,
    clean: !v5,
    keepalive: 30,
    reconnectPeriod: 0,
    username: 'user',
    password: Buffer.from('secret'),
    will: {
      topic: 'status/capture',
      payload: Buffer.from('offline'),
      qos: 1,
      retain: true,
      ...(v5 ? { properties: { willDelayInterval: 5, contentType: 'text/plain', userProperties: { why: 'gone' } } } : {}),
    },
    ...(v5
      ? {
          properties: { sessionExpiryInterval: 300, receiveMaximum: 50, maximumPacketSize: 65536, topicAliasMaximum: 8, requestProblemInformation: true, userProperties: { app: 'fuzz' } },
          autoAssignTopicAlias: true,
        }
      : {}),
  };
  const client = new mqtt.MqttClient(() => stream, options);
  client.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const subscribeOptions = v5 ? { qos: 2 as const, nl: true, rap: true, rh: 1, properties: { subscriptionIdentifier: 42, userProperties: { s: '1' } } } : { qos: 2 as const };
  await promised((done) => client.subscribe({ 'sensors/+/temp': subscribeOptions, 'alerts/#': { qos: 1 } }, (error) => done(error ?? undefined)));
  const publishProperties = v5
    ? { properties: { payloadFormatIndicator: true, messageExpiryInterval: 60, contentType: 'application/json', responseTopic: 'reply/capture', correlationData: Buffer.from('c1'), userProperties: { k: ['a', 'b'] } } }
    : {};
  for (const qos of [0, 1, 2] as const) {
    await promised((done) => client.publish('sensors/kitchen/temp', '{"t":21.5}', { qos, retain: qos === 1, ...publishProperties }, (error) => done(error ?? undefined)));
  }
  // A second PUBLISH to the same topic goes out with the alias only (autoAssignTopicAlias, 5.0).
  await promised((done) => client.publish('sensors/kitchen/temp', Buffer.from([0, 1, 2, 0xff]), { qos: 1 }, (error) => done(error ?? undefined)));
  // Deliveries from the "broker": the client acknowledges them (PUBACK; PUBREC, then PUBCOMP after our PUBREL).
  stream.reply({ cmd: 'publish', topic: 'alerts/fire', payload: Buffer.from('!'), qos: 1, dup: false, retain: false, messageId: 7001 });
  stream.reply({ cmd: 'publish', topic: 'alerts/flood', payload: Buffer.from('!!'), qos: 2, dup: false, retain: false, messageId: 7002 });
  await settle();
  stream.reply({ cmd: 'pubrel', messageId: 7002, ...(v5 ? { reasonCode: 0 } : {}) });
  await settle();
  client.sendPing();
  await settle();
  await promised((done) => client.unsubscribe(['alerts/#'], (error) => done(error ?? undefined)));
  await promised((done) => client.end(false, v5 ? { reasonCode: 0x04, properties: { sessionExpiryInterval: 0 } } : {}, () => done()));

  const bytes = concatBytes(stream.written);
  const split = splitStream(bytes, { maxPacketSize: 1 << 20, level });
  if (split.broken !== undefined || split.pending !== undefined) throw new Error(`MQTT.js ${level}: capture does not split into whole packets`);
  return split.frames.map((frame) => {
    const packet = bytes.slice(frame.start, frame.end);
    return { level, source: `mqtt.js level ${level}`, cmd: cmdName(frame.type), bytes: packet };
  });
}

const commands = ['reserved', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth'];

export function cmdName(type: number): string {
  return commands[type] ?? 'unknown';
}

/** MQTT.js captures at every level. */
export async function recordAllMqttJs(): Promise<Capture[]> {
  const all: Capture[] = [];
  for (const level of [3, 4, 5] as const) all.push(...(await recordMqttJs(level)));
  return all;
}
