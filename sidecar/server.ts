/**
 * The sidecar service: TCP (and optionally TLS) listeners whose clients are
 * bridged into the edge, all over one multiplexed link (with the bridge
 * secret; see edge-link.ts) or each over its own WebSocket. Stateless: any
 * number of sidecars can serve the same edge.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { ConnectionLimiter } from './admission.ts';
import { ClientBridge, type BridgeSettings } from './bridge.ts';
import { createBrokerBridges, type BrokerBridges } from './broker-bridges/start-bridges.ts';
import type { SidecarConfig, TlsListenerConfig } from './config.ts';
import { webSocketDialer } from './edge-channel.ts';
import { checkSecretAgreement } from './secret-probe.ts';
import { EdgeLink } from './edge-link.ts';
import { formatAddress, type EdgeTarget } from './edge-socket.ts';
import { listen } from './listen.ts';
import { createLogger, describeError, type Logger } from './log.ts';
import { SidecarMetrics, type SidecarStats } from './metrics.ts';
import { startMetricsServer } from './metrics-server.ts';
import { sidecarVersion } from './version.ts';
import { MaxLinkMessageBytes } from '../shared/link-protocol.ts';

export interface Sidecar {
  /** Port of the plain TCP listener (the real one when configured as 0). */
  readonly tcpPort: number;
  /** Port of the TLS listener, when one is configured. */
  readonly tlsPort?: number;
  /** Port of the /metrics and /healthz listener, when one is configured. */
  readonly metricsPort?: number;
  /** Devices bridged or being bridged now, counted from accept. */
  readonly connections: number;
  /** Live counters: connections, refusals in progress, and bytes buffered each way. */
  stats(): SidecarStats;
  /**
   * Graceful shutdown: stop accepting, let in-flight frames drain, send 5.0
   * devices DISCONNECT 0x8B and close 3.x devices; everything is cut after
   * MQTT_SHUTDOWN_GRACE_MS. Safe to call more than once.
   */
  close(): Promise<void>;
}

export type { SidecarStats } from './metrics.ts';

/** The largest device packet that fits in one link message (32 MiB less the frame headers). */
const LinkMaxPacketSize = MaxLinkMessageBytes - 1024;

export interface SidecarOptions {
  /** Where logs go; by default JSON lines (or pretty) on stderr per `config.log`. */
  logger?: Logger;
}

/**
 * Starts the listeners and resolves once they accept connections.
 *
 * @example
 * const sidecar = await startSidecar(loadSidecarConfig(process.env));
 * process.on('SIGTERM', () => void sidecar.close().then(() => process.exit(0)));
 */
