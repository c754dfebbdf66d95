/**
 * CONNECT, as a list of named steps in the order the spec gives them
 * (aedes writes its connect flow the same way): the client id, the
 * broker's limits, the will, authentication (which may pause for a 5.0
 * AUTH exchange), taking over a connection of the same client, the
 * session, binding the connection, CONNACK, and resuming what the session
 * still owes the client. A step that refuses or pauses ends the flow.
 */
import type { ConnackPacket, ConnectPacket } from '../../shared/codec/types.ts';
import { MqttError } from '../../shared/errors.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { validateTopicName } from '../../shared/topic.ts';
import { identityFrom, isReservedTopicName, sameIdentity, type Identity } from '../core/access.ts';
import type { AuthenticateContext, ClientInfo, DenyDecision } from '../core/hooks.ts';
import { connectTerms, topicOverLimits, type ConnectTerms } from '../core/limits.ts';
import type { ClientLink } from '../core/link.ts';
import { toBytes, type BrokerMessage } from '../core/message.ts';
import { SessionNeverExpires } from '../core/session-store.ts';
import type { ProtocolContext } from './context.ts';

/** Client ids we hand out to clients that connect with an empty one [MQTT-3.1.3-6]. */
const AssignedIdPrefix = 'auto-';

/** An enhanced-authentication exchange in progress: the client's latest AUTH data. */
export interface AuthContinuation {
  authenticationData?: Uint8Array;
  step: number;
}

/** What the steps of one CONNECT learn and decide, in order. */
interface ConnectFlow {
  readonly ctx: ProtocolContext;
  readonly link: ClientLink;
  readonly packet: ConnectPacket;
  readonly continuation: AuthContinuation | undefined;
  readonly level: 3 | 4 | 5;
  readonly isV5: boolean;
  readonly clean: boolean;
  readonly properties: NonNullable<ConnectPacket['properties']>;
  clientId: string;
  assignedClientId?: string;
  keepAlive: number;
  serverKeepAlive?: number;
  will?: BrokerMessage & { delaySeconds: number };
  info?: ClientInfo;
  /** Who the client is, for access control (from authentication). */
  identity: Identity;
  /** Who the session was used by before, if it is resumed. */
  previousIdentity?: Identity;
  authenticationMethod?: string;
  finalAuthenticationData?: Uint8Array;
  sessionPresent: boolean;
  requestedExpiry: number;
  expiryInterval: number;
  /** The limits the connection gets, fixed for its life (core/limits.ts). */
  terms?: ConnectTerms;
  /** The CONNACK that accepts the connection, built before anything changes (its Session Present set last). */
  connack?: ConnackPacket;
}

/** A step returns false when it refused the connection or paused it (AUTH exchange). */
type ConnectStep = (flow: ConnectFlow) => boolean | Promise<boolean>;

const connectSteps: ReadonlyArray<readonly [name: string, step: ConnectStep]> = [
  ['client id', assignClientId],
  ['limits', applyLimits],
  ['will', readWill],
  ['authenticate', authenticate],
  // Right after the (possibly slow) hook, as before any other refusal: concurrent CONNECTs must not overshoot the limit.
  ['capacity', checkCapacity],
  ['access', checkAccess],
  ['answer', prepareConnack],
  ['takeover', takeOver],
  ['session', openSession],
  ['bind', bindConnection],
  ['connack', sendConnack],
  ['resume', resume],
];

/**
 * Handles a CONNECT; called again with `continuation` for each AUTH (0x18)
 * of an enhanced authentication exchange, with the CONNECT kept in storage.
 */
export async function handleConnect(ctx: ProtocolContext, link: ClientLink, packet: ConnectPacket, continuation?: AuthContinuation): Promise<void> {
  const level = (packet.protocolVersion ?? 4) as 3 | 4 | 5;
  link.state.level = level;
  // [MQTT-3.1.2-24] from its CONNECT on, nothing larger than the client takes: a refusal's CONNACK included.
  link.state.clientMaxPacketSize = level === 5 ? (packet.properties?.maximumPacketSize ?? 0) : 0;
  const flow: ConnectFlow = {
    ctx,
    link,
    packet,
    continuation,
    level,
    isV5: level === 5,
    clean: packet.clean !== false,
    properties: packet.properties ?? {},
    clientId: packet.clientId,
    keepAlive: packet.keepalive ?? 0,
    identity: packet.username === undefined ? {} : { username: packet.username },
    sessionPresent: false,
    requestedExpiry: 0,
    expiryInterval: 0,
  };
  for (const [, step] of connectSteps) {
    // Synchronous steps run without a pause: from the capacity check to the binding nothing else interleaves.
    const result = step(flow);
    if (!(typeof result === 'boolean' ? result : await result)) return;
  }
}

