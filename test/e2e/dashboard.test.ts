/**
 * The dashboard in a real browser (Debian's headless Chromium, driven by
 * playwright-core) against the real Worker: sign in with the admin token,
 * watch the numbers, publish from the page's own MQTT client and see the
 * message come back, act on clients and retained messages. Saves
 * screenshots to test-results/ (and, with UPDATE_SCREENSHOTS=1, the README's copy to docs/dashboard.png).
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-edge.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, publish, type TestClient } from '../helpers/mqtt-clients.ts';

const chromiumPath = '/usr/bin/chromium';
/** As in browser.test.ts (importing it would run its tests here too). */
const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const token = 'dashboard-admin-token';
const resultsDir = join(repoRoot, 'test-results');

let edge: TestEdge;
let browser: Browser;
let sensor: TestClient;
let traffic: ReturnType<typeof setInterval> | undefined;

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_ADMIN_TOKEN: token, MQTT_SYS_INTERVAL: '1' });
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
  sensor = await connectClient(edge.mqttUrl, { clientId: 'sensor-kitchen', protocolVersion: 5 });
  await publish(sensor.client, 'sensors/kitchen/temperature', '21.5', { qos: 1, retain: true });
  await publish(sensor.client, 'sensors/kitchen/humidity', '48', { qos: 1, retain: true });
  await publish(sensor.client, 'devices/lamp-1/state', '{"on":true,"brightness":80}', { qos: 1, retain: true });
});

afterAll(async () => {
  if (traffic !== undefined) clearInterval(traffic);
  await sensor?.end(true);
  await browser?.close();
  await edge?.dispose();
});

