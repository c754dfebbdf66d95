/**
 * Where this broker and mosquitto 2.0.11 are known to differ, in three lists:
 *
 * - DeliberateDifferences: the broker differs on purpose and keeps doing so.
 * - PendingIssue13: what the switch to mosquitto's semantics (issue 13: read
 *   access checked on every delivery, wills checked like a PUBLISH, a
 *   session resumed by another identity keeps only what that identity may
 *   read) is meant to remove.
 * - UntriagedDifferences: found by this suite, neither deliberate nor
 *   scheduled yet.
 *
 * The suite asserts that each entry still shows exactly as recorded, so an
 * entry that stops differing fails the run: delete it (or move it, with a
 * reason) as the broker changes. Entries record what each broker was
 * observed to do (observation.ts; messages as `topic payload q<qos>[ retained]`).
 * An entry covers one aspect of one client of one scenario, on both edge
 * transports unless `transports` says otherwise; scenarios keep clients
 * apart so that one client's aspect differs for one reason only.
 */
import { ConnackReturnCode, ReasonCode } from '../../shared/reason-codes.ts';
import type { Aspect, ClientObservation, ConnackRecord, SubackRecord } from './observation.ts';
import type { TargetName } from './targets.ts';

interface ListedAspect<A extends Aspect> {
  scenario: string;
  client: string;
  aspect: A;
  mosquitto: ClientObservation[A];
  edge: ClientObservation[A];
  /** Only on these edge transports; default: both. */
  transports?: readonly TargetName[];
  why: string;
}

type Entry = { [A in Aspect]: ListedAspect<A> }[Aspect];
export type ListName = 'DeliberateDifferences' | 'PendingIssue13' | 'UntriagedDifferences';
export type ListedDifference = Entry & { list: ListName };

/** SUBACK failure in 3.x [MQTT-3.9.3-2]; 5.0 says why (here 0x87 Not authorized). */
const SubackFailure = 0x80;

function suback(filter: string, code: number): SubackRecord {
  return { filter, codes: [code] };
}

function refused(code: number): ConnackRecord[] {
  return [{ code, sessionPresent: false }];
}

// ---- why ----------------------------------------------------------------

const NothingReadable =
  'A SUBSCRIBE to a filter under which the client may read nothing (inside a deny, outside every grant) is refused: ' +
  '0x80 / 0x87 tells the client at once. mosquitto 2.0 grants every SUBSCRIBE (security_default.c answers success for ' +
  'MOSQ_ACL_SUBSCRIBE: "FIXME - implement ACL subscription strings") and then delivers nothing.';

const DenyWinsEverywhere =
  'A deny wins over every grant, from any block. mosquitto checks the user\'s own block first, so a grant there ' +
  '(topic readwrite home/#) beats a pattern deny (pattern deny home/%u/private): the edge is stricter on purpose.';

const NoSlashInPatterns =
  'A username or client id containing "/" is not substituted into %u / %c (it would reach into a deeper level, ' +
  'another client\'s subtree): such patterns grant that client nothing (edge/auth/acl.ts). mosquitto 2.0 refuses ' +
  'only "+" and "#" and substitutes "/" as it is. site-monitor misses what such a client was not let write.';

const BadCredentialsCode =
  'A wrong, missing or unknown password is answered 0x04 / 0x86 "bad user name or password" (MQTT 3.1.1 §3.2.2.3, ' +
  '5.0 §3.2.2.2), as the README documents; mosquitto 2.0 answers every password-check failure with ' +
  '0x05 / 0x87 "not authorized".';

const OneCopyAtHighestQoS =
  'Overlapping subscriptions get one copy at the highest QoS of the matching ones ([MQTT-3.3.5-1] in 3.1.1, ' +
  '[MQTT-3.3.4-2] in 5.0). mosquitto 2.0.11 sends a 3.1.1 client one copy at the QoS of the subscription that ' +
  'matched first (here QoS 0, not 1), and a 5.0 client one copy per subscription, which 5.0 allows.';

const FilteredPerDelivery =
  'The edge refuses a SUBSCRIBE whose filter reaches a topic the client may not read (a deny overlaps it, or no ' +
  'grant covers all of it); mosquitto grants it and checks read access on every delivery, live and retained.';

const WillChecked =
  'The edge publishes a will whatever its topic; mosquitto 2.0.11 accepts the CONNECT (CONNACK 0) and checks the ' +
  'will like a PUBLISH when it is sent (context.c context__send_will, MOSQ_ACL_WRITE), dropping it silently.';

