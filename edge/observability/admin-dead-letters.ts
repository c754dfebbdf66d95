/**
 * The admin API's dead-letter routes (see admin-api.ts for the others and
 * docs/rules.md, "Dead letters", for what a dead letter is):
 *
 * | route | answer |
 * |---|---|
 * | `GET /admin/<ns>/rules/dead-letters?rule=&limit=` | `{ namespace, deadLetters: DeadLetterView[], truncated }`, oldest message first; 404 for a rule not in MQTT_RULES |
 * | `POST /admin/<ns>/rules/dead-letters/<id>/retry` | `{ namespace, id, rule, retried: true }`; 404 if there is none; 409 if the outbox is full |
 * | `DELETE /admin/<ns>/rules/dead-letters/<id>` | `{ namespace, id, rule, deleted: true }`; 404 if there is none |
 * | `POST /admin/<ns>/rules/dead-letters/retry?rule=` | `{ namespace, rule, retried, remaining }`; 409 if the outbox had room for none |
 * | `DELETE /admin/<ns>/rules/dead-letters?rule=` | `{ namespace, rule, deleted }` |
 *
 * The bulk forms need `rule`: one request never empties every rule's dead letters.
 */
import type { BrokerNamespaceRpc } from '../broker-types.ts';
import type { Logger } from '../core/log.ts';
import { jsonError, jsonResponse, parseLimit } from './http.ts';

export type DeadLettersAction =
  | { kind: 'deadLetters' }
  | { kind: 'deadLettersRetry' }
  | { kind: 'deadLetter'; id: string }
  | { kind: 'deadLetterRetry'; id: string };

export const deadLettersAllowedMethods: Record<DeadLettersAction['kind'], string[]> = {
  deadLetters: ['GET', 'DELETE'],
  deadLettersRetry: ['POST'],
  deadLetter: ['DELETE'],
  deadLetterRetry: ['POST'],
};

/** A dead letter's listing carries payloads: fewer rows than the other lists by default. */
const DefaultLimit = 100;
const MaxLimit = 1000;

/** `rules/dead-letters`, `…/retry`, `…/<id>`, `…/<id>/retry`; undefined for none of them. */
export function parseDeadLettersAction(parts: readonly string[]): DeadLettersAction | undefined {
  if (parts[0] !== 'rules' || parts[1] !== 'dead-letters') return undefined;
  const [, , third, fourth] = parts;
  if (parts.length === 2) return { kind: 'deadLetters' };
  if (parts.length === 3 && third === 'retry') return { kind: 'deadLettersRetry' };
  if (parts.length === 3 && third !== undefined && third !== '') return { kind: 'deadLetter', id: third };
  if (parts.length === 4 && fourth === 'retry' && third !== undefined && third !== '') return { kind: 'deadLetterRetry', id: third };
  return undefined;
}

export function isDeadLettersAction(action: { kind: string }): action is DeadLettersAction {
  return action.kind in deadLettersAllowedMethods;
}

export async function handleDeadLettersAction(url: URL, method: string, action: DeadLettersAction, stub: BrokerNamespaceRpc, namespace: string, log: Logger): Promise<Response> {
  switch (action.kind) {
    case 'deadLetters':
      return method === 'GET' ? listDeadLetters(url, stub, namespace) : deleteRuleDeadLetters(url, stub, namespace, log);
    case 'deadLettersRetry':
      return retryRuleDeadLetters(url, stub, namespace, log);
    case 'deadLetter':
    case 'deadLetterRetry':
      return oneDeadLetter(action, stub, namespace, log);
  }
}

async function listDeadLetters(url: URL, stub: BrokerNamespaceRpc, namespace: string): Promise<Response> {
  const limit = parseLimit(url, DefaultLimit, MaxLimit);
  if (limit === undefined) return jsonError(400, `"limit" must be an integer in 1..${MaxLimit}`);
  const rule = url.searchParams.get('rule') ?? undefined;
  if (rule === '') return jsonError(400, '"rule" must name a rule of MQTT_RULES (or be left out for all)');
  const listed = await stub.listDeadLetters(rule, limit);
  if (listed === undefined) return unknownRule(namespace, rule ?? '');
  return jsonResponse(200, { namespace, ...listed });
}

async function retryRuleDeadLetters(url: URL, stub: BrokerNamespaceRpc, namespace: string, log: Logger): Promise<Response> {
  const rule = ruleOf(url);
  if (rule === undefined) return jsonError(400, 'give the rule: POST /admin/<namespace>/rules/dead-letters/retry?rule=<name>');
  const outcome = await stub.retryDeadLetters({ rule });
  if (outcome === undefined) return unknownRule(namespace, rule);
  const remaining = outcome.selected - outcome.done;
  if (outcome.done === 0 && remaining > 0) return outboxFull(namespace);
  log.log('info', 'admin_dead_letters_retried', { namespace, rule, retried: outcome.done, remaining });
  return jsonResponse(200, { namespace, rule, retried: outcome.done, remaining });
}

async function deleteRuleDeadLetters(url: URL, stub: BrokerNamespaceRpc, namespace: string, log: Logger): Promise<Response> {
  const rule = ruleOf(url);
  if (rule === undefined) return jsonError(400, 'give the rule: DELETE /admin/<namespace>/rules/dead-letters?rule=<name>');
  const outcome = await stub.deleteDeadLetters({ rule });
  if (outcome === undefined) return unknownRule(namespace, rule);
  log.log('info', 'admin_dead_letters_deleted', { namespace, rule, deleted: outcome.done });
  return jsonResponse(200, { namespace, rule, deleted: outcome.done });
}

async function oneDeadLetter(action: { kind: 'deadLetter' | 'deadLetterRetry'; id: string }, stub: BrokerNamespaceRpc, namespace: string, log: Logger): Promise<Response> {
  // Ids are outbox row ids: positive integers within what a number holds exactly.
  if (!/^[1-9][0-9]{0,14}$/.test(action.id)) return jsonError(400, `"${action.id}" is not a dead letter's id (a positive integer)`);
  const id = Number(action.id);
  const retry = action.kind === 'deadLetterRetry';
  const outcome = retry ? await stub.retryDeadLetters({ id }) : await stub.deleteDeadLetters({ id });
  if (outcome === undefined || outcome.selected === 0) return jsonError(404, `no dead letter ${id} in namespace "${namespace}"`);
  if (outcome.done === 0) return outboxFull(namespace);
  log.log('info', retry ? 'admin_dead_letters_retried' : 'admin_dead_letters_deleted', { namespace, rule: outcome.rule, id });
  return jsonResponse(200, { namespace, id, rule: outcome.rule, ...(retry ? { retried: true } : { deleted: true }) });
}

function ruleOf(url: URL): string | undefined {
  const rule = url.searchParams.get('rule');
  return rule === null || rule === '' ? undefined : rule;
}

function unknownRule(namespace: string, rule: string): Response {
  return jsonError(404, `no rule "${rule}" in MQTT_RULES (namespace "${namespace}"): see GET /admin/${namespace}/rules`);
}

function outboxFull(namespace: string): Response {
  return jsonError(409, `the rules outbox of namespace "${namespace}" is full (MQTT_RULES_OUTBOX_MAX_MESSAGES / _MAX_BYTES): retry once it has drained`);
}
