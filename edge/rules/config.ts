/**
 * `MQTT_RULES`: messages to other services without code. Parsed and checked
 * once per environment, with the rest of the configuration, so a typo in a
 * rule (a bad filter, a binding that does not exist) stops the broker with
 * a message naming the rule instead of losing messages at run time.
 *
 * @example
 * MQTT_RULES='[{"name":"alerts","filter":"alerts/#","to":"webhook:https://example.com/in"},
 *              {"filter":"sensors/+/temp","to":"d1:DB/readings"}]'
 */
import { MqttError } from '../../shared/errors.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { validateTopicFilter, validateTopicName } from '../../shared/topic.ts';

/** Where a rule sends what it matches. */
export type RuleTarget =
  | { kind: 'webhook'; url: string }
  | { kind: 'queue'; binding: string }
  | { kind: 'd1'; binding: string; table: string }
  | { kind: 'r2'; binding: string; prefix: string }
  | { kind: 'republish'; topic: string };

export interface Rule {
  /** Counters, metrics and outbox rows are kept under this name (default `rule-<n>`, 1-based). */
  name: string;
  filter: string;
  /** The target as written, for the admin API. */
  to: string;
  target: RuleTarget;
  /** HMAC-SHA256 key for a webhook's signature: the rule's own `secret`, else MQTT_RULES_SECRET. */
  secret?: string;
}

export interface OutboxLimits {
  /** Rows (message × rule) the outbox holds at most. */
  maxMessages: number;
  /** Bytes (topics and payloads) the outbox holds at most. */
  maxBytes: number;
}

/** The same two bounds for the dead letters (messages a target refused for good). */
export type DeadLetterLimits = OutboxLimits;

export interface RulesConfig {
  rules: Rule[];
  outbox: OutboxLimits;
  deadLetters: DeadLetterLimits;
  /** Attempts of one message before a transient failure counts as permanent and it becomes a dead letter. */
  maxAttempts: number;
}

export interface RulesEnv {
  MQTT_RULES?: string;
  MQTT_RULES_SECRET?: string;
  MQTT_RULES_OUTBOX_MAX_MESSAGES?: string;
  MQTT_RULES_OUTBOX_MAX_BYTES?: string;
  MQTT_RULES_MAX_ATTEMPTS?: string;
  MQTT_RULES_DEAD_LETTERS_MAX_MESSAGES?: string;
  MQTT_RULES_DEAD_LETTERS_MAX_BYTES?: string;
}

export const DefaultOutboxLimits: OutboxLimits = { maxMessages: 10_000, maxBytes: 16 * 1024 * 1024 };
/** Fewer rows than the outbox: dead letters wait for a person, who reads a screenful, not ten thousand. */
export const DefaultDeadLetterLimits: DeadLetterLimits = { maxMessages: 1_000, maxBytes: 16 * 1024 * 1024 };
/**
 * With the backoff (100 ms doubling to 30 s), the 12th attempt comes about
 * 110 s after the first failure: a receiver that restarts or redeploys
 * within that loses nothing to the dead letters, and a message it always
 * answers 500 holds up its rule for about two minutes. A receiver down for
 * longer loses its head message every 12 attempts (docs/rules.md).
 */
export const DefaultMaxAttempts = 12;

/** No rules: what a broker without MQTT_RULES runs with. */
export const NoRules: RulesConfig = { rules: [], outbox: DefaultOutboxLimits, deadLetters: DefaultDeadLetterLimits, maxAttempts: DefaultMaxAttempts };

/** A Worker binding name (wrangler's rule for them, close enough). */
const BindingName = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A D1 table name: an identifier, since it is put into SQL text. */
const TableName = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const RuleName = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Which bindings a rule may name, by what they must be able to do. */
const bindingMethods = { queue: 'send', d1: 'prepare', r2: 'put' } as const;

function configError(message: string): MqttError {
  return new MqttError('Config', ReasonCode.ImplementationSpecificError, message);
}

/**
 * Parses MQTT_RULES and its bounds. `env` is also where the bindings a rule
 * names must exist (a Queue, D1 database or R2 bucket), checked by what they
 * can do, so a [vars] string of the same name does not pass.
 */
