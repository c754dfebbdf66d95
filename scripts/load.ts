/**
 * Load scenario: thousands of concurrent MQTT clients on one namespace,
 * TCP devices through the sidecar and WebSocket clients straight to the
 * edge, with continuous QoS 1 traffic between them for a bounded time.
 * Checks that every acknowledged QoS 1 message is delivered (at least once,
 * duplicates counted) and reports the memory of workerd and the sidecar.
 *
 *   npx tsx scripts/load.ts [--tcp 5000] [--ws 1000] [--rate 1000] [--duration 30]
 *
 * Only loopback addresses are used; every phase is bounded in time.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { freePort } from './free-port.ts';
import { repoRoot, startLocalEdge } from './local-edge.ts';
import { childPids, rssKb } from './processes.ts';

const { values: args } = parseArgs({
  options: {
    tcp: { type: 'string', default: '5000' },
    ws: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '30' },
    'connect-rate': { type: 'string', default: '500' },
  },
});
const tcpClients = Number(args.tcp);
const wsClients = Number(args.ws);
const rate = Number(args.rate);
const durationS = Number(args.duration);
const connectRate = Number(args['connect-rate']);
const hardLimitMs = (durationS + 300) * 1000;
const bridgeSecret = 'load-test-secret';

const log = (text: string): void => void process.stderr.write(`[load] ${text}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
setTimeout(() => {
  log(`hard time limit of ${hardLimitMs / 1000} s reached; aborting`);
  process.exit(2);
}, hardLimitMs).unref();

// ---- a minimal MQTT 3.1.1 client (no per-message allocations beyond parsing) --------

interface LoadClient {
  id: number;
  topic: string;
  ready: boolean;
  write(bytes: Buffer): void;
  close(): void;
  nextPacketId: number;
}

const counts = { acked: 0, sent: 0, delivered: 0, duplicates: 0, connectFailures: 0, disconnects: 0 };
const ackedIds = new Set<number>();
const deliveredIds = new Set<number>();
const pendingAcks = new Map<string, number>();

function handlePacket(client: LoadClient, packet: mqttPacket.Packet, onReady: () => void): void {
  switch (packet.cmd) {
    case 'connack':
      if ((packet.returnCode ?? 0) !== 0) {
        counts.connectFailures++;
        client.close();
        return;
      }
      client.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: client.topic, qos: 1 }] }));
      return;
    case 'suback':
      client.ready = true;
      onReady();
      return;
    case 'publish': {
      const id = Number((packet.payload as Buffer).toString());
      if (deliveredIds.has(id)) counts.duplicates++;
      else {
        deliveredIds.add(id);
        counts.delivered++;
      }
      if (packet.qos > 0) client.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId as number }));
      return;
    }
    case 'puback': {
      const key = `${client.id}:${packet.messageId}`;
      const id = pendingAcks.get(key);
      if (id !== undefined) {
        pendingAcks.delete(key);
        ackedIds.add(id);
        counts.acked++;
      }
      return;
    }
    default:
  }
}

function openClient(id: number, kind: 'tcp' | 'ws', target: string | number, onReady: () => void): LoadClient {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const connectBytes = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `load-${kind}-${id}`, clean: true, keepalive: 120 });
  let client: LoadClient;
  if (kind === 'tcp') {
    const socket: Socket = tcpConnect(target as number, '127.0.0.1');
    socket.setNoDelay(true);
    client = { id, topic: `load/${id}`, ready: false, nextPacketId: 1, write: (b) => void socket.write(b), close: () => socket.destroy() };
    socket.on('connect', () => socket.write(connectBytes));
    socket.on('data', (data) => parser.parse(data));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (client.ready) counts.disconnects++;
      else counts.connectFailures++;
      client.ready = false;
    });
  } else {
    const ws = new WebSocket(target as string, 'mqtt');
    client = { id, topic: `load/${id}`, ready: false, nextPacketId: 1, write: (b) => ws.readyState === ws.OPEN && ws.send(b), close: () => ws.terminate() };
    ws.on('open', () => ws.send(connectBytes));
    ws.on('message', (data: Buffer) => parser.parse(data));
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (client.ready) counts.disconnects++;
      else counts.connectFailures++;
      client.ready = false;
    });
  }
  parser.on('packet', (packet) => handlePacket(client, packet, onReady));
  parser.on('error', () => client.close());
  return client;
}

// ---- the run ---------------------------------------------------------------------

const persistDir = mkdtempSync(join(tmpdir(), 'mqtt-load-'));
const edgePort = await freePort();
const sidecarPort = await freePort();
const edge = await startLocalEdge({ port: edgePort, persistDir, vars: { MQTT_BRIDGE_SECRET: bridgeSecret, MQTT_LOG_LEVEL: 'warn' } });
const sidecar = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'sidecar', 'main.ts')], {
  cwd: repoRoot,
  env: { ...process.env, MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: String(sidecarPort), MQTT_EDGE_URL: edge.mqttUrl, MQTT_BRIDGE_SECRET: bridgeSecret, MQTT_LOG_LEVEL: 'warn', MQTT_MAX_CONNECTIONS: String(tcpClients + 100) },
  stdio: ['ignore', 'ignore', 'inherit'],
});
await sleep(1500);
const workerdPids = childPids(process.pid, 'workerd');
const sidecarPid = sidecar.pid as number;
const memory = (): { workerd: number; sidecar: number } => ({
  workerd: workerdPids.reduce((sum, pid) => sum + rssKb(pid), 0),
  sidecar: rssKb(sidecarPid),
});
const baseline = memory();
let peak = { ...baseline };
const sampler = setInterval(() => {
  const now = memory();
  peak = { workerd: Math.max(peak.workerd, now.workerd), sidecar: Math.max(peak.sidecar, now.sidecar) };
}, 500);
log(`edge on ${edge.mqttUrl} (workerd ${workerdPids.join(',')}), sidecar on ${sidecarPort} (pid ${sidecarPid}); baseline RSS workerd ${baseline.workerd} kB, sidecar ${baseline.sidecar} kB`);

const clients: LoadClient[] = [];
let readyCount = 0;
const connectStarted = Date.now();
const total = tcpClients + wsClients;
for (let i = 0; i < total; i++) {
  const kind = i < tcpClients ? 'tcp' : 'ws';
  clients.push(openClient(i, kind, kind === 'tcp' ? sidecarPort : edge.mqttUrl, () => readyCount++));
  if (i % connectRate === connectRate - 1) {
    await sleep(1000);
    log(`connecting: ${readyCount}/${i + 1} ready`);
  }
}
const connectDeadline = Date.now() + 120_000;
while (readyCount + counts.connectFailures < total && Date.now() < connectDeadline) await sleep(200);
const connectSeconds = (Date.now() - connectStarted) / 1000;
const afterConnect = memory();
log(`${readyCount} of ${total} clients ready in ${connectSeconds.toFixed(1)} s (${counts.connectFailures} failed); RSS workerd ${afterConnect.workerd} kB, sidecar ${afterConnect.sidecar} kB`);

// Continuous QoS 1 traffic: each message from a random ready client to another one's topic.
let nextMessageId = 0;
const trafficEnds = Date.now() + durationS * 1000;
const tickMs = 50;
while (Date.now() < trafficEnds) {
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  for (let n = 0; n < perTick; n++) {
    const from = clients[Math.floor(Math.random() * clients.length)] as LoadClient;
    const to = clients[Math.floor(Math.random() * clients.length)] as LoadClient;
    if (!from.ready || !to.ready) continue;
    const id = nextMessageId++;
    const packetId = from.nextPacketId;
    from.nextPacketId = packetId >= 65535 ? 1 : packetId + 1;
    pendingAcks.set(`${from.id}:${packetId}`, id);
    from.write(mqttPacket.generate({ cmd: 'publish', topic: to.topic, payload: Buffer.from(String(id)), qos: 1, messageId: packetId, retain: false, dup: false }));
    counts.sent++;
  }
  await sleep(tickMs);
}
log(`traffic done: ${counts.sent} sent, ${counts.acked} acknowledged so far; draining`);
const drainDeadline = Date.now() + 30_000;
const lost = (): number => [...ackedIds].filter((id) => !deliveredIds.has(id)).length;
while (Date.now() < drainDeadline && (lost() > 0 || counts.acked < counts.sent - counts.disconnects)) await sleep(250);
const held = clients.filter((c) => c.ready).length;
clearInterval(sampler);
const final = memory();

const result = {
  date: new Date().toISOString().slice(0, 10),
  tcp_clients: tcpClients,
  ws_clients: wsClients,
  connected: readyCount,
  held_at_end: held,
  connect_failures: counts.connectFailures,
  connect_seconds: Number(connectSeconds.toFixed(1)),
  duration_s: durationS,
  target_rate: rate,
  sent: counts.sent,
  acknowledged: counts.acked,
  delivered: counts.delivered,
  lost_acknowledged: lost(),
  duplicates: counts.duplicates,
  unexpected_disconnects: counts.disconnects,
  rss_kb: { workerd: { baseline: baseline.workerd, after_connect: afterConnect.workerd, peak: peak.workerd, end: final.workerd }, sidecar: { baseline: baseline.sidecar, after_connect: afterConnect.sidecar, peak: peak.sidecar, end: final.sidecar } },
  kb_per_connection: {
    workerd: Number(((afterConnect.workerd - baseline.workerd) / Math.max(1, readyCount)).toFixed(2)),
    sidecar_per_tcp_client: Number(((afterConnect.sidecar - baseline.sidecar) / Math.max(1, tcpClients)).toFixed(2)),
  },
};
console.log(JSON.stringify(result));

for (const client of clients) client.close();
sidecar.kill('SIGTERM');
await edge.dispose();
rmSync(persistDir, { recursive: true, force: true });
process.exit(result.lost_acknowledged === 0 && readyCount === total ? 0 : 1);