/** [MQTT-3.1.3-6/7/8] an empty client id gets one of ours, with a clean session only (never in 3.1). */
function assignClientId(flow: ConnectFlow): boolean {
  const { link, continuation } = flow;
  if (flow.clientId.length > 0) return true;
  if (continuation !== undefined && link.state.clientId !== undefined) {
    // The id assigned before the AUTH exchange started.
    flow.clientId = link.state.clientId;
    flow.assignedClientId = flow.clientId;
    return true;
  }
  if (!flow.clean || flow.level === 3) return refuse(flow, ReasonCode.ClientIdentifierNotValid, 'empty client id requires clean session');
  flow.clientId = `${AssignedIdPrefix}${flow.ctx.newId()}`;
  flow.assignedClientId = flow.clientId;
  return true;
}

/** The namespace's connection limit, and the longest keep-alive it grants. */
function applyLimits(flow: ConnectFlow): boolean {
  const { ctx } = flow;
  const limits = ctx.limits;
  if (isOverConnectionLimit(flow)) return refuse(flow, flow.isV5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, 'maximum connections reached');
  if (limits.maxKeepAlive > 0 && (flow.keepAlive === 0 || flow.keepAlive > limits.maxKeepAlive)) {
    // 3.x has no way to tell the client; like mosquitto, refuse it.
    if (!flow.isV5) return refuse(flow, ReasonCode.ClientIdentifierNotValid, `keep-alive must be 1..${limits.maxKeepAlive} s`);
    flow.keepAlive = limits.maxKeepAlive;
    flow.serverKeepAlive = flow.keepAlive;
  }
  return true;
}

function isOverConnectionLimit(flow: ConnectFlow): boolean {
  const { ctx } = flow;
  const max = ctx.limits.maxConnections;
  // A client id already connected takes its own place over.
  return max > 0 && ctx.linkOf(flow.clientId) === undefined && ctx.connectedCount >= max;
}

/**
 * The connection limit once more, after authentication: CONNECTs that
 * arrive together (a batch from a gateway or a sidecar's link) all passed
 * the first check while their hooks ran, and only one place may be left.
 * Then the session limit: a client id without a session would make one
 * more (a client id with one, even a clean start, takes its own place).
 */
function checkCapacity(flow: ConnectFlow): boolean {
  const quota = flow.isV5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable;
  if (isOverConnectionLimit(flow)) return refuse(flow, quota, 'maximum connections reached');
  const { ctx } = flow;
  const max = ctx.limits.maxSessions;
  if (max > 0 && ctx.store.getSession(flow.clientId) === undefined && ctx.store.countSessions() >= max) return refuse(flow, quota, 'maximum sessions reached');
  return true;
}

/** [MQTT-3.1.2-9] the will, kept with the session until the connection ends. */
function readWill(flow: ConnectFlow): boolean {
  const will = flow.packet.will;
  if (will === undefined) return true;
  if (!validateTopicName(will.topic)) throw new MqttError('Protocol', ReasonCode.TopicNameInvalid, 'invalid will topic');
  // A will is a publish: held to the topic limits a PUBLISH is held to.
  const over = topicOverLimits(will.topic, flow.ctx.limits);
  if (over !== undefined) throw new MqttError('Limit', ReasonCode.TopicNameInvalid, `will: ${over}`);
  // [MQTT-3.2.2-12] [MQTT-3.2.2-13] a will the namespace could not publish as asked is refused (3.x: CONNACK 3).
  const limits = flow.ctx.limits;
  if ((will.qos ?? 0) > limits.maximumQos) return refuse(flow, ReasonCode.QoSNotSupported, `will QoS ${will.qos ?? 0} is above the maximum QoS ${limits.maximumQos}`);
  if (will.retain === true && !limits.retainAvailable) return refuse(flow, ReasonCode.RetainNotSupported, 'retained messages are not available (will retain)');
  const willProperties = will.properties ?? {};
  flow.will = {
    topic: will.topic,
    payload: toBytes(will.payload),
    qos: will.qos ?? 0,
    retain: will.retain === true,
    delaySeconds: willProperties.willDelayInterval ?? 0,
    senderClientId: flow.clientId,
  };
  const passOn = passThroughProperties(willProperties);
  if (passOn !== undefined) flow.will.properties = passOn;
  if (willProperties.messageExpiryInterval !== undefined) flow.will.expiresAt = flow.ctx.now() + willProperties.messageExpiryInterval * 1000;
  return true;
}

