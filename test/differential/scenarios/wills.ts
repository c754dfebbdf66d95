/**
 * (e) Wills on topics their client may not write. mosquitto 2.0.11 accepts
 * such a CONNECT (CONNACK 0: its CONNECT handling does not check the will
 * topic against the ACL file), and what happens to the will when the
 * connection drops is what this scenario observes; a will the client may
 * write is the control. `watcher` may read everything.
 */
import { connect, drop, quiesce, subscribe, type Scenario } from '../scenario.ts';

export const wills: Scenario = {
  name: 'wills',
  description: 'wills on topics the client may not write (3.1.1 and 5.0, retained and not), dropped without DISCONNECT',
  users: { alice: 'alice-pw', watcher: 'watcher-pw' },
  acl: `user alice
topic readwrite alice/#
topic read wills/#

user watcher
topic read #
`,
  steps: [
    connect('watcher', { clientId: 'e-watcher', level: 5, username: 'watcher', password: 'watcher-pw' }),
    subscribe('watcher', 'wills/#'),
    subscribe('watcher', 'alice/#'),
    connect('denied-3.1.1', { clientId: 'e-denied4', level: 4, username: 'alice', password: 'alice-pw', will: { topic: 'wills/denied4', payload: 'gone', qos: 1 } }),
    connect('denied-5.0', { clientId: 'e-denied5', level: 5, username: 'alice', password: 'alice-pw', will: { topic: 'wills/denied5', payload: 'gone', qos: 0 } }),
    connect('denied-retained', {
      clientId: 'e-denied-r',
      level: 4,
      username: 'alice',
      password: 'alice-pw',
      will: { topic: 'wills/retained', payload: 'gone', qos: 1, retain: true },
    }),
    connect('anonymous', { clientId: 'e-anon', level: 4, will: { topic: 'wills/anon', payload: 'gone', qos: 1 } }),
    connect('allowed', { clientId: 'e-allowed', level: 5, username: 'alice', password: 'alice-pw', will: { topic: 'alice/will', payload: 'gone', qos: 1, retain: true } }),
    quiesce(),
    drop('denied-3.1.1'),
    drop('denied-5.0'),
    drop('denied-retained'),
    drop('anonymous'),
    drop('allowed'),
    quiesce(),
    // Retained wills are there for later subscribers too.
    connect('late-watcher', { clientId: 'e-late', level: 4, username: 'watcher', password: 'watcher-pw' }),
    subscribe('late-watcher', 'wills/#'),
    subscribe('late-watcher', 'alice/#'),
    quiesce(),
  ],
};
