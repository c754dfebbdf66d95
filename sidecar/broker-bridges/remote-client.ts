/**
 * The bridge's MQTT.js client toward the remote broker: TCP, or TLS when a
 * bridge_cafile is configured, over the configured addresses in turn, at
 * the configured protocol version, announcing itself as a bridge when it
 * may (try_private), with the notification will when notifications are on.
 */
import net from 'node:net';
import tls from 'node:tls';
import { MqttClient, type IClientOptions } from 'mqtt';
import type { ConnectPacket } from '../../shared/codec/types.ts';
import { gateStreams } from './ack-gate.ts';
import type { BridgeAddress, BridgeConfig } from './config.ts';
import type { GatedClient } from './relay.ts';

/** Session Expiry Interval "never" [MQTT-3.1.2-23]: a persistent bridge session outlives any outage. */
export const SessionNeverExpires = 0xffff_ffff;

/** mosquitto's notification payloads: the bridge is up, or it is not. */
export const NotificationPayload = { Up: '1', Down: '0' } as const;

export interface RemoteClientSettings {
  /** PEM CA certificates read from bridge_cafile (TLS on when present). */
  ca?: Buffer;
  /** Time to get a CONNACK before the attempt counts as failed. */
  connectTimeoutMs: number;
  /** Delay before the first retry; the caller changes `client.options.reconnectPeriod` as it backs off. */
  reconnectPeriodMs: number;
  /**
   * Largest packet taken from the remote (MQTT_MAX_PACKET_SIZE): announced
   * to an MQTT 5 remote, and a larger one ends the connection at its fixed
   * header, before the bridge buffers it.
   */
  maxPacketSize?: number;
}

export interface RemoteClient extends GatedClient {
  /** `host:port` of the connection being made or in use. */
  address(): string;
}

const ProtocolLevels = {
  mqttv31: { protocolId: 'MQIsdp', protocolVersion: 3 },
  mqttv311: { protocolId: 'MQTT', protocolVersion: 4 },
  mqttv50: { protocolId: 'MQTT', protocolVersion: 5 },
} as const;

/**
 * Creates the client without connecting (`client.connect()` starts it), so
 * the caller can wire its handlers first.
 *
 * @example
 * const { client } = createRemoteClient(config, { connectTimeoutMs: 10_000, reconnectPeriodMs: 5_000 });
 * client.connect();
 */
export function createRemoteClient(config: BridgeConfig, settings: RemoteClientSettings): RemoteClient {
  let attempt = -1;
  let current: BridgeAddress = config.addresses[0] as BridgeAddress;
  // MQTT.js calls the builder for every (re)connection: each one tries the next address.
  const streams = gateStreams(
    () => {
      attempt++;
      current = config.addresses[attempt % config.addresses.length] as BridgeAddress;
      return settings.ca === undefined ? openTcp(current) : openTls(current, settings.ca, config.tls?.insecure === true);
    },
    settings.maxPacketSize === undefined ? {} : { maxIncomingPacketSize: settings.maxPacketSize },
  );

  const level = ProtocolLevels[config.protocol];
  const options: IClientOptions = {
    ...level,
    clientId: config.remoteClientId,
    clean: config.cleanSession,
    keepalive: config.keepAliveSeconds,
    connectTimeout: settings.connectTimeoutMs,
    reconnectPeriod: settings.reconnectPeriodMs,
    // A refused CONNECT (bad credentials, a server that is busy) is retried like a lost connection, as mosquitto does.
    reconnectOnConnackError: true,
    // The bridge subscribes itself on every connection (see broker-bridge.ts).
    resubscribe: false,
    // QoS 0 published while the remote is down is dropped, not buffered without bound.
    queueQoSZero: false,
    manualConnect: true,
  };
  if (level.protocolVersion === 5) {
    options.properties = {
      ...(config.cleanSession ? {} : { sessionExpiryInterval: SessionNeverExpires }),
      // [MQTT-3.1.2-24] the remote must not send a larger packet: it drops such a message for the bridge instead.
      ...(settings.maxPacketSize === undefined ? {} : { maximumPacketSize: settings.maxPacketSize }),
    };
  }
  if (config.remoteCredentials !== undefined) {
    options.username = config.remoteCredentials.username;
    if (config.remoteCredentials.password !== undefined) options.password = config.remoteCredentials.password;
  }
  if (config.notifications) {
    // The broker publishes "0" for us when the connection is lost; "1" is published on connect.
    options.will = { topic: config.notificationTopic, payload: Buffer.from(NotificationPayload.Down), qos: 1, retain: true };
  }

  const client = new MqttClient(streams.streamBuilder, options);
  if (config.tryPrivate && level.protocolVersion !== 5) announceBridge(client);
  return { client, holdAcknowledgement: streams.holdAcknowledgement, holdReading: streams.holdReading, address: () => formatHostPort(current) };
}

/**
 * Sets the bridge bit of the CONNECT's protocol level (0x83 / 0x84), which
 * mosquitto and others take to mean "a bridge": it gets No Local and Retain
 * As Published on its subscriptions at 3.x, so it is not sent back the
 * messages it publishes. mqtt-packet writes the bit for `bridgeMode`, but
 * MQTT.js builds its CONNECT from a fixed list of options; it emits
 * 'packetsend' with that packet just before writing it, which is where the
 * flag is added. (MQTT 5 has No Local itself and needs no bit.)
 */
function announceBridge(client: MqttClient): void {
  client.on('packetsend', (packet) => {
    // MQTT.js hands over mqtt-packet's type, which leaves out the field its writer reads.
    if (packet.cmd === 'connect') (packet as ConnectPacket).bridgeMode = true;
  });
}

function openTcp(address: BridgeAddress): net.Socket {
  const socket = net.connect({ host: address.host, port: address.port });
  socket.setNoDelay(true);
  return socket;
}

function openTls(address: BridgeAddress, ca: Buffer, insecure: boolean): tls.TLSSocket {
  return tls.connect({
    host: address.host,
    port: address.port,
    ca,
    // SNI takes host names only, never IP addresses (RFC 6066 §3).
    ...(net.isIP(address.host) === 0 ? { servername: address.host } : {}),
    // bridge_insecure skips only the name check; an untrusted chain is still refused.
    ...(insecure ? { checkServerIdentity: () => undefined } : {}),
  });
}

export function formatHostPort(address: BridgeAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
