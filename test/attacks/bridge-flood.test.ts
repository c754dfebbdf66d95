/**
 * A remote broker attacks the sidecar's bridge (MQTT_BRIDGES). Flooding it
 * with QoS 0 once raised the witnesses' p99 to 1.7 s (WebSocket) and 3.0 s
 * (TCP); one PUBLISH announcing 250 MB was buffered whole by the bridge's
 * MQTT.js client. Now the bridge reaches the edge as a channel of the link,
 * with its credit, and is not read from the remote while that is spent (TCP
 * slows the remote); a packet larger than MQTT_MAX_PACKET_SIZE ends the
 * connection at its fixed header (an MQTT 5 remote is told the limit in
 * CONNECT). The sidecar stays small, the devices and the clients of the
 * edge keep every message and their latency.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestEdge } from '../helpers/edge.ts';
import { eventually } from '../helpers/mqtt-clients.ts';
import { startHostileBroker, type HostileBroker } from './hostile-broker.ts';
import { startEdgeAndSidecar, type SidecarProcess } from './sidecar-process.ts';
import { expectUnharmed, startVictim } from './victim.ts';

const FloodMs = 4_000;
const MaxPacketSize = 1024 * 1024;
/** What the sidecar may grow by (see ping-flood.test.ts): 250 MB did before. */
const MaxGrowthBytes = 96 * 1024 * 1024;

let edge: TestEdge;
let sidecar: SidecarProcess;
let stop: () => Promise<void> = async () => undefined;
let flooder: HostileBroker;
let oversized311: HostileBroker;
let oversized5: HostileBroker;

const block = (name: string, port: number, protocol: string): string[] => [
  `connection ${name}`,
  `address 127.0.0.1:${port}`,
  `topic ${name}/# in 0`,
  `bridge_protocol_version ${protocol}`,
  'cleansession true',
  'notifications false',
  'restart_timeout 30',
];

beforeAll(async () => {
  [flooder, oversized311, oversized5] = await Promise.all([startHostileBroker(4), startHostileBroker(4), startHostileBroker(5)]);
  ({ edge, sidecar, stop } = await startEdgeAndSidecar({
    MQTT_MAX_PACKET_SIZE: String(MaxPacketSize),
    MQTT_BRIDGES: [...block('flood', flooder.port, 'mqttv311'), ...block('big', oversized311.port, 'mqttv311'), ...block('big5', oversized5.port, 'mqttv50')].join('\n'),
  }));
  await eventually(() => sidecar.lines.filter((line) => line['event'] === 'bridge.connected').length === 3, 20_000, 'the three bridges connected');
  await eventually(() => flooder.subscribed() && oversized311.subscribed() && oversized5.subscribed(), 10_000, 'the bridges subscribed');
});
afterAll(async () => {
  await stop();
  await Promise.all([flooder?.close(), oversized311?.close(), oversized5?.close()]);
});

it('slows a remote broker that floods its bridge with QoS 0 instead of holding it or letting it take the link', { timeout: 60_000 }, async () => {
  const tcpVictim = await startVictim(`mqtt://127.0.0.1:${sidecar.tcpPort}`);
  const wsVictim = await startVictim(edge.mqttUrl);
  const before = await sidecar.memory();
  const { bytes, stalled } = await flooder.flood('flood/in', FloodMs);
  const after = await sidecar.memory();
  console.log(`remote broker flooding its bridge: ${(bytes / 2 ** 20).toFixed(0)} MiB of QoS 0 in ${FloodMs} ms (slowed by the bridge: ${stalled}); sidecar RSS ${(before.rss / 2 ** 20).toFixed(0)} → ${(after.rss / 2 ** 20).toFixed(0)} MiB, heap ${(before.heapUsed / 2 ** 20).toFixed(0)} → ${(after.heapUsed / 2 ** 20).toFixed(0)} MiB`);
  expect(after.rss - before.rss).toBeLessThan(MaxGrowthBytes);
  expect(sidecar.exited).toBeUndefined();
  expectUnharmed(await tcpVictim.stop(), 'a remote broker flooding a bridge (TCP client through the sidecar)');
  expectUnharmed(await wsVictim.stop(), 'a remote broker flooding a bridge (WebSocket client)');
});

it('hangs up on a remote PUBLISH larger than MQTT_MAX_PACKET_SIZE at its fixed header, and tells an MQTT 5 remote the limit', async () => {
  expect(oversized5.connect()?.properties?.maximumPacketSize).toBe(MaxPacketSize);
  const before = await sidecar.memory();
  const { written, closed } = await oversized311.oversized('big/file', 250 * 1000 * 1000);
  const after = await sidecar.memory();
  console.log(`a PUBLISH announcing 250 MB: the bridge hung up after ${(written / 2 ** 20).toFixed(1)} MiB written (socket buffers); sidecar RSS ${(before.rss / 2 ** 20).toFixed(0)} → ${(after.rss / 2 ** 20).toFixed(0)} MiB`);
  expect(closed).toBe(true);
  // What the sockets' buffers hold, not the message.
  expect(written).toBeLessThan(32 * 1024 * 1024);
  expect(after.rss - before.rss).toBeLessThan(MaxGrowthBytes);
  await eventually(() => sidecar.lines.some((line) => line['event'] === 'bridge.disconnected' && line['bridge'] === 'big' && String(line['error']).includes('MQTT_MAX_PACKET_SIZE')), 10_000, 'bridge.disconnected naming the limit');
  // The MQTT 5 remote, told the limit, would not send it; if it did, the same guard ends it.
  const { closed: closed5 } = await oversized5.oversized('big5/file', 2 * MaxPacketSize);
  expect(closed5).toBe(true);
  expect(sidecar.exited).toBeUndefined();
});
