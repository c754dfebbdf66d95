/**
 * Dead letters on the real runtime (workerd) with real local receivers: a
 * message the receiver refuses (HTTP 400), or answers 500 past
 * MQTT_RULES_MAX_ATTEMPTS, no longer holds up its rule; it is listed, can be
 * retried (delivered once the receiver takes it, under the same id) or
 * deleted through the admin API, and counted in /rules and /metrics. Each
 * scenario has its own namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeadLetterView } from '../../edge/rules/dead-letters.ts';
import type { RuleReport } from '../../edge/rules/rules.ts';
import { adminClient, type AdminAnswer } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, publish, type TestClient } from '../helpers/mqtt-clients.ts';
import { WebhookReceiver } from '../helpers/webhook-receiver.ts';

const adminToken = 'dead-letters-admin';
const maxAttempts = 3;

let edge: TestEdge;
let admin: ReturnType<typeof adminClient>;
let refuser: WebhookReceiver;
let flaky: WebhookReceiver;
const clients: TestClient[] = [];
/** Payloads each receiver refuses, and with what. */
const refusals = new Map<string, number>();

beforeAll(async () => {
  [refuser, flaky] = await Promise.all([WebhookReceiver.start(), WebhookReceiver.start()]);
  for (const receiver of [refuser, flaky]) receiver.statusFor = (body) => refusals.get((JSON.parse(body) as { payload: string }).payload);
  const rules = [
    { name: 'refuse', filter: 'refuse/#', to: `webhook:${refuser.url}/in` },
    { name: 'flaky', filter: 'flaky/#', to: `webhook:${flaky.url}/in` },
  ];
  edge = await startTestEdge({ MQTT_RULES: JSON.stringify(rules), MQTT_RULES_MAX_ATTEMPTS: String(maxAttempts), MQTT_ADMIN_TOKEN: adminToken });
  admin = adminClient(edge.url, adminToken);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.end(true)));
  await edge?.dispose();
  await Promise.all([refuser, flaky].map((receiver) => receiver?.close()));
});

async function publisher(namespace: string): Promise<TestClient> {
  const connected = await connectClient(`${edge.mqttUrl}/${namespace}`, { clientId: `${namespace}-publisher`, protocolVersion: 5 });
  clients.push(connected);
  return connected;
}

async function publishAll(client: TestClient, topic: string, payloads: readonly string[]): Promise<void> {
  for (const payload of payloads) await publish(client.client, topic, payload, { qos: 1 });
}

