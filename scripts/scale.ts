/**
 * npm run scale -- [--gateways 1,2,4,8] [--scenarios p2p,fanout,fanin] [--clients 1000] [--messages 20]
 *
 * One namespace spread over N gateway objects (MQTT_GATEWAYS=N, see
 * docs/scale.md), simulated on Miniflare: for each N a fresh local runtime,
 * MQTT.js clients over WebSocket spread over the gateways by the Worker, and
 * three scenarios at QoS 1:
 *
 * - p2p: --clients/10 pairs, each publisher to its own subscriber (10 × --messages each);
 * - fanout: one publisher, --clients subscribers of one topic (1 → 1000);
 * - fanin: --clients publishers, one subscriber of all their topics (1000 → 1).
 *
 * Measured per scenario: deliveries per second, loss (must be 0: every
 * publish was acknowledged, so every matching subscriber must get it),
 * workerd's CPU time per 1,000 deliveries (/proc; all objects share one
 * workerd process and thread here, so CPU cannot be split by object
 * locally), and from `objects` in GET /admin/<ns>/stats: the cross-object
 * calls per published message and the share of the busiest object. The
 * session queue is raised (MQTT_MAX_QUEUED) so that fan-in's one subscriber
 * can hold what 1,000 publishers send at once. Prints
 * Markdown tables; writes them to bench-results/scale-<time>/summary.md.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { buildEdge, repoRoot, startLocalEdge, type LocalEdge } from './local-edge.ts';
import { childPids } from './processes.ts';
import type { ObjectTotals } from '../edge/gateway/object-stats.ts';

const { values: args } = parseArgs({
  options: {
    gateways: { type: 'string', default: '1,2,4,8' },
    scenarios: { type: 'string', default: 'p2p,fanout,fanin' },
    clients: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '50' },
  },
});
const gatewayCounts = args.gateways.split(',').map(Number);
const scenarios = args.scenarios.split(',') as Scenario[];
const clientCount = Number(args.clients);
const messagesPerPublisher = Number(args.messages);
const concurrency = Number(args.concurrency);
const AdminToken = 'scale-admin-token';

type Scenario = 'p2p' | 'fanout' | 'fanin';

type ObjectRow = ObjectTotals;

interface Result {
  gateways: number;
  scenario: Scenario;
  published: number;
  expected: number;
  delivered: number;
  seconds: number;
  cpuMs: number;
  /** Cross-object calls (both ways, all gateways) per published message. */
  callsPerPublish: number;
  /** Gateways that held clients, and the share of all link frames the busiest one carried. */
  gatewaysUsed: number;
  busiestGatewayShare: number;
  /** MQTT packets the core handled (in + out) per published message. */
  corePacketsPerPublish: number;
  /** SQLite rows the core wrote and read per published message (billed per row). */
  rowsWrittenPerPublish: number;
  rowsReadPerPublish: number;
  /** Per object during the scenario: clients held, messages (core: MQTT packets; gateway: link frames) and calls, in and out. */
  perObject: Array<{ role: string; name: string; connections: number; messagesIn: number; messagesOut: number; callsIn: number; callsOut: number }>;
}

function workerdCpuMs(): number {
  let ticks = 0;
  for (const pid of childPids(process.pid, 'workerd')) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      // utime and stime are fields 14 and 15 of /proc/<pid>/stat (here 0-based after the command: 11 and 12).
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone.
    }
  }
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux.
}

async function objects(edge: LocalEdge, namespace: string): Promise<ObjectRow[]> {
  const response = await fetch(new URL(`/admin/${namespace}/stats`, edge.url), { headers: { Authorization: `Bearer ${AdminToken}` } });
  const body = (await response.json()) as { objects?: ObjectRow[] };
  return body.objects ?? [];
}

async function connectAll(url: string, count: number, prefix: string): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < count; i += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, count - i) }, (_, k) =>
      new Promise<MqttClient>((resolve, reject) => {
        const client = mqtt.connect(url, { protocolVersion: 4, clientId: `${prefix}-${i + k}`, reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 0 });
        client.once('connect', () => resolve(client));
        client.once('error', reject);
      }),
    );
    clients.push(...(await Promise.all(batch)));
  }
  return clients;
}

function subscribe(client: MqttClient, filter: string): Promise<void> {
  return new Promise((resolve, reject) => client.subscribe(filter, { qos: 1 }, (error) => (error ? reject(error) : resolve())));
}

function publishAll(client: MqttClient, topic: string, count: number): Promise<void> {
  return Promise.all(
    Array.from({ length: count }, (_, i) => new Promise<void>((resolve, reject) => client.publish(topic, `m${i}`, { qos: 1 }, (error) => (error ? reject(error) : resolve())))),
  ).then(() => undefined);
}

