/**
 * The conformance matrix: every numbered normative statement of MQTT 3.1.1
 * and MQTT 5.0 (spec-ids.ts), and the differences of MQTT 3.1 that matter
 * to a server, each with the tests that check it, the reason it is not the
 * server's to meet, or "not yet". docs/conformance.md is rendered from it
 * (render.ts); test/unit/conformance-matrix.test.ts keeps both honest.
 *
 * A test is named by its file and its title as vitest shows it; a row of an
 * `it.each` table by its expanded title. The same id in 3.1.1 and 5.0 is
 * usually a different statement, so each version has its own list.
 */
import { clientOnly, e, notDone, notYet, t, tested, testedNote, type Difference, type Entry, type TestRef } from './matrix-types.ts';

// ---- test files --------------------------------------------------------------

const Protocol = 'test/core/protocol.test.ts';
const EdgeCore = 'test/integration/edge-core.test.ts';
const Mqtt5File = 'test/integration/mqtt5.test.ts';
const Malformed = 'test/unit/codec/malformed.test.ts';
const Codec = 'test/unit/codec/codec.test.ts';
const Encoder = 'test/unit/codec/encoder.test.ts';
const Framer = 'test/unit/codec/framer.test.ts';
const FastPath = 'test/unit/codec/fast-path.test.ts';
const ReasonCodes = 'test/unit/codec/reason-codes.test.ts';
const UserProperties = 'test/unit/codec/user-properties.test.ts';
const Topic = 'test/unit/topic.test.ts';
const TopicTree = 'test/unit/edge/topic-tree.test.ts';
const Fuzz = 'test/fuzz/namespace.fuzz.test.ts';
const Model = 'test/model/namespace.model.test.ts';
const Quotas = 'test/core/quotas.test.ts';
const Replays = 'test/core/replays.test.ts';
const Shutdown = 'test/core/shutdown.test.ts';
const StallWatchdog = 'test/core/stall-watchdog.test.ts';
const Gateways = 'test/core/gateways.test.ts';
const Stall = 'test/integration/stall.test.ts';
const ConfigAccess = 'test/integration/config-access.test.ts';
const UserApi = 'test/integration/user-api.test.ts';
const BoundedWork = 'test/attacks/bounded-work.test.ts';
const SidecarBridge = 'test/sidecar/bridge.test.ts';
const SidecarE2e = 'test/sidecar/e2e.test.ts';
const KeepAlive = 'test/sidecar/log-and-keep-alive.test.ts';

// ---- tests named often -----------------------------------------------------------

/** Every targeted bad packet (namespace-fuzz.ts `targetedNames`) at each level, on every run, against a live namespace. */
const fuzz = t(Fuzz, 'answers every fuzz connection: a valid close or DISCONNECT reason, the right one where the spec fixes it, never a hang');
const witness = t(Fuzz, 'never corrupts the witness session: every QoS 1 message once, in order, intact, through an offline period');
/** The reference model (test/model/model.ts) over random client actions at 3.1, 3.1.1 and 5.0. */
const model = t(Model, 'keeps every invariant over random sequences of client actions');
const malformed = (row: string) => t(Malformed, row);

const ecConnects = t(EdgeCore, 'connects, subscribes with a wildcard and receives QoS 0, 1 and 2 at the granted QoS');
const ecDowngrade = t(EdgeCore, 'downgrades to the subscription QoS and unsubscribes');
const ecRetained = t(EdgeCore, 'stores, replaces and deletes retained messages');
const ecWill = t(EdgeCore, 'publishes the will on an abrupt close but not after DISCONNECT');
const ecPersistent = t(EdgeCore, 'keeps a persistent session: offline QoS 1/2 messages are queued and delivered on reconnect');
const ecSessionPresent = t(EdgeCore, 'reports session present correctly and discards the session on clean start');
const ecTakeover = t(EdgeCore, 'takes over an existing connection with the same client id');
const ecOverlap = t(EdgeCore, 'delivers once at the highest QoS for overlapping subscriptions');
const ecWildcardRetained = t(EdgeCore, 'finds retained messages for + and # filters, including the parent level of #');
const ecRestart = t(EdgeCore, 'keeps sessions, queued messages and retained messages across a full restart of the runtime');
const ecUnsupportedLevel = t(EdgeCore, 'answers an unsupported protocol level %s with CONNACK 0x01 and closes');
const ecEmptyId = t(EdgeCore, 'refuses an empty client id without clean session (0x02 / 0x85)');
const ecAssigned = t(EdgeCore, 'assigns a client id to an empty one with clean start (5.0 Assigned Client Identifier)');
const ecDollar = t(EdgeCore, 'does not match $-topics with a leading wildcard');
const ecSecondConnect = t(EdgeCore, 'treats a second CONNECT as a protocol error and closes');
const ecKeepAlive = t(EdgeCore, 'enforces keep-alive at 1.5 times the client value (5.0 DISCONNECT 0x8D)');
const ecPing = t(EdgeCore, 'answers PINGREQ and keeps a pinging client connected');
const ecMalformed = t(EdgeCore, 'closes only the client that sent a malformed packet; others keep receiving');
const ecFrames = t(EdgeCore, 'parses packets split over frames and several packets in one frame');
const ecQos2Once = t(EdgeCore, 'routes an inbound QoS 2 message once even when the PUBLISH is resent before PUBREL');
const ecResendDup = t(EdgeCore, 'resends an unacknowledged QoS 1 message with DUP and the same packet id on reconnect');
const ecSubprotocol = t(EdgeCore, 'echoes the mqtt subprotocol, accepts none, refuses others');
const ecTextFrame = t(EdgeCore, 'closes the connection on a text frame');

const pKeepAlive = t(Protocol, 'enforces keep-alive at 1.5 times the client value (5.0: DISCONNECT 0x8D), and packets count as activity');
const pSessionExpiry = t(Protocol, 'expires an offline session after its interval: queued messages and subscriptions go with it');
const pWillDelay = t(Protocol, 'sends a will after its delay when the client stays away, and cancels it when the client comes back in time');
const pExpiry = t(Protocol, 'never delivers an expired message and forwards the remaining expiry interval');
const pWills = t(Protocol, 'publishes the will on an abrupt close, not after DISCONNECT, and after 5.0 DISCONNECT 0x04');
const pTakeover = t(Protocol, 'takes over a client id (5.0: DISCONNECT 0x8E to the old connection) and keeps its persistent session');
const pQueues311 = t(Protocol, 'queues QoS 1/2 but not QoS 0 for an offline 3.1.1 persistent session, and resends unacknowledged ones with DUP');
const pQos2Once = t(Protocol, 'routes an inbound QoS 2 message once, even when the PUBLISH is sent again before PUBREL');
const pEmptyId = t(Protocol, 'refuses an empty client id without clean session (0x02 / 0x85) and assigns one with clean start');
const pSecondConnect = t(Protocol, 'treats a second CONNECT as a protocol error');
const pMinQos = t(Protocol, 'delivers at min(message, subscription) QoS, once for overlapping subscriptions, at the highest');
const pRetained = t(Protocol, 'stores, replaces and deletes retained messages, and finds them for + and # (parent level included)');
const pSubOptions = t(Protocol, 'honours No Local, Retain As Published and Retain Handling 0/1/2');
const pSubIds = t(Protocol, 'delivers the subscription identifiers of every matching subscription');
const pReceiveMaximum = t(Protocol, 'keeps at most the client’s Receive Maximum in flight, and sends more as acknowledgements come');
const pReceiveMaximumExceeded = t(Protocol, 'disconnects a client that exceeds the broker’s Receive Maximum (0x93)');
const pReplace = t(Protocol, 'refuses a new subscription over MQTT_MAX_NAMESPACE_SUBSCRIPTIONS across clients (SUBACK 0x97), and replaces an existing one');
const pTooLarge = t(Protocol, 'drops a message too large for one subscriber only');
const pAliases = t(Protocol, 'resolves client-to-server topic aliases and uses server-to-client ones up to the client’s maximum');
const pPubrelAgain = t(Protocol, 'answers a PUBREL resent after a reconnect with PUBCOMP Success, and the message stays delivered once');

const m5Caps = t(Mqtt5File, 'announces its capabilities and caps keep-alive in CONNACK');
const m5Expiry = t(Mqtt5File, 'ends the session with the connection at 0, keeps it for N seconds and for 0xFFFFFFFF');
const m5AliasIn = t(Mqtt5File, 'resolves client-to-server aliases');
const m5AliasRefused = t(Mqtt5File, 'refuses alias 0 with DISCONNECT 0x94');
const m5AliasAbove = t(Mqtt5File, 'refuses an alias above the maximum with DISCONNECT 0x94');
const m5AliasOut = t(Mqtt5File, 'uses server-to-client aliases up to what the client allows');
const m5ReceiveMaximum = t(Mqtt5File, 'keeps at most the client’s Receive Maximum of QoS 1 messages in flight');
const m5ReceiveMaximumExceeded = t(Mqtt5File, 'disconnects a client that exceeds the broker’s Receive Maximum with 0x93');
const m5TooLargeIn = t(Mqtt5File, 'disconnects a client whose packet is over the maximum (0x95)');
const m5TooLargeOut = t(Mqtt5File, 'drops a message too large for one subscriber only');
const m5SubIds = t(Mqtt5File, 'delivers the subscription identifiers of every matching subscription');
const m5NoLocal = t(Mqtt5File, 'No Local keeps a client’s own messages from it');
const m5Rap = t(Mqtt5File, 'Retain As Published keeps the retain flag on live messages');
const m5Rh = t(Mqtt5File, 'Retain Handling 0 sends retained messages on every subscribe, 1 only on a new one, 2 never');
const m5NoLocalShared = t(Mqtt5File, 'refuses No Local on a shared subscription (protocol error)');
const m5Properties = t(Mqtt5File, 'passes Response Topic, Correlation Data, User Properties, Content Type and Payload Format through');
const m5UserPropertyOrder = t(Mqtt5File, 'forwards User Properties in their order, interleaved names included [MQTT-3.3.2-18]');
const m5Auth = t(Mqtt5File, 'runs a challenge/response through the authenticate hook');
const m5AuthRefused = t(Mqtt5File, 'refuses a wrong answer with CONNACK 0x86');

const quotaCaps = t(Quotas, 'maximum QoS, retain and shared subscriptions: announced in CONNACK and held to, for clients that connect after the change');
const cfgSubscribe = t(ConfigAccess, 'refuses a SUBSCRIBE the ACL does not allow (0x80 / 0x87) and allows the rest');
const cfgPublishRefused = t(ConfigAccess, 'drops a PUBLISH the ACL does not allow (5.0: PUBACK 0x87) and substitutes %c in patterns');
const codecEncodes = t(Codec, 'encodes to the expected bytes');
const codecDecodes = t(Codec, 'decodes back to the same packet and the same bytes');
const topicRejects = t(Topic, 'rejects %j');
const topicAccepts = t(Topic, 'accepts %j');
const topicMatching = t(Topic, '%j vs %j → %s');
const topicLength = t(Topic, 'limits the UTF-8 length to 65,535 bytes');
const replayQos2 = t(Replays, "goes on with a persistent session's replay after a reconnect and after the object restarts, sending nothing twice at QoS 2");
const bridgeFirstPacket = t(SidecarBridge, 'closes a client whose first packet is not CONNECT, without dialling the edge');
const bridgePingrespAfterConnack = t(SidecarBridge, 'holds a PINGRESP back until the edge CONNACK has gone to the device');
const noWillTwice = t(Shutdown, 'keeps persistent sessions with their subscriptions and queues, ends clean ones, and fires no will a second time');
const transient = t(Gateways, 'closes the clients of a gateway whose core cannot be reached, so they reconnect');

// ---- packet-level conformance tests (test/conformance/*.test.ts, harness wire.ts) ----------

