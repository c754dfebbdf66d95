/** The shared shape of connection events (shared/connection-log.ts): fixed fields, null for the unknown, reason names per level. */
import { describe, expect, it } from 'vitest';
import { connackCodeAt, connackReasonName, connectionFields, ConnectionEvents } from '../../shared/connection-log.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';

describe('connectionFields', () => {
  it('gives every field of the event, in a fixed order, null where nothing is known', () => {
    expect(connectionFields('connection.closed', { namespace: 'ns', client: 'c1', reason: 'client-disconnect', duration_ms: 5, keepalive: 60 })).toEqual({
      namespace: 'ns',
      connection: null,
      client: 'c1',
      username: null,
      protocol: null,
      transport: null,
      remote: null,
      reason: 'client-disconnect',
      duration_ms: 5,
    });
  });
  it('keeps false and 0 (only missing values become null)', () => {
    expect(connectionFields('connection.accepted', { clean: false, keepalive: 0, session_present: false })).toMatchObject({ clean: false, keepalive: 0, session_present: false });
  });
  it('has link events with their own fields', () => {
    expect(Object.keys(connectionFields('link.closed', {}))).toEqual(['namespace', 'sidecar', 'remote', 'reason', 'code', 'devices']);
  });
  it('names no event field like a field of the logger itself', () => {
    for (const fields of Object.values(ConnectionEvents)) for (const field of fields as readonly string[]) expect(['ts', 'level', 'event', 'component']).not.toContain(field);
  });
});

describe('connackReasonName and connackCodeAt', () => {
  it('names a refusal in the terms of the client level', () => {
    expect(connackReasonName(4, 4)).toBe('bad-username-or-password');
    expect(connackReasonName(3, 5)).toBe('not-authorized');
    expect(connackReasonName(5, ReasonCode.BadUserNameOrPassword)).toBe('bad-user-name-or-password');
    expect(connackReasonName(5, ReasonCode.MalformedPacket)).toBe('malformed-packet');
    expect(connackReasonName(5, ReasonCode.QoSNotSupported)).toBe('qos-not-supported');
    expect(connackReasonName(4, 99)).toBe('code-99');
  });
  it('gives the code as sent: the reason at 5.0, the nearest return code at 3.x', () => {
    expect(connackCodeAt(5, ReasonCode.NotAuthorized)).toBe(0x87);
    expect(connackCodeAt(4, ReasonCode.NotAuthorized)).toBe(5);
    expect(connackCodeAt(4, ReasonCode.QuotaExceeded)).toBe(3);
  });
});
