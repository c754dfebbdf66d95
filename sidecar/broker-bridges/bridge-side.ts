/**
 * One of a bridge's two connections (remote broker or local edge), kept up:
 * subscribes on every connection, reports when it is up (connected and
 * subscribed) and when it is lost, and retries with mosquitto's
 * restart_timeout backoff, logging each failed attempt. Never throws:
 * a broker that is down is a log line and a retry, not a crash.
 */
import { ErrorWithReasonCode, type ISubscriptionMap, type MqttClient } from 'mqtt';
import { describeError, type LogFields, type Logger } from '../log.ts';
import type { RestartBackoff } from './restart-backoff.ts';
import type { BridgeSubscription } from './topic-map.ts';

export type SideName = 'remote' | 'local';

/** Where a side is: making a connection (or subscribing), up, or waiting to retry after a failure. */
export type SidePhase = 'connecting' | 'up' | 'waiting';

export interface BridgeSideOptions {
  name: SideName;
  client: MqttClient;
  /** What to subscribe to on each connection. */
  subscriptions: readonly BridgeSubscription[];
  /** MQTT 5: subscriptions get No Local, Retain As Published and Retain Handling 1. */
  isV5: boolean;
  backoff: RestartBackoff;
  /** Logger with the bridge's fields; `where()` adds where this side connects to. */
  log: Logger;
  where(): LogFields;
  /** Runs on each CONNACK, before subscribing (the remote side publishes its notification). */
  onConnected?(): void;
  /** `phase` (and so maybe `up`) changed. */
  onChange(): void;
}

export class BridgeSide {
  readonly name: SideName;
  readonly client: MqttClient;
  readonly #options: BridgeSideOptions;
  #phase: SidePhase = 'connecting';
  #connected = false;
  #stopping = false;
  /** Bumped on every close, so a SUBACK of an earlier connection is recognised. */
  #connection = 0;
  #failures = 0;
  #lastError: string | undefined;
  /** Why the last attempt failed or the last connection was lost; cleared once up. */
  #failure: string | undefined;

  constructor(options: BridgeSideOptions) {
    this.name = options.name;
    this.client = options.client;
    this.#options = options;
    this.client.on('connect', () => this.#onConnect());
    this.client.on('close', () => this.#onClose());
    // MQTT.js starts the next attempt after the reconnect period.
    this.client.on('reconnect', () => {
      if (!this.#stopping) this.#setPhase('connecting');
    });
    // Without a listener an 'error' event would throw; every error ends in 'close', which decides what happens.
    this.client.on('error', (error) => (this.#lastError = describeRefusal(error)));
    this.client.on('disconnect', (packet) => (this.#lastError = `the broker sent DISCONNECT (reason code 0x${(packet.reasonCode ?? 0).toString(16).padStart(2, '0')})`));
  }

  /** Connected and subscribed. */
  get up(): boolean {
    return this.#phase === 'up';
  }

  get phase(): SidePhase {
    return this.#phase;
  }

  /** Why the last attempt failed or the last connection was lost, until the side is up again. */
  get failure(): string | undefined {
    return this.#failure;
  }

  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    this.client.connect();
  }

  /** From now on a close is the end, not something to retry or report. */
  stopping(): void {
    this.#stopping = true;
  }

  #onConnect(): void {
    const { backoff } = this.#options;
    backoff.reset();
    this.client.options.reconnectPeriod = backoff.next();
    this.#connected = true;
    this.#failures = 0;
    this.#lastError = undefined;
    this.#options.onConnected?.();
    this.#subscribe();
  }

  #subscribe(): void {
    const { subscriptions, isV5, log } = this.#options;
    if (subscriptions.length === 0) {
      this.#setPhase('up');
      return;
    }
    const map: ISubscriptionMap = {};
    // No Local: what the bridge publishes on this side is never sent back to it [MQTT-3.8.3-3].
    // Retain As Published: the retain flag crosses as it was set, as between mosquitto bridges.
    // Retain Handling 1: retained messages only for a new subscription, not again on every reconnect of a kept session.
    for (const { filter, qos } of subscriptions) map[filter] = isV5 ? { qos, nl: true, rap: true, rh: 1 } : { qos };
    const connection = this.#connection;
    this.client.subscribe(map, (_error, granted) => {
      if (connection !== this.#connection) return;
      for (const grant of granted ?? []) {
        // A refused filter is 0x80 at 3.x and a 5.0 reason code >= 0x80.
        if (grant.qos >= 0x80) log.error('bridge.subscribe-refused', { side: this.name, filter: grant.topic, reasonCode: grant.qos });
      }
      this.#setPhase('up');
    });
  }

  #onClose(): void {
    this.#connection++;
    if (this.#stopping) return;
    const { backoff, log } = this.#options;
    const wasConnected = this.#connected;
    this.#connected = false;
    this.#failures++;
    const fields = {
      side: this.name,
      ...this.#options.where(),
      error: this.#lastError ?? 'connection closed',
      attempt: this.#failures,
      // MQTT.js has just scheduled the retry with this period.
      retryInMs: this.client.options.reconnectPeriod,
    };
    log.warn(wasConnected ? 'bridge.disconnected' : 'bridge.connect-failed', fields);
    this.#failure = fields.error;
    this.#lastError = undefined;
    // MQTT.js reads the period each time it schedules a retry: this is the wait after the next failure.
    this.client.options.reconnectPeriod = backoff.next();
    this.#setPhase('waiting');
  }

  #setPhase(phase: SidePhase): void {
    if (this.#phase === phase) return;
    this.#phase = phase;
    if (phase === 'up') {
      this.#failure = undefined;
      this.#options.log.debug('bridge.side-up', { side: this.name, ...this.#options.where() });
    }
    this.#options.onChange();
  }
}

/** A refused CONNECT says why in its reason code; other errors in their message. */
function describeRefusal(error: Error): string {
  if (error instanceof ErrorWithReasonCode) return `${error.message} (reason code 0x${error.code.toString(16).padStart(2, '0')})`;
  return describeError(error);
}
