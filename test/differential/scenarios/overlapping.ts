/**
 * (h) Overlapping subscriptions of one client with different QoS, and a
 * shared subscription that reaches a denied topic. For overlaps MQTT 3.1.1
 * wants one delivery at the highest QoS of the matching subscriptions
 * [MQTT-3.3.5-1]; MQTT 5.0 also allows one copy per subscription (§3.3.4).
 * mosquitto 2.0 checks read access for shared subscriptions per delivery,
 * as for the others.
 */
import { connect, publish, quiesce, subscribe, type Scenario } from '../scenario.ts';

export const overlapping: Scenario = {
  name: 'overlapping',
  description: 'overlapping subscriptions with different QoS; a shared subscription over a denied topic',
  users: { fan: 'fan-pw', reader: 'reader-pw', admin: 'admin-pw' },
  acl: `user fan
topic read news/#

user reader
topic read news/#
topic deny news/secret

user admin
topic write #
`,
  steps: [
    connect('overlap-3.1.1', { clientId: 'o-fan4', level: 4, username: 'fan', password: 'fan-pw' }),
    connect('overlap-5.0', { clientId: 'o-fan5', level: 5, username: 'fan', password: 'fan-pw' }),
    connect('shared-5.0', { clientId: 'o-shared5', level: 5, username: 'reader', password: 'reader-pw' }),
    connect('admin', { clientId: 'o-admin', level: 5, username: 'admin', password: 'admin-pw' }),
    subscribe('overlap-3.1.1', 'news/sport', 0),
    subscribe('overlap-3.1.1', 'news/+', 1),
    subscribe('overlap-5.0', 'news/sport', 0),
    subscribe('overlap-5.0', 'news/+', 2),
    subscribe('shared-5.0', '$share/group/news/+'),
    quiesce(),
    publish('admin', 'news/sport', 'goal', { qos: 2 }),
    publish('admin', 'news/secret', 'hush', { qos: 1 }),
    quiesce(),
  ],
};
