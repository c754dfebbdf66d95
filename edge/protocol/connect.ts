/**
 * CONNECT: validate, authenticate, take over an existing connection of the
 * same client, create or resume the session, answer CONNACK, then resend
 * what the session still owes the client.
 */
import type { ConnectPacket, ConnackPacket } from '../../shared/codec/types.ts';
import { MqttError } from '../../shared/errors.ts';
import { ConnackReturnCode, ReasonCode, connackCodeFor } from '../../shared/reason-codes.ts';
import { validateTopicName } from '../../shared/topic.ts';
import type { BrokerCore } from '../core/broker.ts';
import type { AuthenticateContext, DenyDecision } from '../core/hooks.ts';
import { WsCloseCode, type ClientLink } from '../core/link.ts';
import { toBytes, type BrokerMessage } from '../core/message.ts';
import { SessionNeverExpires } from '../core/session-store.ts';

/** Client ids we hand out to clients that connect with an empty one [MQTT-3.1.3-6]. */
const AssignedIdPrefix = 'auto-';

/** An enhanced-authentication exchange in progress: the client's latest AUTH data. */
export interface AuthContinuation {
  authenticationData?: Uint8Array;
  step: number;
}

/**
 * Handles a CONNECT; called again with `continuation` for each AUTH (0x18)
 * of an enhanced authentication exchange, with the CONNECT kept in storage.
 */
