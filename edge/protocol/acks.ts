/**
 * Acknowledgements from the client for messages the broker sent:
 * PUBACK (QoS 1), PUBREC and PUBCOMP (QoS 2). Each frees a slot of the
 * client's in-flight window, so queued messages follow (core/outbound.ts).
 */
import type { PubackPacket, PubcompPacket, PubrecPacket } from '../../shared/codec/types.ts';
import { ReasonCode, isErrorReason } from '../../shared/reason-codes.ts';
import type { ClientLink } from '../core/link.ts';
import type { ProtocolContext } from './context.ts';

export function handlePuback(ctx: ProtocolContext, link: ClientLink, packet: PubackPacket): void {
  const packetId = packet.messageId as number;
  if (!ctx.outbound.puback(link, packetId)) unmatched(ctx, link, 'puback', packetId);
}

export function handlePubrec(ctx: ProtocolContext, link: ClientLink, packet: PubrecPacket): void {
  const packetId = packet.messageId as number;
  // [MQTT-4.3.3] a PUBREC with an error ends the exchange: no PUBREL, the id is free again.
  const outcome = ctx.outbound.pubrec(link, packetId, isErrorReason(packet.reasonCode ?? 0));
  if (outcome === 'released') return;
  if (outcome === 'unknown') {
    unmatched(ctx, link, 'pubrec', packetId);
    if (isErrorReason(packet.reasonCode ?? 0)) return;
  }
  // [MQTT-3.6.2-?] 5.0 says when the id is not known.
  const notFound = link.isV5 && outcome === 'unknown';
  link.write(notFound ? { cmd: 'pubrel', messageId: packetId, reasonCode: ReasonCode.PacketIdentifierNotFound } : { cmd: 'pubrel', messageId: packetId });
  ctx.markDirty(link);
}

export function handlePubcomp(ctx: ProtocolContext, link: ClientLink, packet: PubcompPacket): void {
  const packetId = packet.messageId as number;
  if (!ctx.outbound.pubcomp(link, packetId)) unmatched(ctx, link, 'pubcomp', packetId);
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
