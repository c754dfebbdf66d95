/**
 * MQTT_RULES targets that are Worker bindings, on workerd with Miniflare's
 * local Queue, D1 and R2: one message fans out to all three. The Queue's
 * consumer is a second Worker that forwards each batch to a local receiver.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuleReport } from '../../edge/rules/rules.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, publish, type TestClient } from '../helpers/mqtt-clients.ts';
import { WebhookReceiver } from '../helpers/webhook-receiver.ts';

const adminToken = 'rules-bindings-admin';
let edge: TestEdge;
let sink: WebhookReceiver;
let publisher: TestClient | undefined;

/** The Queue's consumer: forwards each message body to the receiver, then acknowledges it. */
const consumerScript = `export default {
  async queue(batch, env) {
    for (const message of batch.messages) {
      const response = await fetch(env.SINK, { method: 'POST', body: JSON.stringify(message.body) });
      if (response.ok) message.ack(); else message.retry();
    }
  },
};`;

beforeAll(async () => {
  sink = await WebhookReceiver.start();
  const rules = [
    { name: 'to-queue', filter: 'all/#', to: 'queue:EVENTS' },
    { name: 'to-d1', filter: 'all/#', to: 'd1:DB/mqtt_messages' },
    { name: 'to-r2', filter: 'all/#', to: 'r2:BUCKET/archive/' },
  ];
  edge = await startTestEdge(
    { MQTT_RULES: JSON.stringify(rules), MQTT_ADMIN_TOKEN: adminToken },
    {
      edgeWorkerOptions: { queueProducers: { EVENTS: { queueName: 'events' } }, d1Databases: ['DB'], r2Buckets: ['BUCKET'] },
      extraWorkers: [
        {
          name: 'consumer',
          modules: true,
          script: consumerScript,
          compatibilityDate: '2025-01-01',
          bindings: { SINK: `${sink.url}/queue` },
          queueConsumers: { events: { maxBatchSize: 1, maxBatchTimeout: 0 } },
        },
      ],
    },
  );
});

afterAll(async () => {
  await publisher?.end(true);
  await edge?.dispose();
  await sink?.close();
});

async function rulesOf(namespace: string): Promise<RuleReport[]> {
  const response = await fetch(new URL(`/admin/${namespace}/rules`, edge.url), { headers: { authorization: `Bearer ${adminToken}` } });
  return ((await response.json()) as { rules: RuleReport[] }).rules;
}

describe('rules: Queue, D1 and R2 targets', () => {
  it('sends each message to the queue, a D1 row and an R2 object', async () => {
    publisher = await connectClient(`${edge.mqttUrl}/plant`, { clientId: 'plc-1', protocolVersion: 5 });
    await publish(publisher.client, 'all/line1', 'first', { qos: 1 });
    await publish(publisher.client, 'all/line1', Buffer.from([0x00, 0xff]), { qos: 0 });
    await publish(publisher.client, 'all/line2', 'third', { qos: 2, retain: true });

    // Queue → consumer Worker → receiver.
    await sink.waitFor(() => sink.accepted().length === 3, 'three queue messages');
    const queued = sink.accepted().sort((a, b) => (a['id'] as number) - (b['id'] as number));
    expect(queued.map(({ namespace, rule, topic, payload, payload_base64, qos, retain, clientId }) => ({ namespace, rule, topic, payload, payload_base64, qos, retain, clientId }))).toEqual([
      { namespace: 'plant', rule: 'to-queue', topic: 'all/line1', payload: 'first', payload_base64: undefined, qos: 1, retain: false, clientId: 'plc-1' },
      { namespace: 'plant', rule: 'to-queue', topic: 'all/line1', payload: undefined, payload_base64: 'AP8=', qos: 0, retain: false, clientId: 'plc-1' },
      { namespace: 'plant', rule: 'to-queue', topic: 'all/line2', payload: 'third', payload_base64: undefined, qos: 2, retain: true, clientId: 'plc-1' },
    ]);

    // Every rule drained: then D1 and R2 hold what they were sent.
    const deadline = Date.now() + 20_000;
    while ((await rulesOf('plant')).some((rule) => rule.delivered < 3)) {
      if (Date.now() > deadline) throw new Error(`rules did not drain: ${JSON.stringify(await rulesOf('plant'))}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await rulesOf('plant')).map(({ name, matched, delivered, pending, dropped }) => ({ name, matched, delivered, pending, dropped }))).toEqual([
      { name: 'to-queue', matched: 3, delivered: 3, pending: 0, dropped: 0 },
      { name: 'to-d1', matched: 3, delivered: 3, pending: 0, dropped: 0 },
      { name: 'to-r2', matched: 3, delivered: 3, pending: 0, dropped: 0 },
    ]);

    const db = await edge.miniflare.getD1Database('DB', 'edge');
    const rows = (await db.prepare('SELECT namespace, rule, topic, payload, qos, retain, client_id, ts, message_id FROM mqtt_messages ORDER BY id').all()).results;
    expect(rows.map((row) => ({ ...row, payload: Array.from(new Uint8Array(row['payload'] as ArrayBuffer | number[] as ArrayBuffer)), ts: typeof row['ts'], message_id: typeof row['message_id'] }))).toEqual([
      { namespace: 'plant', rule: 'to-d1', topic: 'all/line1', payload: [...Buffer.from('first')], qos: 1, retain: 0, client_id: 'plc-1', ts: 'number', message_id: 'string' },
      { namespace: 'plant', rule: 'to-d1', topic: 'all/line1', payload: [0x00, 0xff], qos: 0, retain: 0, client_id: 'plc-1', ts: 'number', message_id: 'string' },
      { namespace: 'plant', rule: 'to-d1', topic: 'all/line2', payload: [...Buffer.from('third')], qos: 2, retain: 1, client_id: 'plc-1', ts: 'number', message_id: 'string' },
    ]);

    const bucket = await edge.miniflare.getR2Bucket('BUCKET', 'edge');
    const listed = await bucket.list({ prefix: 'archive/all/' });
    const keys = listed.objects.map((object) => object.key).sort();
    expect(keys).toHaveLength(3);
    for (const key of keys) expect(key).toMatch(/^archive\/all\/line[12]\/\d+-\d+\.json$/);
    const object = await bucket.get(keys.find((key) => key.startsWith('archive/all/line2/')) as string);
    expect(object?.httpMetadata?.contentType).toBe('application/json');
    expect(JSON.parse((await object?.text()) ?? '')).toMatchObject({ namespace: 'plant', rule: 'to-r2', topic: 'all/line2', payload: 'third', qos: 2, retain: true });
  });
});