export function loadRulesConfig(env: RulesEnv): RulesConfig {
  const outbox = {
    maxMessages: parseBound('MQTT_RULES_OUTBOX_MAX_MESSAGES', env.MQTT_RULES_OUTBOX_MAX_MESSAGES, DefaultOutboxLimits.maxMessages),
    maxBytes: parseBound('MQTT_RULES_OUTBOX_MAX_BYTES', env.MQTT_RULES_OUTBOX_MAX_BYTES, DefaultOutboxLimits.maxBytes),
  };
  const deadLetters = {
    maxMessages: parseBound('MQTT_RULES_DEAD_LETTERS_MAX_MESSAGES', env.MQTT_RULES_DEAD_LETTERS_MAX_MESSAGES, DefaultDeadLetterLimits.maxMessages),
    maxBytes: parseBound('MQTT_RULES_DEAD_LETTERS_MAX_BYTES', env.MQTT_RULES_DEAD_LETTERS_MAX_BYTES, DefaultDeadLetterLimits.maxBytes),
  };
  const maxAttempts = parseBound('MQTT_RULES_MAX_ATTEMPTS', env.MQTT_RULES_MAX_ATTEMPTS, DefaultMaxAttempts);
  const bounds = { outbox, deadLetters, maxAttempts };
  const text = env.MQTT_RULES;
  if (text === undefined || text.trim() === '') return { rules: [], ...bounds };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw configError(`MQTT_RULES is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!Array.isArray(parsed)) throw configError('MQTT_RULES must be a JSON array of {"filter", "to"} objects');
  const secret = env.MQTT_RULES_SECRET === undefined || env.MQTT_RULES_SECRET === '' ? undefined : env.MQTT_RULES_SECRET;
  const rules = parsed.map((entry: unknown, index) => parseRule(entry, index, env as Record<string, unknown>, secret));
  const names = new Set<string>();
  for (const rule of rules) {
    if (names.has(rule.name)) throw configError(`MQTT_RULES: two rules are named "${rule.name}"`);
    names.add(rule.name);
  }
  return { rules, ...bounds };
}

function parseRule(entry: unknown, index: number, env: Record<string, unknown>, defaultSecret: string | undefined): Rule {
  const where = `MQTT_RULES[${index}]`;
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw configError(`${where} must be an object with "filter" and "to"`);
  const fields = entry as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!['name', 'filter', 'to', 'secret'].includes(key)) throw configError(`${where}: unknown field "${key}" (use name, filter, to, secret)`);
  }
  const name = fields['name'] ?? `rule-${index + 1}`;
  if (typeof name !== 'string' || !RuleName.test(name)) throw configError(`${where}: "name" must be 1-64 letters, digits, ".", "_", ":" or "-"`);
  const label = `${where} ("${name}")`;
  const filter = fields['filter'];
  if (typeof filter !== 'string' || !validateTopicFilter(filter) || filter.startsWith('$share/')) {
    throw configError(`${label}: "filter" must be a valid topic filter (no $share/), got ${JSON.stringify(filter)}`);
  }
  const to = fields['to'];
  if (typeof to !== 'string') throw configError(`${label}: "to" must be a string such as "webhook:https://..."`);
  const target = parseTarget(to, label, env);
  const secret = fields['secret'] ?? defaultSecret;
  if (secret !== undefined && (typeof secret !== 'string' || secret === '')) throw configError(`${label}: "secret" must be a non-empty string`);
  if (fields['secret'] !== undefined && target.kind !== 'webhook') throw configError(`${label}: "secret" only applies to webhook targets`);
  return { name, filter, to, target, ...(secret === undefined || target.kind !== 'webhook' ? {} : { secret }) };
}

/** `<kind>:<rest>`: the target kinds and their own syntax. */
export function parseTarget(to: string, label: string, env: Record<string, unknown>): RuleTarget {
  const colon = to.indexOf(':');
  const kind = colon === -1 ? to : to.slice(0, colon);
  const rest = colon === -1 ? '' : to.slice(colon + 1);
  switch (kind) {
    case 'webhook': {
      let url: URL;
      try {
        url = new URL(rest);
      } catch {
        throw configError(`${label}: "${to}" needs an http(s) URL after webhook:`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw configError(`${label}: a webhook URL must be http or https`);
      return { kind: 'webhook', url: url.href };
    }
    case 'queue':
      return { kind: 'queue', binding: checkBinding(rest, 'queue', label, env) };
    case 'd1': {
      const [binding = '', table = '', ...more] = rest.split('/');
      if (more.length > 0 || !TableName.test(table)) throw configError(`${label}: use d1:<BINDING>/<table>, the table an identifier`);
      return { kind: 'd1', binding: checkBinding(binding, 'd1', label, env), table };
    }
    case 'r2': {
      const slash = rest.indexOf('/');
      const binding = slash === -1 ? rest : rest.slice(0, slash);
      return { kind: 'r2', binding: checkBinding(binding, 'r2', label, env), prefix: slash === -1 ? '' : rest.slice(slash + 1) };
    }
    case 'republish':
      // The broker's own topics stay its own: a rule cannot write under $SYS.
      if (!validateTopicName(rest) || rest.startsWith('$')) throw configError(`${label}: republish needs a topic name without wildcards or a leading $`);
      return { kind: 'republish', topic: rest };
    default:
      throw configError(`${label}: unknown target kind "${kind}" (use webhook:, queue:, d1:, r2: or republish:)`);
  }
}

function checkBinding(name: string, kind: keyof typeof bindingMethods, label: string, env: Record<string, unknown>): string {
  if (!BindingName.test(name)) throw configError(`${label}: "${name}" is not a binding name`);
  const binding = env[name] as Record<string, unknown> | undefined;
  if (binding === undefined || binding === null || typeof binding[bindingMethods[kind]] !== 'function') {
    throw configError(`${label}: the Worker has no ${kind === 'queue' ? 'Queue' : kind === 'd1' ? 'D1' : 'R2'} binding named ${name}`);
  }
  return name;
}

function parseBound(variable: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 1_000_000_000_000) throw configError(`${variable}="${text}" must be a positive integer`);
  return value;
}