const Mqtt31Wire = 'test/conformance/mqtt31.test.ts';
const WillPropertiesWire = 'test/conformance/will-properties.test.ts';
const ConnackWire = 'test/conformance/connack.test.ts';
const WillQosWire = 'test/conformance/will-qos.test.ts';
const PublishWire = 'test/conformance/publish.test.ts';
const FlowsWire = 'test/conformance/flows.test.ts';
const AuthWire = 'test/conformance/auth.test.ts';
const SharedWire = 'test/conformance/shared.test.ts';
const WillsWire = 'test/conformance/wills.test.ts';
const ConnectWire = 'test/conformance/connect.test.ts';
const PacketSizeWire = 'test/conformance/packet-size.test.ts';
const PacketsWire = 'test/conformance/packets.test.ts';

/**
 * A wire case (wire.ts `wireTests`) at one level: its test over TCP through
 * the sidecar and its test over WebSocket, named as the test files register them.
 */
function wire(file: string, ids: readonly string[], title: string, level: '3.1' | '3.1.1' | '5.0'): TestRef[] {
  return (['tcp', 'ws'] as const).map((transport) => t(file, `${ids.map((id) => `[${id}]`).join(' ')} ${title}, MQTT ${level} over ${transport}`));
}

// ---- wording shared by several entries ----------------------------------------------

const NoReasonStrings =
  'The server puts a Reason String on nothing but CONNACK and DISCONNECT, and User Properties of its own on nothing (shared/refusals.ts), so it never sends this property: optional, not taken.';
const NoOwnUserProperties = 'The server sends no User Property of its own on this packet (shared/refusals.ts builds its CONNACK and DISCONNECT): optional, not taken.';

// ---- statements alike in both versions ------------------------------------------

/** Message receipt (4.5) and the ordering rules for clients (4.6): the same statements, with the same ids, in both versions. */
const receiptAndClientOrder: readonly Entry[] = [
  e('MQTT-4.5.0-1', 'A message the server owns is added to the session state of every matching client', tested(ecPersistent, model)),
  e('MQTT-4.5.0-2', 'A client acknowledges every PUBLISH as its QoS requires', clientOnly('The client\'s duty.')),
  e('MQTT-4.6.0-1', 'A client re-sends PUBLISH packets in their original order', clientOnly('A rule for clients (section 4.6). The server re-sends in order too: replays "goes on with a persistent session\'s replay…".')),
  e('MQTT-4.6.0-2', 'A client sends PUBACKs in the order the PUBLISHes came', clientOnly('A rule for clients; the sidecar\'s bridges keep it (bridges-parts "keeps acknowledgements in the order they were written: a free one waits behind a held one").')),
  e('MQTT-4.6.0-3', 'A client sends PUBRECs in the order the PUBLISHes came', clientOnly('A rule for clients; the sidecar\'s bridges keep it (bridges-parts AckGate tests).')),
  e('MQTT-4.6.0-4', 'A client sends PUBRELs in the order the PUBRECs came', clientOnly('A rule for clients.')),
];

/** Topics beginning with "$" (4.7.2) and topic semantics (4.7.3): the same in both versions. */
const topicRules: readonly Entry[] = [
  e('MQTT-4.7.2-1', 'Filters starting with a wildcard do not match Topic Names starting with "$"', tested(ecDollar, t(TopicTree, 'does not match $ topics with a leading wildcard [MQTT-4.7.2-1]'))),
  e('MQTT-4.7.3-1', 'Topic Names and Filters are at least one character long', tested(topicRejects, fuzz)),
  e('MQTT-4.7.3-2', 'Topic Names and Filters contain no U+0000', tested(topicRejects, malformed('SUBSCRIBE filter with U+0000'))),
  e('MQTT-4.7.3-3', 'Topic Names and Filters encode to at most 65,535 bytes', tested(topicLength)),
  e('MQTT-4.7.3-4', 'Matching neither normalizes topics nor replaces unrecognised characters', testedNote('Case ("ACCOUNTS" vs "Accounts") and non-ASCII topics matched as they are.', topicMatching, topicAccepts)),
];

/** WebSocket (chapter 6): the same in both versions. */
const webSocket: readonly Entry[] = [
  e('MQTT-6.0.0-1', 'MQTT goes in binary WebSocket frames; another frame closes the connection', tested(ecTextFrame)),
  e('MQTT-6.0.0-2', 'A frame may hold several or partial packets; the receiver does not rely on frame boundaries', tested(ecFrames)),
  e('MQTT-6.0.0-3', 'The client offers the subprotocol "mqtt"', clientOnly('The client\'s offer; the broker also takes a WebSocket without a subprotocol.')),
  e('MQTT-6.0.0-4', 'The server selects the subprotocol "mqtt"', tested(ecSubprotocol)),
];

// ---- MQTT 3.1.1 ---------------------------------------------------------------------

