/**
 * An MQTT broker that keeps every message: onPublish hands each one to a
 * Queue (without holding up its delivery), and the Queue's consumer, in the
 * same Worker, writes them to D1 a batch at a time.
 *
 *   MQTT client ──PUBLISH──▶ broker (Durable Object) ──onPublish──▶ Queue ──queue()──▶ D1
 */
import { defineBroker, type EdgeEnv, type PublishContext } from 'edge-mqtt-broker';

/** What travels through the Queue: one MQTT message. */
export interface StoredMessage {
  namespace: string;
  clientId: string;
  topic: string;
  /** The payload's own bytes (an ArrayBuffer survives the Queue's structured clone). */
  payload: ArrayBuffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  receivedAt: number;
}

/** The bindings of wrangler.toml: the broker's BROKER and MQTT_* vars (EdgeEnv), plus ours. */
export interface Env extends EdgeEnv {
  MESSAGES: Queue<StoredMessage>;
  DB: D1Database;
}

function onPublish({ namespace, clientId, topic, payload, qos, retain, env, waitUntil }: PublishContext<Env>): boolean {
  const message: StoredMessage = {
    namespace,
    clientId,
    topic,
    // A copy: the hook's payload may be a view into the packet's larger buffer.
    payload: payload.slice().buffer,
    qos,
    retain,
    receivedAt: Date.now(),
  };
  // Not awaited: the message is routed now, the send finishes in the background.
  waitUntil(env.MESSAGES.send(message, { contentType: 'v8' }));
  return true;
}

const broker = defineBroker<Env>({ onPublish });

export const { BrokerNamespace, BrokerApi } = broker;

export default {
  fetch: broker.worker.fetch,

  /** One D1 round trip per batch; a failed batch is retried whole, and its ids make the retry harmless. */
  async queue(batch, env) {
    const insert = env.DB.prepare(
      'INSERT OR IGNORE INTO messages (id, namespace, client_id, topic, payload, qos, retain, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    await env.DB.batch(
      batch.messages.map(({ id, body }) =>
        insert.bind(id, body.namespace, body.clientId, body.topic, body.payload, body.qos, body.retain ? 1 : 0, body.receivedAt),
      ),
    );
  },
} satisfies ExportedHandler<Env, StoredMessage>;
