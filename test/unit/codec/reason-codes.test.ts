/** Reason codes, the 3.1.1 CONNACK mapping, and MqttError. */
import { describe, expect, it } from 'vitest';
import { MqttError, isMqttError, malformedPacket, packetTooLarge, protocolError } from '../../../shared/errors.ts';
import { ConnackReturnCode, ReasonCode, connackCodeFor, isErrorReason } from '../../../shared/reason-codes.ts';

describe('connackCodeFor', () => {
  it.each([
    [ReasonCode.Success, ConnackReturnCode.Accepted],
    [ReasonCode.UnsupportedProtocolVersion, ConnackReturnCode.UnacceptableProtocolVersion],
    [ReasonCode.ClientIdentifierNotValid, ConnackReturnCode.IdentifierRejected],
    [ReasonCode.BadUserNameOrPassword, ConnackReturnCode.BadUsernameOrPassword],
    [ReasonCode.BadAuthenticationMethod, ConnackReturnCode.BadUsernameOrPassword],
    [ReasonCode.NotAuthorized, ConnackReturnCode.NotAuthorized],
    [ReasonCode.Banned, ConnackReturnCode.NotAuthorized],
    [ReasonCode.ServerUnavailable, ConnackReturnCode.ServerUnavailable],
    [ReasonCode.ServerBusy, ConnackReturnCode.ServerUnavailable],
    [ReasonCode.QuotaExceeded, ConnackReturnCode.ServerUnavailable],
    [ReasonCode.ConnectionRateExceeded, ConnackReturnCode.ServerUnavailable],
    [ReasonCode.UnspecifiedError, ConnackReturnCode.ServerUnavailable],
    [ReasonCode.MalformedPacket, ConnackReturnCode.ServerUnavailable],
    [ReasonCode.ProtocolError, ConnackReturnCode.ServerUnavailable],
    [ReasonCode.UseAnotherServer, ConnackReturnCode.ServerUnavailable],
  ])('reason %i → return code %i', (reason, code) => {
    expect(connackCodeFor(reason)).toBe(code);
  });
});

describe('isErrorReason', () => {
  it('is true from 0x80 up', () => {
    expect(isErrorReason(ReasonCode.Success)).toBe(false);
    expect(isErrorReason(ReasonCode.GrantedQoS2)).toBe(false);
    expect(isErrorReason(ReasonCode.NoMatchingSubscribers)).toBe(false);
    expect(isErrorReason(ReasonCode.ReAuthenticate)).toBe(false);
    expect(isErrorReason(ReasonCode.UnspecifiedError)).toBe(true);
    expect(isErrorReason(ReasonCode.WildcardSubscriptionsNotSupported)).toBe(true);
  });
});

describe('MqttError', () => {
  it('carries kind, reason code, message and cause', () => {
    const cause = new Error('root');
    const error = new MqttError('Hook', ReasonCode.NotAuthorized, 'denied', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('MqttError');
    expect(error.kind).toBe('Hook');
    expect(error.reasonCode).toBe(0x87);
    expect(error.message).toBe('denied');
    expect(error.cause).toBe(cause);
    expect(error.protocolLevel).toBeUndefined();
    expect('protocolLevel' in error).toBe(false);
    expect(error.stack).toContain('denied');
  });

  it('helpers set the right kind and reason', () => {
    expect(malformedPacket('x')).toMatchObject({ kind: 'MalformedPacket', reasonCode: 0x81 });
    expect(protocolError('x')).toMatchObject({ kind: 'Protocol', reasonCode: 0x82 });
    expect(protocolError('x', ReasonCode.TopicAliasInvalid)).toMatchObject({ kind: 'Protocol', reasonCode: 0x94 });
    expect(packetTooLarge('x')).toMatchObject({ kind: 'Limit', reasonCode: 0x95 });
    expect(malformedPacket('x', { protocolLevel: 5 }).protocolLevel).toBe(5);
  });

  it('isMqttError', () => {
    expect(isMqttError(malformedPacket('x'))).toBe(true);
    expect(isMqttError(new Error('x'))).toBe(false);
    expect(isMqttError({ kind: 'Io', reasonCode: 0x80 })).toBe(false);
  });
});