async function run(edge: LocalEdge, gateways: number, scenario: Scenario): Promise<Result> {
  const namespace = `scale-${scenario}-${gateways}`;
  const url = new URL(`/mqtt/${namespace}`, edge.mqttUrl).toString();
  let publishers: MqttClient[];
  let subscribers: MqttClient[];
  let topics: (i: number) => string;
  if (scenario === 'p2p') {
    const pairs = Math.max(1, Math.floor(clientCount / 10));
    subscribers = await connectAll(url, pairs, 'sub');
    publishers = await connectAll(url, pairs, 'pub');
    await Promise.all(subscribers.map((client, i) => subscribe(client, `pair/${i}`)));
    topics = (i) => `pair/${i}`;
  } else if (scenario === 'fanout') {
    subscribers = await connectAll(url, clientCount, 'sub');
    publishers = await connectAll(url, 1, 'pub');
    await Promise.all(subscribers.map((client) => subscribe(client, 'fan/out')));
    topics = () => 'fan/out';
  } else {
    subscribers = await connectAll(url, 1, 'sub');
    publishers = await connectAll(url, clientCount, 'pub');
    await Promise.all(subscribers.map((client) => subscribe(client, 'in/+')));
    topics = (i) => `in/${i}`;
  }
  // Each p2p publisher sends ten times as many: a total like the other two scenarios'.
  const perPublisher = scenario === 'p2p' ? messagesPerPublisher * 10 : messagesPerPublisher;
  const published = publishers.length * perPublisher;
  const expected = scenario === 'fanout' ? published * subscribers.length : published;
  let delivered = 0;
  const done = new Promise<void>((resolve) => {
    for (const client of subscribers)
      client.on('message', () => {
        if (++delivered === expected) resolve();
      });
  });
  const before = await objects(edge, namespace);
  const cpuBefore = workerdCpuMs();
  const started = performance.now();
  await Promise.all(publishers.map((client, i) => publishAll(client, topics(i), perPublisher)));
  // Every publish is acknowledged; wait for the deliveries, and give up only on a stall.
  let last = -1;
  while (delivered < expected) {
    const settled = await Promise.race([done.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000))]);
    if (settled) break;
    if (delivered === last) break;
    last = delivered;
  }
  const seconds = (performance.now() - started) / 1000;
  // The subscribers' acknowledgements are still on their way when the last message arrives: count them too.
  let after = await objects(edge, namespace);
  for (let i = 0; i < 25; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const next = await objects(edge, namespace);
    const same = JSON.stringify(next.map(({ messagesIn, messagesOut, callsIn, callsOut }) => [messagesIn, messagesOut, callsIn, callsOut])) === JSON.stringify(after.map(({ messagesIn, messagesOut, callsIn, callsOut }) => [messagesIn, messagesOut, callsIn, callsOut]));
    after = next;
    if (same) break;
  }
  const cpuMs = workerdCpuMs() - cpuBefore;
  const held = new Map(after.map((row) => [row.name, row.connections]));
  const delta = (name: string, key: keyof ObjectRow): number => {
    const now = after.find((row) => row.name === name)?.[key] as number | undefined;
    const was = before.find((row) => row.name === name)?.[key] as number | undefined;
    return (now ?? 0) - (was ?? 0);
  };
  const gatewayRows = after.filter((row) => row.role === 'gateway');
  const calls = gatewayRows.reduce((sum, row) => sum + delta(row.name, 'callsIn') + delta(row.name, 'callsOut'), 0);
  const frames = gatewayRows.map((row) => delta(row.name, 'messagesIn') + delta(row.name, 'messagesOut'));
  const totalFrames = frames.reduce((sum, n) => sum + n, 0);
  const core = after.find((row) => row.role === 'core');
  const corePackets = core === undefined ? 0 : delta(core.name, 'messagesIn') + delta(core.name, 'messagesOut');
  await Promise.all([...publishers, ...subscribers].map((client) => new Promise<void>((resolve) => client.end(true, {}, () => resolve()))));
  return {
    gateways,
    scenario,
    published,
    expected,
    delivered,
    seconds,
    cpuMs,
    callsPerPublish: calls / published,
    gatewaysUsed: gatewayRows.filter((row) => row.connections > 0 || delta(row.name, 'messagesIn') > 0).length,
    busiestGatewayShare: totalFrames === 0 ? 0 : Math.max(...frames) / totalFrames,
    corePacketsPerPublish: corePackets / published,
    rowsWrittenPerPublish: core === undefined ? 0 : delta(core.name, 'rowsWritten') / published,
    rowsReadPerPublish: core === undefined ? 0 : delta(core.name, 'rowsRead') / published,
    perObject: after.map((row) => ({
      role: row.role,
      name: row.name,
      connections: held.get(row.name) ?? 0,
      messagesIn: delta(row.name, 'messagesIn'),
      messagesOut: delta(row.name, 'messagesOut'),
      callsIn: delta(row.name, 'callsIn'),
      callsOut: delta(row.name, 'callsOut'),
    })),
  };
}

