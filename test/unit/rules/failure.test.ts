/**
 * Which failed deliveries are permanent (the message becomes a dead letter
 * at once) and which are transient (retried with backoff): one table per
 * target kind, with the error texts the bindings really throw.
 */
import { describe, expect, it } from 'vitest';
import type { RuleTarget } from '../../../edge/rules/config.ts';
import { classifyFailure, classifyHttpStatus, WebhookStatusError, type FailureClass } from '../../../edge/rules/failure.ts';

describe('a webhook answer', () => {
  const cases: Array<[number, FailureClass]> = [
    [400, 'permanent'],
    [401, 'permanent'],
    [404, 'permanent'],
    [413, 'permanent'],
    [422, 'permanent'],
    [499, 'permanent'],
    [408, 'transient'],
    [429, 'transient'],
    [500, 'transient'],
    [502, 'transient'],
    [503, 'transient'],
    [302, 'transient'],
    [100, 'transient'],
  ];
  it.each(cases)('HTTP %i is %s', (status, expected) => {
    expect(classifyHttpStatus(status)).toBe(expected);
    expect(classifyFailure('webhook', new WebhookStatusError(status))).toBe(expected);
  });

  it('a network error or a timeout is transient', () => {
    expect(classifyFailure('webhook', new TypeError('fetch failed'))).toBe('transient');
    expect(classifyFailure('webhook', new Error('hook rule r took longer than 10000 ms'))).toBe('transient');
    expect(classifyFailure('webhook', new DOMException('The operation was aborted due to timeout', 'TimeoutError'))).toBe('transient');
    // Only the adapter's own status error counts: a text that looks like one does not.
    expect(classifyFailure('webhook', new Error('webhook answered HTTP 400'))).toBe('transient');
  });
});

describe('a binding error', () => {
  const cases: Array<[RuleTarget['kind'], string, FailureClass]> = [
    ['d1', 'D1_ERROR: NOT NULL constraint failed: readings.payload: SQLITE_CONSTRAINT', 'permanent'],
    ['d1', 'D1_ERROR: CHECK constraint failed: small: SQLITE_CONSTRAINT', 'permanent'],
    ['d1', 'D1_ERROR: string or blob too big: SQLITE_TOOBIG', 'permanent'],
    ['d1', 'D1_TYPE_ERROR: Type \'object\' not supported for value \'[object Object]\'', 'permanent'],
    ['d1', 'D1_ERROR: datatype mismatch: SQLITE_MISMATCH', 'permanent'],
    // The table's, not the message's: every message would fail alike.
    ['d1', 'D1_ERROR: table readings has no column named message_id: SQLITE_ERROR', 'transient'],
    ['d1', 'D1_ERROR: no such table: readings: SQLITE_ERROR', 'transient'],
    ['d1', 'D1_ERROR: Network connection lost.', 'transient'],
    ['d1', 'D1 DB reset because its code was updated.', 'transient'],
    ['d1', 'D1 DB is overloaded. Requests queued for too long.', 'transient'],
    ['r2', 'put: Object key is invalid or too long. (10020)', 'permanent'],
    ['r2', 'put: Your metadata headers exceed the maximum allowed metadata size. (10012)', 'permanent'],
    ['r2', 'put: Your proposed upload exceeds the maximum allowed object size. (100100)', 'permanent'],
    ['r2', 'put: We encountered an internal error. Please try again. (10001)', 'transient'],
    ['r2', 'put: Reduce your rate of simultaneous reads on the same object. (10058)', 'transient'],
    ['r2', 'put: The specified bucket does not exist. (10006)', 'transient'],
    ['r2', 'put: Unauthorized (10002)', 'transient'],
    ['queue', 'Queue send failed: message size out of bounds (10204)', 'permanent'],
    ['queue', 'Queue send failed: invalid message metadata (10203)', 'permanent'],
    ['queue', 'Queue send failed: queue is overloaded (10250)', 'transient'],
    ['queue', 'Queue send failed: queue storage limit exceeded (10251)', 'transient'],
    ['queue', 'Queue send failed: internal error (15000)', 'transient'],
    ['queue', 'Network connection lost.', 'transient'],
    ['republish', 'SQLITE_FULL: database or disk is full', 'transient'],
  ];
  it.each(cases)('%s: "%s" is %s', (kind, message, expected) => {
    expect(classifyFailure(kind, new Error(message))).toBe(expected);
  });

  it('an unknown binding or a thrown non-error is transient', () => {
    expect(classifyFailure('queue', new Error('no binding EVENTS'))).toBe('transient');
    expect(classifyFailure('d1', 'boom')).toBe('transient');
    expect(classifyFailure('r2', undefined)).toBe('transient');
  });
});
