/**
 * (g) A user denied `secret/#` connects with another user's client id and
 * clean session off, while that session holds subscriptions and queued
 * messages on secret topics. MQTT ties a session to its client id alone
 * [MQTT-3.1.2-4]; what each broker lets the new identity have of it is
 * what this scenario observes: the queued messages, and live messages
 * through the subscriptions it inherited.
 */
import { connect, disconnect, publish, quiesce, subscribe, takeover, type Scenario } from '../scenario.ts';

const acl = `user alice
topic readwrite secret/#
topic readwrite public/#

user bob
topic readwrite public/#
topic deny secret/#

user admin
topic write #
`;

export const takeoverOffline: Scenario = {
  name: 'takeover',
  description: 'bob (denied secret/#) resumes alice\'s offline session (3.1.1 and 5.0) with its queued secret messages',
  users: { alice: 'alice-pw', bob: 'bob-pw', admin: 'admin-pw' },
  acl,
  steps: [
    connect('admin', { clientId: 'g-admin', level: 5, username: 'admin', password: 'admin-pw' }),
    connect('alice-3.1.1', { clientId: 'g-session4', level: 4, username: 'alice', password: 'alice-pw', clean: false }),
    connect('alice-5.0', { clientId: 'g-session5', level: 5, username: 'alice', password: 'alice-pw', clean: false, sessionExpiry: 300 }),
    subscribe('alice-3.1.1', 'secret/#'),
    subscribe('alice-3.1.1', 'public/#'),
    subscribe('alice-5.0', 'secret/#', 2),
    subscribe('alice-5.0', 'public/#', 2),
    quiesce(),
    disconnect('alice-3.1.1'),
    disconnect('alice-5.0'),
    // Queued for the offline sessions (QoS 0 is not queued, by both brokers' default).
    publish('admin', 'secret/queued', 'q1', { qos: 1 }),
    publish('admin', 'secret/queued2', 'q2', { qos: 2 }),
    publish('admin', 'public/queued', 'q1', { qos: 1 }),
    quiesce(),
    takeover('bob-as-alice-3.1.1', { clientId: 'g-session4', level: 4, username: 'bob', password: 'bob-pw', clean: false }),
    takeover('bob-as-alice-5.0', { clientId: 'g-session5', level: 5, username: 'bob', password: 'bob-pw', clean: false, sessionExpiry: 300 }),
    quiesce(),
    // Live messages through the subscriptions bob inherited.
    publish('admin', 'secret/live', 'l1', { qos: 1 }),
    publish('admin', 'public/live', 'l1', { qos: 1 }),
    quiesce(),
  ],
};
