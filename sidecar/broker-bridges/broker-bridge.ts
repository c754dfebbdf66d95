/**
 * One `connection` block at work: a client of the remote broker and a
 * client of the local edge, and a relay each way between them (out:
 * local → remote, in: remote → local) that renames topics as mosquitto
 * does and holds QoS 1/2 until the other side has them (relay.ts).
 *
 * Loops: the bridge must never be sent back what it published, or a
 * `both` topic would bounce forever. Locally it subscribes with No Local
 * (MQTT 5, which the edge supports); remotely with No Local at MQTT 5, and
 * at 3.x it announces itself as a bridge (try_private), which mosquitto
 * honours with the same effect.
 *
 * Logs one `bridge.connected` line each time both sides are up, and keeps
 * its state and message counts for the sidecar's report to the edge
 * (status(), shared/link-status.ts).
 */
import type { MqttClient } from 'mqtt';
import { webSocketDialer, type EdgeDialer } from '../edge-channel.ts';
import type { EdgeTarget } from '../edge-socket.ts';
import type { Logger } from '../log.ts';
import { BridgeSide } from './bridge-side.ts';
import type { BridgeConfig } from './config.ts';
import { createLocalClient } from './local-client.ts';
import { relayMessages, type RelayEvents } from './relay.ts';
import { createRemoteClient, NotificationPayload, type RemoteClient } from './remote-client.ts';
import { RestartBackoff } from './restart-backoff.ts';
import { TopicMap, type Crossing } from './topic-map.ts';
import type { BridgeState, BridgeStatus } from '../../shared/link-status.ts';
import type { StatusChange } from '../status-reporter.ts';

export interface BrokerBridgeSettings {
  edge: EdgeTarget;
  /** Opens the bridge's channel to the edge as a device's (the sidecar's link); default: a WebSocket of its own. */
  dial?: EdgeDialer;
  /** Largest packet taken from either broker (MQTT_MAX_PACKET_SIZE). */
  maxPacketSize?: number;
  /** Namespace the edge URL selects (for logs). */
  namespace: string;
  /** CA certificates from bridge_cafile, already read. */
  ca?: Buffer;
  /** Time the remote has to answer CONNECT. */
  remoteConnectTimeoutMs: number;
  log: Logger;
  /** [0, 1) for the backoff's jitter (tests). */
  random?: () => number;
}

export class BrokerBridge {
  readonly name: string;
  readonly #config: BridgeConfig;
  readonly #log: Logger;
  readonly #namespace: string;
  readonly #remote: RemoteClient;
  readonly #remoteSide: BridgeSide;
  readonly #localSide: BridgeSide;
  #announced = false;
  #closing: Promise<void> | undefined;
  #state: BridgeState = 'connecting';
  #since = Date.now();
  readonly #counts: Record<Crossing, number> = { in: 0, out: 0 };
  readonly #listeners: Array<(change: StatusChange) => void> = [];