const ResumedByAnotherIdentity =
  'bob (denied secret/#) resumes alice\'s session by its client id. The edge delivers everything the session holds ' +
  'and matches, queued and live; mosquitto checks read access for bob on every delivery, so secret messages stay back.';

const WillOnPersistentTakeover =
  'Taking over an open connection with clean session off: mosquitto 2.0 (connect__on_authorised) discards the old ' +
  'connection\'s will unless the old session ends there (it was clean, or the new CONNECT is); the edge publishes it, ' +
  'as for any close that is not a DISCONNECT. The spec ties the will to the network connection closing ' +
  '(3.1.2.5 / 5.0 3.1.2.5) and leaves the takeover case open.';

// ---- the lists ----------------------------------------------------------

export const DeliberateDifferences: readonly Entry[] = [
  { scenario: 'wildcard-deny', client: 'nosubscribe-3.1.1', aspect: 'subacks', why: NothingReadable,
    mosquitto: [suback('test/nosubscribe', ReasonCode.GrantedQoS2)],
    edge: [suback('test/nosubscribe', SubackFailure)] },
  { scenario: 'wildcard-deny', client: 'nosubscribe-5.0', aspect: 'subacks', why: NothingReadable,
    mosquitto: [suback('test/nosubscribe', ReasonCode.GrantedQoS1)],
    edge: [suback('test/nosubscribe', ReasonCode.NotAuthorized)] },
  { scenario: 'user-blocks', client: 'alice', aspect: 'subacks', why: NothingReadable,
    mosquitto: [suback('alice/#', ReasonCode.GrantedQoS1), suback('shared/#', ReasonCode.GrantedQoS1), suback('bob/#', ReasonCode.GrantedQoS1)],
    edge: [suback('alice/#', ReasonCode.GrantedQoS1), suback('shared/#', ReasonCode.GrantedQoS1), suback('bob/#', SubackFailure)] },
  { scenario: 'user-blocks', client: 'carol', aspect: 'subacks', why: NothingReadable,
    mosquitto: [suback('#', ReasonCode.GrantedQoS1)],
    edge: [suback('#', ReasonCode.NotAuthorized)] },
  { scenario: 'user-blocks', client: 'anonymous', aspect: 'subacks', why: NothingReadable,
    mosquitto: [suback('#', ReasonCode.GrantedQoS1)],
    edge: [suback('#', SubackFailure)] },
  { scenario: 'patterns', client: 'alice-foreign', aspect: 'subacks', why: NothingReadable,
    mosquitto: [suback('devices/dev2/commands', ReasonCode.GrantedQoS1)],
    edge: [suback('devices/dev2/commands', SubackFailure)] },
  { scenario: 'patterns', client: 'anonymous', aspect: 'subacks', why: NothingReadable,
    mosquitto: [suback('devices/dev3/commands', ReasonCode.GrantedQoS1), suback('users/#', ReasonCode.GrantedQoS1)],
    edge: [suback('devices/dev3/commands', ReasonCode.GrantedQoS1), suback('users/#', ReasonCode.NotAuthorized)] },
  { scenario: 'patterns', client: 'team/eve', aspect: 'subacks', why: NoSlashInPatterns,
    mosquitto: [suback('users/team/eve/#', ReasonCode.GrantedQoS1)],
    edge: [suback('users/team/eve/#', SubackFailure)] },
  { scenario: 'patterns', client: 'team/eve', aspect: 'messages', why: NoSlashInPatterns,
    mosquitto: ['users/team/eve/inbox admin q1', 'users/team/eve/outbox eve q1'],
    edge: [] },
  { scenario: 'patterns', client: 'slashed-id', aspect: 'subacks', why: NoSlashInPatterns,
    mosquitto: [suback('devices/site/dev5/commands', ReasonCode.GrantedQoS1)],
    edge: [suback('devices/site/dev5/commands', ReasonCode.NotAuthorized)] },
  { scenario: 'patterns', client: 'slashed-id', aspect: 'messages', why: NoSlashInPatterns,
    mosquitto: ['devices/site/dev5/commands admin q1'],
    edge: [] },
  { scenario: 'patterns', client: 'slashed-id', aspect: 'pubacks', why: NoSlashInPatterns,
    mosquitto: [{ topic: 'devices/site/dev5/state', code: ReasonCode.Success }],
    edge: [{ topic: 'devices/site/dev5/state', code: ReasonCode.NotAuthorized }] },
  { scenario: 'patterns', client: 'site-monitor', aspect: 'messages', why: NoSlashInPatterns,
    mosquitto: ['devices/site/dev5/commands admin q1', 'devices/site/dev5/state slashed q1'],
    edge: ['devices/site/dev5/commands admin q1'] },
  { scenario: 'partial-grant', client: 'carol-outside-3.1.1', aspect: 'subacks', why: NothingReadable,
    mosquitto: [suback('other/#', ReasonCode.GrantedQoS1)],
    edge: [suback('other/#', SubackFailure)] },
  { scenario: 'partial-grant', client: 'carol-outside-5.0', aspect: 'subacks', why: NothingReadable,
    mosquitto: [suback('other/#', ReasonCode.GrantedQoS1)],
    edge: [suback('other/#', ReasonCode.NotAuthorized)] },
  { scenario: 'retained', client: 'reader-secret', aspect: 'subacks', why: NothingReadable,
    mosquitto: [suback('retained/secret', ReasonCode.GrantedQoS1), suback('retained/private/+', ReasonCode.GrantedQoS1)],
    edge: [suback('retained/secret', ReasonCode.NotAuthorized), suback('retained/private/+', ReasonCode.NotAuthorized)] },
  { scenario: 'credentials', client: 'wrong-password-3', aspect: 'connacks', why: BadCredentialsCode,
    mosquitto: refused(ConnackReturnCode.NotAuthorized),
    edge: refused(ConnackReturnCode.BadUsernameOrPassword) },
  { scenario: 'credentials', client: 'no-password-3', aspect: 'connacks', why: BadCredentialsCode,
    mosquitto: refused(ConnackReturnCode.NotAuthorized),
    edge: refused(ConnackReturnCode.BadUsernameOrPassword) },
  { scenario: 'credentials', client: 'unknown-user-3', aspect: 'connacks', why: BadCredentialsCode,
    mosquitto: refused(ConnackReturnCode.NotAuthorized),
    edge: refused(ConnackReturnCode.BadUsernameOrPassword) },
  { scenario: 'credentials', client: 'wrong-password-4', aspect: 'connacks', why: BadCredentialsCode,
    mosquitto: refused(ConnackReturnCode.NotAuthorized),
    edge: refused(ConnackReturnCode.BadUsernameOrPassword) },
  { scenario: 'credentials', client: 'no-password-4', aspect: 'connacks', why: BadCredentialsCode,
    mosquitto: refused(ConnackReturnCode.NotAuthorized),
    edge: refused(ConnackReturnCode.BadUsernameOrPassword) },
  { scenario: 'credentials', client: 'unknown-user-4', aspect: 'connacks', why: BadCredentialsCode,
    mosquitto: refused(ConnackReturnCode.NotAuthorized),
    edge: refused(ConnackReturnCode.BadUsernameOrPassword) },
  { scenario: 'credentials', client: 'wrong-password-5', aspect: 'connacks', why: BadCredentialsCode,
    mosquitto: refused(ReasonCode.NotAuthorized),
    edge: refused(ReasonCode.BadUserNameOrPassword) },
  { scenario: 'credentials', client: 'no-password-5', aspect: 'connacks', why: BadCredentialsCode,
    mosquitto: refused(ReasonCode.NotAuthorized),
    edge: refused(ReasonCode.BadUserNameOrPassword) },
  { scenario: 'credentials', client: 'unknown-user-5', aspect: 'connacks', why: BadCredentialsCode,
    mosquitto: refused(ReasonCode.NotAuthorized),
    edge: refused(ReasonCode.BadUserNameOrPassword) },
  { scenario: 'deny-precedence', client: 'alice-private', aspect: 'subacks', why: DenyWinsEverywhere,
    mosquitto: [suback('home/alice/private', ReasonCode.GrantedQoS1)],
    edge: [suback('home/alice/private', ReasonCode.NotAuthorized)] },
  { scenario: 'deny-precedence', client: 'alice-private', aspect: 'pubacks', why: DenyWinsEverywhere,
    mosquitto: [{ topic: 'home/alice/private', code: ReasonCode.Success }],
    edge: [{ topic: 'home/alice/private', code: ReasonCode.NotAuthorized }] },
  { scenario: 'deny-precedence', client: 'alice-private', aspect: 'messages', why: DenyWinsEverywhere,
    mosquitto: ['home/alice/private admin q1', 'home/alice/private alice q1'],
    edge: [] },
  { scenario: 'deny-precedence', client: 'alice-blocked', aspect: 'subacks', why: NothingReadable,
    mosquitto: [suback('feeds/alice/blocked', ReasonCode.GrantedQoS1)],
    edge: [suback('feeds/alice/blocked', ReasonCode.NotAuthorized)] },
  { scenario: 'overlapping', client: 'overlap-3.1.1', aspect: 'messages', why: OneCopyAtHighestQoS,
    mosquitto: ['news/secret hush q1', 'news/sport goal q0'],
    edge: ['news/secret hush q1', 'news/sport goal q1'] },
  { scenario: 'overlapping', client: 'overlap-5.0', aspect: 'messages', why: OneCopyAtHighestQoS,
    mosquitto: ['news/secret hush q1', 'news/sport goal q0', 'news/sport goal q2'],
    edge: ['news/secret hush q1', 'news/sport goal q2'] },
];