/** The authenticate hook: allow (with grants), refuse, or a 5.0 challenge that pauses the CONNECT until AUTH. */
async function authenticate(flow: ConnectFlow): Promise<boolean> {
  const { ctx, link, packet, continuation, properties } = flow;
  if (packet.username !== undefined) link.state.username = packet.username;
  const info = ctx.clientInfo(link);
  info.clientId = flow.clientId;
  flow.info = info;
  const hook = ctx.hooks.authenticate;
  const method = flow.isV5 ? properties.authenticationMethod : undefined;
  if (method !== undefined) flow.authenticationMethod = method;
  // [MQTT-4.12.0-1] a method we do not support.
  if (method !== undefined && hook === undefined) return refuse(flow, ReasonCode.BadAuthenticationMethod, `authentication method "${method}" is not supported`);
  if (hook !== undefined) {
    const initialData = properties.authenticationData;
    const data = continuation !== undefined ? continuation.authenticationData : initialData === undefined ? undefined : new Uint8Array(initialData);
    const context: AuthenticateContext = {
      ...info,
      clean: flow.clean,
      keepAlive: flow.keepAlive,
      ...(packet.password === undefined ? {} : { password: new Uint8Array(packet.password) }),
      ...(method === undefined ? {} : { authenticationMethod: method, authenticationStep: continuation?.step ?? 0 }),
      ...(data === undefined ? {} : { authenticationData: data }),
    };
    const outcome = await ctx.runHook('authenticate', flow.clientId, () => hook(context));
    if (link.closed) return false;
    if (!outcome.ok) return refuse(flow, ReasonCode.UnspecifiedError, 'authentication failed to run');
    const decision = outcome.value;
    if ('challenge' in decision) {
      if (method === undefined) return refuse(flow, ReasonCode.UnspecifiedError, 'authenticate returned a challenge without an authentication method');
      // [MQTT-4.12.0-2] continue the exchange: AUTH 0x18 with the server's data; the CONNECT waits in storage.
      link.state.phase = 'authenticating';
      link.state.clientId = flow.clientId;
      link.state.authenticationMethod = method;
      ctx.store.savePendingConnect(link.id, link.encode(packet));
      link.persist();
      link.write({ cmd: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties: { authenticationMethod: method, authenticationData: Buffer.from(decision.challenge) } });
      ctx.markDirty(link);
      return false;
    }
    if (!decision.allow) {
      const { code, text } = refusalOf(decision.reason ?? 'not-authorized');
      return refuse(flow, code, decision.message ?? text);
    }
    flow.identity = identityFrom(decision, packet.username);
    if (decision.authenticationData !== undefined) flow.finalAuthenticationData = decision.authenticationData;
  }
  // From here on the client's username (hooks, logs, the admin API) is who authentication says it is,
  // not a name it picked: a JWT without `sub` vouches for none.
  if (flow.identity.username === undefined) delete link.state.username;
  else link.state.username = flow.identity.username;
  if (flow.identity.username === undefined) delete info.username;
  else info.username = flow.identity.username;
  if (continuation !== undefined) ctx.store.deletePendingConnect(link.id);
  return true;
}

/**
 * What the client may do, known from here on. A will is a publish: its
 * topic is checked like one (the namespace's rules, the credentials' limits,
 * no `$SYS` or `$share/`), and a will the client may not publish refuses the
 * CONNECT. (mosquitto 2.0 accepts it and drops the will when it would go
 * out; refusing tells the client at once.) With MQTT_TAKEOVER=same-identity,
 * another identity may not take over the client id's session.
 */
