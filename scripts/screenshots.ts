/**
 * The dashboard's screenshots in docs/operations.md (docs/images/dashboard-*.png): a local
 * edge on a free port with a few devices publishing, a sidecar with a TCP
 * device and two broker bridges (one to a local mosquitto when Debian's is
 * installed, one to an address nobody answers), a few hundred sessions to
 * page through, a client awaiting PUBREL, a few refusals, and the page in
 * headless Chromium (Debian's /usr/bin/chromium) at 1,280 px and on a
 * 390 px phone.
 *
 *   npx tsx scripts/screenshots.ts
 */
import { existsSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { chromium, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { repoRoot, startLocalEdge } from './local-edge.ts';
import { loadSidecarConfig } from '../sidecar/config.ts';
import { createLogger } from '../sidecar/log.ts';
import { startSidecar } from '../sidecar/server.ts';

const token = 'screenshot-token';
const secret = 'screenshot-bridge-secret';
const outDir = join(repoRoot, 'docs', 'images');
/** How long the devices publish before the pictures: enough for the live chart to have a shape. */
const TrafficMs = 25_000;
const mosquittoBinary = '/usr/sbin/mosquitto';

const edge = await startLocalEdge({
  port: 0,
  vars: {
    MQTT_ADMIN_TOKEN: token,
    MQTT_BRIDGE_SECRET: secret,
    MQTT_NAMESPACES: 'default lab tenant-*',
    MQTT_RULES: JSON.stringify([{ name: 'kitchen-to-archive', filter: 'sensors/kitchen/#', to: 'republish:archive/kitchen' }]),
  },
});
const clients: MqttClient[] = [];
const cleanups: Array<() => void | Promise<void>> = [];

function connect(clientId: string, options: mqtt.IClientOptions = {}, url = edge.mqttUrl): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { clientId, protocolVersion: 5, reconnectPeriod: 0, ...options });
    clients.push(client);
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

async function admin(method: string, path: string, body?: unknown): Promise<void> {
  await fetch(new URL(path, edge.url), { method, headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

/** A raw WebSocket client: what MQTT.js would never do (a QoS 2 PUBLISH left without its PUBREL, a malformed packet). */
async function rawClient(clientId: string, then: (ws: WebSocket) => void): Promise<void> {
  const ws = new WebSocket(edge.mqttUrl, 'mqtt');
  await new Promise((resolve) => ws.once('open', resolve));
  cleanups.push(() => ws.terminate());
  ws.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0 }, { protocolVersion: 5 }));
  await new Promise((resolve) => ws.once('message', resolve));
  then(ws);
}

/** Debian's mosquitto on a free port, as a bridge's remote broker; undefined when it is not installed. */
async function startRemote(): Promise<number | undefined> {
  if (!existsSync(mosquittoBinary)) return undefined;
  const port = await freePort();
  const child = spawn(mosquittoBinary, ['-p', String(port)], { stdio: 'ignore' });
  cleanups.push(() => void child.kill('SIGTERM'));
  for (let attempt = 0; attempt < 100; attempt++) {
    const up = await new Promise<boolean>((resolve) => net.connect({ host: '127.0.0.1', port }).once('connect', function (this: net.Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false)));
    if (up) return port;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}

// A sidecar with a TCP device and two bridges: one up (when mosquitto is here), one to a closed port.
const remotePort = await startRemote();
const closedPort = await freePort();
const bridges = [
  ...(remotePort === undefined ? [] : ['connection factory-7', `address 127.0.0.1:${remotePort}`, 'topic factory/# in 1 sites/factory-7/ ""', 'restart_timeout 2']),
  'connection warehouse-2',
  `address 127.0.0.1:${closedPort}`,
  'topic orders/# both 1',
  'restart_timeout 5 30',
];
const sidecar = await startSidecar(
  loadSidecarConfig({ MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: '0', MQTT_EDGE_URL: edge.mqttUrl, MQTT_BRIDGE_SECRET: secret, MQTT_BRIDGES: bridges.join('\n') }),
  { logger: createLogger({ format: 'json', level: 'silent' }) },
);
cleanups.push(() => sidecar.close());

// A few hundred sessions to page through: persistent, gone offline.
for (let start = 0; start < 240; start += 40) {
  await Promise.all(Array.from({ length: 40 }, async (_, i) => {
    const meter = await connect(`meter-${String(start + i).padStart(4, '0')}`, { clean: false, properties: { sessionExpiryInterval: 86_400 } });
    await meter.endAsync();
  }));
}

const kitchen = await connect('sensor-kitchen', { will: { topic: 'devices/sensor-kitchen/status', payload: Buffer.from('offline'), qos: 1, retain: true } });
const hall = await connect('sensor-hall');
const lamp = await connect('lamp-1', { protocolVersion: 4 });
const logger = await connect('logger', { clean: false, properties: { sessionExpiryInterval: 3600 } });
const workerA = await connect('worker-a');
const workerB = await connect('worker-b');
await connect('gateway-7f3c9a2e-4b1d-4e8a-9c0f-2d6b8a1e5f47-building-north-floor-3', { username: 'building-north' });
const press = await connect('press-12', { protocolVersion: 4 }, `mqtt://127.0.0.1:${sidecar.tcpPort}`);
press.subscribe('factory/press-12/cmd', { qos: 1 });
logger.subscribe('sensors/#', { qos: 1 });
workerA.subscribe('$share/jobs/jobs/+', { qos: 1 });
workerB.subscribe('$share/jobs/jobs/+', { qos: 1 });
lamp.subscribe('devices/lamp-1/set', { qos: 1 });
lamp.publish('devices/lamp-1/state', '{"on":true,"brightness":80}', { qos: 1, retain: true });
kitchen.publish('devices/sensor-kitchen/status', 'online', { qos: 1, retain: true });
// A QoS 2 PUBLISH whose PUBREL never comes: the client's row says "awaiting PUBREL".
await rawClient('plc-line-4', (ws) => ws.send(mqttPacket.generate({ cmd: 'publish', topic: 'plc/line-4/count', payload: Buffer.from('1200'), qos: 2, messageId: 9, retain: false, dup: false }, { protocolVersion: 5 })));
// Refusals and disconnects for the event log: a wrong password, a malformed packet, a takeover.
await admin('PUT', '/admin/default/users/meter-admin', { password: 'the-right-one' });
await connect('meter-admin-console', { username: 'meter-admin', password: 'a-wrong-one' }).catch(() => undefined);
await rawClient('broken-firmware', (ws) => ws.send(Uint8Array.of(0x36, 0x03, 0x00, 0x01, 0x61)));
await connect('worker-a');

// Something for the bridge to carry in, when it has a remote.
const factory = remotePort === undefined ? undefined : await connect('press-controller', { protocolVersion: 4 }, `mqtt://127.0.0.1:${remotePort}`);

let tick = 0;
const traffic = setInterval(() => {
  tick++;
  kitchen.publish('sensors/kitchen/temperature', (21 + Math.sin(tick / 8)).toFixed(2), { qos: 0, retain: true });
  if (tick % 2 === 0) kitchen.publish('sensors/kitchen/humidity', String(45 + (tick % 7)), { qos: 0 });
  if (tick % 3 === 0) hall.publish('sensors/hall/motion', tick % 2 === 0 ? 'detected' : 'clear', { qos: 1 });
  if (tick % 5 === 0) hall.publish('jobs/resize', JSON.stringify({ id: tick }), { qos: 1 });
  if (tick % 20 === 0) lamp.publish('devices/lamp-1/set', '{"on":false}', { qos: 1 });
  if (tick % 4 === 0) press.publish('factory/press-12/strokes', String(tick), { qos: 1 });
  if (tick % 6 === 0) factory?.publish('factory/press-12/temperature', String(60 + (tick % 9)), { qos: 1 });
}, Math.round(100 + 100 * Math.random()));

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });

