/**
 * Whether a failed delivery is worth trying again. A transient failure
 * (the target is down, slow, overloaded or misconfigured) is retried with
 * backoff, since the same message may well go through later; a permanent
 * one says that this message can never be taken, so retrying it would only
 * hold up the rule's later messages: it becomes a dead letter at once.
 *
 * The rule of thumb: permanent only when the target says the message
 * itself is wrong (a 4xx for its body, a value the table refuses, an object
 * too large). Anything about the target as a whole (a wrong binding, a
 * missing table, a bucket that does not exist, rights) is transient: it is
 * the same for every message, an operator can fix it, and dead-lettering
 * every message meanwhile would empty the rule into the dead letters. The
 * attempt bound (MQTT_RULES_MAX_ATTEMPTS) ends those too, one message at a
 * time. docs/rules.md ("Dead letters") has the table.
 */
import type { RuleTarget } from './config.ts';

export type FailureClass = 'transient' | 'permanent';

/** A webhook's answer outside 2xx, kept as a status so that it can be classified. */
export class WebhookStatusError extends Error {
  constructor(readonly status: number) {
    super(`webhook answered HTTP ${status}`);
    this.name = 'WebhookStatusError';
  }
}

/** 408 Request Timeout and 429 Too Many Requests say "later", not "never". */
const RetryableClientStatus: ReadonlySet<number> = new Set([408, 429]);

/** A webhook's status: 4xx (but 408 and 429) refuses the message; 5xx and anything else may pass later. */
export function classifyHttpStatus(status: number): FailureClass {
  return status >= 400 && status <= 499 && !RetryableClientStatus.has(status) ? 'permanent' : 'transient';
}

/**
 * D1 errors the message's own values cause (SQLite result codes in the
 * message text): a constraint it breaks, a value too big for a row, a type
 * D1 cannot bind. SQL errors about the table (no such table or column) are
 * the table's, hence transient.
 */
const D1MessageErrors = /SQLITE_CONSTRAINT|SQLITE_TOOBIG|SQLITE_MISMATCH|D1_TYPE_ERROR|constraint failed|string or blob too big/i;

/** R2 error codes (at the end of the message, "… (10020)") for an object this message makes: its key or size. */
const R2ObjectErrors: ReadonlySet<number> = new Set([
  10020, // InvalidObjectName: the key (prefix + topic) is invalid or over 1024 bytes
  10012, // MetadataTooLarge
  100100, // EntityTooLarge
]);

/** Queue error codes for the message sent: larger than a queue message may be, or metadata it refuses. */
const QueueMessageErrors: ReadonlySet<number> = new Set([
  10203, // MessageMetadataInvalid
  10204, // MessageSizeOutOfBounds (128 KB)
]);

/** Cloudflare's bindings end their error messages with a numeric code in parentheses. */
function errorCode(message: string): number | undefined {
  const match = /\((\d{4,6})\)\s*$/.exec(message);
  return match === null ? undefined : Number(match[1]);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Classifies one failed attempt of a rule of kind `target`. Timeouts,
 * network errors and errors nobody recognises are transient: retrying them
 * costs a little time, treating them as permanent could lose a message to
 * a hiccup.
 */
export function classifyFailure(target: RuleTarget['kind'], error: unknown): FailureClass {
  const message = messageOf(error);
  switch (target) {
    case 'webhook':
      return error instanceof WebhookStatusError ? classifyHttpStatus(error.status) : 'transient';
    case 'd1':
      return D1MessageErrors.test(message) ? 'permanent' : 'transient';
    case 'r2':
      return R2ObjectErrors.has(errorCode(message) ?? 0) ? 'permanent' : 'transient';
    case 'queue':
      return QueueMessageErrors.has(errorCode(message) ?? 0) ? 'permanent' : 'transient';
    case 'republish':
      // Publishing into the namespace fails only on the broker's own trouble (storage): never the message's fault.
      return 'transient';
  }
}
