/**
 * The dashboard in a real browser (Debian's headless Chromium, driven by
 * playwright-core) against the real Worker, its page and modules served
 * from the Worker's static assets: sign in with the admin token, watch the
 * numbers and the per-minute history, publish from the page's own MQTT
 * client (MQTT.js copied from node_modules) and see the message come back,
 * the topic tree and the subscriptions across clients, act on clients and
 * retained messages; the rules panel (with its dead letters) and the users
 * panel against their routes' shapes; a phone's screen; client-made text
 * shown as text; the clients laid out to fit 1,280 px and a 390 px phone
 * (every row's buttons in view), searched and paged by the broker among a
 * few hundred; the log of refusals; the sidecars and their bridges; a
 * namespace's limits set and put back.
 * Screenshots go to test-results/ (the README's come from scripts/screenshots.ts).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-edge.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, connectExpectingRefusal, eventually, publish, subscribe, type TestClient } from '../helpers/mqtt-clients.ts';
import { openRawPeer, type RawPeer } from '../helpers/raw-ws.ts';
import { startTestSidecar } from '../sidecar/harness.ts';

const chromiumPath = '/usr/bin/chromium';
/** As in browser.test.ts (importing it would run its tests here too). */
const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const token = 'dashboard-admin-token';
const bridgeSecret = 'dashboard-bridge-secret';
const resultsDir = join(repoRoot, 'test-results');

let edge: TestEdge;
let browser: Browser;
let sensor: TestClient;
let worker: TestClient;
let traffic: ReturnType<typeof setInterval> | undefined;

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_ADMIN_TOKEN: token, MQTT_SYS_INTERVAL: '1', MQTT_BRIDGE_SECRET: bridgeSecret });
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
  sensor = await connectClient(edge.mqttUrl, { clientId: 'sensor-kitchen', protocolVersion: 5 });
  await publish(sensor.client, 'sensors/kitchen/temperature', '21.5', { qos: 1, retain: true });
  await publish(sensor.client, 'sensors/kitchen/humidity', '48', { qos: 1, retain: true });
  await publish(sensor.client, 'devices/lamp-1/state', '{"on":true,"brightness":80}', { qos: 1, retain: true });
  worker = await connectClient(edge.mqttUrl, { clientId: 'job-worker', protocolVersion: 5 });
  await subscribe(worker.client, '$share/workers/jobs/+', { qos: 1 });
});

afterAll(async () => {
  if (traffic !== undefined) clearInterval(traffic);
  await sensor?.end(true);
  await worker?.end(true);
  await browser?.close();
  await edge?.dispose();
});

/** Page errors and console errors (a CSP violation is one) fail the test. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // A route another branch has not added yet answers 404; the page hides its panel.
    if (message.type() === 'error' && !/404/.test(message.text())) errors.push(`console: ${message.text()}`);
  });
  page.on('dialog', (dialog) => void dialog.accept());
  return errors;
}

async function signIn(page: Page, namespace = 'default'): Promise<void> {
  await page.goto(edge.url.toString());
  await page.locator('#login-ns').fill(namespace);
  await page.locator('#login-token').fill(token);
  await page.locator('#login-submit').click();
  await page.locator('#app').waitFor({ state: 'visible', timeout: 10_000 });
}

async function adminGet<T>(path: string): Promise<T> {
  const response = await fetch(new URL(path, edge.url), { headers: { Authorization: `Bearer ${token}` } });
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
}

/** Waits for what the page shows: its lists refresh every few seconds, later on a loaded machine. */
function waitFor<T>(read: () => T | Promise<T>) {
  return expect.poll(read, { timeout: 15_000 });
}

function numberIn(text: string | null): number {
  return Number((text ?? '').replace(/[^0-9.]/g, ''));
}

