/**
 * npm run big-namespace -- [--sessions 1000,5000,10000] [--filters 5] [--wakes 3] [--queued 1] [--profile]
 *
 * What a namespace with many persistent sessions costs when its Durable
 * Object wakes: the object rebuilds its topic tree from SQLite (every
 * subscription row) before it answers the first upgrade.
 *
 * For each number of sessions S: a fresh storage directory; S MQTT.js
 * clients over WebSocket, at most --concurrency at once, each CONNECT with
 * a persistent session, one SUBSCRIBE of F distinct filters (exact topics
 * and wildcards; every SUBACK checked), DISCONNECT. Then the runtime is
 * stopped and started again on the same directory --wakes times, and each
 * time this is measured:
 *
 * - wake → CONNACK: from a new client's WebSocket upgrade to its CONNACK,
 *   the first request the object gets (its restore included), after one
 *   plain request has warmed the runtime's entry; the same for a namespace
 *   without sessions (S = 0) is the baseline it is compared to;
 * - first delivery: a persistent session resumed without subscribing
 *   again, and a QoS 1 PUBLISH to one of its filters, publish → delivery;
 * - the isolate's JavaScript heap after a full GC (Runtime.getHeapUsage over
 *   workerd's inspector) before the wake and after it, and workerd's RSS;
 * - the SQLite file of the namespace on disk.
 *
 * With --queued N (default 1), N QoS 1 messages to `all/queued` are then
 * left for every offline session and the wakes are measured again. With
 * --profile, the first wake of each pass runs under workerd's CPU profiler
 * (written to bench-results/big-namespace-<time>/). Prints a Markdown table
 * of medians; the number of subscriptions the object restored (its
 * `namespace_started` line) is checked against S × F.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { heapUsage, inspectEdge, startEdgeWithInspector, warmEntry, within as withinMs } from './inspected-edge.ts';
import { topFunctions, type CpuProfile, type Inspector } from './inspector.ts';
import { buildEdge, repoRoot, type LocalEdge } from './local-edge.ts';
import { childPids, rssKb } from './processes.ts';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '10000' },
    filters: { type: 'string', default: '5' },
    wakes: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '50' },
    queued: { type: 'string', default: '1' },
    protocol: { type: 'string', default: '4' },
    profile: { type: 'boolean', default: false },
  },
});
const sessionCounts = args.sessions.split(',').map((n) => Number(n.replace(/_/g, '')));
const filtersPerClient = Number(args.filters);
const wakes = Number(args.wakes);
const concurrency = Number(args.concurrency);
const queuedPerSession = Number(args.queued);
const protocolVersion = args.protocol === '5' ? 5 : 4;
const isolateLimitMb = 128;
const hardLimitMs = 60 * 60 * 1000;
/** How long one client step (connect, SUBACK, a delivery) may take before the run is called failed. */
const stepTimeoutMs = 120_000;

const log = (text: string): void => void process.stderr.write(`[big-namespace] ${text}\n`);
setTimeout(() => {
  log(`hard time limit of ${hardLimitMs / 60_000} min reached; aborting`);
  process.exit(2);
}, hardLimitMs).unref();

for (const s of sessionCounts) if (!Number.isInteger(s) || s < 10) throw new Error(`--sessions: "${args.sessions}" must be integers of at least 10, comma-separated`);
if (!Number.isInteger(filtersPerClient) || filtersPerClient < 1) throw new Error('--filters must be at least 1');

/**
 * Client i's filters: its own exact topics and single-level wildcards, a
 * group's multi-level wildcard (100 groups), one filter everyone shares.
 * Distinct per client, so the tree holds S × F entries.
 */
function filtersOf(i: number): string[] {
  const base = [`dev/${i}/cmd`, `dev/${i}/+/set`, `group/${i % 100}/#`, 'all/#', `site/${i % 10}/+/dev/${i}/alarm`];
  const filters = base.slice(0, filtersPerClient);
  for (let j = filters.length; j < filtersPerClient; j++) filters.push(`dev/${i}/extra/${j}`);
  return filters;
}

const clientIdOf = (i: number): string => `big-${i}`;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

// ---- MQTT.js, as promises bounded in time --------------------------------------------

function within<T>(promise: Promise<T>, what: string, ms = stepTimeoutMs): Promise<T> {
  return withinMs(promise, what, ms);
}

function persistentOptions(clientId: string): IClientOptions {
  const options: IClientOptions = { clientId, protocolVersion, clean: false, reconnectPeriod: 0, connectTimeout: stepTimeoutMs, keepalive: 600 };
  if (protocolVersion === 5) options.properties = { sessionExpiryInterval: 0xffffffff };
  return options;
}