export const PendingIssue13: readonly Entry[] = [
  { scenario: 'wildcard-deny', client: 'anon-3.1.1', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('+/+', ReasonCode.GrantedQoS2)],
    edge: [suback('+/+', SubackFailure)] },
  { scenario: 'wildcard-deny', client: 'anon-3.1.1', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['Topic/C from-writer-q1 q1', 'TopicA/B from-tester5 q1', 'TopicA/B from-writer-q1 q1', 'TopicA/C from-writer-q2 q2', 'test/other from-writer-q2 q2'],
    edge: [] },
  { scenario: 'wildcard-deny', client: 'anon-5.0', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('#', ReasonCode.GrantedQoS2)],
    edge: [suback('#', ReasonCode.NotAuthorized)] },
  { scenario: 'wildcard-deny', client: 'anon-5.0', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['Topic/C from-writer-q1 q1', 'TopicA from-writer-q0 q0', 'TopicA/B from-tester5 q1', 'TopicA/B from-writer-q1 q1', 'TopicA/C from-writer-q2 q2', 'test/other from-writer-q2 q2'],
    edge: [] },
  { scenario: 'wildcard-deny', client: 'tester-3.1.1', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('#', ReasonCode.GrantedQoS2)],
    edge: [suback('#', SubackFailure)] },
  { scenario: 'wildcard-deny', client: 'tester-3.1.1', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['Topic/C from-writer-q1 q1', 'TopicA from-writer-q0 q0', 'TopicA/B from-tester5 q1', 'TopicA/B from-writer-q1 q1', 'TopicA/C from-writer-q2 q2', 'test/other from-writer-q2 q2'],
    edge: [] },
  { scenario: 'wildcard-deny', client: 'tester-5.0', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('TopicA/#', ReasonCode.GrantedQoS2), suback('+/+', ReasonCode.GrantedQoS2)],
    edge: [suback('TopicA/#', ReasonCode.GrantedQoS2), suback('+/+', ReasonCode.NotAuthorized)] },
  { scenario: 'wildcard-deny', client: 'tester-5.0', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['Topic/C from-writer-q1 q1', 'TopicA from-writer-q0 q0', 'TopicA/B from-tester5 q1', 'TopicA/B from-writer-q1 q1', 'TopicA/C from-writer-q2 q2', 'test/other from-writer-q2 q2'],
    edge: ['TopicA from-writer-q0 q0', 'TopicA/B from-tester5 q1', 'TopicA/B from-writer-q1 q1', 'TopicA/C from-writer-q2 q2'] },
  { scenario: 'user-blocks', client: 'bob', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('bob/+', ReasonCode.GrantedQoS1), suback('shared/#', ReasonCode.GrantedQoS1), suback('inbox/+', ReasonCode.GrantedQoS1)],
    edge: [suback('bob/+', ReasonCode.GrantedQoS1), suback('shared/#', ReasonCode.NotAuthorized), suback('inbox/+', ReasonCode.NotAuthorized)] },
  { scenario: 'user-blocks', client: 'bob', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['bob/1 admin q1', 'bob/3 bob q1', 'inbox/bob admin q1', 'inbox/bob alice q1', 'shared/news admin q1', 'shared/news bob q1'],
    edge: ['bob/1 admin q1', 'bob/3 bob q1'] },
  { scenario: 'patterns', client: 'alice', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('users/alice/#', ReasonCode.GrantedQoS1), suback('users/+/inbox', ReasonCode.GrantedQoS1), suback('devices/dev1/commands', ReasonCode.GrantedQoS1)],
    edge: [suback('users/alice/#', ReasonCode.GrantedQoS1), suback('users/+/inbox', SubackFailure), suback('devices/dev1/commands', ReasonCode.GrantedQoS1)] },
  { scenario: 'patterns', client: 'bob', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('users/bob/#', ReasonCode.GrantedQoS1), suback('devices/+/commands', ReasonCode.GrantedQoS1)],
    edge: [suback('users/bob/#', ReasonCode.GrantedQoS1), suback('devices/+/commands', ReasonCode.NotAuthorized)] },
  { scenario: 'patterns', client: 'bob', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['devices/dev2/commands admin q1', 'users/bob/inbox admin q1'],
    edge: ['users/bob/inbox admin q1'] },
  { scenario: 'partial-grant', client: 'carol-3.1.1', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('sensors/#', ReasonCode.GrantedQoS1)],
    edge: [suback('sensors/#', SubackFailure)] },
  { scenario: 'partial-grant', client: 'carol-3.1.1', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['sensors/room1/temp 21 q1', 'sensors/room2/temp 19 q0'],
    edge: [] },
  { scenario: 'partial-grant', client: 'carol-5.0', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('sensors/+/+', ReasonCode.GrantedQoS2)],
    edge: [suback('sensors/+/+', ReasonCode.NotAuthorized)] },
  { scenario: 'partial-grant', client: 'carol-5.0', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['sensors/room1/temp 21 q2', 'sensors/room2/temp 19 q0'],
    edge: [] },
  { scenario: 'wills', client: 'watcher', aspect: 'messages', why: WillChecked,
    mosquitto: ['alice/will gone q1'],
    edge: ['alice/will gone q1', 'wills/anon gone q1', 'wills/denied4 gone q1', 'wills/denied5 gone q0', 'wills/retained gone q1'] },
  { scenario: 'wills', client: 'late-watcher', aspect: 'messages', why: WillChecked,
    mosquitto: ['alice/will gone q1 retained'],
    edge: ['alice/will gone q1 retained', 'wills/retained gone q1 retained'] },
  { scenario: 'retained', client: 'reader-3.1.1', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('retained/#', ReasonCode.GrantedQoS1)],
    edge: [suback('retained/#', SubackFailure)] },
  { scenario: 'retained', client: 'reader-3.1.1', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['retained/deep/a/b d q1 retained', 'retained/public p q1 retained'],
    edge: [] },
  { scenario: 'retained', client: 'reader-5.0', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('retained/+', ReasonCode.GrantedQoS2)],
    edge: [suback('retained/+', ReasonCode.NotAuthorized)] },
  { scenario: 'retained', client: 'reader-5.0', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['retained/public p q1 retained'],
    edge: [] },
  { scenario: 'takeover', client: 'bob-as-alice-3.1.1', aspect: 'messages', why: ResumedByAnotherIdentity,
    mosquitto: ['public/live l1 q1', 'public/queued q1 q1'],
    edge: ['public/live l1 q1', 'public/queued q1 q1', 'secret/live l1 q1', 'secret/queued q1 q1', 'secret/queued2 q2 q1'] },
  { scenario: 'takeover', client: 'bob-as-alice-5.0', aspect: 'messages', why: ResumedByAnotherIdentity,
    mosquitto: ['public/live l1 q1', 'public/queued q1 q1'],
    edge: ['public/live l1 q1', 'public/queued q1 q1', 'secret/live l1 q1', 'secret/queued q1 q1', 'secret/queued2 q2 q2'] },
  { scenario: 'deny-precedence', client: 'alice-feeds', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('feeds/alice/#', ReasonCode.GrantedQoS1)],
    edge: [suback('feeds/alice/#', ReasonCode.NotAuthorized)] },
  { scenario: 'deny-precedence', client: 'alice-feeds', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['feeds/alice/news admin q1'],
    edge: [] },
  { scenario: 'overlapping', client: 'shared-5.0', aspect: 'subacks', why: FilteredPerDelivery,
    mosquitto: [suback('$share/group/news/+', ReasonCode.GrantedQoS1)],
    edge: [suback('$share/group/news/+', ReasonCode.NotAuthorized)] },
  { scenario: 'overlapping', client: 'shared-5.0', aspect: 'messages', why: FilteredPerDelivery,
    mosquitto: ['news/sport goal q1'],
    edge: [] },
];

export const UntriagedDifferences: readonly Entry[] = [
  { scenario: 'live-takeover', client: 'watcher', aspect: 'messages', why: WillOnPersistentTakeover,
    mosquitto: ['alice/will-clean first q1'],
    edge: ['alice/will-clean first q1', 'alice/will4 first q1', 'alice/will5 first q1'] },
];

export const AllListedDifferences: readonly ListedDifference[] = [
  ...DeliberateDifferences.map((entry): ListedDifference => ({ ...entry, list: 'DeliberateDifferences' })),
  ...PendingIssue13.map((entry): ListedDifference => ({ ...entry, list: 'PendingIssue13' })),
  ...UntriagedDifferences.map((entry): ListedDifference => ({ ...entry, list: 'UntriagedDifferences' })),
];
