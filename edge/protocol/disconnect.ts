/**
 * DISCONNECT from the client: a clean end, so no will [MQTT-3.14.4-3] —
 * except 5.0's "Disconnect with Will Message" (0x04). 5.0 may change the
 * session expiry here, but not from 0 to non-zero [MQTT-3.14.2-2].
 */
import type { DisconnectPacket } from '../../shared/codec/types.ts';
import { MqttError } from '../../shared/errors.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import type { ClientLink } from '../core/link.ts';
import type { ProtocolContext } from './context.ts';

export function handleDisconnect(ctx: ProtocolContext, link: ClientLink, packet: DisconnectPacket): void {
  const clientId = link.state.clientId as string;
  const store = ctx.store;
  const newExpiry = packet.properties?.sessionExpiryInterval;
  if (link.isV5 && newExpiry !== undefined) {
    const session = store.getSession(clientId);
    if (session !== undefined && session.expiryInterval === 0 && newExpiry !== 0) {
      throw new MqttError('Protocol', ReasonCode.ProtocolError, 'session expiry changed from 0 at DISCONNECT');
    }
    store.setExpiryInterval(clientId, Math.min(newExpiry, ctx.limits.maxSessionExpiry));
  }
  const withWill = link.isV5 && packet.reasonCode === ReasonCode.DisconnectWithWillMessage;
  if (!withWill) store.clearWill(clientId);
  ctx.closeByClient(link);
}
