/**
 * The one error type of the broker. It carries the MQTT 5 reason code the
 * connection should be closed (or the operation refused) with, so a single
 * place can turn it into a CONNACK / DISCONNECT for the client's protocol level.
 */
import type { ProtocolLevel } from './codec/types.ts';
import { ReasonCode } from './reason-codes.ts';

export type MqttErrorKind = 'Io' | 'Protocol' | 'MalformedPacket' | 'AuthFailed' | 'WebSocket' | 'Hook' | 'Limit' | 'Config';

export interface MqttErrorOptions {
  cause?: unknown;
  /**
   * The protocol level the peer asked for in its CONNECT, when the error is
   * about that CONNECT and the level byte was readable. Lets the caller answer
   * a refused CONNECT in a form the client understands (e.g. 3.1.1 return
   * code 0x01 vs 5.0 reason 0x84).
   */
  protocolLevel?: ProtocolLevel;
}

/**
 * @example
 * throw new MqttError('Protocol', ReasonCode.ProtocolError, 'second CONNECT');
 */
export class MqttError extends Error {
  override readonly name = 'MqttError';
  readonly kind: MqttErrorKind;
  readonly reasonCode: ReasonCode;
  /** Only present when known (declared, so no own property holds `undefined`). */
  declare readonly protocolLevel?: ProtocolLevel;

  constructor(kind: MqttErrorKind, reasonCode: ReasonCode, message: string, options?: MqttErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.reasonCode = reasonCode;
    if (options?.protocolLevel !== undefined) Object.defineProperty(this, 'protocolLevel', { value: options.protocolLevel, enumerable: true });
  }
}

/** The codec's error: bytes that cannot be parsed per the spec (reason 0x81). */
export function malformedPacket(message: string, options?: MqttErrorOptions): MqttError {
  return new MqttError('MalformedPacket', ReasonCode.MalformedPacket, message, options);
}

/** A well-formed packet that breaks a protocol rule (reason 0x82 unless a more precise one applies). */
export function protocolError(message: string, reason: ReasonCode = ReasonCode.ProtocolError, options?: MqttErrorOptions): MqttError {
  return new MqttError('Protocol', reason, message, options);
}

/** A packet larger than the Maximum Packet Size we announced or enforce (reason 0x95). */
export function packetTooLarge(message: string): MqttError {
  return new MqttError('Limit', ReasonCode.PacketTooLarge, message);
}

export function isMqttError(e: unknown): e is MqttError {
  return e instanceof MqttError;
}
