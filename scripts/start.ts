/**
 * `npm start`: the whole local stack. The edge Worker on Miniflare (workerd)
 * with Durable Object storage persisted on disk, and the TCP sidecar bridged
 * into it. Offline. Stops on SIGTERM, SIGINT or SIGHUP, or when its parent
 * goes away (sidecar/lifecycle.ts), as a broker stops: every namespace's
 * clients are drained (wills out, 5.0 clients DISCONNECT 0x8B), then the
 * sidecar and workerd end; a second signal forces it.
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
import { childPids } from './processes.ts';
import { portsInUse, type PortClaim } from './port-check.ts';
import { loadAccessConfig } from '../edge/access.ts';
import { loadEdgeConfig } from '../edge/config.ts';
import { loadRulesConfig } from '../edge/rules/config.ts';
import { loadSidecarConfig, type SidecarConfig } from '../sidecar/config.ts';
import { stopOnSignals } from '../sidecar/lifecycle.ts';
import { startSidecar } from '../sidecar/server.ts';
import { createLogger, renderPretty } from '../sidecar/log.ts';

const host = process.env['MQTT_HOST'] ?? '127.0.0.1';
const wsPort = Number(process.env['MQTT_WS_PORT'] ?? 8787);
const dataDir = resolve(repoRoot, process.env['MQTT_DATA_DIR'] ?? '.data');
mkdirSync(dataDir, { recursive: true });

// Local development is open to anonymous clients unless told otherwise; a deployed Worker is not (edge/config.ts).
const anonymousByDefault = process.env['MQTT_ALLOW_ANONYMOUS'] === undefined;
if (anonymousByDefault) process.env['MQTT_ALLOW_ANONYMOUS'] = 'true';

// The sidecar proves itself to the local edge with a per-run secret unless one is configured (as the
// sidecar takes it: the value, or a file of it); both sides get the value.
const bridgeSecretFile = process.env['MQTT_BRIDGE_SECRET_FILE'];
const bridgeSecret =
  process.env['MQTT_BRIDGE_SECRET'] ??
  (bridgeSecretFile === undefined || bridgeSecretFile === '' ? randomBytes(24).toString('base64url') : readFileSync(resolve(bridgeSecretFile), 'utf8').trim());
const edgeVars: Record<string, string> = { MQTT_BRIDGE_SECRET: bridgeSecret };
// Settings of the sidecar alone: the bridges' remote credentials have no business in the edge's bindings.
const sidecarOnly = ['MQTT_WS_PORT', 'MQTT_TCP_PORT', 'MQTT_DATA_DIR', 'MQTT_HOST', 'MQTT_EDGE_URL', 'MQTT_BRIDGES', 'MQTT_BRIDGES_FILE', 'MQTT_BRIDGE_SECRET_FILE'];
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
  MQTT_BRIDGE_SECRET_FILE: undefined,
  MQTT_LOG_FORMAT: logFormat,
});

// Bad configuration fails here, with the line at fault, before anything listens
// (the sidecar's too: a bridge block with a bad line must not wait for the edge to start).
let sidecarConfig: SidecarConfig;
try {
  loadAccessConfig(edgeVars);
  loadEdgeConfig(edgeVars);
  // The local edge has no Queue, D1 or R2 bindings: rules naming one fail here, as they would in it.
  loadRulesConfig(edgeVars);
  sidecarConfig = loadSidecarConfig(sidecarEnv(`ws://${host}:${wsPort}/mqtt`));
} catch (error) {
  console.error(`configuration error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

// A port that is taken: one line naming the setting to change, before anything starts.
const claims: PortClaim[] = [
  { variable: 'MQTT_WS_PORT', host, port: wsPort },
  { variable: 'MQTT_TCP_PORT', host: sidecarConfig.tcp.host, port: sidecarConfig.tcp.port },
  ...(sidecarConfig.tls === undefined ? [] : [{ variable: 'MQTT_TLS_PORT', host: sidecarConfig.tls.host, port: sidecarConfig.tls.port }]),
  ...(sidecarConfig.metrics === undefined ? [] : [{ variable: 'MQTT_METRICS_PORT', host: sidecarConfig.metrics.host, port: sidecarConfig.metrics.port }]),
];
const taken = await portsInUse(claims);
for (const claim of taken) console.error(`port ${claim.port} on ${claim.host} is in use: set ${claim.variable} to a free port, or stop what listens there`);
if (taken.length > 0) process.exit(1);

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
  // A terminal's Ctrl-C must not kill workerd before its clients are told (stop() below ends it).
  ownSession: true,
  // The dashboard polls every few seconds: its requests would be most of the log.
  quietRequests: true,
});
const sidecar = await startSidecar(loadSidecarConfig(sidecarEnv(edge.mqttUrl)));
console.log(`MQTT broker ready: ws://${host}:${edge.port}/mqtt (WebSocket) and mqtt://${host}:${sidecar.tcpPort} (TCP), data in ${dataDir}`);
console.log(
  anonymousByDefault
    ? 'Anonymous clients are allowed: local development only (a deployed Worker refuses them unless MQTT_ALLOW_ANONYMOUS=true; set MQTT_ALLOW_ANONYMOUS=false here to try that)'
    : `Anonymous clients: ${process.env['MQTT_ALLOW_ANONYMOUS'] === 'true' ? 'allowed' : 'refused'} (MQTT_ALLOW_ANONYMOUS)`,
);
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

stopOnSignals({
  log: createLogger({ format: logFormat === 'json' ? 'json' : 'pretty', level: quiet ? 'warn' : 'info', write: (line) => process.stdout.write(`${line}\n`) }),
  graceMs: 15_000,
  async stop() {
    // As a broker stops: every namespace's clients drained while the sidecar's link still carries its devices' share.
    await drainEdge();
    await sidecar.close();
    await edge.dispose();
  },
  force() {
    // workerd runs in a session of its own: nobody else will end it.
    for (const pid of childPids(process.pid, 'workerd')) process.kill(pid, 'SIGKILL');
  },
});

/**
 * Drains every namespace this edge has had a client in (the Worker knows
 * them: /admin/namespaces marks them `seen`): wills out, 5.0 clients
 * DISCONNECT 0x8B, sessions kept. A namespace that does not answer in time
 * is left to the runtime's end.
 */
async function drainEdge(): Promise<void> {
  const headers = { Authorization: `Bearer ${adminToken}` };
  const signal = AbortSignal.timeout(8_000);
  try {
    const listing = (await (await fetch(new URL('/admin/namespaces', edge.url), { headers, signal })).json()) as { namespaces?: Array<{ name: string; seen?: boolean }> };
    const names = (listing.namespaces ?? []).filter((entry) => entry.seen === true).map((entry) => entry.name);
    await Promise.all(
      names.map(async (name) => {
        const answer = await fetch(new URL(`/admin/${encodeURIComponent(name)}/drain`, edge.url), { method: 'POST', headers, signal });
        await answer.body?.cancel();
      }),
    );
  } catch (error) {
    console.error(`draining the edge's clients failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

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