export async function handleConnect(broker: BrokerCore, link: ClientLink, packet: ConnectPacket, continuation?: AuthContinuation): Promise<void> {
  const level = packet.protocolVersion ?? 4;
  link.state.level = level;
  const isV5 = level === 5;
  const clean = packet.clean !== false;
  const properties = packet.properties ?? {};

  // ---- client identifier [MQTT-3.1.3-7/8] -------------------------------
  let clientId = packet.clientId;
  let assignedClientId: string | undefined;
  if (clientId.length === 0 && continuation !== undefined && link.state.clientId !== undefined) {
    // The id assigned before the AUTH exchange started.
    clientId = link.state.clientId;
    assignedClientId = clientId;
  } else if (clientId.length === 0) {
    if (!clean || level === 3) {
      // 3.1 has no empty ids; 3.1.1/5.0 only with a clean session.
      return refuse(broker, link, ReasonCode.ClientIdentifierNotValid, 'empty client id requires clean session');
    }
    clientId = `${AssignedIdPrefix}${broker.deps.newId()}`;
    assignedClientId = clientId;
  }

  // ---- limits -------------------------------------------------------------
  const limits = broker.limits;
  const existingLink = broker.linkOf(clientId);
  if (limits.maxConnections > 0 && existingLink === undefined && broker.connectedCount >= limits.maxConnections) {
    return refuse(broker, link, isV5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, 'maximum connections reached');
  }
  let keepAlive = packet.keepalive ?? 0;
  let serverKeepAlive: number | undefined;
  if (limits.maxKeepAlive > 0 && (keepAlive === 0 || keepAlive > limits.maxKeepAlive)) {
    if (!isV5) {
      // 3.x has no way to tell the client; like mosquitto, refuse it.
      return refuse(broker, link, ReasonCode.ClientIdentifierNotValid, `keep-alive must be 1..${limits.maxKeepAlive} s`);
    }
    keepAlive = limits.maxKeepAlive;
    serverKeepAlive = keepAlive;
  }

  // ---- will ---------------------------------------------------------------
  let will: (BrokerMessage & { delaySeconds: number }) | undefined;
  if (packet.will !== undefined) {
    if (!validateTopicName(packet.will.topic)) {
      throw new MqttError('Protocol', ReasonCode.TopicNameInvalid, 'invalid will topic');
    }
    const willProperties = packet.will.properties ?? {};
    will = {
      topic: packet.will.topic,
      payload: toBytes(packet.will.payload),
      qos: packet.will.qos ?? 0,
      retain: packet.will.retain === true,
      delaySeconds: willProperties.willDelayInterval ?? 0,
      senderClientId: clientId,
    };
    const passOn = passThroughProperties(willProperties);
    if (passOn !== undefined) will.properties = passOn;
    if (willProperties.messageExpiryInterval !== undefined) will.expiresAt = broker.now() + willProperties.messageExpiryInterval * 1000;
  }

  // ---- authentication -------------------------------------------------------
  if (packet.username !== undefined) link.state.username = packet.username;
  const info = broker.clientInfo(link);
  info.clientId = clientId;
  const authenticate = broker.deps.hooks.authenticate;
  const authenticationMethod = isV5 ? properties.authenticationMethod : undefined;
  let finalAuthenticationData: Uint8Array | undefined;
  if (authenticationMethod !== undefined && authenticate === undefined) {
    // [MQTT-4.12.0-1] a method we do not support.
    return refuse(broker, link, ReasonCode.BadAuthenticationMethod, `authentication method "${authenticationMethod}" is not supported`);
  }
  if (authenticate !== undefined) {
    const initialData = properties.authenticationData;
    const data = continuation !== undefined ? continuation.authenticationData : initialData === undefined ? undefined : new Uint8Array(initialData);
    const context: AuthenticateContext = {
      ...info,
      clean,
      keepAlive,
      ...(packet.password === undefined ? {} : { password: new Uint8Array(packet.password) }),
      ...(authenticationMethod === undefined ? {} : { authenticationMethod, authenticationStep: continuation?.step ?? 0 }),
      ...(data === undefined ? {} : { authenticationData: data }),
    };
    const outcome = await broker.runHook('authenticate', clientId, () => authenticate(context));
    if (link.closed) return;
    if (!outcome.ok) return refuse(broker, link, ReasonCode.UnspecifiedError, 'authentication failed to run');
    const decision = outcome.value;
    if ('challenge' in decision) {
      if (authenticationMethod === undefined) return refuse(broker, link, ReasonCode.UnspecifiedError, 'authenticate returned a challenge without an authentication method');
      // [MQTT-4.12.0-2] continue the exchange: AUTH 0x18 with the server's data; the CONNECT waits in storage.
      link.state.phase = 'authenticating';
      link.state.clientId = clientId;
      link.state.authenticationMethod = authenticationMethod;
      broker.store.savePendingConnect(link.id, link.encode(packet));
      link.persist();
      link.write({
        cmd: 'auth',
        reasonCode: ReasonCode.ContinueAuthentication,
        properties: { authenticationMethod, authenticationData: Buffer.from(decision.challenge) },
      });
      broker.markDirty(link);
      return;
    }
    if (!decision.allow) {
      const { code, text } = refusalOf(decision.reason ?? 'not-authorized');
      return refuse(broker, link, code, text);
    }
    if (decision.grants !== undefined) broker.setGrants(link, decision.grants);
    finalAuthenticationData = decision.authenticationData;
  }
  if (continuation !== undefined) broker.store.deletePendingConnect(link.id);
  // Checked again after the (possibly slow) hook: concurrent CONNECTs must not overshoot the limit.
  if (limits.maxConnections > 0 && broker.linkOf(clientId) === undefined && broker.connectedCount >= limits.maxConnections) {
    return refuse(broker, link, isV5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, 'maximum connections reached');
  }

  // ---- takeover [MQTT-3.1.4-3] ---------------------------------------------
  const current = broker.linkOf(clientId);
  if (current !== undefined && current !== link) {
    broker.log.log('info', 'session_taken_over', { client: clientId });
    broker.disconnectWith(current, ReasonCode.SessionTakenOver, 'session taken over by a new connection', 'takeover');
  }

  // ---- session --------------------------------------------------------------
  const store = broker.store;
  let existing = store.getSession(clientId);
  if (existing !== undefined && clean) {
    // [MQTT-3.1.2-4] clean start discards the old session. A will still pending is sent now.
    if (existing.will !== undefined && existing.willAt !== undefined) broker.publishWill(existing.will);
    broker.deleteSession(clientId);
    existing = undefined;
  }
  const sessionPresent = existing !== undefined;
  const requestedExpiry = isV5 ? (properties.sessionExpiryInterval ?? 0) : clean ? 0 : SessionNeverExpires;
  const expiryInterval = Math.min(requestedExpiry, limits.maxSessionExpiry);
  store.saveConnectedSession({
    clientId,
    protocolLevel: level,
    expiryInterval,
    connectionId: link.id,
    ...(will === undefined ? {} : { will }),
  });

  // ---- connection state -------------------------------------------------------
  const state = link.state;
  state.phase = 'connected';
  state.clientId = clientId;
  state.keepAlive = keepAlive;
  state.clientReceiveMaximum = isV5 ? Math.min(properties.receiveMaximum ?? 0xffff, limits.maxInflight * 10) : limits.maxInflight;
  state.clientMaxPacketSize = isV5 ? (properties.maximumPacketSize ?? 0) : 0;
  state.sessionExpiry = expiryInterval;
  state.requestProblemInformation = properties.requestProblemInformation !== false;
  state.clientTopicAliasMaximum = isV5 ? (properties.topicAliasMaximum ?? 0) : 0;
  if (authenticationMethod !== undefined) state.authenticationMethod = authenticationMethod;
  else delete state.authenticationMethod;
  broker.bindClient(link, clientId);
  link.persist();

  const connack: ConnackPacket = { cmd: 'connack', sessionPresent };
  if (isV5) {
    connack.reasonCode = ReasonCode.Success;
    const connackProperties: NonNullable<ConnackPacket['properties']> = {
      receiveMaximum: limits.receiveMaximum,
      maximumPacketSize: limits.maxPacketSize,
      topicAliasMaximum: limits.topicAliasMaximum,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    };
    if (expiryInterval !== requestedExpiry) connackProperties.sessionExpiryInterval = expiryInterval;
    if (serverKeepAlive !== undefined) connackProperties.serverKeepAlive = serverKeepAlive;
    if (assignedClientId !== undefined) connackProperties.assignedClientIdentifier = assignedClientId;
    if (authenticationMethod !== undefined) {
      // [MQTT-3.2.2-?] the CONNACK of an enhanced authentication carries its method (and final data).
      connackProperties.authenticationMethod = authenticationMethod;
      if (finalAuthenticationData !== undefined) connackProperties.authenticationData = Buffer.from(finalAuthenticationData);
    }
    connack.properties = connackProperties;
  } else {
    connack.returnCode = ConnackReturnCode.Accepted;
  }
  link.write(connack);
  broker.markDirty(link);
  broker.log.log('info', 'client_connected', {
    client: clientId,
    // Not "level": that is the log level's field.
    protocol: level,
    clean,
    keepalive: keepAlive,
    session_present: sessionPresent,
    addr: state.remoteAddress,
  });

  if (sessionPresent) {
    broker.resendInflight(link, store.inflight(clientId));
    broker.pump(link);
  }
  broker.requestLinkAlarm(link);
  const onConnect = broker.deps.hooks.onConnect;
  if (onConnect !== undefined) {
    broker.flushAll();
    await broker.runHook('onConnect', clientId, () => onConnect(info));
  }
}

