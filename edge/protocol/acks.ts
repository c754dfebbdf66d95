/**
 * Acknowledgements from the client for messages the broker sent:
 * PUBACK (QoS 1), PUBREC and PUBCOMP (QoS 2). Each frees a slot of the
 * client's in-flight window, so queued messages follow (core/outbound.ts).
 */
import type { PubackPacket, PubcompPacket, PubrecPacket } from '../../shared/codec/types.ts';
import { MqttError } from '../../shared/errors.ts';
import { ReasonCode, isErrorReason } from '../../shared/reason-codes.ts';
import type { ClientLink } from '../core/link.ts';
import type { ProtocolContext } from './context.ts';

export function handlePuback(ctx: ProtocolContext, link: ClientLink, packet: PubackPacket): void {
  const packetId = packet.messageId as number;
  checkKind(ctx, link, 'puback', packetId);
  if (!ctx.outbound.puback(link, packetId)) unmatched(ctx, link, 'puback', packetId);
}

export function handlePubrec(ctx: ProtocolContext, link: ClientLink, packet: PubrecPacket): void {
  const packetId = packet.messageId as number;
  checkKind(ctx, link, 'pubrec', packetId);
  // [MQTT-4.3.3] a PUBREC with an error ends the exchange: no PUBREL, the id is free again.
  const outcome = ctx.outbound.pubrec(link, packetId, isErrorReason(packet.reasonCode ?? 0));
  if (outcome === 'released') return;
  if (outcome === 'unknown') {
    unmatched(ctx, link, 'pubrec', packetId);
    if (isErrorReason(packet.reasonCode ?? 0)) return;
  }
  // 5.0 names the case where the id is not known (section 3.6.2.1, 0x92 Packet Identifier not found).
  const notFound = link.isV5 && outcome === 'unknown';
  link.write(notFound ? { cmd: 'pubrel', messageId: packetId, reasonCode: ReasonCode.PacketIdentifierNotFound } : { cmd: 'pubrel', messageId: packetId });
  ctx.markDirty(link);
}

export function handlePubcomp(ctx: ProtocolContext, link: ClientLink, packet: PubcompPacket): void {
  const packetId = packet.messageId as number;
  checkKind(ctx, link, 'pubcomp', packetId);
  if (!ctx.outbound.pubcomp(link, packetId)) unmatched(ctx, link, 'pubcomp', packetId);
}

/**
 * An acknowledgement of the wrong kind for the message in flight under its
 * packet id (PUBCOMP for a QoS 1 message, PUBACK for a QoS 2 one, PUBCOMP
 * before PUBREC) is a Protocol Error: it is "inconsistent with the state"
 * of the exchange (5.0 section 1.2, 4.3.2, 4.3.3), and the connection is
 * closed [MQTT-4.8.0-1] (5.0: DISCONNECT 0x82 first), as mosquitto 2.0.11
 * does. A PUBREC repeated after the PUBREL is answered again; an id not
 * in flight at all is a late duplicate (below).
 */
function checkKind(ctx: ProtocolContext, link: ClientLink, got: 'puback' | 'pubrec' | 'pubcomp', packetId: number): void {
  const awaited = ctx.outbound.awaitedAck(link, packetId);
  if (awaited === undefined || awaited === got || (got === 'pubrec' && awaited === 'pubcomp')) return;
  throw new MqttError('Protocol', ReasonCode.ProtocolError, `${got.toUpperCase()} for packet id ${packetId}, which awaits ${awaited.toUpperCase()}`);
}

/**
 * An acknowledgement for a packet id not in flight. Harmless by itself (a
 * late duplicate), but a stream of them means the client and the broker
 * disagree about the window: counted, and logged at debug level.
 */
function unmatched(ctx: ProtocolContext, link: ClientLink, kind: string, packetId: number): void {
  ctx.metrics.add('acksUnmatched');
  ctx.log.log('debug', 'ack_unmatched', { client: link.state.clientId, kind, packet_id: packetId });
}