function connect(url: string, options: IClientOptions): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  return within(
    new Promise((resolve, reject) => {
      const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: stepTimeoutMs, ...options });
      const fail = (error: Error): void => {
        client.end(true);
        reject(error);
      };
      const closed = (): void => fail(new Error(`${options.clientId ?? 'a client'}: closed before CONNACK`));
      client.once('error', fail);
      client.once('close', closed);
      client.once('connect', (connack) => {
        client.off('error', fail);
        client.off('close', closed);
        client.on('error', () => undefined);
        resolve({ client, sessionPresent: connack.sessionPresent });
      });
    }),
    `CONNECT of ${options.clientId ?? 'a client'}`,
  );
}

function end(client: MqttClient): Promise<void> {
  return within(new Promise((resolve) => client.end(false, {}, () => resolve())), 'DISCONNECT');
}

function publishQos1(client: MqttClient, topic: string, payload: string): Promise<void> {
  return within(new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1 }, (error) => (error ? reject(error) : resolve()))), `PUBLISH to ${topic}`);
}

/** One persistent session with F subscriptions, then offline. */
async function seedSession(url: string, i: number): Promise<void> {
  const { client, sessionPresent } = await connect(url, persistentOptions(clientIdOf(i)));
  if (sessionPresent) throw new Error(`${clientIdOf(i)}: a fresh directory, yet session present`);
  const filters = filtersOf(i);
  const granted = await within(
    new Promise<mqtt.ISubscriptionGrant[]>((resolve, reject) =>
      client.subscribe(Object.fromEntries(filters.map((filter) => [filter, { qos: 1 as const }])), (error, grants) => (error ? reject(error) : resolve(grants ?? []))),
    ),
    `SUBSCRIBE of ${clientIdOf(i)}`,
  );
  if (granted.length !== filters.length || granted.some((grant) => grant.qos !== 1)) throw new Error(`${clientIdOf(i)}: SUBACK ${JSON.stringify(granted)}`);
  await end(client);
}

async function seed(url: string, sessions: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < sessions) {
      const i = next++;
      await seedSession(url, i);
      done++;
      if (done % 1000 === 0) log(`  ${done}/${sessions} sessions`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, sessions) }, worker));
  return performance.now() - started;
}

// ---- the runtime, its memory, its storage ------------------------------------------------

const out = join(repoRoot, 'bench-results', `big-namespace-${new Date().toISOString().replace(/[:.]/g, '-')}`);
const scriptPath = await buildEdge();

/** A line the broker logged (the events this script waits for), and when it arrived here. */
interface LogRecord {
  event: string;
  namespace?: string;
  client?: string;
  subscriptions?: number;
  at: number;
}

/** The log events this script waits for: the object's start (with what it restored), a session's expiry. */
const watchedEvents = ['"namespace_started"', '"session_expired"'];

interface Runtime {
  edge: LocalEdge;
  inspector: Inspector;
  workerd: number[];
  /** Resolves with the first line (logged so far or later) that `match` accepts. */
  logged(match: (record: LogRecord) => boolean, what: string): Promise<LogRecord>;
}

let settleCount = 0;
const adminToken = 'big-namespace-admin';

/** The namespace's numbers from the admin API (one RPC to its object). */
async function namespaceStats(edge: LocalEdge): Promise<{ sessions: number; subscriptions: number }> {
  const response = await fetch(new URL('/admin/default/stats', edge.url), { headers: { Authorization: `Bearer ${adminToken}` } });
  if (!response.ok) throw new Error(`/admin/default/stats: ${response.status} ${await response.text()}`);
  return (await response.json()) as { sessions: number; subscriptions: number };
}

async function startRuntime(persistDir: string): Promise<Runtime> {
  const records: LogRecord[] = [];
  const waiters: Array<{ match: (record: LogRecord) => boolean; resolve: (record: LogRecord) => void }> = [];
  const { edge, inspectorPort } = await startEdgeWithInspector(
    {
      port: 0,
      persistDir,
      scriptPath,
      vars: {
        MQTT_MAX_CONNECTIONS: '0',
        MQTT_MAX_SUBSCRIPTIONS: String(Math.max(1000, filtersPerClient)),
        MQTT_MAX_QUEUED: String(Math.max(1000, queuedPerSession + 10)),
        // A connect timeout shorter than the settle marker's expiry (see settle).
        MQTT_CONNECT_TIMEOUT_MS: '2000',
        MQTT_LOG_LEVEL: 'info',
        MQTT_ADMIN_TOKEN: adminToken,
      },
      onLogLine: (line) => {
        if (!watchedEvents.some((event) => line.includes(event))) return;
        const record = { ...(JSON.parse(line.slice(line.indexOf('{'))) as Omit<LogRecord, 'at'>), at: performance.now() };
        records.push(record);
        for (const waiter of waiters.filter((w) => w.match(record))) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(record);
        }
      },
    },
    log,
  );
  const inspector = await inspectEdge(edge, inspectorPort);
  return {
    edge,
    inspector,
    workerd: childPids(process.pid, 'workerd'),
    logged: (match, what) => {
      const found = records.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return within(new Promise((resolve) => waiters.push({ match, resolve })), what);
    },
  };
}