export async function startSidecar(config: SidecarConfig, options: SidecarOptions = {}): Promise<Sidecar> {
  // Every line says where it is from, as the edge's lines do (`component`, `namespace`).
  const log = (options.logger ?? createLogger(config.log)).child({ component: 'sidecar', namespace: config.namespace });
  const limiter = new ConnectionLimiter(config.maxConnections);
  const bridges = new Set<ClientBridge>();
  let closing: Promise<void> | undefined;

  const edge: EdgeTarget = {
    url: config.edgeUrl,
    handshakeTimeoutMs: config.edgeConnectTimeoutMs,
    ...(config.bridgeSecret === undefined ? {} : { secret: config.bridgeSecret }),
  };
  // The edge lets only a sidecar with the secret carry many devices on one link.
  const link =
    config.edgeLink && config.bridgeSecret !== undefined
      ? new EdgeLink({ target: { ...edge, secret: config.bridgeSecret }, log, namespace: config.namespace, deviceQueueBytes: config.linkDeviceQueueBytes })
      : undefined;
  // Without a secret: does the edge agree (it has none either), or do the two disagree? Said in the log, not awaited.
  if (config.edgeLink && link === undefined) void checkSecretAgreement(edge, log);
  const settings: BridgeSettings = {
    dial: link?.dial ?? webSocketDialer(edge),
    edgeUrl: config.edgeUrl,
    namespace: config.namespace,
    answerPings: config.bridgeSecret !== undefined,
    // A link message is at most 32 MiB (the edge's platform limit): a device packet must fit in one.
    maxPacketSize: link === undefined ? config.maxPacketSize : Math.min(config.maxPacketSize, LinkMaxPacketSize),
    connectTimeoutMs: config.connectTimeoutMs,
    highWaterBytes: config.highWaterBytes,
    // At least a second, so a refusal or DISCONNECT gets out even with no shutdown grace.
    closeLingerMs: Math.max(1_000, config.shutdownGraceMs),
    logEvents: config.logEvents,
  };

  const metrics = new SidecarMetrics();
  const onDevice = (socket: net.Socket): void => {
    if (closing !== undefined) {
      socket.destroy();
      return;
    }
    if (socket instanceof tls.TLSSocket) metrics.accepted.tls++;
    else metrics.accepted.tcp++;
    const admission = limiter.admit();
    if (admission === 'drop') {
      metrics.droppedAtAccept++;
      log.warn('device.dropped', { remote: formatAddress(socket.remoteAddress, socket.remotePort), reason: 'max-connections and too many refusals pending' });
      socket.destroy();
      return;
    }
    const bridge = new ClientBridge(socket, settings, log, { refuse: admission === 'refuse' });
    bridges.add(bridge);
    void bridge.closed.then(() => {
      bridges.delete(bridge);
      limiter.release(admission);
      metrics.recordClose(bridge.outcome, bridge.pingsAnswered);
    });
    bridge.start();
  };

  const keepAlive = { noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 };
  const tcpServer = net.createServer(keepAlive, onDevice);
  const tcpPort = await listen(tcpServer, { ...config.tcp, hostSetting: 'MQTT_TCP_HOST', portSetting: 'MQTT_TCP_PORT' });

  let tlsServer: tls.Server | undefined;
  let tlsPort: number | undefined;
  if (config.tls !== undefined) {
    try {
      tlsServer = await createTlsServer(config.tls, config.connectTimeoutMs, keepAlive, onDevice, log);
      tlsPort = await listen(tlsServer, { host: config.tls.host, port: config.tls.port, hostSetting: 'MQTT_TLS_HOST', portSetting: 'MQTT_TLS_PORT' });
    } catch (error) {
      await closeServer(tcpServer);
      throw error;
    }
  }
  const servers = tlsServer === undefined ? [tcpServer] : [tcpServer, tlsServer];
  const stats = (): SidecarStats => {
    let bufferedToEdge = 0;
    let bufferedToDevice = 0;
    for (const bridge of bridges) {
      bufferedToEdge += bridge.bufferedToEdge;
      bufferedToDevice += bridge.bufferedToDevice;
    }
    return { connections: limiter.bridged, refusing: limiter.refusing, bufferedToEdge, bufferedToDevice, ...(link === undefined ? {} : { link: link.stats }) };
  };
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  try {
    metricsServer =
      config.metrics === undefined
        ? undefined
        : await startMetricsServer({
            host: config.metrics.host,
            port: config.metrics.port,
            ...(config.metrics.token === undefined ? {} : { token: config.metrics.token }),
            render: () => metrics.render(stats(), sidecarVersion),
            isStopping: () => closing !== undefined,
          });
  } catch (error) {
    await Promise.all(servers.map(closeServer));
    throw error;
  }
  for (const server of servers) server.on('error', (error) => log.error('listener.error', { error: describeError(error) }));

  // Broker bridges are clients of the edge like the devices; a file they need and cannot read stops the start here.
  let brokerBridges: BrokerBridges;
  try {
    // Carried to the edge as the devices are (on the link, with its credit), and held to the same packet size.
    brokerBridges = await createBrokerBridges(config.bridges, { edge, dial: settings.dial, maxPacketSize: settings.maxPacketSize, namespace: config.namespace, log });
  } catch (error) {
    await Promise.all([...servers.map(closeServer), metricsServer?.close()]);
    throw error;
  }

  log.info('sidecar.listening', {
    tcp: `${config.tcp.host}:${tcpPort}`,
    tls: tlsPort === undefined ? undefined : `${config.tls?.host ?? ''}:${tlsPort}`,
    edge: config.edgeUrl,
    namespace: config.namespace,
    bridgeSecret: config.bridgeSecret !== undefined,
    edgeLink: link !== undefined,
    maxConnections: config.maxConnections,
    maxPacketSize: config.maxPacketSize,
    metrics: metricsServer === undefined ? undefined : `${config.metrics?.host ?? ''}:${metricsServer.port}`,
    bridges: config.bridges.length === 0 ? undefined : config.bridges.map((bridge) => bridge.name).join(','),
  });
  // The edge learns the bridges' state from the link (only the sidecar knows them).
  if (link !== undefined && brokerBridges.bridges.length > 0) {
    link.reportStatus(() => ({ bridges: brokerBridges.status() }));
    brokerBridges.onStatusChange((change) => link.statusChanged(change));
  }
  // They connect in the background: a remote that is down is retried, never a reason not to serve devices.
  brokerBridges.start();
  link?.start();

  const shutDown = async (): Promise<void> => {
    const started = performance.now();
    log.info('sidecar.stopping', { connections: limiter.bridged, graceMs: config.shutdownGraceMs });
    const listenersClosed = Promise.all(servers.map(closeServer));
    // Half the grace for the edge to finish its side; the rest to flush to devices.
    for (const bridge of bridges) bridge.shutdown(Math.floor(config.shutdownGraceMs / 2));
    const allClosed = Promise.all([...bridges].map((bridge) => bridge.closed));
    // Broker bridges get the same half: they only need to finish what is in flight and DISCONNECT.
    const brokerBridgesClosed = brokerBridges.close(Math.floor(config.shutdownGraceMs / 2));
    const inTime = await settlesWithin(allClosed, config.shutdownGraceMs);
    if (!inTime) {
      log.warn('sidecar.shutdown-grace-expired', { remaining: bridges.size });
      for (const bridge of bridges) bridge.destroy();
      await allClosed;
    }
    await listenersClosed;
    await brokerBridgesClosed;
    // Last: the devices' channels on it are all closed by now.
    await link?.close();
    await metricsServer?.close();
    log.info('sidecar.stopped', { durationMs: Math.round(performance.now() - started) });
  };

  return {
    tcpPort,
    ...(tlsPort === undefined ? {} : { tlsPort }),
    ...(metricsServer === undefined ? {} : { metricsPort: metricsServer.port }),
    get connections() {
      return limiter.bridged;
    },
    stats,
    close() {
      closing ??= shutDown();
      return closing;
    },
  };
}

async function createTlsServer(
  config: TlsListenerConfig,
  handshakeTimeoutMs: number,
  socketOptions: net.ServerOpts,
  onDevice: (socket: net.Socket) => void,
  log: Logger,
): Promise<tls.Server> {
  const [cert, key] = await Promise.all([
    readPem(config.certFile, 'MQTT_TLS_CERT'),
    readPem(config.keyFile, 'MQTT_TLS_KEY'),
  ]);
  let server: tls.Server;
  try {
    server = tls.createServer({ ...socketOptions, cert, key, handshakeTimeout: handshakeTimeoutMs }, onDevice);
  } catch (error) {
    throw new Error(`cannot use the TLS certificate/key (MQTT_TLS_CERT/MQTT_TLS_KEY): ${describeError(error)}`, { cause: error });
  }
  server.on('tlsClientError', (error, socket) => {
    log.debug('device.tls-error', { remote: formatAddress(socket.remoteAddress, socket.remotePort), error: describeError(error) });
  });
  return server;
}

async function readPem(path: string, variable: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new Error(`cannot read ${variable} file "${path}": ${describeError(error)}`, { cause: error });
  }
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
  });
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
