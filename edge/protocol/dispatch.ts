/**
 * Which handler takes a packet, by the connection's phase and the packet's
 * type: CONNECT first [MQTT-3.1.0-1], only AUTH while authenticating, and
 * never a server-to-client packet from a client.
 */
import type { MqttPacket } from '../../shared/codec/types.ts';
import { MqttError } from '../../shared/errors.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import type { ClientLink } from '../core/link.ts';
import { handlePuback, handlePubcomp, handlePubrec } from './acks.ts';
import { handleAuth } from './auth.ts';
import { handleConnect } from './connect.ts';
import type { ProtocolContext } from './context.ts';
import { handleDisconnect } from './disconnect.ts';
import { handlePingreq } from './ping.ts';
import { handlePublish, handlePubrel } from './publish.ts';
import { handleSubscribe } from './subscribe.ts';
import { handleUnsubscribe } from './unsubscribe.ts';

export async function dispatchPacket(ctx: ProtocolContext, link: ClientLink, packet: MqttPacket): Promise<void> {
  if (link.state.phase === 'awaiting-connect') {
    // [MQTT-3.1.0-1] the first packet must be CONNECT.
    if (packet.cmd !== 'connect') throw new MqttError('Protocol', ReasonCode.ProtocolError, `expected CONNECT, got ${packet.cmd.toUpperCase()}`);
    return handleConnect(ctx, link, packet);
  }
  if (link.state.phase === 'authenticating') {
    // [MQTT-3.1.2-30] only AUTH (or DISCONNECT) until the exchange completes.
    if (packet.cmd === 'auth') return handleAuth(ctx, link, packet);
    if (packet.cmd === 'disconnect') return ctx.closeByClient(link);
    throw new MqttError('Protocol', ReasonCode.ProtocolError, `${packet.cmd.toUpperCase()} before authentication completed`);
  }
  switch (packet.cmd) {
    case 'connect':
      // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
      throw new MqttError('Protocol', ReasonCode.ProtocolError, 'second CONNECT on one connection');
    case 'publish':
      return handlePublish(ctx, link, packet);
    case 'puback':
      return handlePuback(ctx, link, packet);
    case 'pubrec':
      return handlePubrec(ctx, link, packet);
    case 'pubrel':
      return handlePubrel(ctx, link, packet);
    case 'pubcomp':
      return handlePubcomp(ctx, link, packet);
    case 'subscribe':
      return handleSubscribe(ctx, link, packet);
    case 'unsubscribe':
      return handleUnsubscribe(ctx, link, packet);
    case 'pingreq':
      return handlePingreq(ctx, link);
    case 'disconnect':
      return handleDisconnect(ctx, link, packet);
    case 'auth':
      return handleAuth(ctx, link, packet);
    default:
      // Server-to-client packets (CONNACK, SUBACK, ...) from a client are a protocol error.
      throw new MqttError('Protocol', ReasonCode.ProtocolError, `unexpected ${packet.cmd.toUpperCase()} from a client`);
  }
}
