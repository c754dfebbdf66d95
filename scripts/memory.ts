/**
 * npm run memory -- [--only wildcards,replay,bigret,offline,qos2] [--retained 100000] [--filters 100] [--rounds 2] [--sessions 30]
 *
 * What the attacks on a namespace's memory cost its isolate (128 MB on
 * Cloudflare), each on a fresh edge on workerd with its V8 inspector open,
 * while a victim client of the same namespace (scripts/victim.ts) measures
 * its round trips:
 *
 * - wildcards: N retained messages (`ret/<i>`, 16 bytes, QoS 1), then one
 *   SUBSCRIBE of F filters `+/nomatch-<i>` that match none: time to SUBACK;
 * - replay: a client subscribes to `ret/#` over them, gets all N, and
 *   unsubscribes, --rounds times at QoS 0 and as many at QoS 1;
 * - bigret: the same over 200 retained messages of 1 MB (`bigret/#`);
 * - offline: --sessions persistent sessions subscribed to `off/#` at QoS 1
 *   go offline, 16 messages of 1 MB are published, then they come back
 *   all at once and read their queues;
 * - qos2: a 3.1.1 client sends 60,000 QoS 2 PUBLISH and never PUBREL.
 *
 * For each: the isolate's JavaScript heap after a full collection before
 * and after (`Runtime.getHeapUsage`; workerd gives a Worker no heap figure
 * of its own), its highest reading without collection while the attack ran
 * (sampled every 250 ms; the isolate answers its inspector between events,
 * so a long synchronous stretch shows as a gap, not a reading), the
 * highest RSS of workerd, the storage on disk, the victim's losses and
 * latency, and the attack's own figures. Prints a Markdown table.
 *
 * The edge runs with the default limits and what --vars NAME=value,... sets.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { heapUsage, inspectEdge, startEdgeWithInspector, within as withinMs } from './inspected-edge.ts';
import type { Inspector } from './inspector.ts';
import { buildEdge, type LocalEdge } from './local-edge.ts';
import { childPids, rssKb } from './processes.ts';
import { openRawClient, publishMany } from './raw-client.ts';
import { startVictim, type VictimReport } from './victim.ts';

const { values: args } = parseArgs({
  options: {
    only: { type: 'string', default: 'wildcards,replay,bigret,offline,qos2' },
    retained: { type: 'string', default: '100000' },
    filters: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '2' },
    sessions: { type: 'string', default: '30' },
    verbose: { type: 'boolean', default: false },
    /** More settings for the edge, NAME=value,NAME=value (e.g. to see an attack without one limit). */
    vars: { type: 'string', default: '' },
  },
});
const extraVars = Object.fromEntries(args.vars.split(',').filter((pair) => pair.includes('=')).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
const retainedCount = Number(args.retained);
const filterCount = Number(args.filters);
const rounds = Number(args.rounds);
const sessionCount = Number(args.sessions);
const attacks = args.only.split(',');
/** A payload that fits the default maximum packet size (1 MiB, fixed header and topic included). */
const BigPayloadBytes = 1_048_000;
const adminToken = 'memory-admin';
const stepTimeoutMs = 600_000;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const log = (text: string): void => void process.stderr.write(`[memory] ${text}\n`);

interface Measured {
  edge: LocalEdge;
  inspector: Inspector;
  persistDir: string;
  workerd: number[];
}

interface Row {
  attack: string;
  /** Heap and ArrayBuffers after a full collection. */
  beforeMb: number;
  afterMb: number;
  peaks: Peaks;
  storageMb: number;
  victim: VictimReport;
  figures: string;
}

function within<T>(promise: Promise<T>, what: string, ms = stepTimeoutMs): Promise<T> {
  return withinMs(promise, what, ms);
}

async function startMeasured(scriptPath: string): Promise<Measured> {
  const persistDir = mkdtempSync(join(tmpdir(), 'mqtt-memory-'));
  const { edge, inspectorPort } = await startEdgeWithInspector(
    {
      port: 0,
      persistDir,
      scriptPath,
      vars: { MQTT_ADMIN_TOKEN: adminToken, MQTT_LOG_LEVEL: 'warn', ...extraVars },
      onLogLine: (line) => {
        if (args.verbose || line.includes('"error"')) log(`  edge: ${line.slice(0, 300)}`);
      },
    },
    log,
  );
  return { edge, inspector: await inspectEdge(edge, inspectorPort), persistDir, workerd: childPids(process.pid, 'workerd') };
}

function directoryMb(path: string): number {
  let bytes = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const full = join(path, entry.name);
    bytes += entry.isDirectory() ? directoryMb(full) * 2 ** 20 : (statSync(full, { throwIfNoEntry: false })?.size ?? 0);
  }
  return bytes / 2 ** 20;
}

