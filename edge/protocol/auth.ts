/**
 * AUTH (5.0 enhanced authentication): continues a CONNECT's challenge /
 * response exchange, or re-authenticates a connected client (0x19).
 */
import { decodeAll } from '../../shared/codec/decoder.ts';
import type { AuthPacket, ConnectPacket } from '../../shared/codec/types.ts';
import { MqttError } from '../../shared/errors.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { identityFrom } from '../core/access.ts';
import type { ClientLink } from '../core/link.ts';
import { handleConnect, refusalOf } from './connect.ts';
import type { ProtocolContext } from './context.ts';

export async function handleAuth(ctx: ProtocolContext, link: ClientLink, packet: AuthPacket): Promise<void> {
  const state = link.state;
  const method = packet.properties?.authenticationMethod;
  // [MQTT-4.12.0-5] every AUTH names the method of the exchange.
  if (state.authenticationMethod === undefined || method !== state.authenticationMethod) {
    throw new MqttError('Protocol', ReasonCode.ProtocolError, 'AUTH without the authentication method of this connection');
  }
  const data = packet.properties?.authenticationData;
  const authenticationData = data === undefined ? undefined : new Uint8Array(data);
  // A re-authentication (0x19) starts a new exchange at step 0; each further AUTH is the next step.
  state.authenticationStep = packet.reasonCode === ReasonCode.ReAuthenticate && state.phase === 'connected' ? 0 : (state.authenticationStep ?? 0) + 1;

  if (state.phase === 'authenticating') {
    if (packet.reasonCode !== ReasonCode.ContinueAuthentication) {
      throw new MqttError('Protocol', ReasonCode.ProtocolError, 'AUTH during CONNECT must continue authentication (0x18)');
    }
    const stored = ctx.store.loadPendingConnect(link.id);
    const connect = stored === undefined ? undefined : decodeAll(stored, 5).packets[0];
    if (connect?.cmd !== 'connect') throw new MqttError('Protocol', ReasonCode.UnspecifiedError, 'the CONNECT of this exchange was lost');
    await handleConnect(ctx, link, connect as ConnectPacket, {
      step: state.authenticationStep,
      ...(authenticationData === undefined ? {} : { authenticationData }),
    });
    return;
  }

  // Connected: re-authentication [MQTT-4.12.1].
  if (packet.reasonCode !== ReasonCode.ReAuthenticate && packet.reasonCode !== ReasonCode.ContinueAuthentication) {
    throw new MqttError('Protocol', ReasonCode.ProtocolError, `unexpected AUTH reason 0x${(packet.reasonCode ?? 0).toString(16)}`);
  }
  const authenticate = ctx.hooks.authenticate;
  if (authenticate === undefined) throw new MqttError('Protocol', ReasonCode.ProtocolError, 're-authentication is not supported');
  const context = {
    ...ctx.clientInfo(link),
    clean: false,
    keepAlive: state.keepAlive,
    authenticationMethod: state.authenticationMethod,
    authenticationStep: state.authenticationStep,
    reauthenticate: true,
    ...(authenticationData === undefined ? {} : { authenticationData }),
  };
  const outcome = await ctx.runHook('authenticate', state.clientId, () => authenticate(context));
  if (link.closed) return;
  if (!outcome.ok) {
    ctx.disconnect(link, ReasonCode.UnspecifiedError, 'authentication failed to run', 'refused');
    return;
  }
  const decision = outcome.value;
  if ('challenge' in decision) {
    link.write({ cmd: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties: { authenticationMethod: state.authenticationMethod, authenticationData: Buffer.from(decision.challenge) } });
  } else if (decision.allow) {
    state.authenticationStep = 0;
    // Re-authentication may change who the client is and what its credentials allow.
    const previous = link.identity;
    const identity = identityFrom(decision, state.username);
    if (identity.username === undefined) delete state.username;
    else state.username = identity.username;
    ctx.setIdentity(link, identity, state.clientId as string);
    ctx.reviewSession(link, previous);
    link.write({
      cmd: 'auth',
      reasonCode: ReasonCode.Success,
      properties: {
        authenticationMethod: state.authenticationMethod,
        ...(decision.authenticationData === undefined ? {} : { authenticationData: Buffer.from(decision.authenticationData) }),
      },
    });
  } else {
    const { code, text } = refusalOf(decision.reason ?? 'not-authorized');
    ctx.disconnect(link, code, `re-authentication failed: ${text}`, 'refused');
    return;
  }
  link.persist();
  ctx.markDirty(link);
}
