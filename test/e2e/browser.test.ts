/**
 * A real browser (Debian's headless Chromium, driven by playwright-core)
 * loads a page that uses MQTT.js over WebSocket to subscribe to the edge,
 * and receives a message published from Node.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-edge.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, publish } from '../helpers/mqtt-clients.ts';

const chromiumPath = '/usr/bin/chromium';

/** The same flags the machine's own probe uses: no network chatter on a closed network. */
export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const page = `<!doctype html>
<meta charset="utf-8">
<title>mqtt browser test</title>
<script src="/mqtt.min.js"></script>
<script>
  window.received = [];
  window.state = 'connecting';
  const params = new URLSearchParams(location.search);
  const client = mqtt.connect(params.get('url'), { clientId: 'browser-' + Math.random().toString(16).slice(2), reconnectPeriod: 0 });
  client.on('connect', () => {
    client.subscribe(params.get('topic'), { qos: 1 }, (err) => { window.state = err ? 'error: ' + err.message : 'subscribed'; });
  });
  client.on('message', (topic, payload) => window.received.push({ topic, payload: payload.toString() }));
  client.on('error', (err) => { window.state = 'error: ' + err.message; });
</script>`;

let edge: TestEdge;
let server: Server;
let browser: Browser;
let pageUrl: string;

beforeAll(async () => {
  edge = await startTestEdge();
  const bundle = readFileSync(join(repoRoot, 'node_modules', 'mqtt', 'dist', 'mqtt.min.js'));
  server = createServer((req, res) => {
    if (req.url?.startsWith('/mqtt.min.js') === true) res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  await edge?.dispose();
});

describe('browser', () => {
  it('subscribes from a page with MQTT.js over WebSocket and receives a message published from Node', async () => {
    const topic = `browser/${process.pid}/hello`;
    const tab = await browser.newPage();
    await tab.goto(`${pageUrl}?url=${encodeURIComponent(edge.mqttUrl)}&topic=${encodeURIComponent(topic)}`);
    await tab.waitForFunction(() => (window as unknown as { state: string }).state !== 'connecting', undefined, { timeout: 15_000 });
    expect(await tab.evaluate(() => (window as unknown as { state: string }).state)).toBe('subscribed');
    const node = await connectClient(edge.mqttUrl, { clientId: `node-${process.pid}` });
    await publish(node.client, topic, 'hello browser', { qos: 1 });
    await tab.waitForFunction(() => (window as unknown as { received: unknown[] }).received.length > 0, undefined, { timeout: 10_000 });
    expect(await tab.evaluate(() => (window as unknown as { received: unknown[] }).received)).toEqual([{ topic, payload: 'hello browser' }]);
    await node.end();
    await tab.close();
  });
});