function checkAccess(flow: ConnectFlow): boolean {
  const { ctx, link } = flow;
  ctx.setIdentity(link, flow.identity, flow.clientId);
  const will = flow.will;
  if (will !== undefined && (isReservedTopicName(will.topic, flow.clientId) || !ctx.accessOf(link).mayWrite(will.topic))) {
    return refuse(flow, ReasonCode.NotAuthorized, 'not authorized to publish the will topic');
  }
  if (ctx.takeoverPolicy === 'same-identity') {
    const owner = ctx.store.getSession(flow.clientId);
    if (owner !== undefined && (owner.identity?.username ?? null) !== (flow.identity.username ?? null)) {
      return refuse(flow, ReasonCode.NotAuthorized, 'the client id belongs to another identity');
    }
  }
  return true;
}

/**
 * [MQTT-3.1.4-3] a connection of the same client id is closed (5.0:
 * DISCONNECT 0x8E), and its will goes out as at any end without DISCONNECT,
 * unless the new connection goes on with the old one's session before the
 * will is due [MQTT-3.1.3-9] (docs/conformance-decisions.md).
 */
function takeOver(flow: ConnectFlow): boolean {
  const { ctx, link } = flow;
  const current = ctx.linkOf(flow.clientId);
  if (current !== undefined && current !== link) {
    ctx.connectionLog.event('info', 'connection.taken-over', current.state, { client: flow.clientId });
    if (continuesSessionOf(current, flow)) ctx.store.clearWill(flow.clientId);
    ctx.disconnect(current, ReasonCode.SessionTakenOver, 'session taken over by a new connection', 'takeover');
  }
  return true;
}

/**
 * Whether the new connection is one "to this Session" [MQTT-3.1.3-9], which
 * keeps the old connection's will from being sent: only a 5.0 session that
 * outlives its connection (Session Expiry above 0) resumed (Clean Start 0).
 * A 3.x will belongs to its network connection and goes out whenever that
 * closes without DISCONNECT [MQTT-3.1.2-8]; a session that ends with its
 * connection (or is discarded by Clean Start 1) sends its will as it ends.
 */
function continuesSessionOf(current: ClientLink, flow: ConnectFlow): boolean {
  return current.isV5 && (current.state.sessionExpiry ?? 0) > 0 && !flow.clean;
}

/** [MQTT-3.1.2-4/5] clean start discards the old session; otherwise it is resumed. The expiry in force is the CONNECT's. */
function openSession(flow: ConnectFlow): boolean {
  const { ctx, link, clean } = flow;
  ctx.expireSessionIfDue(flow.clientId);
  if (clean) ctx.discardSession(flow.clientId);
  const existing = clean ? undefined : ctx.store.getSession(flow.clientId);
  flow.sessionPresent = existing !== undefined;
  if (existing?.identity !== undefined) flow.previousIdentity = existing.identity;
  ctx.store.saveConnectedSession({
    clientId: flow.clientId,
    protocolLevel: flow.level,
    expiryInterval: flow.expiryInterval,
    connectionId: link.id,
    identity: flow.identity,
    ...(flow.will === undefined ? {} : { will: flow.will }),
  });
  return true;
}

/** The connection's state for the rest of its life (kept in the attachment), and its client id bound to it. */
function bindConnection(flow: ConnectFlow): boolean {
  const { ctx, link, isV5, properties } = flow;
  const limits = ctx.limits;
  const state = link.state;
  state.phase = 'connected';
  state.clientId = flow.clientId;
  state.keepAlive = flow.keepAlive;
  state.clientReceiveMaximum = isV5 ? Math.min(properties.receiveMaximum ?? 0xffff, limits.maxInflight * 10) : limits.maxInflight;
  state.sessionExpiry = flow.expiryInterval;
  state.requestProblemInformation = properties.requestProblemInformation !== false;
  state.clientTopicAliasMaximum = isV5 ? (properties.topicAliasMaximum ?? 0) : 0;
  state.terms = flow.terms ?? connectTerms(limits);
  // mosquitto's is_bridge: the bridge bit of a 3.x Protocol Level (the codec accepts it only there).
  if (flow.packet.bridgeMode === true) state.brokerBridge = true;
  if (flow.authenticationMethod !== undefined) state.authenticationMethod = flow.authenticationMethod;
  else delete state.authenticationMethod;
  ctx.bindClient(link, flow.clientId);
  link.persist();
  return true;
}

