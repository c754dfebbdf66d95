/**
 * The README's dashboard screenshots (docs/images/dashboard-desktop.png and
 * dashboard-phone.png): a local edge on a free port with a few devices
 * publishing, the page in headless Chromium (Debian's /usr/bin/chromium).
 *
 *   npx tsx scripts/screenshots.ts
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { chromium, type Page } from 'playwright-core';
import { repoRoot, startLocalEdge } from './local-edge.ts';

const token = 'screenshot-token';
const outDir = join(repoRoot, 'docs', 'images');
/** How long the devices publish before the pictures: enough for the live chart to have a shape. */
const TrafficMs = 25_000;

const edge = await startLocalEdge({ port: 0, vars: { MQTT_ADMIN_TOKEN: token, MQTT_NAMESPACES: 'default lab tenant-*', MQTT_RULES: JSON.stringify([{ name: 'kitchen-to-archive', filter: 'sensors/kitchen/#', to: 'republish:archive/kitchen' }]) } });
const clients: MqttClient[] = [];

function connect(clientId: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(edge.mqttUrl, { clientId, protocolVersion: 5, reconnectPeriod: 0, ...options });
    clients.push(client);
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

const kitchen = await connect('sensor-kitchen', { will: { topic: 'devices/sensor-kitchen/status', payload: Buffer.from('offline'), qos: 1, retain: true } });
const hall = await connect('sensor-hall');
const lamp = await connect('lamp-1', { protocolVersion: 4 });
const logger = await connect('logger', { clean: false, properties: { sessionExpiryInterval: 3600 } });
const workerA = await connect('worker-a');
const workerB = await connect('worker-b');
logger.subscribe('sensors/#', { qos: 1 });
workerA.subscribe('$share/jobs/jobs/+', { qos: 1 });
workerB.subscribe('$share/jobs/jobs/+', { qos: 1 });
lamp.subscribe('devices/lamp-1/set', { qos: 1 });
lamp.publish('devices/lamp-1/state', '{"on":true,"brightness":80}', { qos: 1, retain: true });
kitchen.publish('devices/sensor-kitchen/status', 'online', { qos: 1, retain: true });

let tick = 0;
const traffic = setInterval(() => {
  tick++;
  kitchen.publish('sensors/kitchen/temperature', (21 + Math.sin(tick / 8)).toFixed(2), { qos: 0, retain: true });
  if (tick % 2 === 0) kitchen.publish('sensors/kitchen/humidity', String(45 + (tick % 7)), { qos: 0 });
  if (tick % 3 === 0) hall.publish('sensors/hall/motion', tick % 2 === 0 ? 'detected' : 'clear', { qos: 1 });
  if (tick % 5 === 0) hall.publish('jobs/resize', JSON.stringify({ id: tick }), { qos: 1 });
  if (tick % 20 === 0) lamp.publish('devices/lamp-1/set', '{"on":false}', { qos: 1 });
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
  const desktop = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  await signIn(desktop);
  await desktop.locator('#mqtt-connect').click();
  await desktop.locator('#mqtt-status', { hasText: 'connected as' }).waitFor();
  await desktop.locator('#sub-filter').fill('sensors/#');
  await desktop.locator('#sub-submit').click();
  await desktop.locator('[data-range="live"]').click();
  await desktop.waitForTimeout(TrafficMs);
  await desktop.locator('#clients-body tr', { hasText: 'sensor-kitchen' }).getByRole('button', { name: 'Details' }).click();
  await desktop.locator('tr[data-detail-of="sensor-kitchen"]').waitFor();
  await desktop.screenshot({ path: join(outDir, 'dashboard-desktop.png'), fullPage: true });

  const phoneContext = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const phone = await phoneContext.newPage();
  await signIn(phone);
  await phone.locator('#topics-tree [data-topic]').first().waitFor();
  // Two stats readings make a rate.
  await phone.waitForFunction(() => document.getElementById('stat-in-rate')?.textContent !== '–');
  // The first screen, as a phone shows it: the section links lead to the MQTT client.
  await phone.screenshot({ path: join(outDir, 'dashboard-phone.png') });
  await phone.locator('#sections a[href="#mqtt-panel"]').tap();
  await phone.locator('#mqtt-connect').tap();
  await phone.locator('#mqtt-status', { hasText: 'connected as' }).waitFor();
  await phone.screenshot({ path: join(outDir, 'dashboard-phone-mqtt.png') });
  console.log(`screenshots in ${outDir}`);
} finally {
  clearInterval(traffic);
  for (const client of clients) client.end(true);
  await browser.close();
  await edge.dispose();
}