/** The CONNACK reason (5.0; mapped for 3.x) and log text of a refusal. */
export function refusalOf(reason: NonNullable<DenyDecision['reason']>): { code: ReasonCode; text: string } {
  switch (reason) {
    case 'bad-credentials':
      return { code: ReasonCode.BadUserNameOrPassword, text: 'bad user name or password' };
    case 'banned':
      return { code: ReasonCode.Banned, text: 'banned' };
    case 'bad-authentication-method':
      return { code: ReasonCode.BadAuthenticationMethod, text: 'authentication method not supported' };
    case 'not-authorized':
      return { code: ReasonCode.NotAuthorized, text: 'not authorized' };
  }
}

/** CONNACK with an error code for the client's level, then close [MQTT-3.2.2-5]. */
function refuse(broker: BrokerCore, link: ClientLink, reason: number, message: string): void {
  const kind = reason === ReasonCode.BadUserNameOrPassword || reason === ReasonCode.NotAuthorized || reason === ReasonCode.Banned ? 'AuthFailed' : 'Protocol';
  broker.log.log('info', 'connect_refused', { kind, connection: link.id, reason, error: message, addr: link.state.remoteAddress });
  if (link.isV5) {
    link.write({ cmd: 'connack', sessionPresent: false, reasonCode: reason, ...broker.reasonString(link, message) });
  } else {
    link.write({ cmd: 'connack', sessionPresent: false, returnCode: connackCodeFor(reason) });
  }
  link.close(WsCloseCode.Normal, message);
  broker.endConnection(link, 'refused');
}

/** The MQTT 5 properties that travel with a message to its subscribers. */
export function passThroughProperties(properties: {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array;
  userProperties?: Record<string, string | string[]>;
}): BrokerMessage['properties'] {
  const result: NonNullable<BrokerMessage['properties']> = {};
  if (properties.payloadFormatIndicator !== undefined) result.payloadFormatIndicator = properties.payloadFormatIndicator;
  if (properties.contentType !== undefined) result.contentType = properties.contentType;
  if (properties.responseTopic !== undefined) result.responseTopic = properties.responseTopic;
  if (properties.correlationData !== undefined) result.correlationData = new Uint8Array(properties.correlationData);
  if (properties.userProperties !== undefined) result.userProperties = properties.userProperties;
  return Object.keys(result).length === 0 ? undefined : result;
}
