/**
 * The brokers a scenario runs on, all given the same password and ACL
 * files: a real mosquitto, and this broker's Worker on workerd reached two
 * ways, through the TCP sidecar and over WebSocket. The two edge targets
 * share one workerd but each has its own namespace (its own Durable
 * Object), so they cannot see each other's clients or retained messages.
 *
 * Each target also reports when the broker has finished with a connection
 * (endsReported): MQTT acknowledges no socket close, so the broker's own
 * log is the only observable sign that a dropped client's will has been
 * routed. mosquitto logs the end in the same step that sends the will
 * (loop.c do_disconnect, then context__send_will); the edge logs
 * `connection.closed` after routing the will (Namespace.connectionEnded).
 */
import { adminClient } from '../helpers/admin-api.ts';
import { connectionEndsLogged, startTestEdge, type TestEdge } from '../helpers/edge.ts';
import type { RuntimeAdditions } from './scenario.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';

export type TargetName = 'mosquitto' | 'edge via sidecar (TCP)' | 'edge over WebSocket';

export interface BrokerTarget {
  readonly name: TargetName;
  /** mqtt:// or ws:// URL clients connect to. */
  readonly url: string;
  /** How many ends of `clientId`'s connections the broker has reported so far. */
  endsReported(clientId: string): number;
}

export interface BrokerFiles {
  /** Password file text; absent: no password file (anonymous clients only). */
  passwords?: string;
  acl: string;
  allowAnonymous: boolean;
}

export interface ScenarioBrokers {
  mosquitto: BrokerTarget;
  /** The edge, once per transport. */
  edge: BrokerTarget[];
  dispose(): Promise<void>;
}

/** Only to make the sidecar's forwarded address believed; any shared value will do. */
const BridgeSecret = 'differential-bridge-secret';

/** Opens the edge's admin API, for scenarios that add users and ACL entries at runtime. */
const AdminToken = 'differential-admin-token';

/**
 * `runtime`: users and ACL entries the edge gets through its admin API, in
 * both namespaces, before any client connects; `mosquittoFiles`: what
 * mosquitto loads instead of `files` (the same with those written in).
 */
export async function startBrokers(files: BrokerFiles, namespace: string, extra: { mosquittoFiles?: BrokerFiles; runtime?: RuntimeAdditions } = {}): Promise<ScenarioBrokers> {
  const [mosquitto, edge] = await Promise.all([startMosquittoWith(extra.mosquittoFiles ?? files), startEdgeWith(files)]);
  let sidecar: TestSidecar | undefined;
  try {
    if (extra.runtime !== undefined) for (const suffix of ['tcp', 'ws']) await addAtRuntime(edge, `${namespace}-${suffix}`, extra.runtime);
    sidecar = await startTestSidecar(`${edge.mqttUrl}/${namespace}-tcp`, { MQTT_BRIDGE_SECRET: BridgeSecret });
    const tcpPort = sidecar.sidecar.tcpPort;
    return {
      mosquitto: mosquittoTarget(mosquitto),
      edge: [
        await edgeTarget(edge, 'edge via sidecar (TCP)', `mqtt://127.0.0.1:${tcpPort}`, `${namespace}-tcp`),
        await edgeTarget(edge, 'edge over WebSocket', `${edge.mqttUrl}/${namespace}-ws`, `${namespace}-ws`),
      ],
      async dispose() {
        await sidecar?.sidecar.close();
        await Promise.all([edge.dispose(), mosquitto.dispose()]);
      },
    };
  } catch (error) {
    await sidecar?.sidecar.close();
    await Promise.all([edge.dispose(), mosquitto.dispose()]);
    throw error;
  }
}

async function addAtRuntime(edge: TestEdge, namespace: string, runtime: RuntimeAdditions): Promise<void> {
  const admin = adminClient(edge.url, AdminToken);
  for (const [username, password] of Object.entries(runtime.users ?? {})) {
    const answer = await admin('PUT', `/admin/${namespace}/users/${encodeURIComponent(username)}`, { password });
    if (answer.status !== 201) throw new Error(`PUT user ${username}: ${answer.status} ${answer.text}`);
  }
  for (const entry of runtime.acl ?? []) {
    const answer = await admin('POST', `/admin/${namespace}/acl`, entry);
    if (answer.status !== 201) throw new Error(`POST acl ${JSON.stringify(entry)}: ${answer.status} ${answer.text}`);
  }
}

function startMosquittoWith(files: BrokerFiles): Promise<Mosquitto> {
  return startMosquitto({
    acl: files.acl,
    ...(files.passwords === undefined ? {} : { passwords: files.passwords }),
    config: [`allow_anonymous ${files.allowAnonymous}`],
  });
}

function startEdgeWith(files: BrokerFiles): Promise<TestEdge> {
  return startTestEdge({
    MQTT_ACL: files.acl,
    ...(files.passwords === undefined ? {} : { MQTT_PASSWORDS: files.passwords }),
    MQTT_ALLOW_ANONYMOUS: String(files.allowAnonymous),
    MQTT_BRIDGE_SECRET: BridgeSecret,
    MQTT_ADMIN_TOKEN: AdminToken,
    MQTT_LOG_LEVEL: 'info',
  });
}

/**
 * mosquitto 2.0's lines for the end of a client's connection (loop.c
 * do_disconnect): "Client <id> closed its connection.", "Client <id>
 * disconnected.", "Socket error on client <id>, disconnecting.", ...
 */
const MosquittoEndLine = /^\d+: (?:Client (\S+) (?:closed its connection|disconnected|has exceeded timeout)|Socket error on client (\S+), disconnecting)/gm;

function mosquittoTarget(mosquitto: Mosquitto): BrokerTarget {
  return {
    name: 'mosquitto',
    url: mosquitto.url,
    endsReported(clientId) {
      let count = 0;
      for (const match of mosquitto.log().matchAll(MosquittoEndLine)) if ((match[1] ?? match[2]) === clientId) count++;
      return count;
    },
  };
}

async function edgeTarget(edge: TestEdge, name: TargetName, url: string, namespace: string): Promise<BrokerTarget> {
  return {
    name,
    url,
    endsReported: (clientId) => connectionEndsLogged(edge, namespace, clientId),
  };
}