export const Mqtt311: readonly Entry[] = [
  e('MQTT-1.5.3-1', 'A packet with ill-formed UTF-8 (or a surrogate) in a string closes the connection', tested(fuzz, malformed('SUBSCRIBE filter with invalid UTF-8'), malformed('CONNECT will topic with a surrogate'))),
  e('MQTT-1.5.3-2', 'A string with U+0000 closes the connection', tested(fuzz, malformed('SUBSCRIBE filter with U+0000'), malformed('CONNECT user name with U+0000'))),
  e('MQTT-1.5.3-3', 'EF BB BF is U+FEFF and is never skipped or stripped by the receiver', tested(t(FastPath, 'keeps a leading U+FEFF of a topic, as mqtt-packet does'))),
  e('MQTT-2.2.2-1', 'Reserved fixed-header flag bits carry the values of table 2.2', testedNote('The server\'s own packets: the fixtures include PUBREL (0x62), SUBSCRIBE and UNSUBSCRIBE.', codecEncodes)),
  e('MQTT-2.2.2-2', 'Invalid fixed-header flags close the connection', tested(fuzz, malformed('PUBREL with flags 0000 [MQTT-2.2.2-2]'), malformed('SUBSCRIBE with flags 0000'), malformed('PINGREQ with flags 1000'))),
  e('MQTT-2.3.1-1', 'SUBSCRIBE, UNSUBSCRIBE and QoS 1/2 PUBLISH carry a non-zero Packet Identifier', tested(fuzz, malformed('PUBLISH QoS 1 with packet id 0'), malformed('SUBSCRIBE with packet id 0'))),
  e('MQTT-2.3.1-2', 'A client gives each new such packet an identifier not in use', clientOnly('The client chooses its identifiers; the server\'s duty is MQTT-2.3.1-4.')),
  e('MQTT-2.3.1-3', 'A client re-sending such a packet uses the same identifier', clientOnly('A re-send by the client; the server resends with the same identifier under MQTT-4.4.0-1.')),
  e('MQTT-2.3.1-4', 'The server, too, gives each new QoS 1/2 PUBLISH an identifier not in use', testedNote('The model\'s peers flag an identifier reused while its message is in flight.', model)),
  e('MQTT-2.3.1-5', 'A QoS 0 PUBLISH carries no Packet Identifier', testedNote('The encoder (fixture "PUBLISH QoS 0"); a receiver cannot tell one apart.', codecEncodes)),
  e('MQTT-2.3.1-6', 'PUBACK, PUBREC and PUBREL carry the identifier of the PUBLISH', testedNote('The fuzz connections match every answer to its packet by identifier.', fuzz, pPubrelAgain)),
  e('MQTT-2.3.1-7', 'SUBACK and UNSUBACK carry the identifier of their SUBSCRIBE or UNSUBSCRIBE', tested(fuzz)),
  e('MQTT-3.1.0-1', 'The first packet from a client is CONNECT', tested(malformed('PINGREQ before CONNECT [MQTT-3.1.0-1]'), bridgeFirstPacket)),
  e('MQTT-3.1.0-2', 'A second CONNECT is a protocol violation and closes the connection', testedNote('The fuzz sweep sends a second CONNECT at 3.1 and 3.1.1.', fuzz)),
  e('MQTT-3.1.2-1', 'A wrong protocol name may close the connection, and is never processed as this protocol', tested(malformed("'MQTX' with level 4 → Unsupported Protocol Version"), malformed("'mqtt' with level 4 → Unsupported Protocol Version"))),
  e('MQTT-3.1.2-2', 'An unsupported protocol level gets CONNACK 0x01, then the close', tested(ecUnsupportedLevel, t(SidecarBridge, 'answers an unsupported protocol level with CONNACK 0x01 in the 3.1.1 form'))),
  e('MQTT-3.1.2-3', 'The reserved CONNECT flag is 0, or the client is disconnected', tested(malformed('CONNECT reserved flag set [MQTT-3.1.2-3]'), fuzz)),
  e('MQTT-3.1.2-4', 'CleanSession 0 resumes the session of the client id, creates one if none, and keeps it after the close', tested(ecPersistent, ecSessionPresent)),
  e('MQTT-3.1.2-5', 'CleanSession 0: QoS 1/2 messages for the offline session are kept as its state', tested(pQueues311, ecPersistent)),
  e('MQTT-3.1.2-6', 'CleanSession 1 discards any previous session; its state is never reused', tested(ecSessionPresent)),
  e('MQTT-3.1.2-7', 'Retained messages are not session state and outlive the session that published them', testedNote('The publisher there is a clean session that ends before the restart; the retained message is still delivered.', ecRestart, model)),
  e('MQTT-3.1.2-8', 'A will is stored with the connection and published when it closes, unless a DISCONNECT deleted it', tested(t('test/integration/edge-core.test.ts', 'publishes the will on an abrupt close but not after DISCONNECT'), ...wire(WillsWire, ['MQTT-3.1.2-8', 'MQTT-3.1.4-3'], "the will of a clean session's connection taken over by a CleanSession 0 connection is published", '3.1.1'), ...wire(WillsWire, ['MQTT-3.1.2-8', 'MQTT-3.1.4-3'], "the will of a persistent session's connection taken over by a CleanSession 0 connection is published", '3.1.1'))),
  e('MQTT-3.1.2-9', 'Will Flag 1: Will QoS and Retain are used, and Will Topic and Message are in the payload', tested(malformed('CONNECT will flag but no will topic'))),
  e('MQTT-3.1.2-10', 'The will leaves the session state once published or on DISCONNECT', tested(ecWill, noWillTwice)),
  e('MQTT-3.1.2-11', 'Will Flag 0: Will QoS and Retain are 0, and no Will Topic or Message is present', tested(malformed('CONNECT will QoS without will flag [MQTT-3.1.2-11]'), malformed('CONNECT will retain without will flag [MQTT-3.1.2-13]'), malformed('CONNECT with trailing bytes'))),
  e('MQTT-3.1.2-12', 'Will Flag 0: no will is published when the connection ends', testedNote('Clients without a will drop their connections; any message the model did not route is a violation.', model)),
  e('MQTT-3.1.2-13', 'Will Flag 0: Will QoS is 0', tested(malformed('CONNECT will QoS without will flag [MQTT-3.1.2-11]'))),
  e('MQTT-3.1.2-14', 'Will QoS is 0, 1 or 2, never 3', tested(malformed('CONNECT will QoS 3 [MQTT-3.1.2-14]'))),
  e('MQTT-3.1.2-15', 'Will Flag 0: Will Retain is 0', tested(malformed('CONNECT will retain without will flag [MQTT-3.1.2-13]'))),
  e('MQTT-3.1.2-16', 'Will Retain 0: the will is published as a non-retained message', testedNote('Random wills with retain on and off; a will kept as retained would reach later subscribers the model owes nothing.', model)),
  e('MQTT-3.1.2-17', 'Will Retain 1: the will is published as a retained message', testedNote('A retained will is owed to every later matching subscription.', model)),
  e('MQTT-3.1.2-18', 'User Name Flag 0: no User Name in the payload', testedNote('A field the flags do not announce is trailing bytes: Malformed.', malformed('CONNECT with trailing bytes'))),
  e('MQTT-3.1.2-19', 'User Name Flag 1: a User Name is in the payload', tested(malformed('CONNECT user name flag but no user name'))),
  e('MQTT-3.1.2-20', 'Password Flag 0: no Password in the payload', testedNote('A field the flags do not announce is trailing bytes: Malformed.', malformed('CONNECT with trailing bytes'))),
  e('MQTT-3.1.2-21', 'Password Flag 1: a Password is in the payload', tested(...wire(ConnackWire, ['MQTT-3.1.2-21'], 'a CONNECT with the Password Flag and no Password is closed without a CONNACK', '3.1.1'))),
  e('MQTT-3.1.2-22', 'User Name Flag 0 requires Password Flag 0', tested(malformed('CONNECT password without user name [MQTT-3.1.2-22]'))),
  e('MQTT-3.1.2-23', 'The client keeps packets flowing within the keep-alive, sending PINGREQ if need be', clientOnly('The client\'s keep-alive duty; the server\'s side is MQTT-3.1.2-24.')),
  e('MQTT-3.1.2-24', 'With a non-zero keep-alive, the server closes a connection silent for 1.5 times it', tested(t(SidecarBridge, 'closes a silent 3.1.1 device after 1.5 × keep-alive and tells the edge why'), pKeepAlive, t(KeepAlive, 'expires after 1.5 × keep-alive of silence [MQTT-3.1.2-24]'))),
  e('MQTT-3.1.3-1', 'The CONNECT payload fields come in the order Client Identifier, Will Topic, Will Message, User Name, Password', testedNote('Fixture "CONNECT with will, user name and password".', codecDecodes)),
  e('MQTT-3.1.3-2', 'Client and server identify the session state by the ClientId', tested(ecPersistent, ecSessionPresent)),
  e('MQTT-3.1.3-3', 'The ClientId is present, as the first field of the payload', tested(malformed('CONNECT cut inside the client id (consistent remaining length)'))),
  e('MQTT-3.1.3-4', 'The ClientId is a UTF-8 encoded string', tested(malformed('CONNECT client id: surrogate U+D800 (ed a0 80)'), malformed('CONNECT client id: invalid byte 0xff'))),
  e('MQTT-3.1.3-5', 'The server allows ClientIds of 1 to 23 bytes of 0-9, a-z, A-Z', testedNote('Client ids such as "keeper" and "pub" at 3.1.1; longer ones and other characters are accepted too (the spec lets a server).', pQueues311)),
  e('MQTT-3.1.3-6', 'A server allowing a zero-byte ClientId assigns a unique one and goes on as if the client had sent it', tested(...wire(ConnackWire, ['MQTT-3.1.3-6'], 'two clients with an empty client id are each given their own: both stay connected', '3.1.1'))),
  e('MQTT-3.1.3-7', 'A client sending a zero-byte ClientId sets CleanSession 1', clientOnly('The client\'s duty; the server\'s answer to a breach is MQTT-3.1.3-8.')),
  e('MQTT-3.1.3-8', 'Zero-byte ClientId with CleanSession 0 gets CONNACK 0x02, then the close', tested(ecEmptyId, pEmptyId)),
  e('MQTT-3.1.3-9', 'A ClientId the server rejects gets CONNACK 0x02, then the close', testedNote('The broker rejects a client id only when it is empty without a clean session (and always at 3.1).', ecEmptyId)),
  e('MQTT-3.1.3-10', 'The Will Topic is a UTF-8 encoded string', tested(malformed('CONNECT will topic with a surrogate'))),
  e('MQTT-3.1.3-11', 'The User Name is a UTF-8 encoded string', tested(malformed('CONNECT user name with U+0000'))),
  e('MQTT-3.1.4-1', 'A CONNECT not as section 3.1 says closes the connection without a CONNACK', tested(...wire(ConnectWire, ['MQTT-3.1.4-1', 'MQTT-3.2.2-6', 'MQTT-4.7.3-1'], 'a zero-length will topic: the connection is closed without a CONNACK', '3.1.1'), t('test/sidecar/bridge.test.ts', 'makes up no CONNACK when the edge closes on purpose (%i) before one [MQTT-3.2.2-6]'))),
  e('MQTT-3.1.4-2', 'A ClientId already connected: the server disconnects the existing client', tested(ecTakeover, pTakeover)),
  e('MQTT-3.1.4-3', 'The server processes CleanSession as section 3.1.2.4 says', tested(ecSessionPresent)),
  e('MQTT-3.1.4-4', 'An accepted CONNECT gets CONNACK 0x00', tested(ecConnects)),
  e('MQTT-3.1.4-5', 'After refusing a CONNECT the server processes nothing the client sent after it', tested(...wire(ConnackWire, ['MQTT-3.1.4-5'], 'packets sent behind a refused CONNECT are not processed', '3.1.1'))),
  e('MQTT-3.2.0-1', 'The first packet from the server is CONNACK', testedNote('The sidecar answers PINGREQ itself and must not answer one before the edge\'s CONNACK.', bridgePingrespAfterConnack)),
  e('MQTT-3.2.2-1', 'CleanSession 1 accepted: Session Present 0', tested(ecSessionPresent)),
  e('MQTT-3.2.2-2', 'CleanSession 0 with a stored session: Session Present 1', tested(ecSessionPresent)),
  e('MQTT-3.2.2-3', 'CleanSession 0 without a stored session: Session Present 0, return code 0', tested(ecSessionPresent)),
  e('MQTT-3.2.2-4', 'A CONNACK with a non-zero return code has Session Present 0', tested(...wire(WillQosWire, ['MQTT-3.2.2-4', 'MQTT-3.2.2-6'], 'a refusal of a client id whose session is stored has Session Present 0', '3.1.1'))),
  e('MQTT-3.2.2-5', 'A CONNACK with a non-zero return code is followed by the close', tested(ecEmptyId, ecUnsupportedLevel)),
  e('MQTT-3.2.2-6', 'When no return code applies, the server closes without a CONNACK', tested(...wire(ConnectWire, ['MQTT-3.1.4-1', 'MQTT-3.2.2-6', 'MQTT-4.7.3-1'], 'a zero-length will topic: the connection is closed without a CONNACK', '3.1.1'), t('test/sidecar/bridge.test.ts', 'makes up no CONNACK when the edge closes on purpose (%i) before one [MQTT-3.2.2-6]'))),
  e('MQTT-3.3.1-1', 'DUP is 1 when a PUBLISH is re-delivered', tested(ecResendDup, pQueues311, replayQos2)),
  e('MQTT-3.3.1-2', 'DUP is 0 on every QoS 0 message', testedNote('The fuzz sweep sends a QoS 0 PUBLISH with DUP 1: malformed, closed.', fuzz)),
  e('MQTT-3.3.1-3', 'The outgoing DUP is set by whether that PUBLISH is a re-send, never copied from the incoming one', tested(...wire(PublishWire, ['MQTT-3.3.1-3'], 'a PUBLISH with DUP 1 reaches a subscriber with DUP 0: DUP is not propagated', '3.1.1'))),
  e('MQTT-3.3.1-4', 'A PUBLISH with both QoS bits set closes the connection', tested(fuzz, malformed('PUBLISH with QoS 3'))),
  e('MQTT-3.3.1-5', 'RETAIN 1: the message and its QoS are stored for future subscribers', tested(ecRetained, model)),
  e('MQTT-3.3.1-6', 'A new subscription gets the last retained message of each matching topic', tested(ecWildcardRetained)),
  e('MQTT-3.3.1-7', 'A retained QoS 0 message replaces the topic\'s retained message (the server may drop it later)', tested(pRetained)),
  e('MQTT-3.3.1-8', 'A message sent because of a new subscription has RETAIN 1', tested(ecRetained, pRetained)),
  e('MQTT-3.3.1-9', 'A message sent on an established subscription has RETAIN 0', tested(ecRetained)),
  e('MQTT-3.3.1-10', 'A zero-byte retained PUBLISH is delivered as usual and removes the topic\'s retained message', testedNote('The removal; no test checks the zero-byte message reaching a current subscriber.', ecRetained, pRetained)),
  e('MQTT-3.3.1-11', 'A zero-byte retained message is never stored', tested(ecRetained)),
  e('MQTT-3.3.1-12', 'RETAIN 0: the message is not stored and the retained one is left alone', testedNote('Random publishes with retain off; the model\'s retained messages must still be delivered on subscribe.', model)),
  e('MQTT-3.3.2-1', 'The Topic Name is the first field of the variable header, a UTF-8 string', tested(fuzz, malformed('PUBLISH topic: invalid byte 0xff'))),
  e('MQTT-3.3.2-2', 'The Topic Name of a PUBLISH holds no wildcard', testedNote('Fuzz sweep "publish-wildcard": the connection is closed.', fuzz)),
  e('MQTT-3.3.2-3', 'The Topic Name sent to a subscriber matches its subscription\'s filter', tested(model, ecConnects)),
  e('MQTT-3.3.4-1', 'The receiver of a PUBLISH answers as its QoS requires', tested(fuzz)),
  e('MQTT-3.3.5-1', 'Each matching subscriber gets the message at the highest QoS of its matching subscriptions', tested(ecOverlap, pMinQos)),
  e('MQTT-3.3.5-2', 'An unauthorized PUBLISH is acknowledged as its QoS says, or the connection closed', tested(t(UserApi, 'at 3.1.1 acknowledges a refused QoS 1 message normally and drops it'))),
  e('MQTT-3.6.1-1', 'PUBREL flags are 0010; any other value is malformed and closes the connection', tested(malformed('PUBREL with flags 0000 [MQTT-2.2.2-2]'), fuzz)),
  e('MQTT-3.8.1-1', 'SUBSCRIBE flags are 0010; any other value is malformed and closes the connection', tested(malformed('SUBSCRIBE with flags 0000'), fuzz)),
  e('MQTT-3.8.3-1', 'SUBSCRIBE Topic Filters are UTF-8 strings', tested(malformed('SUBSCRIBE filter with invalid UTF-8'))),
  e('MQTT-3.8.3-2', 'A server without wildcard support refuses wildcard subscriptions', notDone('The broker supports wildcard filters.')),
  e('MQTT-3.8.3-3', 'A SUBSCRIBE has at least one filter/QoS pair; none is a protocol violation', tested(malformed('SUBSCRIBE without filters [MQTT-3.8.3-3]'), fuzz)),
  e('MQTT-3.8.3-4', 'Reserved bits set or a QoS above 2 in the payload: malformed, close', tested(malformed('SUBSCRIBE option bit 2 set (reserved before 5.0) [MQTT-3-8.3-4]'), malformed('SUBSCRIBE QoS 3'), fuzz)),
  e('MQTT-3.8.4-1', 'A SUBSCRIBE is answered with a SUBACK', tested(cfgSubscribe, fuzz)),
  e('MQTT-3.8.4-2', 'The SUBACK has the SUBSCRIBE\'s Packet Identifier', tested(fuzz)),
  e('MQTT-3.8.4-3', 'A filter identical to an existing subscription replaces it; its retained messages are re-sent; no message is lost', testedNote('Random re-subscriptions at 3.1, 3.1.1 and 5.0 owe the retained messages again.', model)),
  e('MQTT-3.8.4-4', 'Several filters in one SUBSCRIBE are handled as that many SUBSCRIBEs, with one SUBACK', tested(cfgSubscribe)),
  e('MQTT-3.8.4-5', 'The SUBACK has one return code per filter: the granted QoS or failure', tested(cfgSubscribe)),
  e('MQTT-3.8.4-6', 'Messages go out at the lower of the published QoS and the granted QoS', tested(ecDowngrade, model)),
  e('MQTT-3.9.3-1', 'SUBACK return codes are in the order of the SUBSCRIBE\'s filters', tested(cfgSubscribe)),
  e('MQTT-3.9.3-2', 'SUBACK return codes are 0x00, 0x01, 0x02 or 0x80', tested(t(Encoder, 'maps 5.0 SUBACK failures to 0x80 below 5.0 and keeps them in 5.0'), cfgSubscribe)),
  e('MQTT-3.10.1-1', 'UNSUBSCRIBE flags are 0010; any other value is malformed and closes the connection', tested(malformed('UNSUBSCRIBE with flags 0011'))),
  e('MQTT-3.10.3-1', 'UNSUBSCRIBE Topic Filters are UTF-8 strings, packed contiguously', tested(malformed('UNSUBSCRIBE filter with an overlong sequence'))),
  e('MQTT-3.10.3-2', 'An UNSUBSCRIBE has at least one filter; none is a protocol violation', tested(malformed('UNSUBSCRIBE without filters [MQTT-3.10.3-2]'), fuzz)),
  e('MQTT-3.10.4-1', 'UNSUBSCRIBE filters are compared character by character; an exact match is deleted', tested(ecDowngrade, model)),
  e('MQTT-3.10.4-2', 'After the delete, no new messages are sent for that subscription', tested(ecDowngrade)),
  e('MQTT-3.10.4-3', 'QoS 1/2 messages already being sent for it are completed', testedNote('The model keeps owing messages started before an UNSUBSCRIBE.', model)),
  e('MQTT-3.10.4-4', 'An UNSUBSCRIBE is answered with an UNSUBACK with its Packet Identifier', tested(fuzz)),
  e('MQTT-3.10.4-5', 'The UNSUBACK is sent even when nothing was deleted', testedNote('Fuzz connections unsubscribe random filters they mostly never subscribed; each UNSUBSCRIBE must be answered.', fuzz)),
  e('MQTT-3.10.4-6', 'Several filters in one UNSUBSCRIBE are handled as that many, with one UNSUBACK', tested(...wire(PublishWire, ['MQTT-3.10.4-6', 'MQTT-3.11.3-1'], 'an UNSUBSCRIBE of several filters removes each, with one UNSUBACK whose reason codes follow the filters', '3.1.1'))),
  e('MQTT-3.12.4-1', 'A PINGREQ is answered with a PINGRESP', tested(ecPing)),
  e('MQTT-3.14.1-1', 'DISCONNECT reserved bits are 0, or the client is disconnected', tested(t(Framer, 'rejects DISCONNECT flags 2'))),
  e('MQTT-3.14.4-1', 'After sending DISCONNECT the client closes the connection', clientOnly('Only a 3.1.1 client sends DISCONNECT.')),
  e('MQTT-3.14.4-2', 'After sending DISCONNECT the client sends nothing more', clientOnly('Only a 3.1.1 client sends DISCONNECT.')),
  e('MQTT-3.14.4-3', 'On DISCONNECT the server discards the will without publishing it', tested(ecWill)),
  e('MQTT-4.1.0-1', 'Client and server keep the session state for the whole session', tested(ecPersistent, ecRestart)),
  e('MQTT-4.1.0-2', 'A session lasts at least as long as its connection', tested(model)),
  e('MQTT-4.3.1-1', 'QoS 0: the sender sends PUBLISH with QoS 0 and DUP 0', tested(ecConnects)),
  e('MQTT-4.3.2-1', 'QoS 1 sender: an unused identifier, QoS 1, DUP 0, unacknowledged until PUBACK', tested(ecResendDup, model)),
  e('MQTT-4.3.2-2', 'QoS 1 receiver: PUBACK with the identifier; after it, that identifier is a new message', testedNote('The PUBACK; no test reuses an identifier after its PUBACK.', fuzz)),
  e('MQTT-4.3.3-1', 'QoS 2 sender: unused identifier, DUP 0, PUBREL on PUBREC, no PUBLISH re-sent after PUBREL', testedNote('The model\'s peers flag a PUBLISH re-sent after their PUBREC.', model, replayQos2)),
  e('MQTT-4.3.3-2', 'QoS 2 receiver: PUBREC, repeats answered without a second delivery, PUBCOMP with the identifier', tested(pQos2Once, ecQos2Once)),
  e('MQTT-4.4.0-1', 'On reconnect with CleanSession 0, unacknowledged PUBLISH and PUBREL are re-sent with their identifiers', testedNote('PUBLISH re-sends; no test drops a connection between the client\'s PUBREC and the server\'s PUBREL.', ecResendDup, replayQos2)),
  ...receiptAndClientOrder,
  e('MQTT-4.6.0-5', 'The server treats every topic as ordered by default', tested(model, t(Stall, 'delivers all 80 messages, in order, in every combination of transports'))),
  e('MQTT-4.6.0-6', 'On an ordered topic, each client\'s messages reach subscribers in the order sent, per topic and QoS', tested(model, witness)),
  e('MQTT-4.7.1-1', 'Wildcards may be used in Topic Filters, never in Topic Names', tested(fuzz, topicRejects)),
  e('MQTT-4.7.1-2', '"#" stands alone or after "/", and is the filter\'s last character', testedNote('Validation (validateTopicFilter); the SUBACK 0x80 that such a filter gets at 3.1.1 (edge/protocol/subscribe.ts) is not tested.', topicRejects)),
  e('MQTT-4.7.1-3', '"+" occupies a whole level of the filter', tested(topicRejects)),
  ...topicRules,
  e('MQTT-4.8.0-1', 'A protocol violation closes the connection that carried it', tested(ecMalformed, fuzz)),
  e('MQTT-4.8.0-2', 'A transient error while handling an inbound packet closes the connection', tested(transient)),
  ...webSocket,
  e('MQTT-7.0.0-1', 'A server that also connects out as a client meets the client\'s statements too', notYet('The sidecar\'s broker bridges connect out as clients; their client-side statements are not mapped one by one (the bridge work is in progress).')),
  e('MQTT-7.0.0-2', 'Interoperating needs no extension beyond this specification', tested(t(SidecarE2e, 'mosquitto_pub over TCP reaches a WebSocket subscriber at QoS 0, 1 and 2'), t(SidecarE2e, 'TCP publisher → WebSocket subscriber and WebSocket publisher → TCP subscriber, at QoS 0, 1 and 2'))),
  e('MQTT-7.1.1-1', 'The server supports a transport giving an ordered, lossless, two-way byte stream', tested(t(SidecarE2e, 'TCP publisher → WebSocket subscriber and WebSocket publisher → TCP subscriber, at QoS 0, 1 and 2'), ecConnects)),
  e('MQTT-7.1.2-1', 'The client supports such a transport', clientOnly('The client\'s transport.')),
];

