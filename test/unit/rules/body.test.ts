import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../../edge/rules/backoff.ts';
import { messageBody, signBody, type RuleMessage } from '../../../edge/rules/body.ts';
import { r2Key } from '../../../edge/rules/targets.ts';

const message: RuleMessage = { id: 7, rule: 'r', topic: 'hook/x', payload: new TextEncoder().encode('héllo'), qos: 1, retain: true, clientId: 'c1', ts: 1_780_000_000_000, depth: 0 };

describe('the message body', () => {
  it('carries the payload as text when it is UTF-8', () => {
    expect(messageBody('ns', message)).toEqual({ namespace: 'ns', rule: 'r', id: 7, topic: 'hook/x', payload: 'héllo', qos: 1, retain: true, clientId: 'c1', ts: 1_780_000_000_000 });
  });

  it('carries it as base64 when it is not, and a null client for the broker’s own', () => {
    const { clientId: _, ...withoutClient } = message;
    const body = messageBody('ns', { ...withoutClient, payload: new Uint8Array([0xff, 0x00, 0xc3]) });
    expect(body.payload).toBeUndefined();
    expect(body.payload_base64).toBe('/wDD');
    expect(body.clientId).toBeNull();
  });

  it('is signed with HMAC-SHA256 over the raw body, as hex', async () => {
    const body = JSON.stringify(messageBody('ns', message));
    const expected = createHmac('sha256', 'secret').update(body).digest('hex');
    expect(await signBody('secret', body)).toBe(`sha256=${expected}`);
  });

  it('names R2 objects by prefix, topic, time and id', () => {
    expect(r2Key('archive/', message)).toBe('archive/hook/x/1780000000000-7.json');
  });
});

describe('the retry backoff', () => {
  it('doubles from 100 ms and stops growing at 30 s', () => {
    expect([0, 1, 2, 3, 4, 9, 10, 11, 1000].map(retryDelayMs)).toEqual([0, 100, 200, 400, 800, 25_600, 30_000, 30_000, 30_000]);
  });
});
