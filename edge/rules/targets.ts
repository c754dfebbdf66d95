/**
 * Thin adapters from a rule's target to the service it names: an HTTP POST,
 * a Queue send, a D1 insert, an R2 put. Each resolves once the service has
 * the message and rejects otherwise (the drain retries, or keeps a refused
 * message as a dead letter: failure.ts). Republish is the
 * namespace's own business and is passed in.
 *
 * The bindings are typed by the one method used, so this file (and its
 * tests) need no Workers type definitions.
 */
import { AttemptTimeoutMs } from './backoff.ts';
import { messageBody, SignatureHeader, signBody, type RuleMessage } from './body.ts';
import type { Rule } from './config.ts';
import { WebhookStatusError } from './failure.ts';

export interface QueueLike {
  send(body: unknown): Promise<unknown>;
}
export interface D1Like {
  prepare(query: string): { bind(...values: unknown[]): { run(): Promise<unknown> } };
}
export interface R2Like {
  put(key: string, value: string, options?: { httpMetadata?: { contentType?: string } }): Promise<unknown>;
}

export interface TargetServices {
  namespace: string;
  /** The Worker's bindings (Queues, D1, R2); MQTT_RULES named them and config checked they exist. */
  env: Record<string, unknown>;
  fetch(request: Request): Promise<Response>;
  /** Publishes into this namespace as the broker, tagged as coming from `rule`. */
  republish(rule: Rule, topic: string, message: RuleMessage): void | Promise<void>;
}

/** The columns of a `d1:` table, created if it does not exist. `message_id` makes a retried insert a no-op. */
export const D1Schema = `(id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, namespace TEXT NOT NULL, rule TEXT NOT NULL,
  topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, client_id TEXT, ts INTEGER NOT NULL)`;

/** Tables created in this isolate, per database binding: CREATE IF NOT EXISTS once, not per message. */
const createdTables = new WeakMap<object, Set<string>>();

/** The R2 object key of a message: `<prefix><topic>/<ts>-<id>.json`, so a listing by prefix is by topic, then time. */
export function r2Key(prefix: string, message: RuleMessage): string {
  return `${prefix}${message.topic}/${message.ts}-${message.id}.json`;
}

export async function sendToTarget(services: TargetServices, rule: Rule, message: RuleMessage): Promise<void> {
  const target = rule.target;
  switch (target.kind) {
    case 'webhook':
      return postWebhook(services, rule, target.url, message);
    case 'queue':
      await binding<QueueLike>(services, target.binding).send(messageBody(services.namespace, message));
      return;
    case 'd1':
      return insertRow(services, binding<D1Like>(services, target.binding), target.table, message);
    case 'r2':
      await binding<R2Like>(services, target.binding).put(r2Key(target.prefix, message), JSON.stringify(messageBody(services.namespace, message)), {
        httpMetadata: { contentType: 'application/json' },
      });
      return;
    case 'republish':
      await services.republish(rule, target.topic, message);
      return;
  }
}

async function postWebhook(services: TargetServices, rule: Rule, url: string, message: RuleMessage): Promise<void> {
  const body = JSON.stringify(messageBody(services.namespace, message));
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-mqtt-rule': rule.name, 'x-mqtt-delivery': String(message.id) };
  if (rule.secret !== undefined) headers[SignatureHeader] = await signBody(rule.secret, body);
  // Aborted when the attempt times out, so a hung receiver does not keep a connection per retry.
  const response = await services.fetch(new Request(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(AttemptTimeoutMs) }));
  // The body is not needed; reading it frees the connection for the next POST.
  await response.arrayBuffer().catch(() => undefined);
  // The status goes with the error: failure.ts tells a refusal (4xx) from a "later" (5xx).
  if (response.status < 200 || response.status > 299) throw new WebhookStatusError(response.status);
}

async function insertRow(services: TargetServices, db: D1Like, table: string, message: RuleMessage): Promise<void> {
  let tables = createdTables.get(db);
  if (tables === undefined) createdTables.set(db, (tables = new Set()));
  if (!tables.has(table)) {
    await db.prepare(`CREATE TABLE IF NOT EXISTS ${table} ${D1Schema}`).bind().run();
    tables.add(table);
  }
  await db
    .prepare(`INSERT INTO ${table} (message_id, namespace, rule, topic, payload, qos, retain, client_id, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`)
    .bind(`${services.namespace}/${message.id}`, services.namespace, message.rule, message.topic, message.payload.slice().buffer, message.qos, message.retain ? 1 : 0, message.clientId ?? null, message.ts)
    .run();
}

function binding<T>(services: TargetServices, name: string): T {
  const value = services.env[name];
  if (value === undefined || value === null) throw new Error(`no binding ${name}`);
  return value as T;
}