describe('dashboard', () => {
  it('is static assets: the page without inline code, its modules, and MQTT.js byte for byte as node_modules has it', async () => {
    const page = await fetch(edge.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self';.*style-src 'self';/);
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/dashboard/main.js"></script>');
    expect(html).not.toMatch(/<script>|<style>|\son[a-z]+=/);
    const module = await fetch(new URL('/dashboard/main.js', edge.url));
    expect(module.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(module.headers.get('x-content-type-options')).toBe('nosniff');
    const expected = readFileSync(join(repoRoot, 'node_modules', 'mqtt', 'dist', 'mqtt.esm.js'));
    const served = Buffer.from(await (await fetch(new URL('/dashboard/vendor/mqtt.esm.js', edge.url))).arrayBuffer());
    expect(served.equals(expected)).toBe(true);
    // Only the dashboard's own paths are files; a WebSocket upgrade on / is MQTT (test/integration/observability.test.ts).
    expect((await fetch(new URL('/dashboard/no-such-file.js', edge.url))).status).toBe(404);
    expect((await fetch(edge.url, { method: 'POST' })).status).toBe(405);
  });

  it('signs in, shows live numbers and history, publishes from its own MQTT client and sees the message, topics and subscriptions', { timeout: 90_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);

    // A wrong token is refused with a message, and nothing is stored.
    await page.goto(edge.url.toString());
    await page.locator('#login-token').fill('not-the-token');
    await page.locator('#login-submit').click();
    await waitFor(() => page.locator('#login-error').textContent()).toMatch(/token/i);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    // Chromium logs the refused request itself; that one is expected.
    expect(errors.splice(0)).toEqual([expect.stringMatching(/401/)]);

    await page.locator('#login-token').fill(token);
    await page.locator('#login-submit').click();
    await page.locator('#app').waitFor({ state: 'visible', timeout: 10_000 });
    // The token is in the header of each request, never in the page's URL.
    expect(page.url()).not.toContain(token);
    await waitFor(() => page.locator('#stat-connected').textContent()).toBe('2');
    // The core's memory, estimated, against the isolate's 128 MB.
    await waitFor(() => page.locator('#stat-memory-sub').textContent()).toMatch(/^4\.0 MiB of 128 MiB/);
    expect(await page.locator('#stat-memory').textContent()).toBe('3%');
    await expect.poll(() => page.locator('#clients-body').textContent(), { timeout: 10_000 }).toContain('sensor-kitchen');
    await expect.poll(() => page.locator('#retained-body').textContent(), { timeout: 10_000 }).toContain('sensors/kitchen/temperature');
    // The rules and users/ACL routes answer (no rules configured, no runtime users): their panels show.
    await expect.poll(() => page.locator('#rules-body').textContent(), { timeout: 10_000 }).toContain('No rules configured.');
    // The users panel loads on its own request: wait for it, as for the rules.
    await page.locator('#users-panel').waitFor({ state: 'visible', timeout: 10_000 });

    // The history: the namespace wrote its first minute with the first counter flush.
    await expect.poll(async () => (await adminGet<{ samples: unknown[] }>('/admin/default/history?minutes=60')).samples.length, { timeout: 15_000 }).toBeGreaterThan(0);
    const history = await adminGet<{ namespace: string; samples: Array<Record<string, number>> }>('/admin/default/history?minutes=60');
    expect(history.namespace).toBe('default');
    expect(Object.keys(history.samples[0] ?? {}).sort()).toEqual(['bytesIn', 'bytesOut', 'connections', 'dropped', 'messagesIn', 'messagesOut', 'stalls', 't']);
    await page.locator('[data-range="60"]').click();
    // The minute under way is drawn only once it is 20 s old (a rate of a few seconds would mislead), and the
    // history is read every 10 s: up to half a minute more.
    await expect.poll(async () => Number(await page.locator('#chart').getAttribute('data-points')), { timeout: 40_000 }).toBeGreaterThan(0);
    expect(await page.locator('#chart-span').textContent()).toBe('per minute, last hour');

    // The page's MQTT client: connect, subscribe, publish, receive.
    await page.locator('#mqtt-connect').click();
    await expect.poll(() => page.locator('#mqtt-status').textContent(), { timeout: 10_000 }).toMatch(/^connected as dashboard-/);
    await page.locator('#sub-filter').fill('#');
    await page.locator('#sub-qos').selectOption('1');
    await page.locator('#sub-submit').click();
    await waitFor(() => page.locator('#sub-list').textContent()).toContain('# · QoS 1');
    // The retained messages come first, flagged as such.
    await waitFor(() => page.locator('#messages').textContent()).toContain('sensors/kitchen/temperature');

    const receivedBefore = numberIn(await page.locator('#stat-in-total').textContent());
    await page.locator('#pub-topic').fill('dashboard/hello');
    await page.locator('#pub-payload').fill('hello from the page');
    await page.locator('#pub-qos').selectOption('1');
    await page.locator('#pub-submit').click();
    const arrived = page.locator('#messages li', { hasText: 'dashboard/hello' });
    await arrived.waitFor({ timeout: 10_000 });
    expect(await arrived.locator('.msg-payload').textContent()).toBe('hello from the page');
    expect(await arrived.textContent()).toContain('QoS 1');
    await expect.poll(() => page.locator('#stat-connected').textContent(), { timeout: 10_000 }).toBe('3');
    await expect.poll(async () => numberIn(await page.locator('#stat-in-total').textContent()), { timeout: 10_000 }).toBeGreaterThan(receivedBefore);

    // Subscriptions across clients: the page's own and the share group's.
    await expect.poll(() => page.locator('#subscriptions-body').textContent(), { timeout: 10_000 }).toMatch(/dashboard-.*#/);
    const shared = page.locator('#subscriptions-body tr', { hasText: 'job-worker' });
    await expect.poll(() => shared.textContent(), { timeout: 10_000 }).toContain('$share/workers/jobs/+');
    expect(await shared.textContent()).toContain('workers');

    // Traffic for the rates and the topic tree.
    let count = 0;
    traffic = setInterval(() => {
      count++;
      sensor.client.publish('sensors/kitchen/temperature', (21 + Math.sin(count / 5)).toFixed(2), { qos: 0 });
      if (count % 3 === 0) sensor.client.publish('sensors/hall/motion', count % 2 === 0 ? 'detected' : 'clear', { qos: 1 });
    }, 150);
    await expect.poll(async () => numberIn(await page.locator('#stat-in-rate').textContent()), { timeout: 15_000 }).toBeGreaterThan(1);
    const topicNode = page.locator('#topics-tree [data-topic="sensors/kitchen/temperature"]');
    await expect.poll(async () => ((await topicNode.count()) > 0 ? numberIn((await topicNode.locator('.rate').textContent())?.split('/s')[0] ?? '') : 0), { timeout: 15_000 }).toBeGreaterThan(0.5);
    expect(await topicNode.textContent()).toContain('retained');
    expect(await page.locator('#topics-tree').textContent()).toContain('sensors');

    // A client's details: the QoS state and its session.
    await page.locator('button[data-details="sensor-kitchen"]').click();
    const detail = page.locator('tr[data-detail-of="sensor-kitchen"]');
    await detail.waitFor({ timeout: 10_000 });
    expect(await detail.textContent()).toMatch(/Receive maximum.*Awaiting PUBREL/);
    expect(await detail.textContent()).toContain('with the connection');
    mkdirSync(resultsDir, { recursive: true });
    await page.screenshot({ path: join(resultsDir, 'dashboard.png'), fullPage: true });
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
    const retained = await adminGet<{ retained: Array<{ topic: string }> }>('/admin/default/retained');
    expect(retained.retained.map((message) => message.topic)).not.toContain('sensors/kitchen/humidity');

    // Signing out forgets the token.
    await page.locator('#signout').click();
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.evaluate(() => sessionStorage.getItem('edge-mqtt-broker.admin-token'))).toBeNull();

    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows client-made ids, topics and payloads as text, never as markup', async () => {
    const evil = '<img src=x onerror="window.__xss=1">';
    const attacker = await connectClient(edge.mqttUrl, { clientId: `x${evil}`, protocolVersion: 5, will: { topic: `will/${evil}`, payload: Buffer.from('x'), qos: 0, retain: false } });
    await publish(attacker.client, `xss/${evil}`, evil, { qos: 1, retain: true });
    await subscribe(attacker.client, `xss/${evil}/#`, { qos: 0 });
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);
    await signIn(page);
    await expect.poll(() => page.locator('#clients-body').textContent(), { timeout: 10_000 }).toContain(`x${evil}`);
    await page.locator('#clients-body tr', { hasText: `x${evil}` }).getByRole('button', { name: 'Details' }).click();
    await expect.poll(() => page.locator('#clients-body').textContent(), { timeout: 10_000 }).toContain(`will/${evil}`);
    await expect.poll(() => page.locator('#retained-body').textContent(), { timeout: 10_000 }).toContain(`xss/${evil}`);
    await expect.poll(() => page.locator('#subscriptions-body').textContent(), { timeout: 10_000 }).toContain(`xss/${evil}/#`);
    await expect.poll(() => page.locator('#topics-tree').textContent(), { timeout: 10_000 }).toContain(evil);
    // The page's MQTT client shows the payload as text too.
    await page.locator('#mqtt-connect').click();
    await expect.poll(() => page.locator('#mqtt-status').textContent(), { timeout: 10_000 }).toMatch(/^connected/);
    await page.locator('#sub-filter').fill('xss/#');
    await page.locator('#sub-submit').click();
    await expect.poll(() => page.locator('#messages').textContent(), { timeout: 10_000 }).toContain(evil);
    expect(await page.evaluate(() => document.querySelectorAll('img').length)).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(errors).toEqual([]);
    await attacker.end(true);
    await page.close();
  });

  it('shows rules, users and ACL entries when the broker has those routes, and adds and removes them', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);
    // The shapes other branches implement; here the browser answers for the Worker.
    const calls: string[] = [];
    let users = [{ username: 'config-user', source: 'config' }, { username: 'runtime-<b>user</b>', source: 'runtime', createdAt: Date.now(), updatedAt: Date.now() }];
    let entries = [{ id: 7, username: null, pattern: false, access: 'read', topic: 'public/#', source: 'config' }, { id: 8, username: 'runtime-<b>user</b>', pattern: false, access: 'readwrite', topic: 'own/#', source: 'runtime' }];
    const json = (body: unknown) => ({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    await page.route('**/admin/default/rules', (route) =>
      route.fulfill(json({ namespace: 'default', rules: [{ name: 'to-d1', filter: 'sensors/#', to: 'd1:readings', matched: 12, delivered: 10, failed: 1, dropped: 1, pending: 0, lastError: 'D1 <timeout>', lastErrorAt: Date.now() }] })),
    );
    await page.route('**/admin/default/users**', async (route) => {
      const request = route.request();
      calls.push(`${request.method()} ${new URL(request.url()).pathname} ${request.postData() ?? ''}`.trim());
      if (request.method() === 'PUT') users = [...users, { username: decodeURIComponent(new URL(request.url()).pathname.split('/').pop() ?? ''), source: 'runtime', createdAt: Date.now(), updatedAt: Date.now() }];
      if (request.method() === 'DELETE') users = users.filter((u) => u.username !== decodeURIComponent(new URL(request.url()).pathname.split('/').pop() ?? ''));
      await route.fulfill(json({ namespace: 'default', users }));
    });
    await page.route('**/admin/default/acl**', async (route) => {
      const request = route.request();
      calls.push(`${request.method()} ${new URL(request.url()).pathname} ${request.postData() ?? ''}`.trim());
      if (request.method() === 'POST') entries = [...entries, { id: 9, username: null, pattern: false, access: 'deny', topic: 'secret/#', source: 'runtime' }];
      if (request.method() === 'DELETE') entries = entries.filter((e) => String(e.id) !== new URL(request.url()).pathname.split('/').pop());
      await route.fulfill(json({ namespace: 'default', entries }));
    });
    await signIn(page);
    await page.locator('#rules-panel').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await page.locator('#rules-body').textContent()).toContain('D1 <timeout>');
    await page.locator('#users-panel').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await page.locator('#users-body').textContent()).toContain('runtime-<b>user</b>');
    // Configuration's entries cannot be removed here, runtime ones can.
    expect(await page.locator('button[data-user="config-user"]').count()).toBe(0);

    await page.locator('#user-name').fill('new-user');
    await page.locator('#user-password').fill('s3cret');
    await page.locator('#user-submit').click();
    await waitFor(() => page.locator('#users-body').textContent()).toContain('new-user');
    await page.locator('button[data-user="runtime-<b>user</b>"]').click();
    await waitFor(() => page.locator('#users-body').textContent()).not.toContain('runtime-<b>user</b>');

    await page.locator('#acl-access').selectOption('deny');
    await page.locator('#acl-topic').fill('secret/#');
    await page.locator('#acl-submit').click();
    await waitFor(() => page.locator('#acl-body').textContent()).toContain('secret/#');
    await page.locator('button[data-acl="8"]').click();
    await waitFor(() => page.locator('#acl-body').textContent()).not.toContain('own/#');

    expect(calls).toContain('PUT /admin/default/users/new-user {"password":"s3cret"}');
    expect(calls).toContain('DELETE /admin/default/users/runtime-%3Cb%3Euser%3C%2Fb%3E');
    expect(calls).toContain('POST /admin/default/acl {"access":"deny","topic":"secret/#"}');
    expect(calls).toContain('DELETE /admin/default/acl/8');
    expect(await page.evaluate(() => document.querySelectorAll('#users-panel b').length)).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("sets a namespace's limit from the Limits panel, shows it as its own, and puts it back to the default", async () => {
    const namespace = 'limits-panel';
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = watchErrors(page);
    await signIn(page, namespace);
    await page.locator('#quotas-panel').waitFor({ state: 'visible', timeout: 10_000 });
    const row = page.locator('tr[data-quota-row="namespacePublishRate"]');
    expect(await row.textContent()).toContain('no limit');
    await page.locator('button[data-quota="namespacePublishRate"]').click();
    await page.locator('input[data-quota-input="namespacePublishRate"]').fill('100');
    await page.locator('button[data-quota-save="namespacePublishRate"]').click();
    await waitFor(() => row.textContent()).toContain('100 /s');
    expect(await row.locator('.badge').textContent()).toBe('own');
    type Quotas = { quotas: Array<{ name: string; value: unknown; set: boolean }> };
    expect((await adminGet<Quotas>(`/admin/${namespace}/quotas`)).quotas.find((q) => q.name === 'namespacePublishRate')).toMatchObject({ value: 100, set: true });
    // A value the broker refuses: its message, and nothing changed.
    await page.locator('button[data-quota="maxTopicLevels"]').click();
    await page.locator('input[data-quota-input="maxTopicLevels"]').fill('0');
    await page.locator('button[data-quota-save="maxTopicLevels"]').click();
    await waitFor(() => page.locator('#quotas-error').textContent()).toContain('maxTopicLevels must be an integer');
    await page.locator('button[data-quota-reset="namespacePublishRate"]').click();
    await waitFor(() => row.textContent()).toContain('no limit');
    expect((await adminGet<Quotas>(`/admin/${namespace}/quotas`)).quotas.filter((q) => q.set)).toEqual([]);
    await page.screenshot({ path: join(resultsDir, 'dashboard-limits.png'), fullPage: false });
    expect(errors.filter((error) => !/400/.test(error))).toEqual([]);
    await page.close();
  });

  it("lists a rule's dead letters as text, and retries and drops them one by one or per rule", async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);
    const calls: string[] = [];
    const now = Date.now();
    let letters = [
      { id: 5, rule: 'hook', topic: 'alerts/<b>door</b>', payload: '<img src=x onerror=alert(1)>', payloadBytes: 28, qos: 1, retain: false, clientId: 'door-1', ts: now - 60_000, attempts: 1, lastError: 'webhook answered HTTP 400', deadAt: now - 30_000 },
      { id: 6, rule: 'hook', topic: 'alerts/bin', payload_base64: '//4A', payloadBytes: 3, qos: 0, retain: false, clientId: null, ts: now - 50_000, attempts: 10, lastError: 'webhook answered HTTP 500', deadAt: now - 20_000 },
    ];
    const json = (body: unknown) => ({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    const rule = () => ({ name: 'hook', filter: 'alerts/#', to: 'webhook:https://example.com/in', matched: 9, delivered: 7, failed: 11, dropped: 0, pending: 0, deadLettered: 2, deadLetters: letters.length, deadLettersDropped: 0, deadLettersDeleted: 0, lastError: 'webhook answered HTTP 500', lastErrorAt: now });
    await page.route('**/admin/default/rules', (route) => route.fulfill(json({ namespace: 'default', rules: [rule()] })));
    await page.route('**/admin/default/rules/dead-letters**', async (route) => {
      const request = route.request();
      const url = new URL(request.url());
      calls.push(`${request.method()} ${url.pathname}${url.search}`);
      const id = Number(url.pathname.split('/')[5]);
      if (request.method() !== 'GET') letters = letters.filter((letter) => letter.id !== id);
      await route.fulfill(json(request.method() === 'GET' ? { namespace: 'default', deadLetters: letters, truncated: false } : { namespace: 'default', id, rule: 'hook' }));
    });
    await signIn(page);
    await page.locator('#dead-letters-part').waitFor({ state: 'visible', timeout: 10_000 });
    await waitFor(() => page.locator('#dead-letters-body tr').count()).toBe(2);
    const text = (await page.locator('#dead-letters-body').textContent()) ?? '';
    expect(text).toContain('<img src=x onerror=alert(1)>');
    expect(text).toContain('alerts/<b>door</b>');
    expect(text).toContain('(binary, 3 bytes)');
    expect(text).toContain('webhook answered HTTP 500');
    expect(await page.evaluate(() => document.querySelectorAll('#rules-panel img, #rules-panel b').length)).toBe(0);

    await page.locator('button[data-retry-rule="hook"]').click();
    await waitFor(() => calls).toContain('POST /admin/default/rules/dead-letters/retry?rule=hook');
    await page.locator('button[data-retry="5"]').click();
    await waitFor(() => page.locator('#dead-letters-body tr').count()).toBe(1);
    await page.locator('button[data-drop="6"]').click();
    await page.locator('#dead-letters-part').waitFor({ state: 'hidden', timeout: 10_000 });
    expect(calls).toContain('POST /admin/default/rules/dead-letters/5/retry');
    expect(calls).toContain('DELETE /admin/default/rules/dead-letters/6');
    expect(await page.locator('button[data-drop-rule="hook"]').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("lists the namespace's objects when it is spread over gateways, names as text", async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = watchErrors(page);
    // This edge is one object; the stats answer gets the objects a namespace with gateways reports (test/gateways/ checks the real ones).
    await page.route('**/admin/default/stats', async (route) => {
      const stats = (await (await route.fetch()).json()) as Record<string, unknown>;
      const object = (role: string, name: string, connections: number) => ({ role, name, connections, messagesIn: 10, messagesOut: 12, callsIn: 3, callsOut: 2, rowsRead: 0, rowsWritten: 0, rates: { messagesIn: 4.5, messagesOut: 120, callsIn: 1.5, callsOut: 0.5 } });
      stats['objects'] = [object('core', 'default', 0), object('gateway', 'default/gw/weur/0', 40), object('gateway', 'default/gw/<img src=x onerror=alert(1)>/1', 2)];
      await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(stats) });
    });
    await signIn(page);
    await page.locator('#objects-panel').waitFor({ state: 'visible', timeout: 10_000 });
    await waitFor(() => page.locator('#objects-body tr').count()).toBe(3);
    const text = (await page.locator('#objects-body').textContent()) ?? '';
    expect(text).toContain('default/gw/weur/0');
    expect(text).toContain('<img src=x onerror=alert(1)>');
    expect(await page.evaluate(() => document.querySelectorAll('#objects-panel img').length)).toBe(0);
    expect(await page.locator('#sections a[href="#objects-panel"]').getAttribute('hidden')).toBeNull();
    expect(errors).toEqual([]);
    await page.close();
  });

  it('fits a phone screen, with the MQTT client one tap from the top', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await signIn(page);
    await waitFor(() => page.locator('#stat-connected').textContent()).not.toBe('–');
    const link = page.locator('#sections a[href="#mqtt-panel"]');
    const box = await link.boundingBox();
    expect(box).not.toBeNull();
    expect(await link.isVisible()).toBe(true);
    expect((box?.y ?? Infinity) + (box?.height ?? 0)).toBeLessThanOrEqual(844);
    await link.tap();
    // In view after the tap: at the top, or as high as the page's end lets it scroll (the lists above it grow and shrink).
    await waitFor(async () => (await page.locator('#mqtt-panel').boundingBox())?.y ?? Infinity).toBeLessThan(844 * 0.75);
    expect((await page.locator('#mqtt-panel').boundingBox())?.y ?? -1).toBeGreaterThanOrEqual(0);
    expect(await page.locator('#mqtt-connect').isVisible()).toBe(true);
    expect(await page.evaluate(() => location.hash)).toBe('#ns=default');
    await page.locator('#mqtt-connect').tap();
    await expect.poll(() => page.locator('#mqtt-status').textContent(), { timeout: 10_000 }).toMatch(/^connected/);
    await expect.poll(() => page.locator('#clients-body').textContent(), { timeout: 10_000 }).toMatch(/dashboard-/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    mkdirSync(resultsDir, { recursive: true });
    await page.screenshot({ path: join(resultsDir, 'dashboard-mobile.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  describe('with a few hundred clients', () => {
    const namespace = 'crowd';
    const longId = `gateway-7f3c9a2e-4b1d-4e8a-9c0f-2d6b8a1e5f47-${'building-north-floor-3-'.repeat(4)}end`;
    const extras: TestClient[] = [];
    let halfway: RawPeer;

    beforeAll(async () => {
      const url = `${edge.mqttUrl}/${namespace}`;
      // 300 persistent sessions, offline: what a namespace of thousands of devices looks like between their visits.
      for (let start = 0; start < 300; start += 50) {
        await Promise.all(
          Array.from({ length: 50 }, async (_, i) => {
            const device = await connectClient(url, { clientId: `crowd-${String(start + i).padStart(3, '0')}`, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
            await device.end();
          }),
        );
      }
      extras.push(await connectClient(url, { clientId: longId, username: `operator-${'x'.repeat(60)}`, protocolVersion: 5 }));
      const subscriber = await connectClient(url, { clientId: 'many-subscriptions', protocolVersion: 5 });
      await subscribe(subscriber.client, ['sensors/+/temperature/very/deep/topic/filter/level/7/#', '$share/workers/jobs/+', 'a/#', 'b/#', 'c/#'], { qos: 1 });
      extras.push(subscriber);
      // A QoS 2 PUBLISH left without its PUBREL: the row that used to push the buttons off the page.
      halfway = await openRawPeer(url, 5);
      halfway.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'halfway', clean: true, keepalive: 0 });
      await halfway.waitFor('connack');
      for (let id = 1; id <= 3; id++) halfway.send({ cmd: 'publish', topic: 'q2/x', payload: Buffer.from('x'), qos: 2, messageId: id, retain: false, dup: false });
      // Each PUBREC comes once its id is stored as awaiting PUBREL.
      await eventually(() => halfway.packets.filter((packet) => packet.cmd === 'pubrec').length === 3, 10_000, 'three PUBRECs');
    });

    afterAll(async () => {
      halfway?.ws.close();
      await Promise.all(extras.map((client) => client.end(true)));
    });

    /** Where each button of each client row is, against the table's visible area and the viewport. */
    function buttonsOutside(page: Page): Promise<{ buttons: number; outside: string[] }> {
      return page.evaluate(() => {
        const wrap = (document.querySelector('#clients-panel .table-wrap') as HTMLElement).getBoundingClientRect();
        const viewport = document.documentElement.clientWidth;
        const outside: string[] = [];
        const buttons = [...document.querySelectorAll('#clients-body tr[data-client-row] button')];
        for (const button of buttons) {
          const box = button.getBoundingClientRect();
          const row = button.closest('tr')?.getAttribute('data-client-row') ?? '?';
          if (box.left < wrap.left - 0.5 || box.right > wrap.right + 0.5 || box.left < 0 || box.right > viewport + 0.5) outside.push(`${row}: ${button.textContent} at ${Math.round(box.left)}..${Math.round(box.right)} (table ${Math.round(wrap.left)}..${Math.round(wrap.right)}, viewport ${viewport})`);
        }
        return { buttons: buttons.length, outside };
      });
    }

    it.each([
      ['a 1,280 px desktop', { viewport: { width: 1280, height: 900 } }],
      ['a 390 px phone', { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }],
    ] as const)('fit %s: every row\'s buttons in view, a long id cut with the whole of it in its tooltip', async (what, options) => {
      const context = await browser.newContext(options);
      const page = await context.newPage();
      const errors = watchErrors(page);
      await signIn(page, namespace);
      // Online first: the long id, the subscriber and the one awaiting PUBREL are on the first page.
      const halfwayRow = page.locator('#clients-body tr[data-client-row="halfway"]');
      await halfwayRow.waitFor({ timeout: 10_000 });
      expect(await halfwayRow.textContent()).toContain('3 awaiting PUBREL');
      const layout = await buttonsOutside(page);
      expect(layout.buttons).toBeGreaterThanOrEqual(25);
      expect(layout.outside, what).toEqual([]);
      expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
      // The long id: shown cut, whole in the tooltip (and in Details).
      const idCell = page.locator(`#clients-body tr[data-client-row="${longId}"] td.id .clip`);
      expect(await idCell.getAttribute('title')).toBe(longId);
      expect(await idCell.evaluate((node) => node.scrollWidth > node.clientWidth)).toBe(true);
      mkdirSync(resultsDir, { recursive: true });
      await page.locator('#clients-panel').screenshot({ path: join(resultsDir, `dashboard-clients-${options.viewport.width}.png`) });
      expect(errors).toEqual([]);
      await context.close();
    });

    it('searches and pages at the broker: a page of 25 at a time, the total, a search by id', async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors = watchErrors(page);
      const asked: string[] = [];
      page.on('request', (request) => {
        if (request.url().includes(`/admin/${namespace}/clients`)) asked.push(new URL(request.url()).search);
      });
      await signIn(page, namespace);
      const rows = page.locator('#clients-body tr[data-client-row]');
      await expect.poll(() => page.locator('#clients-page').textContent(), { timeout: 10_000 }).toBe('1–25 of 303');
      expect(await rows.count()).toBe(25);
      const firstPage = await rows.evaluateAll((list) => list.map((row) => row.getAttribute('data-client-row')));

      await page.locator('#clients-next').click();
      await expect.poll(() => page.locator('#clients-page').textContent(), { timeout: 10_000 }).toBe('26–50 of 303');
      const secondPage = await rows.evaluateAll((list) => list.map((row) => row.getAttribute('data-client-row')));
      expect(secondPage).toHaveLength(25);
      expect(secondPage.filter((id) => firstPage.includes(id))).toEqual([]);
      expect(asked.some((query) => /offset=25/.test(query) && /limit=25/.test(query))).toBe(true);

      // A search goes to the broker and starts at its first page.
      await page.locator('#clients-search').fill('crowd-12');
      await expect.poll(() => page.locator('#clients-page').textContent(), { timeout: 10_000 }).toBe('1–10 of 10');
      expect(await rows.evaluateAll((list) => list.map((row) => row.getAttribute('data-client-row')))).toEqual(Array.from({ length: 10 }, (_, i) => `crowd-12${i}`));
      expect(asked.some((query) => /q=crowd-12/.test(query) && /offset=0/.test(query))).toBe(true);
      await page.locator('#clients-search').fill('operator-xxx');
      await expect.poll(() => rows.evaluateAll((list) => list.map((row) => row.getAttribute('data-client-row'))), { timeout: 10_000 }).toEqual([longId]);
      await page.locator('#clients-search').fill('nobody-by-that-name');
      await expect.poll(() => page.locator('#clients-body').textContent(), { timeout: 10_000 }).toContain('No client matches');
      expect(errors).toEqual([]);
      await page.close();
    });
  });

  it('lists refusals and disconnect causes, filtered by event and reason', async () => {
    const put = await fetch(new URL('/admin/default/users/console-user', edge.url), { method: 'PUT', headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ password: 'right-password' }) });
    expect(put.status).toBe(201);
    expect(await connectExpectingRefusal(edge.mqttUrl, { clientId: 'wrong-password-<b>', username: 'console-user', password: 'not-the-password-123', protocolVersion: 5 })).toBe(0x86);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = watchErrors(page);
    await signIn(page);
    await page.locator('#events-panel').waitFor({ state: 'visible', timeout: 10_000 });
    const refusal = page.locator('#events-body tr', { hasText: 'wrong-password-<b>' });
    await refusal.waitFor({ timeout: 10_000 });
    expect(await refusal.textContent()).toMatch(/refused.*console-user.*WebSocket.*bad-user-name-or-password.*134 \(0x86\)/);
    expect(await page.locator('#events-panel b').count()).toBe(0);
    await page.locator('#events-type').selectOption('connection.refused');
    await expect.poll(async () => (await page.locator('#events-body tr[data-event]').evaluateAll((list) => list.map((row) => row.getAttribute('data-event')))).every((event) => event === 'connection.refused'), { timeout: 10_000 }).toBe(true);
    await page.locator('#events-reason').selectOption('bad-user-name-or-password');
    await expect.poll(() => page.locator('#events-body tr[data-event]').count(), { timeout: 10_000 }).toBe(1);
    expect(await page.locator('#events-panel').textContent()).not.toContain('not-the-password-123');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('lists the sidecars linked to the namespace and the bridges each runs, with their state', async () => {
    // A bridge to a port nobody listens on: it never connects, and says why.
    const sidecar = await startTestSidecar(edge.mqttUrl, { MQTT_BRIDGE_SECRET: bridgeSecret, MQTT_BRIDGES: ['connection warehouse-2', 'address 127.0.0.1:9', 'topic orders/# both 1', 'restart_timeout 1'].join('\n') });
    try {
      const device = await connectClient(`mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`, { clientId: 'press-12', protocolVersion: 4 });
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors = watchErrors(page);
      await signIn(page);
      await page.locator('#sidecars-panel').waitFor({ state: 'visible', timeout: 10_000 });
      const name = sidecar.events('link.opened')[0]?.['sidecar'] as string;
      const block = page.locator(`#sidecars-list [data-sidecar="${name}"]`);
      await block.waitFor({ timeout: 15_000 });
      // The device and the bridge's own connection to the edge, a channel of the link like a device's.
      await expect.poll(() => block.textContent(), { timeout: 15_000 }).toMatch(/link v3.*2 devices/);
      const bridge = block.locator('tr[data-bridge="warehouse-2"]');
      await expect.poll(() => bridge.textContent(), { timeout: 15_000 }).toMatch(/127\.0\.0\.1:9.*(backing-off|connecting)/);
      await expect.poll(() => bridge.textContent(), { timeout: 15_000 }).toContain('ECONNREFUSED');
      expect(await page.locator('#sections a[href="#sidecars-panel"]').getAttribute('hidden')).toBeNull();
      mkdirSync(resultsDir, { recursive: true });
      await page.locator('#sidecars-panel').screenshot({ path: join(resultsDir, 'dashboard-sidecars.png') });
      expect(errors).toEqual([]);
      await page.close();
      await device.end();
    } finally {
      await sidecar.sidecar.close();
    }
  });
});
