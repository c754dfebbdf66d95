/**
 * One MQTT.js connection of a named scenario client, recording what the
 * broker answers into that client's observation. Everything is read from
 * the packets themselves ('packetreceive'), not from MQTT.js's callbacks,
 * so a refusal is recorded with its code instead of becoming an error, and
 * a QoS 2 delivery counts when its PUBLISH arrives (MQTT.js emits 'message'
 * only after PUBREL).
 */
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt';
import { FenceTopic } from './fence.ts';
import { NoConnack, recordMessage, type ClientObservation } from './observation.ts';
import type { ClientSpec, QoS } from './scenario.ts';
import { withTimeout } from './wait.ts';

export interface Connection {
  readonly name: string;
  readonly spec: ClientSpec;
  /** From an accepting CONNACK until the connection closes. */
  isOpen(): boolean;
  /** Resolves when the connection has closed (either side). */
  readonly closed: Promise<void>;
  /** SUBSCRIBE one filter; records the SUBACK's codes. */
  subscribe(filter: string, qos: QoS): Promise<void>;
  /** PUBLISH and, for QoS 1/2, wait for the PUBACK/PUBREC and record its code. */
  publish(topic: string, payload: string, qos: QoS, retain: boolean): Promise<void>;
  /** Publishes fence `id` at QoS 1 and waits for its PUBACK (fence.ts says why). */
  publishFence(id: string): Promise<void>;
  /** Resolves once fence `id` has arrived on this connection. */
  waitForFence(id: string, timeoutMs: number): Promise<void>;
  /** Closes the socket without DISCONNECT. */
  drop(): Promise<void>;
  /** DISCONNECT, then close. */
  disconnect(): Promise<void>;
}

const ConnectTimeoutMs = 10_000;

/**
 * Connects and resolves once the broker answered: after an accepting
 * CONNACK (and the fence subscription), or once a refused connection closed.
 */
export async function openConnection(url: string, name: string, spec: ClientSpec, observation: ClientObservation): Promise<Connection> {
  const client = mqtt.connect(url, clientOptions(spec));
  const fencesSeen = new Set<string>();
  const fenceWaiters: Array<() => void> = [];
  /** Packet id of each QoS 1/2 PUBLISH sent → its topic, until its acknowledgement. */
  const publishTopics = new Map<number, string>();
  let open = false;
  let answered = false;

  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  void closed.then(() => {
    open = false;
    for (const wake of fenceWaiters.splice(0)) wake();
  });
  // A refused CONNECT, a takeover or a drop surface as errors; the records say what happened.
  client.on('error', () => undefined);

  client.on('packetsend', (packet: Packet) => {
    if (packet.cmd === 'publish' && packet.qos > 0 && packet.topic !== FenceTopic && packet.messageId !== undefined) {
      publishTopics.set(packet.messageId, packet.topic);
    }
  });
  client.on('packetreceive', (packet: Packet) => {
    if (packet.cmd === 'connack') {
      answered = true;
      const code = packet.reasonCode ?? packet.returnCode ?? 0;
      observation.connacks.push({ code, sessionPresent: packet.sessionPresent });
      open = code === 0;
    } else if (packet.cmd === 'publish') {
      if (packet.topic === FenceTopic) {
        fencesSeen.add(packet.payload.toString());
        for (const wake of fenceWaiters.splice(0)) wake();
      } else {
        recordMessage(observation, { topic: packet.topic, payload: packet.payload.toString(), qos: packet.qos, retain: packet.retain });
      }
    } else if ((packet.cmd === 'puback' || packet.cmd === 'pubrec') && packet.messageId !== undefined) {
      const topic = publishTopics.get(packet.messageId);
      if (topic !== undefined) {
        publishTopics.delete(packet.messageId);
        observation.pubacks.push({ topic, code: packet.reasonCode ?? 0 });
      }
    }
  });

  await withTimeout(
    Promise.race([new Promise<void>((resolve) => client.once('connect', () => resolve())), closed]),
    ConnectTimeoutMs,
    `${name} (${spec.clientId}) to get a CONNACK or be closed`,
  );
  if (!answered) observation.connacks.push({ code: NoConnack, sessionPresent: false });

  const connection: Connection = {
    name,
    spec,
    isOpen: () => open,
    closed,
    async subscribe(filter, qos) {
      const suback = await subscribeRaw(client, filter, qos);
      observation.subacks.push({ filter, codes: suback });
    },
    async publish(topic, payload, qos, retain) {
      await publishRaw(client, topic, payload, qos, retain);
    },
    async publishFence(id) {
      await publishRaw(client, FenceTopic, id, 1, false);
    },
    waitForFence(id, timeoutMs) {
      return waitFor(() => fencesSeen.has(id) || !open, fenceWaiters, timeoutMs, `${name} to receive fence ${id}`).then(() => {
        if (!fencesSeen.has(id)) throw new Error(`${name} (${spec.clientId}) closed while waiting for fence ${id}`);
      });
    },
    async drop() {
      client.stream.destroy();
      await closed;
      client.end(true);
    },
    async disconnect() {
      await client.endAsync();
    },
  };
  if (open) {
    // Every client reads the fences: their arrival is how the runner knows routing is done.
    await subscribeRaw(client, FenceTopic, 1);
  }
  return connection;
}

function clientOptions(spec: ClientSpec): IClientOptions {
  const options: IClientOptions = {
    protocolVersion: spec.level,
    protocolId: spec.level === 3 ? 'MQIsdp' : 'MQTT',
    clientId: spec.clientId,
    clean: spec.clean ?? true,
    keepalive: 60,
    reconnectPeriod: 0,
    connectTimeout: ConnectTimeoutMs,
    // The runner re-subscribes nothing behind the scenario's back.
    resubscribe: false,
  };
  if (spec.username !== undefined) options.username = spec.username;
  if (spec.password !== undefined) options.password = spec.password;
  if (spec.level === 5 && spec.sessionExpiry !== undefined) options.properties = { sessionExpiryInterval: spec.sessionExpiry };
  if (spec.will !== undefined) {
    options.will = { topic: spec.will.topic, payload: Buffer.from(spec.will.payload), qos: spec.will.qos, retain: spec.will.retain ?? false };
  }
  return options;
}

/** The SUBACK's codes, whatever they are (MQTT.js reports failure codes as an error carrying the packet). */
function subscribeRaw(client: MqttClient, filter: string, qos: QoS): Promise<number[]> {
  return new Promise((resolve, reject) => {
    client.subscribe(filter, { qos }, (error, _granted, packet) => {
      if (packet !== undefined) resolve(packet.granted.map((code) => (typeof code === 'number' ? code : (code as { qos: number }).qos)));
      else reject(error ?? new Error(`no SUBACK for ${filter}`));
    });
  });
}

/** Resolves once a QoS 1/2 publish is acknowledged, even with a failure code (recorded by the listener). */
function publishRaw(client: MqttClient, topic: string, payload: string, qos: QoS, retain: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    client.publish(topic, payload, { qos, retain }, (error) => {
      // A 5.0 refusal (PUBACK 0x87) comes back as an error with its code; anything else is a failure.
      if (error === undefined || error === null || 'code' in error) resolve();
      else reject(error);
    });
  });
}

function waitFor(done: () => boolean, waiters: Array<() => void>, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    const check = (): void => {
      if (done()) {
        clearTimeout(timer);
        resolve();
      } else {
        waiters.push(check);
      }
    };
    check();
  });
}
