/**
 * `npm start`: the whole local stack. The edge Worker on Miniflare (workerd)
 * with Durable Object storage persisted on disk, and the TCP sidecar bridged
 * into it. Offline; stops both cleanly on SIGINT/SIGTERM.
 *
 *   MQTT_WS_PORT   (8787)   edge:    ws://127.0.0.1:$MQTT_WS_PORT/mqtt
 *   MQTT_TCP_PORT  (1883)   sidecar: mqtt://127.0.0.1:$MQTT_TCP_PORT
 *   MQTT_DATA_DIR  (.data)  Durable Object SQLite storage
 *   MQTT_PASSWORD_FILE, MQTT_ACL_FILE: mosquitto files, passed as MQTT_PASSWORDS / MQTT_ACL
 *   MQTT_BRIDGES, MQTT_BRIDGES_FILE: mosquitto bridge blocks, run by the sidecar (never passed to the edge)
 * Every other MQTT_* variable is passed to the edge as a [vars] binding.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { repoRoot, startLocalEdge } from './local-edge.ts';
import { loadAccessConfig } from '../edge/access.ts';
import { loadEdgeConfig } from '../edge/config.ts';
import { loadRulesConfig } from '../edge/rules/config.ts';
import { loadSidecarConfig } from '../sidecar/config.ts';
import { startSidecar } from '../sidecar/server.ts';
import { renderPretty } from '../sidecar/log.ts';

const host = process.env['MQTT_HOST'] ?? '127.0.0.1';
const wsPort = Number(process.env['MQTT_WS_PORT'] ?? 8787);
const dataDir = resolve(repoRoot, process.env['MQTT_DATA_DIR'] ?? '.data');
mkdirSync(dataDir, { recursive: true });

// The sidecar proves itself to the local edge with a per-run secret unless one is configured.
const bridgeSecret = process.env['MQTT_BRIDGE_SECRET'] ?? randomBytes(24).toString('base64url');
const edgeVars: Record<string, string> = { MQTT_BRIDGE_SECRET: bridgeSecret };
// Settings of the sidecar alone: the bridges' remote credentials have no business in the edge's bindings.
const sidecarOnly = ['MQTT_WS_PORT', 'MQTT_TCP_PORT', 'MQTT_DATA_DIR', 'MQTT_HOST', 'MQTT_EDGE_URL', 'MQTT_BRIDGES', 'MQTT_BRIDGES_FILE'];
for (const [name, value] of Object.entries(process.env)) {
  if (name.startsWith('MQTT_') && value !== undefined && !sidecarOnly.includes(name)) {
    edgeVars[name] = value;
  }
}

// mosquitto users bring their files as they are.
for (const [fileVariable, textVariable] of [['MQTT_PASSWORD_FILE', 'MQTT_PASSWORDS'], ['MQTT_ACL_FILE', 'MQTT_ACL']] as const) {
  const path = process.env[fileVariable];
  if (path !== undefined && path !== '') edgeVars[textVariable] = readFileSync(resolve(path), 'utf8');
  delete edgeVars[fileVariable];
}
// Per-namespace access from a JSON file, whose entries may name mosquitto files (relative to it) instead of holding them.
const namespaceAccessFile = process.env['MQTT_NAMESPACE_ACCESS_FILE'];
if (namespaceAccessFile !== undefined && namespaceAccessFile !== '') {
  try {
    edgeVars['MQTT_NAMESPACE_ACCESS'] = readNamespaceAccessFile(resolve(namespaceAccessFile));
  } catch (error) {
    console.error(`configuration error: MQTT_NAMESPACE_ACCESS_FILE: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  delete edgeVars['MQTT_NAMESPACE_ACCESS_FILE'];
}

const quiet = ['warn', 'error'].includes(process.env['MQTT_LOG_LEVEL'] ?? '');
const logFormat = process.env['MQTT_LOG_FORMAT'] ?? 'pretty';
/** The sidecar's settings; the edge's URL is known once the edge listens. */
const sidecarEnv = (edgeUrl: string): Record<string, string | undefined> => ({
  ...process.env,
  MQTT_TCP_HOST: process.env['MQTT_TCP_HOST'] ?? host,
  MQTT_EDGE_URL: process.env['MQTT_EDGE_URL'] ?? edgeUrl,
  MQTT_BRIDGE_SECRET: bridgeSecret,
  MQTT_LOG_FORMAT: logFormat,
});