/**
 * The CONNACK that will accept the connection: in 5.0 what the broker
 * supports and what it changed. Built before the takeover and the session,
 * so that a client whose Maximum Packet Size leaves no room for it is
 * refused before anything changes: CONNACK 0x95 if that fits, else closed
 * without one [MQTT-3.1.2-24] (docs/conformance-decisions.md).
 */
function prepareConnack(flow: ConnectFlow): boolean {
  const { ctx, link } = flow;
  const terms = connectTerms(ctx.limits);
  flow.terms = terms;
  flow.requestedExpiry = flow.isV5 ? (flow.properties.sessionExpiryInterval ?? 0) : flow.clean ? 0 : SessionNeverExpires;
  flow.expiryInterval = Math.min(flow.requestedExpiry, ctx.limits.maxSessionExpiry);
  const connack: ConnackPacket = { cmd: 'connack', sessionPresent: false };
  flow.connack = connack;
  if (!flow.isV5) {
    connack.returnCode = 0;
    return true;
  }
  connack.reasonCode = ReasonCode.Success;
  const properties: NonNullable<ConnackPacket['properties']> = {
    receiveMaximum: terms.receiveMaximum,
    maximumPacketSize: terms.maxPacketSize,
    topicAliasMaximum: terms.topicAliasMaximum,
    retainAvailable: terms.retainAvailable,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: terms.sharedSubscriptionsAvailable,
  };
  // [MQTT-3.2.2-9] absent means 2.
  if (terms.maximumQos < 2) properties.maximumQoS = terms.maximumQos;
  if (flow.expiryInterval !== flow.requestedExpiry) properties.sessionExpiryInterval = flow.expiryInterval;
  if (flow.serverKeepAlive !== undefined) properties.serverKeepAlive = flow.serverKeepAlive;
  if (flow.assignedClientId !== undefined) properties.assignedClientIdentifier = flow.assignedClientId;
  if (flow.authenticationMethod !== undefined) {
    // [MQTT-4.12.0-5] the CONNACK of an enhanced authentication carries its method (and final data).
    properties.authenticationMethod = flow.authenticationMethod;
    if (flow.finalAuthenticationData !== undefined) properties.authenticationData = Buffer.from(flow.finalAuthenticationData);
  }
  connack.properties = properties;
  if (link.encodeForClient(connack) === undefined) return refuse(flow, ReasonCode.PacketTooLarge, `no CONNACK fits the client's maximum packet size of ${link.state.clientMaxPacketSize} bytes`);
  return true;
}

/** CONNACK, with Session Present now that the session is known [MQTT-3.2.2-1/2/3]. */
function sendConnack(flow: ConnectFlow): boolean {
  const { ctx, link } = flow;
  const connack = flow.connack as ConnackPacket;
  // 3.1 has no Session Present: the CONNACK's first byte is reserved, 0 (a 3.1 client may check it).
  connack.sessionPresent = flow.level !== 3 && flow.sessionPresent;
  link.write(connack);
  ctx.markDirty(link);
  ctx.connectionLog.event('info', 'connection.accepted', link.state, {
    client: flow.clientId,
    protocol: flow.level,
    clean: flow.clean,
    keepalive: flow.keepAlive,
    session_present: flow.sessionPresent,
  });
  return true;
}

/** [MQTT-4.4.0-1] a resumed session resends what is unacknowledged, then its queue; keep-alive starts; the onConnect hook. */
async function resume(flow: ConnectFlow): Promise<boolean> {
  const { ctx, link } = flow;
  if (flow.sessionPresent) {
    // Another identity keeps only what it may read [mosquitto checks every delivery].
    if (!sameIdentity(flow.previousIdentity ?? {}, flow.identity)) ctx.reviewSession(link, flow.previousIdentity);
    ctx.outbound.resume(link);
  }
  ctx.watchKeepAlive(link);
  const onConnect = ctx.hooks.onConnect;
  if (onConnect !== undefined && flow.info !== undefined) {
    const info = flow.info;
    ctx.flush();
    await ctx.runHook('onConnect', flow.clientId, () => onConnect(info));
  }
  return true;
}

function refuse(flow: ConnectFlow, reason: number, message: string): false {
  // The client id and username are the CONNECT's: the connection never got as far as holding them.
  flow.ctx.refuseConnect(flow.link, reason, message, { client: flow.clientId, username: flow.packet.username });
  return false;
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