/**
 * Lets the object's alarm handle every near deadline before the runtime
 * stops: connect timeouts (2 s), the counters' flush 5 s after the last traffic.
 * An alarm still due when the next runtime starts on this storage would
 * wake the object before the measured upgrade; after this, the only
 * deadlines left are the sessions' expiry, days away. The marker is a
 * session that expires 6 s after it ends: the alarm that expires it (and
 * logs `session_expired`) has handled everything due before. The line is
 * logged inside that alarm's event; one more call to the object, queued
 * behind the event, returns once it has ended and the runtime has recorded
 * the next alarm (else the next runtime would find this one still due).
 * Resolves with the namespace's numbers after it.
 */
async function settle(runtime: Runtime): Promise<{ sessions: number; subscriptions: number }> {
  const clientId = `settle-${settleCount++}`;
  const marker = await connect(runtime.edge.mqttUrl, { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 6 } });
  await end(marker.client);
  await runtime.logged((record) => record.event === 'session_expired' && record.client === clientId, `the expiry of ${clientId}`);
  return namespaceStats(runtime.edge);
}

/** Settles the object (see settle) and stops workerd; resolves with the namespace's numbers at the end. */
async function stopRuntime(runtime: Runtime): Promise<{ sessions: number; subscriptions: number }> {
  const stats = await settle(runtime);
  runtime.inspector.close();
  await runtime.edge.dispose();
  return stats;
}

/** The isolate's used JavaScript heap after a full collection, MB. */
const heapMb = async (inspector: Inspector): Promise<number> => (await heapUsage(inspector, true)).usedMb;

const rssMb = (runtime: Runtime): number => runtime.workerd.reduce((sum, pid) => sum + rssKb(pid), 0) / 1024;

/**
 * The largest Durable Object database under the directory (the big
 * namespace's) and its write-ahead log, MB. The log is reused, not grown:
 * SQLite checkpoints it at about 4 MB.
 */
function sqliteMb(dir: string): { database: number; wal: number } {
  let largest = { database: 0, wal: 0 };
  const walk = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.sqlite')) {
        const database = statSync(full).size / 2 ** 20;
        const wal = existsSync(`${full}-wal`) ? statSync(`${full}-wal`).size / 2 ** 20 : 0;
        if (database > largest.database) largest = { database, wal };
      }
    }
  };
  walk(dir);
  return largest;
}

/**
 * The same first CONNACK from an object whose storage exists but holds no
 * session (one clean client came and went before the restart): the fixed
 * cost of a wake, S = 0. Medians of --wakes wakes.
 */
async function measureBaseline(): Promise<{ connackMs: number; heapMb: number }> {
  const persistDir = mkdtempSync(join(tmpdir(), 'mqtt-big-empty-'));
  try {
    const first = await startRuntime(persistDir);
    await end((await connect(first.edge.mqttUrl, { clientId: 'baseline', protocolVersion, clean: true })).client);
    await stopRuntime(first);
    const connacks: number[] = [];
    const heaps: number[] = [];
    for (let w = 0; w < wakes; w++) {
      const runtime = await startRuntime(persistDir);
      await warmEntry(runtime.edge);
      const started = performance.now();
      const probe = await connect(runtime.edge.mqttUrl, { clientId: 'baseline', protocolVersion, clean: true });
      connacks.push(performance.now() - started);
      heaps.push(await heapMb(runtime.inspector));
      await end(probe.client);
      await stopRuntime(runtime);
    }
    return { connackMs: median(connacks), heapMb: median(heaps) };
  } finally {
    rmSync(persistDir, { recursive: true, force: true });
  }
}

// ---- one wake --------------------------------------------------------------------------

interface WakeResult {
  connackMs: number;
  resumeMs: number;
  deliveryMs: number;
  heapBeforeMb: number;
  heapAfterMb: number;
  rssMb: number;
  restored: number;
}