function objectTable(results: Result[]): string {
  const lines = ['| scenario | gateways | object | clients | messages in | messages out | calls in | calls out |', '|---|---:|---|---:|---:|---:|---:|---:|'];
  for (const r of results) {
    for (const o of r.perObject) {
      const calls = o.role === 'gateway' ? [o.callsIn, o.callsOut].map((n) => n.toLocaleString('en')) : ['–', '–'];
      lines.push(`| ${r.scenario} | ${r.gateways} | ${o.role} ${o.name.replace(/^[^/]*\//, '')} | ${o.connections.toLocaleString('en')} | ${o.messagesIn.toLocaleString('en')} | ${o.messagesOut.toLocaleString('en')} | ${calls.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

function table(results: Result[]): string {
  const lines = [
    '| scenario | gateways | published | deliveries | loss | deliveries/s | workerd CPU ms per 1,000 deliveries | cross-object calls per publish | gateways used | busiest gateway share | core packets per publish | SQLite rows written / read per publish |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.scenario} | ${r.gateways} | ${r.published.toLocaleString('en')} | ${r.delivered.toLocaleString('en')} | ${r.expected - r.delivered} | ${Math.round(r.delivered / r.seconds).toLocaleString('en')} | ${((r.cpuMs / r.delivered) * 1000).toFixed(0)} | ${r.gateways === 1 ? '0' : r.callsPerPublish.toFixed(3)} | ${r.gateways === 1 ? '–' : r.gatewaysUsed} | ${r.gateways === 1 ? '–' : `${Math.round(r.busiestGatewayShare * 100)} %`} | ${r.corePacketsPerPublish.toFixed(2)} | ${r.rowsWrittenPerPublish.toFixed(2)} / ${r.rowsReadPerPublish.toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const script = await buildEdge();
  const results: Result[] = [];
  for (const gateways of gatewayCounts) {
    const persistDir = mkdtempSync(join(tmpdir(), 'mqtt-scale-'));
    const edge = await startLocalEdge({ port: 0, scriptPath: script, persistDir, vars: {
        MQTT_NAMESPACES: '*',
        MQTT_GATEWAYS: String(gateways),
        MQTT_ADMIN_TOKEN: AdminToken,
        MQTT_LOG_LEVEL: 'warn',
        // Fan-in sends 1,000 publishers' messages to one subscriber faster than it acknowledges them: its
        // session queue (1,000 by default, as mosquitto's max_queued_messages) must hold them all, or they
        // are dropped by design and counted as loss.
        MQTT_MAX_QUEUED: '1000000',
        MQTT_MAX_QUEUED_BYTES: String(1 << 30),
      } });
    try {
      for (const scenario of scenarios) {
        const result = await run(edge, gateways, scenario);
        results.push(result);
        process.stdout.write(`${scenario} with ${gateways} gateway(s): ${result.delivered}/${result.expected} in ${result.seconds.toFixed(1)} s\n`);
      }
    } finally {
      await edge.dispose();
      rmSync(persistDir, { recursive: true, force: true });
    }
  }
  const date = new Date().toISOString().slice(0, 10);
  const summary = `# npm run scale, ${date}\n\n${clientCount} clients (p2p: ${Math.floor(clientCount / 10)} pairs), ${messagesPerPublisher} QoS 1 messages per publisher (p2p: ${messagesPerPublisher * 10}), MQTT.js over WebSocket, one local workerd.\n\n${table(results)}\n\nPer object (core: MQTT packets; gateway: link frames to and from the core, and the calls that carried them):\n\n${objectTable(results)}\n`;
  const dir = join(repoRoot, 'bench-results', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'summary.md'), summary);
  process.stdout.write(`\n${summary}\nwritten to ${join(dir, 'summary.md')}\n`);
  const lost = results.filter((r) => r.delivered !== r.expected);
  if (lost.length > 0) {
    process.stderr.write(`loss in ${lost.map((r) => `${r.scenario}@${r.gateways}`).join(', ')}\n`);
    process.exitCode = 1;
  }
}

await main();
