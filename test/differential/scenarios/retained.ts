/**
 * (f) Retained messages on topics the subscriber may not read are not sent
 * on SUBSCRIBE: mosquitto 2.0 checks read access for each retained message
 * it sends (retain.c retain__process), as for live ones.
 */
import { connect, publish, quiesce, subscribe, type Scenario } from '../scenario.ts';

export const retained: Scenario = {
  name: 'retained',
  description: 'retained messages on denied topics are not delivered on subscribe',
  users: { reader: 'reader-pw', admin: 'admin-pw' },
  acl: `user reader
topic read retained/#
topic deny retained/secret
topic deny retained/private/#

user admin
topic readwrite #
`,
  steps: [
    connect('admin', { clientId: 'f-admin', level: 5, username: 'admin', password: 'admin-pw' }),
    publish('admin', 'retained/public', 'p', { retain: true }),
    publish('admin', 'retained/secret', 's', { retain: true, qos: 2 }),
    publish('admin', 'retained/private/a', 'pa', { retain: true, qos: 0 }),
    publish('admin', 'retained/deep/a/b', 'd', { retain: true }),
    quiesce(),
    connect('reader-3.1.1', { clientId: 'f-reader4', level: 4, username: 'reader', password: 'reader-pw' }),
    connect('reader-5.0', { clientId: 'f-reader5', level: 5, username: 'reader', password: 'reader-pw' }),
    connect('reader-secret', { clientId: 'f-reader-s', level: 5, username: 'reader', password: 'reader-pw' }),
    connect('reader-public', { clientId: 'f-reader-p', level: 4, username: 'reader', password: 'reader-pw' }),
    subscribe('reader-3.1.1', 'retained/#'),
    subscribe('reader-5.0', 'retained/+', 2),
    subscribe('reader-secret', 'retained/secret'),
    subscribe('reader-secret', 'retained/private/+'),
    subscribe('reader-public', 'retained/public'),
    quiesce(),
  ],
};