// ---- MQTT 5.0 -------------------------------------------------------------------------

export const Mqtt5: readonly Entry[] = [
  // Chapter 1.
  e('MQTT-1.5.4-1', 'UTF-8 strings are well-formed and hold no surrogate (U+D800..U+DFFF)', tested(fuzz, malformed('PUBLISH topic: surrogate U+D800 (ed a0 80)'), malformed('Content Type with a surrogate'))),
  e('MQTT-1.5.4-2', 'UTF-8 strings hold no U+0000', tested(fuzz, malformed('CONNECT user name with U+0000'), malformed('User Property name with U+0000'))),
  e('MQTT-1.5.4-3', 'EF BB BF is U+FEFF and is never skipped or stripped', tested(malformed('4-byte UTF-8 (U+1F600) and U+FEFF (BOM) are accepted and kept [MQTT-1.5.4-3]'))),
  e('MQTT-1.5.5-1', 'A Variable Byte Integer uses the fewest bytes that hold its value', testedNote('The encoder, in every fixture; a received 5-byte length is refused.', codecEncodes, t(Framer, 'rejects a remaining length of 5 bytes as soon as the 4th byte continues'))),
  e('MQTT-1.5.7-1', 'Both strings of a UTF-8 String Pair are valid UTF-8 strings', tested(malformed('User Property name with U+0000'))),
  // Chapter 2.
  e('MQTT-2.1.3-1', 'Reserved fixed-header flag bits carry the listed values; others are malformed', tested(codecEncodes, t(Framer, 'rejects PUBREL flags 0'), t(Framer, 'rejects AUTH flags 1'), fuzz)),
  e('MQTT-2.2.1-2', 'A QoS 0 PUBLISH carries no Packet Identifier', testedNote('The encoder (fixture "PUBLISH QoS 0 without properties").', codecEncodes)),
  e('MQTT-2.2.1-3', 'A client gives each new SUBSCRIBE, UNSUBSCRIBE and QoS 1/2 PUBLISH a non-zero unused identifier', testedNote('The client\'s duty; the server refuses identifier 0 with DISCONNECT 0x82.', fuzz, malformed('PUBLISH QoS 1 with packet id 0'))),
  e('MQTT-2.2.1-4', 'The server gives each new QoS 1/2 PUBLISH a non-zero unused identifier', testedNote('The model\'s peers flag an identifier reused while its message is in flight.', model, pReceiveMaximum)),
  e('MQTT-2.2.1-5', 'PUBACK, PUBREC, PUBREL and PUBCOMP carry the identifier of the PUBLISH', tested(fuzz, pPubrelAgain)),
  e('MQTT-2.2.1-6', 'SUBACK and UNSUBACK carry the identifier of their SUBSCRIBE or UNSUBSCRIBE', tested(fuzz)),
  e('MQTT-2.2.2-1', 'Without properties, a Property Length of 0 is sent', tested(codecEncodes)),
  // 3.1 CONNECT.
  e('MQTT-3.1.0-1', 'The first packet from a client is CONNECT', tested(malformed('PINGREQ before CONNECT [MQTT-3.1.0-1]'), bridgeFirstPacket)),
  e('MQTT-3.1.0-2', 'A second CONNECT is a Protocol Error and closes the connection', tested(pSecondConnect, ecSecondConnect, fuzz)),
  e('MQTT-3.1.2-1', 'The protocol name is "MQTT"; otherwise the server may answer CONNACK 0x84, and closes', tested(malformed("'MQIsdp' with level 5 → Unsupported Protocol Version"), ecUnsupportedLevel)),
  e('MQTT-3.1.2-2', 'A version the server does not take may get CONNACK 0x84; the server closes', testedNote('Levels other than 3, 4 and 5 get CONNACK 0x01 (the 3.1.1 form, which any client can read), then the close.', ecUnsupportedLevel)),
  e('MQTT-3.1.2-3', 'The reserved CONNECT flag is 0, or the packet is malformed', tested(malformed('CONNECT reserved flag set [MQTT-3.1.2-3]'))),
  e('MQTT-3.1.2-4', 'Clean Start 1 discards any existing session and starts a new one', tested(ecSessionPresent)),
  e('MQTT-3.1.2-5', 'Clean Start 0 with a session resumes it', tested(ecSessionPresent, ecPersistent)),
  e('MQTT-3.1.2-6', 'Clean Start 0 without a session creates one', tested(ecSessionPresent)),
  e('MQTT-3.1.2-7', 'Will Flag 1: a will is stored with the session', tested(pWillDelay, ecWill)),
  e('MQTT-3.1.2-8', 'The will is published after the close once the Will Delay passed or the session ended, unless DISCONNECT 0x00 or a new connection within the delay removed it', tested(t('test/core/protocol.test.ts', 'sends a will after its delay when the client stays away, and cancels it when the client comes back in time'), ...wire(WillsWire, ['MQTT-3.1.2-8', 'MQTT-3.1.3-9', 'MQTT-3.1.4-3'], 'the will (delay 0 s) of a Session Expiry 0 connection taken over by a Clean Start 0 one is published: its session ended', '5.0'), ...wire(WillsWire, ['MQTT-3.1.2-8', 'MQTT-3.1.3-9', 'MQTT-3.1.4-3'], 'the will (delay 30 s) of a Session Expiry 0 connection taken over by a Clean Start 0 one is published: its session ended', '5.0'))),
  e('MQTT-3.1.2-9', 'Will Flag 1: Will Properties, Will Topic and Will Payload are in the payload', tested(malformed('CONNECT will flag but no will topic'))),
  e('MQTT-3.1.2-10', 'The will leaves the session once published or on DISCONNECT 0x00', tested(pWills, noWillTwice)),
  e('MQTT-3.1.2-11', 'Will Flag 0: Will QoS is 0', tested(malformed('CONNECT will QoS without will flag [MQTT-3.1.2-11]'))),
  e('MQTT-3.1.2-12', 'Will QoS is 0, 1 or 2; 3 is malformed', tested(malformed('CONNECT will QoS 3 [MQTT-3.1.2-14]'))),
  e('MQTT-3.1.2-13', 'Will Flag 0: Will Retain is 0', tested(malformed('CONNECT will retain without will flag [MQTT-3.1.2-13]'))),
  e('MQTT-3.1.2-14', 'Will Retain 0: the will is published non-retained', testedNote('Random wills with retain on and off at every level.', model)),
  e('MQTT-3.1.2-15', 'Will Retain 1: the will is published retained', testedNote('A retained will is owed to every later matching subscription.', model)),
  e('MQTT-3.1.2-16', 'User Name Flag 0: no User Name in the payload', testedNote('A field the flags do not announce is trailing bytes: Malformed.', malformed('CONNECT with trailing bytes'))),
  e('MQTT-3.1.2-17', 'User Name Flag 1: a User Name is in the payload', tested(malformed('CONNECT user name flag but no user name'))),
  e('MQTT-3.1.2-18', 'Password Flag 0: no Password in the payload', testedNote('A field the flags do not announce is trailing bytes: Malformed.', malformed('CONNECT with trailing bytes'))),
  e('MQTT-3.1.2-19', 'Password Flag 1: a Password is in the payload', tested(...wire(ConnackWire, ['MQTT-3.1.2-19'], 'a CONNECT with the Password Flag and no Password is refused as malformed (CONNACK 0x81 or none), then closed', '5.0'))),
  e('MQTT-3.1.2-20', 'With a non-zero Keep Alive and nothing else to send, the client sends PINGREQ', clientOnly('The client\'s keep-alive duty; the server\'s side is MQTT-3.1.2-22.')),
  e('MQTT-3.1.2-21', 'A client given Server Keep Alive uses it instead of its own', clientOnly('The client\'s duty. The sidecar, which enforces keep-alive for its devices, takes the Server Keep Alive too (bridge "uses the Server Keep Alive of a 5.0 CONNACK instead of the device value").')),
  e('MQTT-3.1.2-22', 'With a non-zero Keep Alive, the server closes a connection silent for 1.5 times it', tested(pKeepAlive, ecKeepAlive)),
  e('MQTT-3.1.2-23', 'Client and server keep the session after the close while Session Expiry Interval > 0', tested(m5Expiry, pSessionExpiry)),
  e('MQTT-3.1.2-24', 'The server sends no packet larger than the client\'s Maximum Packet Size', tested(...wire(PacketSizeWire, ['MQTT-3.1.2-24', 'MQTT-3.1.2-25'], 'a CONNACK too large for the client leaves out the properties whose absence means the same', '5.0'), ...wire(PacketSizeWire, ['MQTT-3.1.2-24'], 'a CONNECT no CONNACK can fit (Maximum Packet Size 2) is closed without a CONNACK', '5.0'), ...wire(PacketSizeWire, ['MQTT-3.1.2-24', 'MQTT-3.1.2-25'], 'a PUBLISH too large for the subscriber is not sent to it, the next one is', '5.0'))),
  e('MQTT-3.1.2-25', 'A packet too large to send is discarded and its message treated as sent', tested(pTooLarge, m5TooLargeOut)),
  e('MQTT-3.1.2-26', 'The server sends no Topic Alias above the client\'s Topic Alias Maximum', tested(m5AliasOut, pAliases)),
  e('MQTT-3.1.2-27', 'Without a Topic Alias Maximum from the client (or 0), the server sends no Topic Alias', testedNote('The model\'s 5.0 peers announce no maximum; a PUBLISH sent by alias alone would reach them with an empty topic and fail the topic check.', model)),
  e('MQTT-3.1.2-28', 'Request Response Information 0: no Response Information in CONNACK', notDone('The broker never sends Response Information (optional; CONNACK never carries property 0x1A).')),
  e('MQTT-3.1.2-29', 'Request Problem Information 0: no Reason String or User Property on packets other than PUBLISH, CONNACK, DISCONNECT', notDone(`${NoReasonStrings} mqtt5 "sends Reason Strings only to clients that allow them" shows Request Problem Information 0 honoured even on DISCONNECT.`)),
  e('MQTT-3.1.2-30', 'A client that sent an Authentication Method sends only AUTH or DISCONNECT until CONNACK', clientOnly('The client\'s duty during enhanced authentication.')),
  e('MQTT-3.1.3-1', 'The CONNECT payload fields come in the order Client Identifier, Will Properties, Will Topic, Will Payload, User Name, Password', testedNote('Fixture "CONNECT with properties, will properties and auth".', codecDecodes)),
  e('MQTT-3.1.3-2', 'Client and server identify the session state by the ClientID', tested(ecPersistent, ecSessionPresent)),
  e('MQTT-3.1.3-3', 'The ClientID is present, as the first field of the payload', tested(malformed('CONNECT cut inside the client id (consistent remaining length)'))),
  e('MQTT-3.1.3-4', 'The ClientID is a UTF-8 Encoded String', tested(malformed('CONNECT client id: surrogate U+D800 (ed a0 80)'))),
  e('MQTT-3.1.3-5', 'The server allows ClientIDs of 1 to 23 bytes of 0-9, a-z, A-Z', testedNote('Client ids such as "twin", "sub", "pub"; longer ones are accepted too.', pTakeover)),
  e('MQTT-3.1.3-6', 'A server allowing a zero-length ClientID assigns a unique one', tested(ecAssigned, pEmptyId, ...wire(ConnackWire, ['MQTT-3.1.3-6'], 'two clients with an empty client id are each given their own: both stay connected', '5.0'), ...wire(ConnackWire, ['MQTT-3.1.3-6', 'MQTT-3.2.2-16'], 'an empty client id is given an Assigned Client Identifier the server then treats as the client id', '5.0'))),
  e('MQTT-3.1.3-7', 'It then goes on as if the client had sent it, and returns the Assigned Client Identifier', tested(ecAssigned)),
  e('MQTT-3.1.3-8', 'A rejected ClientID may get CONNACK 0x85; the server closes', tested(ecEmptyId)),
  e('MQTT-3.1.3-9', 'No will is sent when a new connection to the session comes within the Will Delay', tested(pWillDelay)),
  e('MQTT-3.1.3-10', 'The will\'s User Properties keep their order when it is published', tested(...[0, 1].flatMap((delay) => wire(WillPropertiesWire, ['MQTT-3.1.3-10'], `a will's User Properties go out in the order the client wrote them, names interleaved (Will Delay ${delay} s)`, '5.0')))),
  e('MQTT-3.1.3-11', 'The Will Topic is a UTF-8 Encoded String', tested(malformed('CONNECT will topic with a surrogate'))),
  e('MQTT-3.1.3-12', 'The User Name is a UTF-8 Encoded String', tested(malformed('CONNECT user name with U+0000'))),
  e('MQTT-3.1.4-1', 'A CONNECT not as section 3.1 says closes the connection (a CONNACK >= 0x80 may go first)', tested(fuzz, t(SidecarBridge, 'answers a malformed 5.0 CONNECT with CONNACK 0x81'), malformed('a malformed 5.0 CONNECT still fixes the level, so the broker can answer in 5.0'))),
  e('MQTT-3.1.4-2', 'The server may check more and should authenticate; a failed check closes the connection', tested(t(ConfigAccess, 'refuses a wrong password with 0x04 / 0x86 and an unknown user'))),
  e('MQTT-3.1.4-3', 'A ClientID already connected: the existing connection gets DISCONNECT 0x8E and is closed', tested(pTakeover, ecTakeover)),
  e('MQTT-3.1.4-4', 'The server processes Clean Start as section 3.1.2.4 says', tested(ecSessionPresent)),
  e('MQTT-3.1.4-5', 'An accepted CONNECT gets CONNACK 0x00', tested(ecConnects)),
  e('MQTT-3.1.4-6', 'After refusing a CONNECT the server processes nothing the client sends but AUTH', tested(...wire(ConnackWire, ['MQTT-3.1.4-6'], 'packets sent behind a refused CONNECT are not processed', '5.0'))),
  // 3.2 CONNACK.
  e('MQTT-3.2.0-1', 'CONNACK 0x00 comes before any other server packet except AUTH', tested(bridgePingrespAfterConnack, m5Auth)),
  e('MQTT-3.2.0-2', 'At most one CONNACK per connection', testedNote('A second CONNECT is answered with DISCONNECT 0x82, not a CONNACK.', pSecondConnect, ecSecondConnect)),
  e('MQTT-3.2.2-1', 'CONNACK flag bits 7-1 are 0', testedNote('The encoder (fixture "CONNACK success"); the decoder the tests read the server with refuses set bits ("CONNACK 5.0 reserved flag bits").', codecEncodes, malformed('CONNACK 5.0 reserved flag bits'))),
  e('MQTT-3.2.2-2', 'Clean Start 1 accepted: Session Present 0', tested(ecSessionPresent)),
  e('MQTT-3.2.2-3', 'Clean Start 0: Session Present 1 if a session existed, else 0', tested(ecSessionPresent)),
  e('MQTT-3.2.2-4', 'A client without session state that gets Session Present 1 closes', clientOnly('The client\'s check.')),
  e('MQTT-3.2.2-5', 'A client with session state that gets Session Present 0 discards it', clientOnly('The client\'s duty.')),
  e('MQTT-3.2.2-6', 'A CONNACK with a non-zero Reason Code has Session Present 0', tested(...wire(WillQosWire, ['MQTT-3.2.2-4', 'MQTT-3.2.2-6'], 'a refusal of a client id whose session is stored has Session Present 0', '5.0'))),
  e('MQTT-3.2.2-7', 'After a CONNACK >= 0x80 the server closes the connection', tested(ecEmptyId)),
  e('MQTT-3.2.2-8', 'CONNACK uses a Connect Reason Code of table 3.1', testedNote('The refusals the tests meet (0x85, 0x86, 0x9A, 0x97) are codes of table 3.1; nothing checks every CONNACK (the strict decoder does not check CONNACK reason codes).', ecEmptyId, m5AuthRefused, quotaCaps)),
  e('MQTT-3.2.2-9', 'A server without QoS 1 or 2 announces Maximum QoS in CONNACK', tested(quotaCaps)),
  e('MQTT-3.2.2-10', 'Such a server still accepts SUBSCRIBE with Requested QoS 0, 1 or 2', tested(quotaCaps)),
  e('MQTT-3.2.2-11', 'A client does not publish above the Maximum QoS it was given', testedNote('The client\'s duty; the server answers DISCONNECT 0x9B.', quotaCaps)),
  e('MQTT-3.2.2-12', 'A Will QoS above the server\'s capability is refused (should be CONNACK 0x9B), then the close', tested(...wire(WillQosWire, ['MQTT-3.2.2-12'], 'a will of QoS 2 on a server of Maximum QoS 1 is refused with CONNACK 0x9B, then the connection is closed', '5.0'))),
  e('MQTT-3.2.2-13', 'Will Retain 1 on a server without retained messages is refused (should be 0x9A), then the close', tested(quotaCaps)),
  e('MQTT-3.2.2-14', 'A client told Retain Available 0 does not publish with RETAIN 1', testedNote('The client\'s duty; the server answers DISCONNECT 0x9A.', quotaCaps)),
  e('MQTT-3.2.2-15', 'A client sends no packet above the server\'s Maximum Packet Size', testedNote('The client\'s duty; the server answers DISCONNECT 0x95.', m5TooLargeIn)),
  e('MQTT-3.2.2-16', 'A zero-length ClientID gets an Assigned Client Identifier no other session uses', tested(ecAssigned, pEmptyId, ...wire(ConnackWire, ['MQTT-3.1.3-6', 'MQTT-3.2.2-16'], 'an empty client id is given an Assigned Client Identifier the server then treats as the client id', '5.0'))),
  e('MQTT-3.2.2-17', 'A client sends no Topic Alias above the server\'s Topic Alias Maximum', testedNote('The client\'s duty; the server answers DISCONNECT 0x94.', m5AliasAbove)),
  e('MQTT-3.2.2-18', 'Without a server Topic Alias Maximum (or 0), the client sends no Topic Alias', clientOnly('The client\'s duty; the broker always announces a maximum, and its answer to an alias above it is MQTT-3.2.2-17.')),
  e('MQTT-3.2.2-19', 'CONNACK leaves out a Reason String that would exceed the client\'s Maximum Packet Size', tested(...wire(PacketSizeWire, ['MQTT-3.1.2-24', 'MQTT-3.2.2-19'], 'a refusing CONNACK leaves out its Reason String when it would not fit', '5.0'))),
  e('MQTT-3.2.2-20', 'CONNACK leaves out a User Property that would exceed the client\'s Maximum Packet Size', notDone(NoOwnUserProperties)),
  e('MQTT-3.2.2-21', 'A client given Server Keep Alive uses it', clientOnly('The client\'s duty (see MQTT-3.1.2-21).')),
  e('MQTT-3.2.2-22', 'Without Server Keep Alive the server uses the client\'s Keep Alive', tested(pKeepAlive, m5Caps)),
  // 3.3 PUBLISH.
  e('MQTT-3.3.1-1', 'DUP is 1 when a PUBLISH is re-delivered', testedNote('Tested on 3.1.1 connections; the re-send path is the same at 5.0.', ecResendDup, replayQos2)),
  e('MQTT-3.3.1-2', 'DUP is 0 on every QoS 0 message', tested(fuzz)),
  e('MQTT-3.3.1-3', 'The outgoing DUP depends only on whether that PUBLISH is a re-send', tested(...wire(PublishWire, ['MQTT-3.3.1-3'], 'a PUBLISH with DUP 1 reaches a subscriber with DUP 0: DUP is not propagated', '5.0'))),
  e('MQTT-3.3.1-4', 'A PUBLISH with both QoS bits set is malformed', tested(ecMalformed, fuzz)),
  e('MQTT-3.3.1-5', 'RETAIN 1 from a client replaces the topic\'s retained message with this one', tested(ecRetained, t(Mqtt5File, 'Retain Handling 0 sends retained messages on every subscribe, 1 only on a new one, 2 never'))),
  e('MQTT-3.3.1-6', 'A zero-byte retained PUBLISH removes the topic\'s retained message', tested(ecRetained, pRetained)),
  e('MQTT-3.3.1-7', 'A zero-byte retained message is never stored', tested(ecRetained)),
  e('MQTT-3.3.1-8', 'RETAIN 0: the message is not stored and the retained one is left alone', testedNote('Random publishes with retain off.', model)),
  e('MQTT-3.3.1-9', 'Retain Handling 0: the retained messages matching the filter are sent', tested(m5Rh, pSubOptions)),
  e('MQTT-3.3.1-10', 'Retain Handling 1: sent only if the subscription did not exist', tested(m5Rh, pSubOptions)),
  e('MQTT-3.3.1-11', 'Retain Handling 2: no retained messages', tested(m5Rh, pSubOptions)),
  e('MQTT-3.3.1-12', 'Retain As Published 0: forwarded with RETAIN 0', tested(m5Rap, ecRetained)),
  e('MQTT-3.3.1-13', 'Retain As Published 1: forwarded with the RETAIN flag as received', tested(m5Rap, pSubOptions)),
  e('MQTT-3.3.2-1', 'The Topic Name is the first field of the variable header, a UTF-8 Encoded String', tested(fuzz, malformed('PUBLISH topic: invalid byte 0xff'))),
  e('MQTT-3.3.2-2', 'The Topic Name of a PUBLISH holds no wildcard', testedNote('Fuzz sweep "publish-wildcard": DISCONNECT 0x90.', fuzz)),
  e('MQTT-3.3.2-3', 'The Topic Name sent to a subscriber matches the subscription\'s filter', tested(model, ecConnects)),
  e('MQTT-3.3.2-4', 'The Payload Format Indicator reaches every subscriber unaltered', tested(m5Properties)),
  e('MQTT-3.3.2-5', 'A copy whose Message Expiry Interval passed before its delivery started is deleted', tested(pExpiry)),
  e('MQTT-3.3.2-6', 'A forwarded PUBLISH carries the interval received less the time the message waited', tested(pExpiry)),
  e('MQTT-3.3.2-7', 'Topic Alias mappings are not carried from one connection to another', tested(...wire(PublishWire, ['MQTT-3.3.2-7'], 'a topic alias set on one connection is unknown on the next: using it is a protocol error (DISCONNECT 0x82)', '5.0'))),
  e('MQTT-3.3.2-8', 'A sender never sends Topic Alias 0', testedNote('The server\'s aliases start at 1; a client\'s alias 0 gets DISCONNECT 0x94.', m5AliasOut, m5AliasRefused)),
  e('MQTT-3.3.2-9', 'A client sends no Topic Alias above the server\'s maximum', testedNote('The client\'s duty; the server answers DISCONNECT 0x94.', m5AliasAbove, fuzz)),
  e('MQTT-3.3.2-10', 'A client accepts every alias from 1 to the maximum it announced', clientOnly('The client\'s duty.')),
  e('MQTT-3.3.2-11', 'The server sends no Topic Alias above the client\'s maximum', tested(m5AliasOut)),
  e('MQTT-3.3.2-12', 'The server accepts every alias from 1 to the maximum it announced', tested(m5AliasIn, pAliases)),
  e('MQTT-3.3.2-13', 'The Response Topic is a UTF-8 Encoded String', tested(...wire(PublishWire, ['MQTT-3.3.2-13'], 'a Response Topic of ill-formed UTF-8 closes the connection (DISCONNECT 0x81 at most)', '5.0'))),
  e('MQTT-3.3.2-14', 'The Response Topic holds no wildcard', testedNote('The server refuses a client\'s PUBLISH that breaks it (DISCONNECT 0x82), so it never forwards one: docs/conformance-decisions.md, "A Response Topic with a wildcard". A will\'s Response Topic is not checked.', ...wire(PublishWire, ['MQTT-3.3.2-14', 'MQTT-3.14.2-2'], 'a Response Topic with the wildcard # is a protocol error: DISCONNECT 0x82, without Session Expiry Interval', '5.0'), ...wire(PublishWire, ['MQTT-3.3.2-14', 'MQTT-3.14.2-2'], 'a Response Topic with the wildcard + is a protocol error: DISCONNECT 0x82, without Session Expiry Interval', '5.0'))),
  e('MQTT-3.3.2-15', 'The Response Topic reaches every subscriber unaltered', tested(m5Properties)),
  e('MQTT-3.3.2-16', 'Correlation Data reaches every subscriber unaltered', tested(m5Properties)),
  e('MQTT-3.3.2-17', 'Every User Property reaches the subscriber unaltered', tested(m5Properties)),
  e('MQTT-3.3.2-18', 'User Properties keep their order when forwarded', tested(m5UserPropertyOrder, t(UserProperties, 're-encodes interleaved names in their original order'))),
  e('MQTT-3.3.2-19', 'The Content Type is a UTF-8 Encoded String', tested(malformed('Content Type with a surrogate'))),
  e('MQTT-3.3.2-20', 'The Content Type reaches every subscriber unaltered', tested(m5Properties)),
  e('MQTT-3.3.4-1', 'The receiver of a PUBLISH answers as its QoS requires', tested(fuzz)),
  e('MQTT-3.3.4-2', 'Overlapping subscriptions deliver at the highest QoS among them', tested(ecOverlap, pMinQos)),
  e('MQTT-3.3.4-3', 'The Subscription Identifiers of the matching subscriptions go with the message', tested(m5SubIds, pSubIds)),
  e('MQTT-3.3.4-4', 'A single copy carries the identifiers of every matching subscription', tested(m5SubIds, pSubIds)),
  e('MQTT-3.3.4-5', 'With one copy per subscription, each carries its own subscription\'s identifier', tested(...wire(PublishWire, ['MQTT-3.3.4-5'], 'a shared and a non-shared subscription of one session give two copies, each with its own Subscription Identifier', '5.0'))),
  e('MQTT-3.3.4-6', 'A PUBLISH from a client carries no Subscription Identifier', testedNote('Fuzz sweep "subscription-id-in-publish": DISCONNECT 0x82.', fuzz)),
  e('MQTT-3.3.4-7', 'A client keeps at most the server\'s Receive Maximum of QoS 1/2 PUBLISH unacknowledged', testedNote('The client\'s duty; the server answers DISCONNECT 0x93.', pReceiveMaximumExceeded, m5ReceiveMaximumExceeded)),
  e('MQTT-3.3.4-8', 'A client at its quota still sends packets other than PUBLISH', clientOnly('The client\'s duty.')),
  e('MQTT-3.3.4-9', 'The server keeps at most the client\'s Receive Maximum of QoS 1/2 PUBLISH unacknowledged', tested(pReceiveMaximum, m5ReceiveMaximum, model)),
  e('MQTT-3.3.4-10', 'The server at its quota still sends packets other than PUBLISH', testedNote('A PINGREQ while the window is full is answered at once.', m5ReceiveMaximum)),
  // 3.4 - 3.7 acknowledgements.
  e('MQTT-3.4.2-1', 'PUBACK uses a PUBACK Reason Code of table 3.4', tested(t(Mqtt5File, 'refuses a payload that is not UTF-8 despite Payload Format Indicator 1 (0x99)'), cfgPublishRefused, fuzz)),
  e('MQTT-3.4.2-2', 'PUBACK leaves out a Reason String that would exceed the receiver\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.4.2-3', 'PUBACK leaves out a User Property that would exceed the receiver\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.5.2-1', 'PUBREC uses a PUBREC Reason Code of table 3.5', testedNote('Every packet the server sends to a fuzz connection is decoded strictly, its reason codes included.', fuzz)),
  e('MQTT-3.5.2-2', 'PUBREC leaves out a Reason String that would exceed the receiver\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.5.2-3', 'PUBREC leaves out a User Property that would exceed the receiver\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.6.1-1', 'PUBREL flags are 0010; any other value is malformed and closes the connection', tested(malformed('PUBREL with flags 0000 [MQTT-2.2.2-2]'), fuzz)),
  e('MQTT-3.6.2-1', 'PUBREL uses a PUBREL Reason Code of table 3.6', testedNote('Strict decoding of everything the server sends to fuzz connections and model peers.', fuzz, model)),
  e('MQTT-3.6.2-2', 'PUBREL leaves out a Reason String that would exceed the receiver\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.6.2-3', 'PUBREL leaves out a User Property that would exceed the receiver\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.7.2-1', 'PUBCOMP uses a PUBCOMP Reason Code of table 3.7', tested(pPubrelAgain, fuzz)),
  e('MQTT-3.7.2-2', 'PUBCOMP leaves out a Reason String that would exceed the receiver\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.7.2-3', 'PUBCOMP leaves out a User Property that would exceed the receiver\'s Maximum Packet Size', notDone(NoReasonStrings)),
  // 3.8 SUBSCRIBE, 3.9 SUBACK.
  e('MQTT-3.8.1-1', 'SUBSCRIBE flags are 0010; any other value is malformed and closes the connection', tested(malformed('SUBSCRIBE with flags 0000'), fuzz)),
  e('MQTT-3.8.3-1', 'SUBSCRIBE Topic Filters are UTF-8 Encoded Strings', tested(malformed('SUBSCRIBE filter with invalid UTF-8'))),
  e('MQTT-3.8.3-2', 'A SUBSCRIBE holds at least one Topic Filter and Subscription Options pair', tested(malformed('SUBSCRIBE without filters [MQTT-3.8.3-3]'), fuzz)),
  e('MQTT-3.8.3-3', 'No Local 1: messages are not forwarded to the connection of the publishing ClientID', tested(m5NoLocal, pSubOptions)),
  e('MQTT-3.8.3-4', 'No Local 1 on a Shared Subscription is a Protocol Error', tested(m5NoLocalShared, fuzz)),
  e('MQTT-3.8.3-5', 'Non-zero reserved bits of the Subscription Options are malformed', tested(malformed('SUBSCRIBE reserved option bits'), fuzz)),
  e('MQTT-3.8.4-1', 'A SUBSCRIBE is answered with a SUBACK', tested(cfgSubscribe, fuzz)),
  e('MQTT-3.8.4-2', 'The SUBACK has the SUBSCRIBE\'s Packet Identifier', tested(fuzz)),
  e('MQTT-3.8.4-3', 'A filter identical to a non-shared subscription of the session replaces it', tested(pReplace, pSubOptions)),
  e('MQTT-3.8.4-4', 'On replacement with Retain Handling 0 retained messages are re-sent, and no message is lost', tested(m5Rh, pSubOptions, model)),
  e('MQTT-3.8.4-5', 'Several filters in one SUBSCRIBE are handled as that many, with one SUBACK', tested(quotaCaps, cfgSubscribe)),
  e('MQTT-3.8.4-6', 'The SUBACK has a Reason Code for each filter', tested(quotaCaps, t(BoundedWork, 'refuses topic filters over the length or level limits (a 60 KB filter, 30,000 levels)'))),
  e('MQTT-3.8.4-7', 'Each Reason Code is the granted QoS or a failure', tested(cfgSubscribe, quotaCaps)),
  e('MQTT-3.8.4-8', 'Messages go out at the lower of the published QoS and the granted QoS', tested(ecDowngrade, model)),
  e('MQTT-3.9.2-1', 'SUBACK leaves out a Reason String that would exceed the client\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.9.2-2', 'SUBACK leaves out a User Property that would exceed the client\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.9.3-1', 'SUBACK Reason Codes are in the order of the SUBSCRIBE\'s filters', tested(cfgSubscribe, t(BoundedWork, 'refuses topic filters over the length or level limits (a 60 KB filter, 30,000 levels)'))),
  e('MQTT-3.9.3-2', 'SUBACK uses a Subscribe Reason Code for each filter', tested(t(Encoder, 'maps 5.0 SUBACK failures to 0x80 below 5.0 and keeps them in 5.0'), fuzz)),
  // 3.10 UNSUBSCRIBE, 3.11 UNSUBACK.
  e('MQTT-3.10.1-1', 'UNSUBSCRIBE flags are 0010; any other value is malformed and closes the connection', tested(malformed('UNSUBSCRIBE with flags 0011'))),
  e('MQTT-3.10.3-1', 'UNSUBSCRIBE Topic Filters are UTF-8 Encoded Strings', tested(malformed('UNSUBSCRIBE filter with an overlong sequence'))),
  e('MQTT-3.10.3-2', 'An UNSUBSCRIBE holds at least one Topic Filter', tested(malformed('UNSUBSCRIBE without filters [MQTT-3.10.3-2]'), fuzz)),
  e('MQTT-3.10.4-1', 'UNSUBSCRIBE filters are compared character by character; an exact match is deleted', tested(ecDowngrade, model)),
  e('MQTT-3.10.4-2', 'After UNSUBSCRIBE no new messages are added for those filters', tested(ecDowngrade)),
  e('MQTT-3.10.4-3', 'QoS 1/2 messages already being sent for them are completed', testedNote('The model keeps owing messages started before an UNSUBSCRIBE.', model)),
  e('MQTT-3.10.4-4', 'An UNSUBSCRIBE is answered with an UNSUBACK', tested(fuzz)),
  e('MQTT-3.10.4-5', 'The UNSUBACK has the UNSUBSCRIBE\'s identifier, even when nothing was deleted', testedNote('Fuzz connections unsubscribe random filters they mostly never subscribed.', fuzz)),
  e('MQTT-3.10.4-6', 'Several filters in one UNSUBSCRIBE are handled as that many, with one UNSUBACK', tested(...wire(PublishWire, ['MQTT-3.10.4-6', 'MQTT-3.11.3-1'], 'an UNSUBSCRIBE of several filters removes each, with one UNSUBACK whose reason codes follow the filters', '5.0'))),
  e('MQTT-3.11.2-1', 'UNSUBACK leaves out a Reason String that would exceed the client\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.11.2-2', 'UNSUBACK leaves out a User Property that would exceed the client\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.11.3-1', 'UNSUBACK Reason Codes are in the order of the UNSUBSCRIBE\'s filters', tested(...wire(PublishWire, ['MQTT-3.10.4-6', 'MQTT-3.11.3-1'], 'an UNSUBSCRIBE of several filters removes each, with one UNSUBACK whose reason codes follow the filters', '5.0'))),
  e('MQTT-3.11.3-2', 'UNSUBACK uses an Unsubscribe Reason Code for each filter', testedNote('Strict decoding of every UNSUBACK the fuzz connections get.', fuzz)),
  // 3.12 - 3.15.
  e('MQTT-3.12.4-1', 'A PINGREQ is answered with a PINGRESP', tested(ecPing, pKeepAlive)),
  e('MQTT-3.14.0-1', 'The server sends no DISCONNECT before a CONNACK below 0x80', testedNote('Before acceptance a refusal is a CONNACK: a wrong AUTH answer, a damaged 5.0 CONNECT (fuzz sweep).', m5AuthRefused, fuzz)),
  e('MQTT-3.14.1-1', 'DISCONNECT reserved bits are 0; otherwise DISCONNECT 0x81', tested(t(Framer, 'rejects DISCONNECT flags 2'))),
  e('MQTT-3.14.2-1', 'DISCONNECT uses a DISCONNECT Reason Code of table 3.10', testedNote('Every server DISCONNECT of a fuzz connection must carry a reason a server may send.', fuzz, malformed('DISCONNECT with unknown reason code'))),
  e('MQTT-3.14.2-2', 'The server never sends Session Expiry Interval on DISCONNECT', testedNote('Checked on the Protocol Error DISCONNECT (0x82); shared/refusals.ts builds every server DISCONNECT without it.', ...wire(PublishWire, ['MQTT-3.3.2-14', 'MQTT-3.14.2-2'], 'a Response Topic with the wildcard # is a protocol error: DISCONNECT 0x82, without Session Expiry Interval', '5.0'))),
  e('MQTT-3.14.2-3', 'DISCONNECT leaves out a Reason String that would exceed the receiver\'s Maximum Packet Size', tested(...wire(PacketSizeWire, ['MQTT-3.1.2-24', 'MQTT-3.14.2-3'], 'a DISCONNECT leaves out its Reason String when it would not fit', '5.0'))),
  e('MQTT-3.14.2-4', 'DISCONNECT leaves out a User Property that would exceed the receiver\'s Maximum Packet Size', notDone(NoOwnUserProperties)),
  e('MQTT-3.14.4-1', 'After sending DISCONNECT the sender sends nothing more on the connection', testedNote('The server side: no packet after its DISCONNECT on any fuzz connection.', fuzz)),
  e('MQTT-3.14.4-2', 'After sending DISCONNECT the sender closes the connection', tested(pSecondConnect, ecSecondConnect)),
  e('MQTT-3.14.4-3', 'DISCONNECT 0x00 from the client discards the will without publishing it', tested(pWills)),
  e('MQTT-3.15.1-1', 'AUTH flags are 0; any other value is malformed and closes the connection', tested(t(Framer, 'rejects AUTH flags 1'))),
  e('MQTT-3.15.2-1', 'AUTH uses an Authenticate Reason Code of table 3.13', tested(m5Auth)),
  e('MQTT-3.15.2-2', 'AUTH leaves out a Reason String that would exceed the receiver\'s Maximum Packet Size', notDone(NoReasonStrings)),
  e('MQTT-3.15.2-3', 'AUTH leaves out a User Property that would exceed the receiver\'s Maximum Packet Size', notDone(NoReasonStrings)),
  // Chapter 4.
  e('MQTT-4.1.0-1', 'Session state is not discarded while the connection is open', tested(model, ecPersistent)),
  e('MQTT-4.1.0-2', 'Session state is discarded once the connection closed and the Session Expiry Interval passed', tested(pSessionExpiry, m5Expiry)),
  e('MQTT-4.2.0-1', 'Client and server support a transport giving an ordered, lossless, two-way byte stream', tested(t(SidecarE2e, 'TCP publisher → WebSocket subscriber and WebSocket publisher → TCP subscriber, at QoS 0, 1 and 2'), ecConnects)),
  e('MQTT-4.3.1-1', 'QoS 0: PUBLISH with QoS 0 and DUP 0', tested(ecConnects)),
  e('MQTT-4.3.2-1', 'QoS 1 sender: an unused identifier for each new message', tested(model, pReceiveMaximum)),
  e('MQTT-4.3.2-2', 'QoS 1 sender: PUBLISH with QoS 1 and DUP 0', tested(ecResendDup)),
  e('MQTT-4.3.2-3', 'QoS 1 sender: the PUBLISH is unacknowledged until its PUBACK', tested(ecResendDup, pReceiveMaximum)),
  e('MQTT-4.3.2-4', 'QoS 1 receiver: PUBACK with the identifier, having taken ownership', tested(fuzz)),
  e('MQTT-4.3.2-5', 'QoS 1 receiver: after its PUBACK, a PUBLISH with that identifier is a new message', tested(...wire(FlowsWire, ['MQTT-4.3.2-5'], 'after its PUBACK, a QoS 1 PUBLISH with the same identifier is a new message, DUP or not', '5.0'))),
  e('MQTT-4.3.3-1', 'QoS 2 sender: an unused identifier for each new message', tested(model)),
  e('MQTT-4.3.3-2', 'QoS 2 sender: PUBLISH with QoS 2 and DUP 0', testedNote('A queued QoS 2 message goes out with DUP 0 (["qos 2", false]).', pQueues311)),
  e('MQTT-4.3.3-3', 'QoS 2 sender: the PUBLISH is unacknowledged until its PUBREC', tested(replayQos2, model)),
  e('MQTT-4.3.3-4', 'QoS 2 sender: a PUBREC below 0x80 gets a PUBREL with the same identifier', testedNote('Fuzz connections send PUBRECs and must get a PUBREL of the same identifier; the model\'s QoS 2 deliveries complete through PUBREL.', fuzz, model)),
  e('MQTT-4.3.3-5', 'QoS 2 sender: the PUBREL is unacknowledged until its PUBCOMP', tested(...wire(FlowsWire, ['MQTT-4.3.3-5'], 'a PUBREL the client has not answered with PUBCOMP is sent again when its session comes back', '5.0'))),
  e('MQTT-4.3.3-6', 'QoS 2 sender: no PUBLISH re-sent once its PUBREL went out', testedNote('The model\'s peers flag a PUBLISH re-sent after their PUBREC.', model)),
  e('MQTT-4.3.3-7', 'QoS 2 sender: no message expiry once the PUBLISH has been sent', tested(...wire(FlowsWire, ['MQTT-4.3.3-7'], 'a QoS 2 message sent before its Message Expiry Interval passed is still completed after it, across a reconnect; one not yet sent expires', '5.0'))),
  e('MQTT-4.3.3-8', 'QoS 2 receiver: PUBREC with the identifier, having taken ownership', tested(pQos2Once, ecQos2Once)),
  e('MQTT-4.3.3-9', 'QoS 2 receiver: after a PUBREC >= 0x80, a PUBLISH with that identifier is a new message', tested(...wire(FlowsWire, ['MQTT-4.3.3-9'], 'after a PUBREC of 0x80 or above, a QoS 2 PUBLISH with the same identifier is a new message', '5.0'))),
  e('MQTT-4.3.3-10', 'QoS 2 receiver: until PUBREL, repeats get PUBREC and no second delivery', tested(pQos2Once, ecQos2Once)),
  e('MQTT-4.3.3-11', 'QoS 2 receiver: a PUBREL gets a PUBCOMP with the same identifier', tested(pPubrelAgain, ecQos2Once)),
  e('MQTT-4.3.3-12', 'QoS 2 receiver: after its PUBCOMP, a PUBLISH with that identifier is a new message', tested(...wire(FlowsWire, ['MQTT-4.3.3-12'], 'after its PUBCOMP, a QoS 2 PUBLISH with the same identifier is a new message', '5.0'))),
  e('MQTT-4.3.3-13', 'QoS 2 receiver: the exchange goes on even after message expiry applied', tested(...wire(FlowsWire, ['MQTT-4.3.3-13'], 'a QoS 2 PUBLISH whose Message Expiry Interval passes before its PUBREL is still answered with PUBCOMP', '5.0'))),
  e('MQTT-4.4.0-1', 'On a resumed session, unacknowledged PUBLISH and PUBREL are re-sent with their identifiers, and at no other time', testedNote('Re-sends of PUBLISH on reconnect, none within a connection; no test drops a connection between the client\'s PUBREC and the server\'s PUBREL.', ecResendDup, replayQos2, t(StallWatchdog, 'leaves a client alone that holds its window full without acknowledging'))),
  e('MQTT-4.4.0-2', 'A PUBACK or PUBREC >= 0x80 acknowledges the PUBLISH: it is not re-sent', tested(...['PUBACK', 'PUBREC'].flatMap((ack) => wire(FlowsWire, ['MQTT-4.4.0-2'], `a ${ack} of 0x80 acknowledges the message: it is not sent again when the session comes back`, '5.0')))),
  ...receiptAndClientOrder,
  e('MQTT-4.6.0-5', 'On an Ordered Topic, one client\'s messages reach consumers in the order received, per topic and QoS', tested(model, witness)),
  e('MQTT-4.6.0-6', 'Every topic is an Ordered Topic for non-shared subscriptions by default', tested(model, t(Stall, 'delivers all 80 messages, in order, in every combination of transports'))),
  e('MQTT-4.7.0-1', 'Wildcards may be used in Topic Filters, never in Topic Names', tested(fuzz, topicRejects)),
  e('MQTT-4.7.1-1', '"#" stands alone or after "/", and is the filter\'s last character', testedNote('Validation (validateTopicFilter); the SUBACK 0x8F that such a filter gets (edge/protocol/subscribe.ts) is not tested.', topicRejects)),
  e('MQTT-4.7.1-2', '"+" occupies a whole level of the filter', tested(topicRejects)),
  ...topicRules,
  e('MQTT-4.8.2-1', 'A Shared Subscription filter starts with "$share/" and has a ShareName of at least one character', tested(t(Topic, 'splits a shared subscription'), topicRejects)),
  e('MQTT-4.8.2-2', 'The ShareName holds no "/", "+" or "#", and is followed by "/" and a Topic Filter', tested(topicRejects)),
  e('MQTT-4.8.2-3', 'Each shared subscriber gets messages at its own granted QoS', tested(...wire(SharedWire, ['MQTT-4.8.2-3'], 'each member of a share group gets its messages at its own granted QoS (0 and 2)', '5.0'))),
  e('MQTT-4.8.2-4', 'A QoS 2 shared delivery cut by a disconnect is completed when that client reconnects', tested(...wire(SharedWire, ['MQTT-4.8.2-4'], 'a QoS 2 delivery to a member cut by its disconnect is completed with that member when it reconnects, not given to another', '5.0'))),
  e('MQTT-4.8.2-5', 'If that client\'s session ends first, the QoS 2 message goes to no other member', testedNote('The model flags a QoS 2 message that reaches a share group more than once.', model)),
  e('MQTT-4.8.2-6', 'A PUBACK or PUBREC >= 0x80 to a shared delivery discards it; no other member gets it', testedNote('PUBACK 0x80 tested; a failing PUBREC ends a delivery the same way (flows "a PUBREC of 0x80 acknowledges the message…"), and a QoS 2 message in flight never moves to another member.', ...wire(SharedWire, ['MQTT-4.8.2-6'], 'a PUBACK of 0x80 from a member discards the message: no other member gets it when that member leaves', '5.0'))),
  e('MQTT-4.9.0-1', 'The initial send quota is non-zero and at most Receive Maximum', tested(pReceiveMaximum, m5ReceiveMaximum)),
  e('MQTT-4.9.0-2', 'At a send quota of zero, no further QoS 1/2 PUBLISH goes out', tested(pReceiveMaximum, m5ReceiveMaximum)),
  e('MQTT-4.9.0-3', 'At a send quota of zero, other packets are still processed and answered', testedNote('A PINGREQ while the window is full is answered at once.', m5ReceiveMaximum)),
  e('MQTT-4.12.0-1', 'An unsupported Authentication Method may get CONNACK 0x8C or 0x87; the server closes', tested(...wire(ConnackWire, ['MQTT-4.12.0-1'], 'an Authentication Method the server does not support gets CONNACK 0x8C, then the connection is closed', '5.0'))),
  e('MQTT-4.12.0-2', 'A server AUTH asking for more data carries 0x18', tested(m5Auth)),
  e('MQTT-4.12.0-3', 'A client answers a server AUTH with an AUTH carrying 0x18', clientOnly('The client\'s duty.')),
  e('MQTT-4.12.0-4', 'The server may refuse the authentication at any step with CONNACK >= 0x80, and closes', testedNote('The close after a CONNACK >= 0x80 is MQTT-3.2.2-7.', m5AuthRefused)),
  e('MQTT-4.12.0-5', 'Every AUTH and a successful CONNACK carry the CONNECT\'s Authentication Method', tested(m5Auth)),
  e('MQTT-4.12.0-6', 'Without an Authentication Method, the server sends no AUTH and no method in CONNACK', tested(...wire(AuthWire, ['MQTT-4.12.0-6'], 'a CONNECT without an Authentication Method gets no AUTH and a CONNACK without one, though the server has an authenticate hook', '5.0'))),
  e('MQTT-4.12.0-7', 'Without an Authentication Method, the client sends no AUTH', testedNote('The client\'s duty; the server answers DISCONNECT 0x82 (fuzz sweep "auth-without-method").', fuzz)),
  e('MQTT-4.12.1-1', 'Re-authentication uses the original Authentication Method', clientOnly('The client\'s duty; the server\'s refusal of another method (DISCONNECT 0x8C, edge/protocol/auth.ts) is untested.')),
  e('MQTT-4.12.1-2', 'A failed re-authentication closes the connection, after a DISCONNECT where possible', tested(...wire(AuthWire, ['MQTT-4.12.1-2'], 'a failed re-authentication gets DISCONNECT 0x87 Not authorized, then the connection is closed', '5.0'))),
  e('MQTT-4.13.1-1', 'A Malformed Packet or Protocol Error closes the connection', tested(ecMalformed, fuzz)),
  e('MQTT-4.13.2-1', 'A CONNACK or DISCONNECT >= 0x80 means the connection closes, sent or not', testedNote('Every fuzz connection that gets an error reason must then close.', fuzz, ecEmptyId)),
  // Chapter 6.
  ...webSocket,
];

