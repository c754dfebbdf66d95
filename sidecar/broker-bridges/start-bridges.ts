/**
 * The configured broker bridges, run inside the sidecar process and stopped
 * with it. Files they need (bridge_cafile) are read when they are created,
 * so a missing one stops the sidecar at start with its name, not at the
 * first connection attempt.
 */
import { readFile } from 'node:fs/promises';
import type { EdgeDialer } from '../edge-channel.ts';
import type { EdgeTarget } from '../edge-socket.ts';
import { describeError, type Logger } from '../log.ts';
import { BrokerBridge } from './broker-bridge.ts';
import type { BridgeConfig } from './config.ts';
import type { BridgeStatus } from '../../shared/link-status.ts';
import type { StatusChange } from '../status-reporter.ts';

/** Time a remote broker has to answer CONNECT before the attempt counts as failed. */
export const RemoteConnectTimeoutMs = 10_000;

export interface BrokerBridges {
  readonly bridges: readonly BrokerBridge[];
  /** Starts connecting every bridge; failures are retried in the background. */
  start(): void;
  /** Stops every bridge (see BrokerBridge.close); safe to call more than once. */
  close(graceMs: number): Promise<void>;
  /** Each bridge's state and counts, for the sidecar's report to the edge. */
  status(): BridgeStatus[];
  /** Calls `listener` when a bridge's state or counts change. */
  onStatusChange(listener: (change: StatusChange) => void): void;
}

export interface StartBridgesSettings {
  edge: EdgeTarget;
  /** How the bridges reach the edge: as devices do (the sidecar's link when it has one). */
  dial?: EdgeDialer;
  /** MQTT_MAX_PACKET_SIZE: the largest packet a bridge takes from either broker. */
  maxPacketSize?: number;
  namespace: string;
  log: Logger;
}

/**
 * @example
 * const bridges = await createBrokerBridges(config.bridges, { edge, namespace: config.namespace, log });
 * bridges.start();
 * // ... later
 * await bridges.close(2_500);
 */
export async function createBrokerBridges(configs: readonly BridgeConfig[], settings: StartBridgesSettings): Promise<BrokerBridges> {
  const cas = await Promise.all(configs.map((config) => readCa(config)));
  const bridges = configs.map(
    (config, index) =>
      new BrokerBridge(config, {
        edge: settings.edge,
        ...(settings.dial === undefined ? {} : { dial: settings.dial }),
        ...(settings.maxPacketSize === undefined ? {} : { maxPacketSize: settings.maxPacketSize }),
        namespace: settings.namespace,
        remoteConnectTimeoutMs: RemoteConnectTimeoutMs,
        log: settings.log,
        ...(cas[index] === undefined ? {} : { ca: cas[index] }),
      }),
  );
  let closing: Promise<void> | undefined;
  return {
    bridges,
    start() {
      for (const bridge of bridges) bridge.start();
    },
    close(graceMs) {
      closing ??= Promise.all(bridges.map((bridge) => bridge.close(graceMs))).then(() => undefined);
      return closing;
    },
    status: () => bridges.map((bridge) => bridge.status()),
    onStatusChange(listener) {
      for (const bridge of bridges) bridge.onStatusChange(listener);
    },
  };
}

async function readCa(config: BridgeConfig): Promise<Buffer | undefined> {
  if (config.tls === undefined) return undefined;
  try {
    return await readFile(config.tls.caFile);
  } catch (error) {
    throw new Error(`connection ${config.name}: cannot read bridge_cafile "${config.tls.caFile}": ${describeError(error)}`, { cause: error });
  }
}