async function measureWake(persistDir: string, subscriber: number, label: string): Promise<WakeResult> {
  const runtime = await startRuntime(persistDir);
  const { edge, inspector } = runtime;
  await warmEntry(edge);
  const heapBeforeMb = await heapMb(inspector);
  const profiling = args.profile && label.endsWith('-0');
  if (profiling) {
    await inspector.call('Profiler.enable');
    await inspector.call('Profiler.setSamplingInterval', { interval: 100 });
    await inspector.call('Profiler.start');
  }

  // (a) The first request the object gets: a new client's upgrade, through to its CONNACK.
  const wakeStarted = performance.now();
  const probe = await connect(edge.mqttUrl, { clientId: `probe-${label}`, protocolVersion, clean: true });
  const connackMs = performance.now() - wakeStarted;
  if (profiling) {
    const { profile } = (await inspector.call('Profiler.stop')) as { profile: CpuProfile };
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, `wake-${label}.cpuprofile`), JSON.stringify(profile));
    log(`CPU profile of wake ${label}:\n${topFunctions(`wake ${label} (workerd)`, profile, 15)}`);
  }

  // (b) A session resumed without subscribing again: the rebuilt tree routes to it.
  const resumeStarted = performance.now();
  const session = await connect(edge.mqttUrl, persistentOptions(clientIdOf(subscriber)));
  const resumeMs = performance.now() - resumeStarted;
  if (!session.sessionPresent) throw new Error(`${clientIdOf(subscriber)}: no session present after the wake`);
  const topic = `dev/${subscriber}/cmd`;
  const delivered = new Promise<number>((resolve) => {
    session.client.on('message', (received) => {
      if (received === topic) resolve(performance.now());
    });
  });
  const publishedAt = performance.now();
  await publishQos1(probe.client, topic, `after wake ${label}`);
  const deliveryMs = (await within(delivered, `delivery to ${clientIdOf(subscriber)}`)) - publishedAt;

  const heapAfterMb = await heapMb(inspector);
  const rss = rssMb(runtime);

  await Promise.all([end(probe.client), end(session.client)]);
  const startedLine = await runtime.logged((record) => record.event === 'namespace_started' && record.namespace === 'default', 'the namespace_started line');
  // Woken by anything before the upgrade (an alarm due at start), the object's restore would not be in what was timed.
  if (startedLine.at < wakeStarted) throw new Error(`the object started ${(wakeStarted - startedLine.at).toFixed(0)} ms before the measured upgrade`);
  const restored = startedLine.subscriptions ?? -1;
  await stopRuntime(runtime);
  return { connackMs, resumeMs, deliveryMs, heapBeforeMb, heapAfterMb, rssMb: rss, restored };
}

// ---- the run ---------------------------------------------------------------------------------

interface Row {
  sessions: number;
  queued: number;
  seedS: number;
  fanoutMs: number | undefined;
  sqlite: { database: number; wal: number };
  wakes: WakeResult[];
}


async function wakePass(persistDir: string, sessions: number, queued: number, firstSubscriber: number): Promise<WakeResult[]> {
  const results: WakeResult[] = [];
  for (let w = 0; w < wakes; w++) {
    // A different session each time: each resumes once, and (queued) still has its queue.
    const result = await measureWake(persistDir, firstSubscriber - w, `${sessions}-q${queued}-${w}`);
    const expected = sessions * filtersPerClient;
    if (result.restored !== expected) throw new Error(`the object restored ${result.restored} subscriptions, not ${expected}`);
    log(`  wake ${w + 1}/${wakes}: CONNACK ${result.connackMs.toFixed(0)} ms, delivery ${result.deliveryMs.toFixed(1)} ms, heap ${result.heapBeforeMb.toFixed(1)} → ${result.heapAfterMb.toFixed(1)} MB, RSS ${result.rssMb.toFixed(0)} MB`);
    results.push(result);
  }
  return results;
}

const baseline = await measureBaseline();
log(`a namespace without sessions: wake → CONNACK ${baseline.connackMs.toFixed(0)} ms, heap ${baseline.heapMb.toFixed(1)} MB`);