// ---- MQTT 3.1 (MQIsdp) ------------------------------------------------------------------

export const Mqtt31Differences: readonly Difference[] = [
  {
    key: 'protocol name and level',
    text: 'CONNECT names "MQIsdp" with level 3; "MQIsdp" with another level, or "MQTT" with level 3, is refused',
    status: tested(ecConnects, malformed("'MQIsdp' with level 4 → Unsupported Protocol Version"), malformed("'MQTT' with level 3 → Unsupported Protocol Version")),
  },
  {
    key: 'every behaviour at 3.1',
    text: 'QoS 0/1/2, retained messages, wills, persistent sessions and takeover behave as at 3.1.1',
    status: testedNote('edge-core runs its whole suite at "MQTT 3.1", and the model drives 3.1 clients.', ecConnects, ecRetained, ecWill, ecPersistent, ecTakeover, model),
  },
  {
    key: 'client id of 1 to 23 characters',
    text: '3.1 requires a client id of 1 to 23 characters; a longer one is to be refused with return code 2',
    status: testedNote(
      'Deliberately accepted, as mosquitto does and as 3.1.1 allows [MQTT-3.1.3-5]: docs/conformance-decisions.md, "Client ids longer than 23 characters".',
      ...[23, 24, 65].flatMap((length) => wire(Mqtt31Wire, ['MQTT-v3.1-3.1'], `a 3.1 client id of ${length} characters is accepted`, '3.1')),
    ),
  },
  {
    key: 'no Session Present flag',
    text: 'A 3.1 CONNACK has no Session Present flag: its first byte is reserved, 0',
    status: tested(...wire(Mqtt31Wire, ['MQTT-v3.1-3.2'], 'a CONNACK to a 3.1 client resuming a stored session is 20 02 00 00: no Session Present flag', '3.1'), ecSessionPresent),
  },
  {
    key: 'CONNACK return codes',
    text: 'Return codes 0 to 5 only, as 3.1.1; a 5.0 reason is mapped to one of them',
    status: tested(t(ReasonCodes, 'reason %i → return code %i'), t(Encoder, 'maps a 5.0 CONNACK reason to a 3.1.1 return code')),
  },
  {
    key: 'SUBACK without failure code',
    text: '3.1 has no SUBACK failure code: a SUBACK grants a QoS',
    status: testedNote(
      'A refused filter is answered with the QoS it would have been granted and no subscription is made, as mosquitto does: docs/conformance-decisions.md, "A refused MQTT 3.1 subscription".',
      ...wire(Mqtt31Wire, ['MQTT-v3.1-3.9'], 'a refused 3.1 subscription is answered with a granted QoS, not 0x80, and nothing is delivered for it', '3.1'),
    ),
  },
  {
    key: 'DUP on re-sent PUBREL, SUBSCRIBE, UNSUBSCRIBE',
    text: '3.1 clients set DUP (and QoS 1) in the fixed header of a re-sent PUBREL, SUBSCRIBE or UNSUBSCRIBE; the server accepts it',
    status: tested(...wire(PacketsWire, ['MQTT-v3.1-2.1'], 'a re-sent SUBSCRIBE, UNSUBSCRIBE and PUBREL may carry DUP (MQTT 3.1 only)', '3.1')),
  },
  {
    key: 'no server DISCONNECT',
    text: 'The server never sends DISCONNECT to a 3.1 client; it closes the connection',
    status: testedNote('Fuzz connections at levels 3 and 4 fail on any DISCONNECT from the server.', fuzz),
  },
  {
    key: 'empty client id',
    text: '3.1 has no assigned client ids: an empty client id is refused with return code 2',
    status: tested(...wire(Mqtt31Wire, ['MQTT-v3.1-3.1'], 'an empty 3.1 client id is refused with return code 2, then the connection is closed', '3.1')),
  },
  {
    key: 'keep-alive',
    text: 'The server closes a 3.1 connection silent for 1.5 times its keep-alive',
    status: testedNote('The model\'s long pause closes silent 3.1 clients with a keep-alive as it does 3.1.1 and 5.0 ones; the exact 1.5 times is tested at 3.1.1 and 5.0 only.', model),
  },
  {
    key: 'WebSocket subprotocol',
    text: 'Over WebSocket, 3.1 clients offer "mqttv3.1"; the server selects it',
    status: tested(ecSubprotocol),
  },
  {
    key: 'real 3.1 clients',
    text: 'mosquitto and MQTT.js at 3.1 interoperate through the sidecar',
    status: tested(t(SidecarE2e, 'mosquitto_pub over TCP reaches a WebSocket subscriber at QoS 0, 1 and 2'), t(SidecarE2e, 'TCP publisher → WebSocket subscriber and WebSocket publisher → TCP subscriber, at QoS 0, 1 and 2')),
  },
];

/** Exported for the test and the renderer. */
export const Matrix = { '3.1.1': Mqtt311, '5.0': Mqtt5 } as const;