// Bad configuration fails here, with the line at fault, before anything listens
// (the sidecar's too: a bridge block with a bad line must not wait for the edge to start).
try {
  loadAccessConfig(edgeVars);
  loadEdgeConfig(edgeVars);
  // The local edge has no Queue, D1 or R2 bindings: rules naming one fail here, as they would in it.
  loadRulesConfig(edgeVars);
  loadSidecarConfig(sidecarEnv(`ws://${host}:${wsPort}/mqtt`));
} catch (error) {
  console.error(`configuration error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

// The admin API, /metrics and the dashboard need a token: one per run unless configured.
const adminToken = process.env['MQTT_ADMIN_TOKEN'] ?? randomBytes(18).toString('base64url');
edgeVars['MQTT_ADMIN_TOKEN'] = adminToken;

const bundle = process.env['EDGE_BUNDLE'];
const edge = await startLocalEdge({
  port: wsPort,
  host,
  persistDir: dataDir,
  vars: edgeVars,
  verbose: !quiet,
  onLogLine: (line) => process.stdout.write(`${logFormat === 'json' ? line : readableEdgeLine(line)}\n`),
  // A prebuilt bundle (npm run bench starts the stack many times); otherwise wrangler builds it.
  ...(bundle === undefined ? {} : { scriptPath: bundle }),
});
const sidecar = await startSidecar(loadSidecarConfig(sidecarEnv(edge.mqttUrl)));
console.log(`MQTT broker ready: ws://${host}:${edge.port}/mqtt (WebSocket) and mqtt://${host}:${sidecar.tcpPort} (TCP), data in ${dataDir}`);
console.log(`Dashboard: http://${host}:${edge.port}/ (admin token: ${process.env['MQTT_ADMIN_TOKEN'] === undefined ? adminToken : 'MQTT_ADMIN_TOKEN'})`);

/** The edge logs JSON lines; shown as `time LEVEL event key=value` unless MQTT_LOG_FORMAT=json. */
function readableEdgeLine(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const { ts, level, event, ...fields } = JSON.parse(line) as Record<string, string | number | boolean | undefined>;
    if (typeof event !== 'string') return line;
    return renderPretty(new Date(String(ts ?? Date.now())), String(level ?? 'info'), event, fields);
  } catch {
    return line;
  }
}

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping the sidecar and the edge`);
  const timer = setTimeout(() => {
    console.error('shutdown took too long; exiting');
    process.exit(1);
  }, 15_000);
  try {
    await sidecar.close();
    await edge.dispose();
  } finally {
    clearTimeout(timer);
  }
  process.exit(0);
}
// Miniflare's own handlers exit at once on a signal; ours drain the sidecar first
// (Miniflare still stops workerd on exit).
process.removeAllListeners('SIGINT');
process.removeAllListeners('SIGTERM');
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

/** MQTT_NAMESPACE_ACCESS's text from a JSON file: `passwordFile` / `aclFile` become `passwords` / `acl`. */
function readNamespaceAccessFile(path: string): string {
  const entries = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Record<string, unknown>>;
  for (const entry of Object.values(entries)) {
    for (const [fileKey, textKey] of [['passwordFile', 'passwords'], ['aclFile', 'acl']] as const) {
      const file = entry[fileKey];
      if (typeof file !== 'string') continue;
      entry[textKey] = readFileSync(resolve(dirname(path), file), 'utf8');
      delete entry[fileKey];
    }
  }
  return JSON.stringify(entries);
}