  constructor(config: BridgeConfig, settings: BrokerBridgeSettings) {
    this.name = config.name;
    this.#config = config;
    this.#log = settings.log.child({ bridge: config.name });
    this.#namespace = settings.namespace;
    const topics = new TopicMap(config.topics);
    const remoteBackoff = new RestartBackoff(config.restart, settings.random);
    const localBackoff = new RestartBackoff(config.restart, settings.random);
    const isRemoteV5 = config.protocol === 'mqttv50';

    this.#remote = createRemoteClient(config, {
      connectTimeoutMs: settings.remoteConnectTimeoutMs,
      reconnectPeriodMs: remoteBackoff.next(),
      ...(settings.ca === undefined ? {} : { ca: settings.ca }),
      ...(settings.maxPacketSize === undefined ? {} : { maxPacketSize: settings.maxPacketSize }),
    });
    const local = createLocalClient(config, {
      edge: settings.edge,
      dial: settings.dial ?? webSocketDialer(settings.edge),
      reconnectPeriodMs: localBackoff.next(),
      ...(settings.maxPacketSize === undefined ? {} : { maxPacketSize: settings.maxPacketSize }),
    });

    const onChange = (): void => this.#reportState();
    this.#remoteSide = new BridgeSide({
      name: 'remote',
      client: this.#remote.client,
      subscriptions: topics.subscriptions('in'),
      isV5: isRemoteV5,
      backoff: remoteBackoff,
      log: this.#log,
      where: () => ({ address: this.#remote.address() }),
      onConnected: () => this.#notify(NotificationPayload.Up),
      onChange,
    });
    this.#localSide = new BridgeSide({
      name: 'local',
      client: local.client,
      subscriptions: topics.subscriptions('out'),
      isV5: true,
      backoff: localBackoff,
      log: this.#log,
      where: () => ({ namespace: settings.namespace }),
      onChange,
    });

    const relayEvents = (crossing: Crossing): RelayEvents => ({
      refused: (topic, qos, reasonCode) => this.#log.warn('bridge.forward-refused', { crossing, topic, qos, reasonCode }),
      unmappable: (topic) => this.#log.warn('bridge.topic-unmappable', { crossing, topic }),
      forwarded: () => {
        this.#counts[crossing]++;
        this.#statusChanged('counts');
      },
    });
    relayMessages({
      source: local,
      destination: this.#remote.client,
      rename: (topic) => topics.rename('out', topic),
      keepProperties: isRemoteV5,
      ...(config.maxPacketSize === undefined ? {} : { maxPacketSize: config.maxPacketSize }),
      events: relayEvents('out'),
    });
    relayMessages({
      source: this.#remote,
      destination: local.client,
      rename: (topic) => topics.rename('in', topic),
      keepProperties: isRemoteV5,
      events: relayEvents('in'),
    });
  }

  /** Both sides connected and subscribed. */
  get up(): boolean {
    return this.#remoteSide.up && this.#localSide.up;
  }

  /** What the sidecar reports to the edge of this bridge. */
  status(): BridgeStatus {
    const status: BridgeStatus = { name: this.name, remote: this.#remote.address(), state: this.#state, since: this.#since, messagesIn: this.#counts.in, messagesOut: this.#counts.out };
    const failure = this.#state === 'connected' ? undefined : (this.#remoteSide.failure ?? this.#localSide.failure);
    if (failure !== undefined) status.error = failure;
    return status;
  }

  /** Calls `listener` when the state changes ('state') or a message crossed ('counts'). */
  onStatusChange(listener: (change: StatusChange) => void): void {
    this.#listeners.push(listener);
  }

  #statusChanged(change: StatusChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  /** Starts both connections; failures are retried in the background. */
  start(): void {
    this.#localSide.start();
    this.#remoteSide.start();
  }

  /**
   * Disconnects both sides cleanly, publishing the "down" notification
   * first; whatever has not finished within `graceMs` is cut. A message
   * held for the other side stays unacknowledged where it came from.
   */
  close(graceMs: number): Promise<void> {
    this.#closing ??= this.#shutDown(graceMs);
    return this.#closing;
  }

  async #shutDown(graceMs: number): Promise<void> {
    this.#remoteSide.stopping();
    this.#localSide.stopping();
    // A clean DISCONNECT does not publish the will, so say it ourselves.
    if (this.#remoteSide.connected) this.#notify(NotificationPayload.Down);
    await Promise.all([endWithin(this.#localSide.client, graceMs), endWithin(this.#remote.client, graceMs)]);
    this.#log.info('bridge.stopped', {});
  }

  /** mosquitto's notifications, on the remote broker only: the edge's $SYS tree is read-only for clients. */
  #notify(payload: string): void {
    if (!this.#config.notifications) return;
    this.#remote.client.publish(this.#config.notificationTopic, payload, { qos: 1, retain: true });
  }

  #reportState(): void {
    const sides = [this.#remoteSide.phase, this.#localSide.phase];
    const state: BridgeState = sides.every((phase) => phase === 'up') ? 'connected' : sides.includes('waiting') ? 'backing-off' : 'connecting';
    if (state !== this.#state) {
      this.#state = state;
      this.#since = Date.now();
      this.#statusChanged('state');
    }
    if (!this.up) {
      this.#announced = false;
      return;
    }
    if (this.#announced) return;
    this.#announced = true;
    const config = this.#config;
    this.#log.info('bridge.connected', {
      address: this.#remote.address(),
      namespace: this.#namespace,
      protocol: config.protocol,
      tls: config.tls !== undefined,
      remoteClientId: config.remoteClientId,
      localClientId: config.localClientId,
      topics: config.topics.length,
    });
  }
}

/** DISCONNECT once the client's unacknowledged publishes are done, or cut the connection after `graceMs`. */
function endWithin(client: MqttClient, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      // end() is already under way and ignores a second call; closing the stream stops it (no retry: it is disconnecting).
      client.stream?.destroy();
      resolve();
    }, graceMs);
    client.end(false, {}, () => {
      clearTimeout(timer);
      // A connection still being made (a remote that does not answer) is not
      // closed by end(); it must not linger and connect after the shutdown.
      client.stream?.destroy();
      resolve();
    });
  });
}