async function signIn(page: Page): Promise<void> {
  await page.goto(edge.url.toString());
  await page.locator('#login-token').fill(token);
  await page.locator('#login-submit').click();
  await page.locator('#app').waitFor({ state: 'visible' });
}

try {
  mkdirSync(outDir, { recursive: true });
  const desktop = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await signIn(desktop);
  await desktop.locator('#mqtt-connect').click();
  await desktop.locator('#mqtt-status', { hasText: 'connected as' }).waitFor();
  await desktop.locator('#sub-filter').fill('sensors/#');
  await desktop.locator('#sub-submit').click();
  await desktop.locator('[data-range="live"]').click();
  await desktop.waitForTimeout(TrafficMs);
  await desktop.locator('#clients-body tr', { hasText: 'sensor-kitchen' }).getByRole('button', { name: 'Details' }).click();
  await desktop.locator('tr[data-detail-of="sensor-kitchen"]').waitFor();
  await desktop.locator('#sidecars-list [data-bridge]').first().waitFor();
  await desktop.locator('#events-body tr[data-event]').first().waitFor();
  // From the top: the sticky header belongs there, not where the last click scrolled to.
  await desktop.evaluate(() => window.scrollTo(0, 0));
  await desktop.screenshot({ path: join(outDir, 'dashboard-desktop.png'), fullPage: true });
  // The README's picture: what a browser window shows first.
  await desktop.screenshot({ path: join(outDir, 'dashboard-first-screen.png'), clip: { x: 0, y: 0, width: 1280, height: 800 } });
  // The per-minute chart, with the minute under way drawn apart.
  await desktop.locator('[data-range="60"]').click();
  await desktop.waitForFunction(() => Number(document.getElementById('chart')?.getAttribute('data-points')) > 0);
  await desktop.locator('#traffic-panel').screenshot({ path: join(outDir, 'dashboard-chart-minutes.png') });
  // The new panels on their own: the event log and the sidecars with their bridges.
  await desktop.locator('#events-panel').screenshot({ path: join(outDir, 'dashboard-events.png') });
  await desktop.locator('#sidecars-panel').screenshot({ path: join(outDir, 'dashboard-sidecars.png') });

  const phoneContext = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const phone = await phoneContext.newPage();
  await signIn(phone);
  await phone.locator('#topics-tree [data-topic]').first().waitFor();
  // Two stats readings make a rate.
  await phone.waitForFunction(() => document.getElementById('stat-in-rate')?.textContent !== '–');
  // The first screen, as a phone shows it: the section links lead to the MQTT client.
  await phone.screenshot({ path: join(outDir, 'dashboard-phone.png') });
  await phone.locator('#clients-search').fill('plc');
  // The search's answer, not the first page that had it too.
  await phone.locator('#clients-count', { hasText: 'matching' }).waitFor();
  await phone.locator('#clients-panel').scrollIntoViewIfNeeded();
  await phone.locator('#clients-panel').screenshot({ path: join(outDir, 'dashboard-phone-clients.png') });
  await phone.locator('#sections a[href="#mqtt-panel"]').tap();
  await phone.locator('#mqtt-connect').tap();
  await phone.locator('#mqtt-status', { hasText: 'connected as' }).waitFor();
  await phone.screenshot({ path: join(outDir, 'dashboard-phone-mqtt.png') });
  console.log(`screenshots in ${outDir}`);
} finally {
  clearInterval(traffic);
  for (const client of clients) client.end(true);
  for (const cleanup of cleanups.reverse()) await cleanup();
  await browser.close();
  await edge.dispose();
}
