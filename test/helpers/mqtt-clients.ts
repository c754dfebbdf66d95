/** Small promise helpers around MQTT.js for the integration tests. */
import mqtt, { type IClientOptions, type MqttClient, type IPublishPacket } from 'mqtt';

export interface ReceivedMessage {
  topic: string;
  payload: string;
  packet: IPublishPacket;
}

export interface TestClient {
  client: MqttClient;
  connack: mqtt.IConnackPacket;
  messages: ReceivedMessage[];
  /** Resolves once `count` messages arrived in total (rejects after timeoutMs). */
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  end(force?: boolean): Promise<void>;
}

export function connectClient(url: string, options: IClientOptions = {}): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
    const messages: ReceivedMessage[] = [];
    const waiters: Array<() => void> = [];
    client.on('message', (topic, payload, packet) => {
      messages.push({ topic, payload: payload.toString(), packet });
      for (const waiter of waiters.splice(0)) waiter();
    });
    const onError = (error: Error): void => {
      client.end(true);
      reject(error);
    };
    client.once('error', onError);
    client.once('connect', (connack) => {
      client.off('error', onError);
      client.on('error', () => undefined);
      resolve({
        client,
        connack,
        messages,
        waitForMessages(count, timeoutMs = 10_000) {
          return new Promise((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`timed out waiting for ${count} messages, got ${messages.length}: ${messages.map((m) => `${m.topic}=${m.payload}`).join(', ')}`)), timeoutMs);
            const check = (): void => {
              if (messages.length >= count) {
                clearTimeout(timer);
                done(messages.slice(0, count));
              } else waiters.push(check);
            };
            check();
          });
        },
        end: (force = false) => new Promise((done) => client.end(force, {}, () => done())),
      });
    });
  });
}

/** Connects expecting a refusal; resolves with the CONNACK code (returnCode or reasonCode). */
export function connectExpectingRefusal(url: string, options: IClientOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack') {
        const code = (packet as { returnCode?: number; reasonCode?: number }).reasonCode ?? (packet as { returnCode?: number }).returnCode ?? 0;
        if (code !== 0) {
          client.end(true);
          resolve(code);
        }
      }
    });
    client.on('connect', () => {
      client.end(true);
      reject(new Error('connection was accepted'));
    });
    client.on('error', () => undefined);
  });
}

export function subscribe(client: MqttClient, filter: string | string[], options: mqtt.IClientSubscribeOptions = { qos: 0 }): Promise<mqtt.ISubscriptionGrant[]> {
  return new Promise((resolve, reject) => {
    client.subscribe(filter, options, (error, granted) => (error ? reject(error) : resolve(granted ?? [])));
  });
}

export function publish(client: MqttClient, topic: string, payload: string | Buffer, options: mqtt.IClientPublishOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    client.publish(topic, payload, options, (error) => (error ? reject(error) : resolve()));
  });
}

/** How many times each topic=payload arrived: a message sent back to where it came from shows as a 2. */
export function tally(messages: readonly ReceivedMessage[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of messages) {
    const key = `${message.topic}=${message.payload}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Whether `receiver` got a message on `topic` (with `payload`, when given). */
export function arrived(receiver: TestClient, topic: string, payload?: string): boolean {
  return receiver.messages.some((message) => message.topic === topic && (payload === undefined || message.payload === payload));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `predicate` holds, polling (for effects that have no event). */
export async function eventually(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
