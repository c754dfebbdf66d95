/**
 * The bridge's MQTT.js client toward this broker: an MQTT 5 client of the
 * edge's namespace, carried as a device is (channel-stream.ts): a channel
 * of the sidecar's link, with the credit the edge grants it, or without a
 * link the same kind of WebSocket the sidecar opens for a device
 * (openEdgeSocket: `mqtt` subprotocol, MQTT_BRIDGE_SECRET, no compression,
 * the handshake bound). It is not a device, so it claims no client
 * address: the edge sees the sidecar's own.
 *
 * MQTT 5 because the edge supports No Local, which is what keeps the
 * bridge from being sent back what it publishes here.
 */
import { MqttClient, type IClientOptions } from 'mqtt';
import type { EdgeDialer } from '../edge-channel.ts';
import type { EdgeTarget } from '../edge-socket.ts';
import { gateStreams } from './ack-gate.ts';
import { openChannelStream } from './channel-stream.ts';
import type { BridgeConfig } from './config.ts';
import type { GatedClient } from './relay.ts';
import { SessionNeverExpires } from './remote-client.ts';

/**
 * Keep-alive toward the edge. Every PINGREQ is a billed WebSocket message
 * that wakes the namespace's Durable Object, so not often; a minute still
 * notices a dead edge connection within 90 s.
 */
export const LocalKeepAliveSeconds = 60;

export interface LocalClientSettings {
  edge: EdgeTarget;
  /** Opens the bridge's channel to the edge, as a device's is opened (the link's, or a WebSocket's). */
  dial: EdgeDialer;
  /** Largest packet taken from the edge (MQTT_MAX_PACKET_SIZE), announced in CONNECT. */
  maxPacketSize?: number;
  /** Delay before the first retry; the caller changes `client.options.reconnectPeriod` as it backs off. */
  reconnectPeriodMs: number;
}

/**
 * Creates the client without connecting (`client.connect()` starts it).
 *
 * @example
 * const local = createLocalClient(config, { edge: { url: 'ws://127.0.0.1:8787/mqtt', handshakeTimeoutMs: 10_000 }, reconnectPeriodMs: 5_000 });
 */
export function createLocalClient(config: BridgeConfig, settings: LocalClientSettings): GatedClient {
  const options: IClientOptions = {
    protocolVersion: 5,
    clientId: config.localClientId,
    // mosquitto's local_cleansession defaults to cleansession; so does this side.
    clean: config.cleanSession,
    keepalive: LocalKeepAliveSeconds,
    connectTimeout: settings.edge.handshakeTimeoutMs,
    reconnectPeriod: settings.reconnectPeriodMs,
    reconnectOnConnackError: true,
    resubscribe: false,
    queueQoSZero: false,
    manualConnect: true,
  };
  options.properties = {
    // A persistent session keeps what arrives here for the remote while the bridge is away.
    ...(config.cleanSession ? {} : { sessionExpiryInterval: SessionNeverExpires }),
    // The edge then keeps a larger message from the bridge (counted as dropped for it) rather than send it.
    ...(settings.maxPacketSize === undefined ? {} : { maximumPacketSize: settings.maxPacketSize }),
  };
  if (config.localCredentials !== undefined) {
    options.username = config.localCredentials.username;
    if (config.localCredentials.password !== undefined) options.password = config.localCredentials.password;
  }
  const streams = gateStreams(() => openChannelStream(settings.dial), settings.maxPacketSize === undefined ? {} : { maxIncomingPacketSize: settings.maxPacketSize });
  return { client: new MqttClient(streams.streamBuilder, options), holdAcknowledgement: streams.holdAcknowledgement, holdReading: streams.holdReading };
}