const rows: Row[] = [];
for (const sessions of sessionCounts) {
  const persistDir = mkdtempSync(join(tmpdir(), 'mqtt-big-'));
  try {
    log(`S = ${sessions}, F = ${filtersPerClient}: seeding ${sessions * filtersPerClient} subscriptions, ${concurrency} clients at once`);
    const seeding = await startRuntime(persistDir);
    const seedMs = await seed(seeding.edge.mqttUrl, sessions);
    const seeded = await stopRuntime(seeding);
    if (seeded.sessions !== sessions || seeded.subscriptions !== sessions * filtersPerClient) throw new Error(`seeded ${JSON.stringify(seeded)}, not ${sessions} sessions of ${filtersPerClient}`);
    log(`  seeded in ${(seedMs / 1000).toFixed(1)} s (${((sessions * 1000) / seedMs).toFixed(0)} sessions/s); SQLite ${JSON.stringify(sqliteMb(persistDir))} MB`);
    rows.push({ sessions, queued: 0, seedS: seedMs / 1000, fanoutMs: undefined, sqlite: sqliteMb(persistDir), wakes: await wakePass(persistDir, sessions, 0, sessions - 1) });

    if (queuedPerSession > 0) {
      // N QoS 1 messages that match `all/#`: one queue row per offline session each.
      const runtime = await startRuntime(persistDir);
      const publisher = await connect(runtime.edge.mqttUrl, { clientId: 'queue-filler', protocolVersion, clean: true });
      const fanoutStarted = performance.now();
      for (let n = 0; n < queuedPerSession; n++) await publishQos1(publisher.client, 'all/queued', `queued ${n}`);
      const fanoutMs = (performance.now() - fanoutStarted) / queuedPerSession;
      await end(publisher.client);
      await stopRuntime(runtime);
      log(`  ${queuedPerSession} QoS 1 message(s) queued for ${sessions} sessions: ${fanoutMs.toFixed(0)} ms each to PUBACK`);
      rows.push({ sessions, queued: queuedPerSession, seedS: seedMs / 1000, fanoutMs, sqlite: sqliteMb(persistDir), wakes: await wakePass(persistDir, sessions, queuedPerSession, sessions - 1 - wakes) });
    }
  } finally {
    rmSync(persistDir, { recursive: true, force: true });
  }
}

// ---- the table -------------------------------------------------------------------------------

const date = new Date().toISOString().slice(0, 10);
const fixed = (value: number, digits: number): string => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const lines = [
  `Wake of one namespace with S persistent sessions of F subscriptions each, MQTT ${protocolVersion === 5 ? '5.0' : '3.1.1'} over WebSocket, local workerd; medians of ${wakes} wakes (runtime restarted on the same storage each time).`,
  '',
  `A namespace without sessions (S = 0) wakes to its first CONNACK in ${fixed(baseline.connackMs, 0)} ms, with ${fixed(baseline.heapMb, 1)} MB of heap in the isolate.`,
  '',
  '| date | S | F | queued per session | wake → CONNACK ms | first delivery ms | JS heap MB before → after (of 128) | workerd RSS MB | SQLite MB on disk (of it WAL) |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((row) => {
    const m = (pick: (w: WakeResult) => number): number => median(row.wakes.map(pick));
    const connacks = row.wakes.map((w) => w.connackMs);
    return `| ${date} | ${row.sessions.toLocaleString('en-US')} | ${filtersPerClient} | ${row.queued} | ${fixed(m((w) => w.connackMs), 0)} (${fixed(Math.min(...connacks), 0)}–${fixed(Math.max(...connacks), 0)}) | ${fixed(m((w) => w.deliveryMs), 1)} | ${fixed(m((w) => w.heapBeforeMb), 1)} → ${fixed(m((w) => w.heapAfterMb), 1)} (${fixed((100 * m((w) => w.heapAfterMb)) / isolateLimitMb, 0)} %) | ${fixed(m((w) => w.rssMb), 0)} | ${fixed(row.sqlite.database + row.sqlite.wal, 1)} (${fixed(row.sqlite.wal, 1)}) |`;
  }),
  '',
  ...rows.map((row) => {
    const extra = row.fanoutMs === undefined ? '' : `; queuing the message for every session took ${fixed(row.fanoutMs, 0)} ms to PUBACK`;
    // What the wake costs beyond an object without storage, per subscription restored: flat if the restore is linear.
    const restoreMs = median(row.wakes.map((w) => w.connackMs)) - baseline.connackMs;
    const perThousand = (1000 * restoreMs) / (row.sessions * filtersPerClient);
    return `- S = ${row.sessions.toLocaleString('en-US')}, queued ${row.queued}: wake beyond S = 0 ${fixed(restoreMs, 0)} ms (${fixed(perThousand, 2)} ms per 1,000 subscriptions); seeded at ${fixed(row.sessions / row.seedS, 0)} sessions/s; resuming one session took ${fixed(median(row.wakes.map((w) => w.resumeMs)), 1)} ms${extra}.`;
  }),
];
console.log(lines.join('\n'));
// An abandoned start (see startEdgeWithInspector) may leave Miniflare's loopback server open.
process.exit(0);
