/**
 * (d) A read grant that covers only part of a subscription's filter
 * (`topic read sensors/+/temp`, subscribing `sensors/#`). mosquitto 2.0
 * grants every SUBSCRIBE (its default ACL check answers success for
 * MOSQ_ACL_SUBSCRIBE: "FIXME - implement ACL subscription strings") and
 * checks read access per delivered message.
 */
import { connect, publish, quiesce, subscribe, type Scenario } from '../scenario.ts';

export const partialGrant: Scenario = {
  name: 'partial-grant',
  description: 'topic read sensors/+/temp, subscribing sensors/#, sensors/+/+, sensors/+/temp and a filter outside every grant',
  users: { carol: 'carol-pw', admin: 'admin-pw' },
  acl: `user carol
topic read sensors/+/temp

user admin
topic write #
`,
  steps: [
    connect('carol-3.1.1', { clientId: 'd-carol4', level: 4, username: 'carol', password: 'carol-pw' }),
    connect('carol-5.0', { clientId: 'd-carol5', level: 5, username: 'carol', password: 'carol-pw' }),
    connect('carol-exact', { clientId: 'd-carol-x', level: 5, username: 'carol', password: 'carol-pw' }),
    connect('carol-one-room', { clientId: 'd-carol-1', level: 4, username: 'carol', password: 'carol-pw' }),
    connect('carol-outside-3.1.1', { clientId: 'd-carol-o4', level: 4, username: 'carol', password: 'carol-pw' }),
    connect('carol-outside-5.0', { clientId: 'd-carol-o5', level: 5, username: 'carol', password: 'carol-pw' }),
    connect('admin', { clientId: 'd-admin', level: 5, username: 'admin', password: 'admin-pw' }),
    subscribe('carol-3.1.1', 'sensors/#'),
    subscribe('carol-5.0', 'sensors/+/+', 2),
    subscribe('carol-exact', 'sensors/+/temp'),
    subscribe('carol-one-room', 'sensors/room1/temp', 0),
    subscribe('carol-outside-3.1.1', 'other/#'),
    subscribe('carol-outside-5.0', 'other/#'),
    quiesce(),
    publish('admin', 'sensors/room1/temp', '21', { qos: 2 }),
    publish('admin', 'sensors/room1/humidity', '40'),
    publish('admin', 'sensors/room2/temp', '19', { qos: 0 }),
    publish('admin', 'sensors/temp', '0'),
    publish('admin', 'sensors/a/b/temp', '0'),
    publish('admin', 'other/x', '0'),
    quiesce(),
  ],
};
