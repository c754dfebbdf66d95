/**
 * Issue 12's stall, exactly as users hit it, through the real runtime: a
 * MQTT 5 subscriber A with Receive Maximum 20 on `T/#`, a publisher sending
 * 80 QoS 1 messages 100 ms apart, and a second subscriber B whose socket is
 * lost without DISCONNECT and who reconnects a second later with the same
 * client id and clean start (what MQTT.js does by itself), or who is taken
 * over by a new connection instead. A must get all 80, in order.
 *
 * Before the fix, A stopped after about 50: B's new session restarted its
 * packet ids at 1, the shared PUBLISH encoding was patched with B's id in
 * place, and A's already queued copy with it; A acknowledged ids it had not
 * been sent, so its in-flight window filled up and never emptied.
 *
 * Every combination of transports (A and B each over WebSocket or through
 * the sidecar) and of B's fate (reconnect, takeover) runs at once, each on
 * its own topic tree, so the whole file takes one scenario's time.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, publish, sleep, subscribe, type TestClient } from '../helpers/mqtt-clients.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';

const SECRET = 'stall-bridge-secret';
const MESSAGES = 80;
const INTERVAL_MS = 100;

let edge: TestEdge;
let sidecar: TestSidecar;
const opened: MqttClient[] = [];

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: SECRET });
  sidecar = await startTestSidecar(edge.mqttUrl, { MQTT_BRIDGE_SECRET: SECRET });
});
afterAll(async () => {
  for (const client of opened) client.end(true);
  await sidecar?.sidecar.close();
  await edge?.dispose();
});

type Transport = 'ws' | 'tcp';
type Fate = 'reconnect' | 'takeover';

function urlOf(transport: Transport): string {
  return transport === 'ws' ? edge.mqttUrl : `mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`;
}

/** Resolves on the next CONNACK of a client that reconnects by itself. */
function nextConnect(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('connect', () => resolve()));
}

async function scenario(a: Transport, b: Transport, fate: Fate): Promise<TestClient> {
  const name = `${a}-${b}-${fate}`;
  const root = `T-${name}`;
  const subscriberA = await connectClient(urlOf(a), { clientId: `A-${name}`, protocolVersion: 5, clean: true, properties: { receiveMaximum: 20 } });
  opened.push(subscriberA.client);
  await subscribe(subscriberA.client, `${root}/#`, { qos: 1 });

  // B reconnects by itself after a lost socket (MQTT.js's default behaviour), and subscribes again: clean start.
  const subscriberB = await connectClient(urlOf(b), { clientId: `B-${name}`, protocolVersion: 5, clean: true, reconnectPeriod: fate === 'reconnect' ? 1000 : 0 });
  opened.push(subscriberB.client);
  subscriberB.client.on('connect', () => subscriberB.client.subscribe(`${root}/#`, { qos: 1 }));
  await subscribe(subscriberB.client, `${root}/#`, { qos: 1 });

  const publisher = await connectClient(edge.mqttUrl, { clientId: `P-${name}`, protocolVersion: 5 });
  opened.push(publisher.client);
  const acknowledged: Array<Promise<void>> = [];
  let reconnected: Promise<void> | undefined;
  for (let i = 0; i < MESSAGES; i++) {
    acknowledged.push(publish(publisher.client, `${root}/t`, String(i), { qos: 1 }));
    if (i === 20) {
      if (fate === 'reconnect') {
        reconnected = nextConnect(subscriberB.client);
        // The socket is lost: no DISCONNECT, so the broker sees a network error.
        subscriberB.client.stream.destroy();
      } else {
        const thief = mqtt.connect(urlOf(b), { clientId: `B-${name}`, protocolVersion: 5, clean: true, reconnectPeriod: 0 });
        opened.push(thief);
        reconnected = nextConnect(thief).then(() => void thief.subscribe(`${root}/#`, { qos: 1 }));
      }
    }
    await sleep(INTERVAL_MS);
  }
  await Promise.all(acknowledged);
  await reconnected;
  await subscriberA.waitForMessages(MESSAGES, 15_000);
  return subscriberA;
}

describe('a subscriber with Receive Maximum 20 keeps receiving while another subscriber reconnects or is taken over (issue 12)', () => {
  it('delivers all 80 messages, in order, in every combination of transports', async () => {
    const combinations: Array<[Transport, Transport, Fate]> = [];
    for (const a of ['ws', 'tcp'] as const) for (const b of ['ws', 'tcp'] as const) for (const fate of ['reconnect', 'takeover'] as const) combinations.push([a, b, fate]);
    const results = await Promise.allSettled(combinations.map(([a, b, fate]) => scenario(a, b, fate)));
    const failures = results.flatMap((result, index) => (result.status === 'rejected' ? [`${combinations[index]?.join('/')}: ${String(result.reason)}`] : []));
    expect(failures).toEqual([]);
    for (const result of results) {
      if (result.status !== 'fulfilled') continue;
      expect(result.value.messages.map((m) => m.payload)).toEqual(Array.from({ length: MESSAGES }, (_, i) => String(i)));
    }
  }, 60_000);
});
