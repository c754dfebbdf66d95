/**
 * Nothing accepted is lost: QoS 1 and 2 messages the broker acknowledged
 * (PUBACK / PUBREC) reach a persistent subscriber even when the sidecar is
 * SIGKILLed mid-stream and when the edge runtime restarts mid-stream.
 * Messages are counted end to end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/free-port.ts';
import { repoRoot } from '../../scripts/local-edge.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { eventually, sleep } from '../helpers/mqtt-clients.ts';

const bridgeSecret = 'durability-secret';
const total = 300;

let edge: TestEdge;
beforeAll(async () => {
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: bridgeSecret });
});
afterAll(async () => {
  await edge?.dispose();
});

/** The sidecar as its own process, so it can be SIGKILLed. */
async function spawnSidecar(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'sidecar', 'main.ts')], {
    cwd: repoRoot,
    env: { ...process.env, MQTT_TCP_HOST: '127.0.0.1', MQTT_TCP_PORT: String(port), MQTT_EDGE_URL: edge.mqttUrl, MQTT_BRIDGE_SECRET: bridgeSecret, MQTT_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Ready when the port accepts connections.
  await eventually(() => child.exitCode === null, 1000, 'sidecar running');
  for (let attempt = 0; attempt < 100; attempt++) {
    const open = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(true));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
    });
    if (open) return child;
    await sleep(100);
  }
  throw new Error('sidecar did not start');
}

/** A persistent subscriber that records every payload it receives. */
async function persistentSubscriber(url: string, clientId: string, topic: string, qos: 1 | 2): Promise<{ client: MqttClient; received: string[] }> {
  const received: string[] = [];
  const client = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 200, connectTimeout: 5000, protocolVersion: 4 });
  client.on('message', (_topic, payload) => received.push(payload.toString()));
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  await new Promise<void>((resolve, reject) => client.subscribe(topic, { qos }, (error) => (error ? reject(error) : resolve())));
  return { client, received };
}

/**
 * Publishes `total` numbered messages with up to `window` unacknowledged at
 * once, so a fault always hits messages in flight; MQTT.js keeps
 * unacknowledged ones and resends them after it reconnects. Returns the
 * payloads the broker acknowledged; `onAcknowledged` runs (awaited, while
 * publishing goes on) after each acknowledgement.
 */
async function publishAll(client: MqttClient, topic: string, qos: 1 | 2, onAcknowledged: (count: number) => Promise<void>, window = 20): Promise<string[]> {
  const acknowledged: string[] = [];
  let next = 0;
  let faults = Promise.resolve();
  await new Promise<void>((resolve, reject) => {
    const sendMore = (): void => {
      while (next < total && next - acknowledged.length < window) {
        const payload = `m${next++}`;
        client.publish(topic, payload, { qos }, (error) => {
          if (error) return reject(error);
          acknowledged.push(payload);
          const count = acknowledged.length;
          faults = faults.then(() => onAcknowledged(count));
          if (count === total) resolve();
          else sendMore();
        });
      }
    };
    sendMore();
  });
  await faults;
  return acknowledged;
}

function missing(acknowledged: string[], received: string[]): string[] {
  const seen = new Set(received);
  return acknowledged.filter((payload) => !seen.has(payload));
}

describe('durability', () => {
  it.each([1, 2] as const)('loses no QoS %i message when the sidecar is SIGKILLed mid-stream', { timeout: 90_000 }, async (qos) => {
    const topic = `durable/sidecar/${qos}/${process.pid}`;
    const port = await freePort();
    let sidecar = await spawnSidecar(port);
    const subscriber = await persistentSubscriber(edge.mqttUrl, `dur-sub-sc-${qos}-${process.pid}`, topic, qos);
    const publisher = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `dur-pub-sc-${qos}-${process.pid}`, clean: false, reconnectPeriod: 200, protocolVersion: 4 });
    publisher.on('error', () => undefined);
    await new Promise<void>((resolve) => publisher.once('connect', () => resolve()));
    let kills = 0;
    const acknowledged = await publishAll(publisher, topic, qos, async (sent) => {
      if (sent === 100 || sent === 200) {
        // Mid-stream: up to 20 more publishes are in flight at this moment.
        sidecar.kill('SIGKILL');
        kills++;
        await new Promise((resolve) => sidecar.once('exit', resolve));
        sidecar = await spawnSidecar(port);
      }
    });
    expect(kills).toBe(2);
    await eventually(() => missing(acknowledged, subscriber.received).length === 0, 20_000, 'every acknowledged message at the subscriber');
    console.log(`durability: sidecar SIGKILLed ${kills}×, QoS ${qos}: ${acknowledged.length} acknowledged, ${new Set(subscriber.received).size} distinct received, ${subscriber.received.length - new Set(subscriber.received).size} duplicates, 0 lost`);
    if (qos === 2) expect(subscriber.received.length).toBe(new Set(subscriber.received).size);
    publisher.end(true);
    subscriber.client.end(true);
    sidecar.kill('SIGTERM');
  });

  it.each([1, 2] as const)('loses no QoS %i message when the edge runtime restarts mid-stream', { timeout: 90_000 }, async (qos) => {
    const topic = `durable/edge/${qos}/${process.pid}`;
    const subscriber = await persistentSubscriber(edge.mqttUrl, `dur-sub-edge-${qos}-${process.pid}`, topic, qos);
    const publisher = mqtt.connect(edge.mqttUrl, { clientId: `dur-pub-edge-${qos}-${process.pid}`, clean: false, reconnectPeriod: 200, protocolVersion: 4 });
    publisher.on('error', () => undefined);
    await new Promise<void>((resolve) => publisher.once('connect', () => resolve()));
    let restarts = 0;
    const acknowledged = await publishAll(publisher, topic, qos, async (sent) => {
      if (sent === 150) {
        await edge.restart();
        restarts++;
      }
    });
    expect(restarts).toBe(1);
    await eventually(() => missing(acknowledged, subscriber.received).length === 0, 20_000, 'every acknowledged message at the subscriber');
    console.log(`durability: edge restarted, QoS ${qos}: ${acknowledged.length} acknowledged, ${new Set(subscriber.received).size} distinct received, 0 lost`);
    publisher.end(true);
    subscriber.client.end(true);
  });
});
