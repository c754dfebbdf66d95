/**
 * The witness pair of the namespace fuzzer: two well-behaved MQTT.js
 * clients that exchange numbered QoS 1 messages the whole time the fuzz
 * connections misbehave next to them.
 *
 * - the subscriber is MQTT 5.0 with a persistent session (Session Expiry),
 *   a Subscription Identifier and Topic Aliases from the server, and goes
 *   offline once in the middle (its messages are queued and delivered when
 *   it comes back);
 * - the publisher is MQTT 3.1.1 and publishes `<n>:<check>` at QoS 1, one
 *   after the other, to three topics in turn.
 *
 * What must hold: every message arrives, in order, unaltered, on the right
 * topic, with the subscription's identifier; a message seen twice only as
 * a DUP redelivery after the planned reconnect; no unplanned disconnect of
 * either client.
 */
import type { IClientOptions } from 'mqtt';
import { connectClient, publish, subscribe, type ReceivedMessage, type TestClient } from '../helpers/mqtt-clients.ts';
import { sleep } from './fuzz-peer.ts';

const SubscriptionId = 7;

/** A checksum of `n`, so a corrupted payload cannot pass for another number. */
function check(n: number): string {
  let h = (n * 2654435761) >>> 0;
  h ^= h >>> 13;
  return h.toString(36);
}

export function witnessPayload(n: number): string {
  return `${n}:${check(n)}:${'w'.repeat(n % 17)}`;
}

export interface WitnessReport {
  published: number;
  received: number;
  redelivered: number;
  violations: string[];
}

export class Witness {
  private subscriber: TestClient | undefined;
  private publisher: TestClient | undefined;
  /** Messages of every subscriber connection, in arrival order. */
  private readonly earlier: ReceivedMessage[] = [];
  private published = 0;
  private publishing: Promise<void> | undefined;
  private stopping = false;
  private pausing = false;
  private readonly violations: string[] = [];
  private readonly root: string;
  private readonly subscriberOptions: IClientOptions;

  constructor(
    private readonly url: string,
    run: string,
    private readonly intervalMs = 20,
  ) {
    this.root = `witness/${run}`;
    this.subscriberOptions = {
      protocolVersion: 5,
      clientId: `witness-sub-${run}`,
      clean: false,
      properties: { sessionExpiryInterval: 600, topicAliasMaximum: 4, receiveMaximum: 20 },
    };
  }

  topicOf(n: number): string {
    return `${this.root}/${n % 3}`;
  }

  async start(): Promise<void> {
    this.subscriber = await this.connectSubscriber();
    await subscribe(this.subscriber.client, `${this.root}/#`, { qos: 1, properties: { subscriptionIdentifier: SubscriptionId } });
    this.publisher = await connectClient(this.url, { protocolVersion: 4, clientId: `witness-pub-${this.root.slice(8)}` });
    this.watch(this.publisher, 'publisher');
    this.publishing = this.publishLoop();
  }

  private async connectSubscriber(): Promise<TestClient> {
    const client = await connectClient(this.url, this.subscriberOptions);
    this.watch(client, 'subscriber');
    return client;
  }

  private watch(client: TestClient, who: string): void {
    client.client.on('close', () => {
      if (!this.stopping && !(who === 'subscriber' && this.pausing)) this.violations.push(`the witness ${who} was disconnected unexpectedly`);
    });
    client.client.on('disconnect', (packet) => {
      this.violations.push(`the witness ${who} got DISCONNECT 0x${(packet.reasonCode ?? 0).toString(16)}`);
    });
  }

  private async publishLoop(): Promise<void> {
    while (!this.stopping) {
      await this.publishOne();
      await sleep(this.intervalMs);
    }
  }

  private async publishOne(): Promise<void> {
    const publisher = this.publisher;
    if (publisher === undefined) return;
    const n = this.published;
    try {
      await publish(publisher.client, this.topicOf(n), witnessPayload(n), { qos: 1 });
      this.published++;
    } catch (error) {
      this.violations.push(`the witness publisher failed to publish ${n}: ${String(error)}`);
      this.stopping = true;
    }
  }

  /** The subscriber goes away cleanly for `offlineMs` and comes back to its session. */
  async pauseSubscriber(offlineMs: number): Promise<void> {
    const subscriber = this.subscriber;
    if (subscriber === undefined) return;
    this.pausing = true;
    await subscriber.end();
    this.earlier.push(...subscriber.messages);
    await sleep(offlineMs);
    this.subscriber = await this.connectSubscriber();
    if (!this.subscriber.connack.sessionPresent) this.violations.push('the witness subscriber came back without its session');
    this.pausing = false;
  }

  /** Stops the loop, publishes `more` messages, waits for all of them and checks everything. */
  async finish(more: number, timeoutMs = 20_000): Promise<WitnessReport> {
    this.stopping = true;
    await this.publishing;
    this.stopping = false;
    for (let i = 0; i < more; i++) await this.publishOne();
    this.stopping = true;
    const subscriber = this.subscriber;
    const total = this.published;
    const seen = (): number => new Set([...this.earlier, ...(subscriber?.messages ?? [])].map((m) => m.payload)).size;
    const deadline = Date.now() + timeoutMs;
    while (seen() < total && Date.now() < deadline) await sleep(20);
    const report = this.verify(total, [...this.earlier, ...(subscriber?.messages ?? [])]);
    await Promise.all([subscriber?.end(), this.publisher?.end()]);
    return report;
  }

  private verify(total: number, messages: readonly ReceivedMessage[]): WitnessReport {
    const violations = [...this.violations];
    let next = 0;
    let redelivered = 0;
    for (const message of messages) {
      const n = Number(message.payload.split(':')[0]);
      if (!Number.isInteger(n) || message.payload !== witnessPayload(n)) {
        violations.push(`corrupted witness payload ${JSON.stringify(message.payload.slice(0, 80))}`);
        continue;
      }
      if (message.topic !== this.topicOf(n)) violations.push(`witness message ${n} arrived on ${message.topic}`);
      if (message.packet.qos !== 1) violations.push(`witness message ${n} arrived at QoS ${message.packet.qos}`);
      const ids = message.packet.properties?.subscriptionIdentifier;
      if (!(ids === SubscriptionId || (Array.isArray(ids) && ids.length === 1 && ids[0] === SubscriptionId))) {
        violations.push(`witness message ${n} carries subscription identifier ${JSON.stringify(ids)}`);
      }
      if (n === next) next++;
      else if (n < next && message.packet.dup) redelivered++;
      else violations.push(n < next ? `witness message ${n} delivered twice without DUP` : `witness messages ${next}..${n - 1} missing or out of order (got ${n})`);
    }
    if (next !== total) violations.push(`the witness subscriber got ${next} of ${total} messages in order`);
    return { published: total, received: next, redelivered, violations };
  }
}