/** Polls an admin GET until `predicate` holds (there is no event to wait for); fails with the last answer after 20 s. */
async function adminUntil(path: string, predicate: (answer: AdminAnswer) => boolean, what: string): Promise<AdminAnswer> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const answer = await admin('GET', path);
    if (predicate(answer)) return answer;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${answer.text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The receiver has a message a moment before the namespace has counted its delivery: counts are polled, with a deadline. */
const poll = { timeout: 20_000, interval: 50 };

const deadLettersOf = (answer: AdminAnswer): DeadLetterView[] => (answer.body['deadLetters'] ?? []) as DeadLetterView[];

async function ruleReport(namespace: string, rule: string): Promise<RuleReport | undefined> {
  const answer = await admin('GET', `/admin/${namespace}/rules`);
  return (answer.body['rules'] as RuleReport[]).find((report) => report.name === rule);
}

async function metrics(namespace: string): Promise<string> {
  return (await fetch(new URL(`/metrics/${namespace}`, edge.url), { headers: { authorization: `Bearer ${adminToken}` } })).text();
}

/** The payloads a receiver took (answered 200), and the delivery id of each. */
const accepted = (receiver: WebhookReceiver): Map<string, string> =>
  new Map(receiver.requests.filter((request) => request.status === 200).map((request) => [(JSON.parse(request.body) as { payload: string }).payload, String(request.headers['x-mqtt-delivery'])]));

describe('rules: dead letters', () => {
  it('a message refused with 400 becomes a dead letter; the messages after it arrive; retry delivers it, delete drops another', async () => {
    refusals.set('refuse-me', 400);
    const client = await publisher('dl400');
    await publishAll(client, 'refuse/door', ['r1', 'refuse-me', 'r2', 'r3']);
    await refuser.waitFor(() => ['r1', 'r2', 'r3'].every((payload) => accepted(refuser).has(payload)), 'the messages around the refused one');

    const listed = await adminUntil('/admin/dl400/rules/dead-letters?rule=refuse', (answer) => deadLettersOf(answer).length === 1, 'the dead letter');
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ namespace: 'dl400', truncated: false });
    const [letter] = deadLettersOf(listed);
    expect(letter).toMatchObject({ rule: 'refuse', topic: 'refuse/door', payload: 'refuse-me', qos: 1, retain: false, clientId: 'dl400-publisher', attempts: 1, lastError: 'webhook answered HTTP 400' });
    expect(typeof letter?.ts).toBe('number');
    expect(letter?.deadAt).toBeGreaterThanOrEqual(letter?.ts ?? 0);
    const id = letter?.id as number;
    // It was refused once and never retried: a refusal is not a "later".
    expect(refuser.requests.filter((request) => request.body.includes('"refuse-me"'))).toHaveLength(1);

    // Publishing goes on as before.
    await publishAll(client, 'refuse/door', ['r4']);
    await refuser.waitFor(() => accepted(refuser).has('r4'), 'a message after the dead letter');
    await expect.poll(() => ruleReport('dl400', 'refuse'), poll).toMatchObject({ matched: 5, delivered: 4, pending: 0, deadLettered: 1, deadLetters: 1, deadLettersDropped: 0, failed: 1 });
    const counted = await metrics('dl400');
    expect(counted).toContain('mqtt_rule_dead_lettered_total{namespace="dl400",rule="refuse"} 1\n');
    expect(counted).toContain('mqtt_rule_dead_letters{namespace="dl400",rule="refuse"} 1\n');
    expect(counted).toContain('mqtt_rule_dead_letters_dropped_total{namespace="dl400",rule="refuse"} 0\n');
    const logLines = edge.logs.filter((line) => line.includes('rule_dead_lettered'));
    expect(logLines.some((line) => line.includes('refuse/door') && line.includes(String(id)))).toBe(true);
    expect(logLines.filter((line) => line.includes('refuse-me'))).toEqual([]);

    // The receiver takes it now: a retry delivers it, under the id it had.
    refusals.delete('refuse-me');
    const retried = await admin('POST', `/admin/dl400/rules/dead-letters/${id}/retry`);
    expect(retried).toMatchObject({ status: 200, body: { namespace: 'dl400', id, rule: 'refuse', retried: true } });
    await refuser.waitFor(() => accepted(refuser).has('refuse-me'), 'the retried dead letter');
    expect(accepted(refuser).get('refuse-me')).toBe(String(id));
    expect(deadLettersOf(await admin('GET', '/admin/dl400/rules/dead-letters'))).toEqual([]);
    expect((await admin('POST', `/admin/dl400/rules/dead-letters/${id}/retry`)).status).toBe(404);

    // Another refusal, deleted this time.
    refusals.set('drop-me', 422);
    await publishAll(client, 'refuse/door', ['drop-me']);
    const second = await adminUntil('/admin/dl400/rules/dead-letters', (answer) => deadLettersOf(answer).length === 1, 'a second dead letter');
    const secondId = deadLettersOf(second)[0]?.id as number;
    expect(await admin('DELETE', `/admin/dl400/rules/dead-letters/${secondId}`)).toMatchObject({ status: 200, body: { namespace: 'dl400', id: secondId, rule: 'refuse', deleted: true } });
    expect(await admin('DELETE', `/admin/dl400/rules/dead-letters/${secondId}`)).toMatchObject({ status: 404, body: { error: `no dead letter ${secondId} in namespace "dl400"` } });
    expect(deadLettersOf(await admin('GET', '/admin/dl400/rules/dead-letters?rule=refuse'))).toEqual([]);

    await expect.poll(() => ruleReport('dl400', 'refuse'), poll).toMatchObject({ matched: 6, delivered: 5, pending: 0, deadLettered: 2, deadLetters: 0, deadLettersDeleted: 1 });
    const after = await metrics('dl400');
    expect(after).toContain('mqtt_rule_dead_lettered_total{namespace="dl400",rule="refuse"} 2\n');
    expect(after).toContain('mqtt_rule_dead_letters{namespace="dl400",rule="refuse"} 0\n');
  });

  it(`a message answered 500 ${maxAttempts} times becomes a dead letter too; bulk retry and bulk delete work per rule`, async () => {
    refusals.set('poison', 500);
    const client = await publisher('dl500');
    await publishAll(client, 'flaky/x', ['poison', 'f1', 'f2']);
    const listed = await adminUntil('/admin/dl500/rules/dead-letters?rule=flaky', (answer) => deadLettersOf(answer).length === 1, 'the dead letter');
    expect(deadLettersOf(listed)[0]).toMatchObject({ payload: 'poison', attempts: maxAttempts, lastError: 'webhook answered HTTP 500' });
    await flaky.waitFor(() => accepted(flaky).has('f1') && accepted(flaky).has('f2'), 'the messages after the poison');
    expect(flaky.requests.filter((request) => request.body.includes('"poison"'))).toHaveLength(maxAttempts);

    refusals.delete('poison');
    expect(await admin('POST', '/admin/dl500/rules/dead-letters/retry?rule=flaky')).toMatchObject({ status: 200, body: { namespace: 'dl500', rule: 'flaky', retried: 1, remaining: 0 } });
    await flaky.waitFor(() => accepted(flaky).has('poison'), 'the retried message');

    refusals.set('poison-2', 500);
    await publishAll(client, 'flaky/x', ['poison-2']);
    await adminUntil('/admin/dl500/rules/dead-letters?rule=flaky', (answer) => deadLettersOf(answer).length === 1, 'another dead letter');
    expect(await admin('DELETE', '/admin/dl500/rules/dead-letters?rule=flaky')).toMatchObject({ status: 200, body: { namespace: 'dl500', rule: 'flaky', deleted: 1 } });
    await expect.poll(() => ruleReport('dl500', 'flaky'), poll).toMatchObject({ deadLettered: 2, deadLetters: 0, deadLettersDeleted: 1, pending: 0, delivered: 3, matched: 4 });
    expect(await metrics('dl500')).toContain('mqtt_rule_dead_lettered_total{namespace="dl500",rule="flaky"} 2\n');
  });

  it('answers bad requests as the other admin routes do', async () => {
    expect(await admin('GET', '/admin/dl-errors/rules/dead-letters?rule=nope')).toMatchObject({ status: 404, body: { error: expect.stringContaining('no rule "nope"') } });
    expect((await admin('GET', '/admin/dl-errors/rules/dead-letters?limit=0')).status).toBe(400);
    expect((await admin('POST', '/admin/dl-errors/rules/dead-letters/abc/retry')).status).toBe(400);
    expect((await admin('DELETE', '/admin/dl-errors/rules/dead-letters')).status).toBe(400);
    expect((await admin('POST', '/admin/dl-errors/rules/dead-letters/retry?rule=nope')).status).toBe(404);
    const wrongMethod = await fetch(new URL('/admin/dl-errors/rules/dead-letters/retry', edge.url), { method: 'GET', headers: { authorization: `Bearer ${adminToken}` } });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect((await admin('GET', '/admin/dl-errors/rules/dead-letters', undefined, { token: 'wrong' })).status).toBe(401);
    expect(await admin('GET', '/admin/dl-errors/rules/dead-letters')).toMatchObject({ status: 200, body: { namespace: 'dl-errors', deadLetters: [], truncated: false } });
  });
});