interface Peaks {
  /** The most heap and ArrayBuffers in use at a full collection (every 2 s): what was live. */
  liveMb: number;
  /** The most heap and ArrayBuffers without collecting first (every 250 ms): garbage included. */
  allocatedMb: number;
  rssMb: number;
}

/**
 * The peaks while `work` runs. The isolate answers its inspector between
 * events, so what one event holds and frees again within itself is not
 * seen; what waits between events (output, pages, queues) is.
 */
async function sampled<T>(measured: Measured, work: () => Promise<T>): Promise<{ value: T; peaks: Peaks }> {
  const peaks: Peaks = { liveMb: 0, allocatedMb: 0, rssMb: 0 };
  let reading = false;
  let done = false;
  let samples = 0;
  const sample = (): void => {
    peaks.rssMb = Math.max(peaks.rssMb, measured.workerd.reduce((sum, pid) => sum + rssKb(pid), 0) / 1024);
    if (reading || done) return;
    reading = true;
    const collect = samples++ % 8 === 7;
    heapUsage(measured.inspector, collect).then(
      (usage) => {
        const total = usage.usedMb + usage.backingMb;
        if (collect) peaks.liveMb = Math.max(peaks.liveMb, total);
        peaks.allocatedMb = Math.max(peaks.allocatedMb, total);
        reading = false;
      },
      () => (reading = false),
    );
  };
  const timer = setInterval(sample, 250);
  try {
    const value = await work();
    sample();
    return { value, peaks };
  } finally {
    done = true;
    clearInterval(timer);
  }
}

function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return within(mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 0, ...options }), 'connect');
}

/** Publishes `count` retained messages at QoS 1 (so that a replay at QoS 1 goes through the window), many to a WebSocket message. */
async function seedRetained(url: string, count: number, topicOf: (i: number) => string, payload: Buffer): Promise<void> {
  const client = await openRawClient(url, { clientId: 'seeder' });
  await publishMany(client, count, topicOf, payload, { retain: true, qos: 1 });
  client.close();
}

/**
 * Subscribes, waits for `expected` retained messages (or until none came
 * for 10 s: a broker may drop what does not fit a queue), unsubscribes;
 * what came and how long it took.
 */
