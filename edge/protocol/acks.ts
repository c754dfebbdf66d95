/**
 * Acknowledgements from the client for messages the broker sent:
 * PUBACK (QoS 1), PUBREC and PUBCOMP (QoS 2). Each frees a slot of the
 * client's in-flight window, so queued messages follow.
 */
import type { PubackPacket, PubcompPacket, PubrecPacket } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import type { BrokerCore } from '../core/broker.ts';
import type { ClientLink } from '../core/link.ts';
import { OutboundState } from '../core/session-store.ts';

export function handlePuback(broker: BrokerCore, link: ClientLink, packet: PubackPacket): void {
  const clientId = link.state.clientId as string;
  const packetId = packet.messageId as number;
  if (broker.completeVolatile(clientId, packetId)) {
    broker.pump(link);
  } else if (broker.store.complete(clientId, packetId, OutboundState.PublishSent)) {
    broker.releasePacketId(clientId, packetId);
    broker.pump(link);
  } else {
    unmatched(broker, link, 'puback', packetId);
  }
}

/**
 * An acknowledgement for a packet id not in flight. Harmless by itself (a
 * late duplicate), but a stream of them means the client and the broker
 * disagree about the window: counted, and logged at debug level.
 */
function unmatched(broker: BrokerCore, link: ClientLink, kind: string, packetId: number): void {
  broker.metrics.add('acksUnmatched');
  broker.log.log('debug', 'ack_unmatched', { client: link.state.clientId, kind, packet_id: packetId });
}

export function handlePubrec(broker: BrokerCore, link: ClientLink, packet: PubrecPacket): void {
  const clientId = link.state.clientId as string;
  const packetId = packet.messageId as number;
  if ((packet.reasonCode ?? 0) >= 0x80) {
    // [MQTT-4.3.3-?] a PUBREC with an error ends the exchange; the id is free again.
    if (broker.store.complete(clientId, packetId, OutboundState.PublishSent)) {
      broker.releasePacketId(clientId, packetId);
      broker.pump(link);
    } else {
      unmatched(broker, link, 'pubrec', packetId);
    }
    return;
  }
  const known = broker.store.markPubrelSent(clientId, packetId);
  if (link.isV5 && !known && !broker.store.inflight(clientId).some((r) => r.packetId === packetId)) {
    link.write({ cmd: 'pubrel', messageId: packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
  } else {
    link.write({ cmd: 'pubrel', messageId: packetId });
  }
  broker.markDirty(link);
}

export function handlePubcomp(broker: BrokerCore, link: ClientLink, packet: PubcompPacket): void {
  const clientId = link.state.clientId as string;
  const packetId = packet.messageId as number;
  if (broker.store.complete(clientId, packetId, OutboundState.PubrelSent)) {
    broker.releasePacketId(clientId, packetId);
    broker.pump(link);
  } else {
    unmatched(broker, link, 'pubcomp', packetId);
  }
}
