/**
 * (a) A grant of everything with one topic denied, the ACL of the Paho
 * interoperability tests (`test/nosubscribe`). mosquitto 2.0 checks read
 * access per delivered message (src/subs.c, MOSQ_ACL_READ), so wildcard
 * subscriptions are granted and deliver everything but the denied topic.
 *
 * The `topic` lines before any `user` line apply to anonymous clients only
 * (mosquitto acl__find_acls: a client with a username gets its own block or
 * none), so the rules are repeated in a block for `tester`, and the messages
 * come from `writer`, who may write the denied topic too. The clients that
 * subscribe to the denied topic itself are apart from the wildcard ones,
 * as the two differ from mosquitto for different reasons.
 */
import { connect, publish, quiesce, subscribe, type Scenario } from '../scenario.ts';

const rules = `topic readwrite #
topic deny test/nosubscribe`;

const topics: Array<[topic: string, qos: 0 | 1 | 2]> = [
  ['TopicA', 0],
  ['TopicA/B', 1],
  ['TopicA/C', 2],
  ['Topic/C', 1],
  ['test/nosubscribe', 1],
  ['test/other', 2],
];

export const wildcardDeny: Scenario = {
  name: 'wildcard-deny',
  description: 'readwrite # with test/nosubscribe denied: wildcard subscribers get everything else; subscribing test/nosubscribe itself',
  users: { tester: 'tester-pw', writer: 'writer-pw' },
  acl: `${rules}

user tester
${rules}

user writer
topic readwrite #
`,
  steps: [
    connect('anon-3.1.1', { clientId: 'a-anon4', level: 4 }),
    connect('anon-5.0', { clientId: 'a-anon5', level: 5 }),
    connect('anon-3.1', { clientId: 'a-anon3', level: 3 }),
    connect('tester-3.1.1', { clientId: 'a-tester4', level: 4, username: 'tester', password: 'tester-pw' }),
    connect('tester-5.0', { clientId: 'a-tester5', level: 5, username: 'tester', password: 'tester-pw' }),
    connect('nosubscribe-3.1.1', { clientId: 'a-nosub4', level: 4 }),
    connect('nosubscribe-5.0', { clientId: 'a-nosub5', level: 5, username: 'tester', password: 'tester-pw' }),
    connect('writer', { clientId: 'a-writer', level: 5, username: 'writer', password: 'writer-pw' }),
    subscribe('anon-3.1.1', '+/+', 2),
    subscribe('anon-5.0', '#', 2),
    subscribe('anon-3.1', 'TopicA/#', 2),
    subscribe('tester-3.1.1', '#', 2),
    subscribe('tester-5.0', 'TopicA/#', 2),
    subscribe('tester-5.0', '+/+', 2),
    subscribe('nosubscribe-3.1.1', 'test/nosubscribe', 2),
    subscribe('nosubscribe-5.0', 'test/nosubscribe', 1),
    quiesce(),
    ...topics.map(([topic, qos]) => publish('writer', topic, `from-writer-q${qos}`, { qos })),
    // The readers publish too: nobody may write the denied topic (deny is no access at all).
    publish('nosubscribe-3.1.1', 'test/nosubscribe', 'from-nosub4', { qos: 1 }),
    publish('nosubscribe-5.0', 'test/nosubscribe', 'from-nosub5', { qos: 2 }),
    publish('tester-5.0', 'TopicA/B', 'from-tester5', { qos: 1 }),
    quiesce(),
  ],
};