/** Page errors and console errors (a CSP violation is one) fail the test. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('dialog', (dialog) => void dialog.accept());
  return errors;
}

async function signIn(page: Page): Promise<void> {
  await page.goto(edge.url.toString());
  await page.locator('#login-token').fill(token);
  await page.locator('#login-submit').click();
  await page.locator('#app').waitFor({ state: 'visible', timeout: 10_000 });
}

function numberIn(text: string | null): number {
  return Number((text ?? '').replace(/[^0-9.]/g, ''));
}

describe('dashboard', () => {
  it('serves MQTT.js byte for byte as node_modules has it', async () => {
    const expected = readFileSync(join(repoRoot, 'node_modules', 'mqtt', 'dist', 'mqtt.min.js'));
    const version = (JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'mqtt', 'package.json'), 'utf8')) as { version: string }).version;
    const response = await fetch(new URL(`/dashboard/mqtt-${version}.min.js`, edge.url));
    const served = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200 || !served.equals(expected)) {
      if (process.env['UPDATE_MQTT_BUNDLE'] === '1') writeMqttBundleModule(version, expected.toString('utf8'));
      expect.fail(
        process.env['UPDATE_MQTT_BUNDLE'] === '1'
          ? 'edge/dashboard/mqtt-browser-bundle.ts regenerated: run the tests again'
          : `edge/dashboard/mqtt-browser-bundle.ts is not MQTT.js ${version}: regenerate it with UPDATE_MQTT_BUNDLE=1 npx vitest run test/e2e/dashboard.test.ts`,
      );
    }
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(response.headers.get('cache-control')).toMatch(/immutable/);
  });

  it('signs in, shows live numbers, publishes from its own MQTT client and sees the message arrive', { timeout: 90_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);

    // A wrong token is refused with a message, and nothing is stored.
    await page.goto(edge.url.toString());
    await page.locator('#login-token').fill('not-the-token');
    await page.locator('#login-submit').click();
    await expect.poll(() => page.locator('#login-error').textContent()).toMatch(/token/i);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    // Chromium logs the refused request itself; that one is expected.
    expect(errors.splice(0)).toEqual([expect.stringMatching(/401/)]);

    await page.locator('#login-token').fill(token);
    await page.locator('#login-submit').click();
    await page.locator('#app').waitFor({ state: 'visible', timeout: 10_000 });
    await expect.poll(() => page.locator('#stat-connected').textContent()).toBe('1');
    await expect.poll(() => page.locator('#clients-body').textContent(), { timeout: 10_000 }).toContain('sensor-kitchen');
    await expect.poll(() => page.locator('#retained-body').textContent(), { timeout: 10_000 }).toContain('sensors/kitchen/temperature');

    // The page's MQTT client: connect, subscribe, publish, receive.
    await page.locator('#mqtt-connect').click();
    await expect.poll(() => page.locator('#mqtt-status').textContent(), { timeout: 10_000 }).toMatch(/^connected as dashboard-/);
    await page.locator('#sub-filter').fill('#');
    await page.locator('#sub-qos').selectOption('1');
    await page.locator('#sub-submit').click();
    await expect.poll(() => page.locator('#sub-list').textContent()).toContain('# · QoS 1');
    // The retained messages come first, flagged as such.
    await expect.poll(() => page.locator('#messages').textContent()).toContain('sensors/kitchen/temperature');

    const receivedBefore = numberIn(await page.locator('#stat-in-total').textContent());
    await page.locator('#pub-topic').fill('dashboard/hello');
    await page.locator('#pub-payload').fill('hello from the page');
    await page.locator('#pub-qos').selectOption('1');
    await page.locator('#pub-submit').click();
    const arrived = page.locator('#messages li', { hasText: 'dashboard/hello' });
    await arrived.waitFor({ timeout: 10_000 });
    expect(await arrived.locator('.msg-payload').textContent()).toBe('hello from the page');
    expect(await arrived.textContent()).toContain('QoS 1');

    // The counters move: two clients, more messages received.
    await expect.poll(() => page.locator('#stat-connected').textContent(), { timeout: 10_000 }).toBe('2');
    await expect.poll(async () => numberIn(await page.locator('#stat-in-total').textContent()), { timeout: 10_000 }).toBeGreaterThan(receivedBefore);

    // Some traffic for the chart and rates, then the screenshots.
    let count = 0;
    traffic = setInterval(() => {
      count++;
      sensor.client.publish('sensors/kitchen/temperature', (21 + Math.sin(count / 5)).toFixed(2), { qos: 0 });
      if (count % 3 === 0) sensor.client.publish('sensors/hall/motion', count % 2 === 0 ? 'detected' : 'clear', { qos: 1 });
    }, 150);
    await expect.poll(async () => numberIn(await page.locator('#stat-in-rate').textContent()), { timeout: 15_000 }).toBeGreaterThan(1);
    await page.waitForTimeout(5000);
    await page.locator('#clients-refresh').click();
    await expect.poll(() => page.locator('#clients-body').textContent()).toMatch(/dashboard-/);
    mkdirSync(resultsDir, { recursive: true });
    const screenshot = join(resultsDir, 'dashboard.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    // The README's copy changes only on request, so a test run leaves the tree clean.
    if (process.env['UPDATE_SCREENSHOTS'] === '1') {
      mkdirSync(join(repoRoot, 'docs'), { recursive: true });
      copyFileSync(screenshot, join(repoRoot, 'docs', 'dashboard.png'));
    }
    clearInterval(traffic);
    traffic = undefined;

    // The clients list acts: disconnect the sensor from the page (confirm() is accepted).
    const sensorClosed = new Promise<void>((resolve) => sensor.client.once('close', () => resolve()));
    await page.locator('button[data-client="sensor-kitchen"]').click();
    await sensorClosed;
    await expect.poll(() => page.locator('#clients-body').textContent(), { timeout: 10_000 }).not.toContain('sensor-kitchen');

    // The retained list acts: delete one topic.
    await page.locator('button[data-topic="sensors/kitchen/humidity"]').click();
    await expect.poll(() => page.locator('#retained-body').textContent(), { timeout: 10_000 }).not.toContain('sensors/kitchen/humidity');
    const retained = (await (await fetch(new URL('/admin/default/retained', edge.url), { headers: { Authorization: `Bearer ${token}` } })).json()) as { retained: Array<{ topic: string }> };
    expect(retained.retained.map((message) => message.topic)).not.toContain('sensors/kitchen/humidity');

    // Signing out forgets the token.
    await page.locator('#signout').click();
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.evaluate(() => sessionStorage.getItem('edge-mqtt-broker.admin-token'))).toBeNull();

    expect(errors).toEqual([]);
    await page.close();
  });

  it('fits a phone screen without sideways scrolling', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await signIn(page);
    await expect.poll(() => page.locator('#stat-uptime').textContent()).not.toBe('–');
    await page.locator('#mqtt-connect').click();
    await expect.poll(() => page.locator('#mqtt-status').textContent(), { timeout: 10_000 }).toMatch(/^connected/);
    await expect.poll(() => page.locator('#clients-body').textContent(), { timeout: 10_000 }).toMatch(/dashboard-/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    mkdirSync(resultsDir, { recursive: true });
    await page.screenshot({ path: join(resultsDir, 'dashboard-mobile.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });
});

/** Rewrites the MQTT.js string module from node_modules (UPDATE_MQTT_BUNDLE=1). */
function writeMqttBundleModule(version: string, source: string): void {
  const header = readFileSync(join(repoRoot, 'edge', 'dashboard', 'mqtt-browser-bundle.ts'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('//'))
    .map((line) => line.replace(/MQTT\.js [^,]+,/, `MQTT.js ${version},`));
  const body = [`export const mqttBrowserBundleVersion = ${JSON.stringify(version)};`, `export const mqttBrowserBundle: string = ${JSON.stringify(source)};`, ''];
  writeFileSync(join(repoRoot, 'edge', 'dashboard', 'mqtt-browser-bundle.ts'), [...header, ...body].join('\n'));
}