async function replay(client: MqttClient, filter: string, qos: 0 | 1, expected: number): Promise<string> {
  const topics = new Set<string>();
  let lastAt = performance.now();
  const started = performance.now();
  const onMessage = (topic: string, _payload: Buffer, packet: mqtt.IPublishPacket): void => {
    if (!packet.retain) return;
    topics.add(topic);
    lastAt = performance.now();
  };
  client.on('message', onMessage);
  await within(client.subscribeAsync(filter, { qos }), `SUBSCRIBE ${filter}`);
  while (topics.size < expected && performance.now() - lastAt < 10_000) await new Promise((resolve) => setTimeout(resolve, 20));
  client.off('message', onMessage);
  const got = topics.size;
  const elapsed = (got < expected ? lastAt : performance.now()) - started;
  await within(client.unsubscribeAsync(filter), `UNSUBSCRIBE ${filter}`);
  return `q${qos} ${got < expected ? `${got.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')}` : 'all'} in ${seconds(elapsed)}`;
}


async function measure(name: string, scriptPath: string, setup: (m: Measured) => Promise<void>, attack: (m: Measured) => Promise<string>): Promise<Row> {
  log(`${name}: starting the edge`);
  const measured = await startMeasured(scriptPath);
  try {
    const setupStarted = performance.now();
    await setup(measured);
    log(`${name}: set up in ${seconds(performance.now() - setupStarted)}`);
    const victim = await startVictim(measured.edge.mqttUrl);
    const before = await heapUsage(measured.inspector, true);
    log(`${name}: heap ${before.usedMb.toFixed(1)} MB before; attacking`);
    // A failed attack (the broker closed the attacker, say) is a result too: reported, not fatal.
    const { value: figures, peaks } = await sampled(measured, () => attack(measured).catch((error: unknown) => `failed: ${error instanceof Error ? error.message : String(error)}`));
    const report = await victim.stop();
    const after = await heapUsage(measured.inspector, true);
    const row: Row = {
      attack: name,
      beforeMb: before.usedMb + before.backingMb,
      afterMb: after.usedMb + after.backingMb,
      peaks,
      storageMb: directoryMb(measured.persistDir),
      victim: report,
      figures,
    };
    log(`${name}: ${JSON.stringify(row)}`);
    return row;
  } finally {
    measured.inspector.close();
    await measured.edge.dispose();
    rmSync(measured.persistDir, { recursive: true, force: true });
  }
}

const smallPayload = Buffer.alloc(16, 7);
const bigPayload = Buffer.alloc(BigPayloadBytes, 7);

const scenarios: Record<string, { setup: (m: Measured) => Promise<void>; attack: (m: Measured) => Promise<string> }> = {
  wildcards: {
    setup: (m) => seedRetained(m.edge.mqttUrl, retainedCount, (i) => `ret/${i}`, smallPayload),
    async attack(m) {
      const client = await connect(m.edge.mqttUrl, { clientId: 'wildcards' });
      const started = performance.now();
      await within(client.subscribeAsync(Array.from({ length: filterCount }, (_, i) => `+/nomatch-${i}`), { qos: 0 }), 'SUBACK');
      const subackMs = performance.now() - started;
      // Whatever the broker still does for the filters after its SUBACK happens while the victim runs.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await client.endAsync();
      return `${retainedCount.toLocaleString('en-US')} retained, ${filterCount} filters: SUBACK in ${subackMs.toFixed(0)} ms`;
    },
  },
  replay: {
    setup: (m) => seedRetained(m.edge.mqttUrl, retainedCount, (i) => `ret/${i}`, smallPayload),
    async attack(m) {
      const client = await connect(m.edge.mqttUrl, { clientId: 'replayer' });
      const times: string[] = [];
      for (const qos of [0, 1] as const) for (let r = 0; r < rounds; r++) times.push(await replay(client, 'ret/#', qos, retainedCount));
      await client.endAsync();
      return `${retainedCount.toLocaleString('en-US')} retained, ret/# subscribed and unsubscribed: ${times.join(', ')}`;
    },
  },
  bigret: {
    setup: (m) => seedRetained(m.edge.mqttUrl, 200, (i) => `bigret/${i}`, bigPayload),
    async attack(m) {
      const client = await connect(m.edge.mqttUrl, { clientId: 'bigreplayer' });
      const times: string[] = [];
      for (const qos of [0, 1] as const) for (let r = 0; r < rounds; r++) times.push(await replay(client, 'bigret/#', qos, 200));
      await client.endAsync();
      return `200 retained of 1 MB, bigret/# subscribed and unsubscribed: ${times.join(', ')}`;
    },
  },
  offline: {
    async setup(m) {
      for (let i = 0; i < sessionCount; i++) {
        const client = await connect(m.edge.mqttUrl, { clientId: `offline-${i}`, clean: false, properties: { sessionExpiryInterval: 3600 } });
        await client.subscribeAsync('off/#', { qos: 1 });
        await client.endAsync();
      }
    },
    async attack(m) {
      const publisher = await connect(m.edge.mqttUrl, { clientId: 'filler' });
      const filled = performance.now();
      for (let i = 0; i < 16; i++) await within(publisher.publishAsync(`off/${i}`, bigPayload, { qos: 1 }), `PUBACK ${i}`);
      const fillMs = performance.now() - filled;
      await publisher.endAsync();
      const storageMb = directoryMb(m.persistDir);
      const resumed = performance.now();
      let got = 0;
      let lastAt = performance.now();
      const clients = Array.from({ length: sessionCount }, (_, i) => {
        const client = mqtt.connect(m.edge.mqttUrl, { clientId: `offline-${i}`, clean: false, protocolVersion: 5, reconnectPeriod: 0, keepalive: 0, properties: { sessionExpiryInterval: 3600 } });
        client.on('message', () => {
          got++;
          lastAt = performance.now();
        });
        client.on('error', () => undefined);
        return client;
      });
      // Until every session has its 16, or none came for 10 s (the namespace's queues may have dropped some).
      while (got < sessionCount * 16 && performance.now() - lastAt < 10_000) await new Promise((resolve) => setTimeout(resolve, 20));
      const readMs = (got < sessionCount * 16 ? lastAt : performance.now()) - resumed;
      await Promise.all(clients.map((client) => client.endAsync()));
      return `${sessionCount} sessions × 16 × 1 MB: queued in ${seconds(fillMs)} (storage ${storageMb.toFixed(0)} MB), ${got === sessionCount * 16 ? 'all' : `${got} of ${sessionCount * 16}`} read back in ${seconds(readMs)}`;
    },
  },
  qos2: {
    setup: async () => undefined,
    async attack(m) {
      const client = await openRawClient(m.edge.mqttUrl, { clientId: 'no-pubrel', level: 4, clean: false });
      const total = 60_000;
      for (let i = 0; i < total && !client.isClosed; i += 500) {
        client.send(Array.from({ length: Math.min(500, total - i) }, (_, j) => ({ cmd: 'publish' as const, topic: 'q2/x', payload: Buffer.from('x'), qos: 2 as const, retain: false, dup: false, messageId: ((i + j) % 65_535) + 1 })));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const pubrecs = (): number => client.packets.filter((packet) => packet.cmd === 'pubrec').length;
      const deadline = Date.now() + 60_000;
      while (!client.isClosed && pubrecs() < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      const closed = client.isClosed;
      client.close();
      const response = await fetch(new URL('/admin/default/clients?q=no-pubrel', m.edge.url), { headers: { Authorization: `Bearer ${adminToken}` } });
      const clients = ((await response.json()) as { clients: Array<{ clientId: string; awaitingRel: number }> }).clients;
      const awaiting = clients.find((c) => c.clientId === 'no-pubrel')?.awaitingRel ?? 0;
      const count = pubrecs();
      return `60,000 QoS 2 PUBLISH without PUBREL: ${count.toLocaleString('en-US')} PUBREC, ${awaiting.toLocaleString('en-US')} kept awaiting PUBREL, connection ${closed ? 'closed' : 'open'}`;
    },
  },
};

const scriptPath = await buildEdge();
const rows: Row[] = [];
for (const name of attacks) {
  const scenario = scenarios[name];
  if (scenario === undefined) throw new Error(`--only: unknown attack "${name}"; one of ${Object.keys(scenarios).join(', ')}`);
  rows.push(await measure(name, scriptPath, scenario.setup, scenario.attack));
}

const fixed = (value: number, digits = 1): string => value.toFixed(digits);
console.log(
  [
    `Measured ${new Date().toISOString().slice(0, 10)}, \`npm run memory -- --only ${attacks.join(',')} --retained ${retainedCount} --filters ${filterCount} --rounds ${rounds} --sessions ${sessionCount}\``,
    '',
    '| attack | isolate MB (heap + ArrayBuffers, of 128): before → live peak → after | allocated peak MB (garbage included) | workerd RSS MB, peak | storage MB | victim: lost, p50 / p99 / max ms | the attack |',
    '|---|---:|---:|---:|---:|---|---|',
    ...rows.map(
      (row) =>
        `| ${row.attack} | ${fixed(row.beforeMb)} → ${fixed(Math.max(row.peaks.liveMb, row.afterMb))} → ${fixed(row.afterMb)} | ${fixed(row.peaks.allocatedMb)} | ${fixed(row.peaks.rssMb, 0)} | ${fixed(row.storageMb, 0)} | ${row.victim.lost} of ${row.victim.sent}, ${fixed(row.victim.p50, 0)} / ${fixed(row.victim.p99, 0)} / ${fixed(row.victim.max, 0)} | ${row.figures} |`,
    ),
  ].join('\n'),
);
process.exit(0);
