/**
 * (c) `pattern` rules with %u and %c, for clients with and without a
 * username, and the identities they cannot be substituted safely for.
 * mosquitto 2.0 (security_default.c): patterns are checked after the
 * client's own block; a pattern with %u does not apply to anonymous
 * clients; a username or client id containing '+' or '#' gets no pattern
 * access at all; '/' is substituted as it is.
 */
import { connect, publish, quiesce, subscribe, type Scenario } from '../scenario.ts';

export const patterns: Scenario = {
  name: 'patterns',
  description: 'pattern rules with %u and %c; a username and a client id containing "/"',
  users: { alice: 'alice-pw', bob: 'bob-pw', 'team/eve': 'eve-pw', admin: 'admin-pw', monitor: 'monitor-pw' },
  acl: `pattern readwrite users/%u/#
pattern read devices/%c/commands
pattern write devices/%c/state

user admin
topic write #

user monitor
topic read devices/#
`,
  steps: [
    connect('alice', { clientId: 'dev1', level: 4, username: 'alice', password: 'alice-pw' }),
    connect('alice-foreign', { clientId: 'dev6', level: 4, username: 'alice', password: 'alice-pw' }),
    connect('bob', { clientId: 'dev2', level: 5, username: 'bob', password: 'bob-pw' }),
    connect('anonymous', { clientId: 'dev3', level: 5 }),
    // '/' in the username, and in the client id, reach into a deeper level of the pattern.
    connect('team/eve', { clientId: 'dev4', level: 4, username: 'team/eve', password: 'eve-pw' }),
    connect('slashed-id', { clientId: 'site/dev5', level: 5, username: 'bob', password: 'bob-pw' }),
    connect('monitor', { clientId: 'mon', level: 5, username: 'monitor', password: 'monitor-pw' }),
    connect('site-monitor', { clientId: 'mon-site', level: 4, username: 'monitor', password: 'monitor-pw' }),
    connect('admin', { clientId: 'adm', level: 5, username: 'admin', password: 'admin-pw' }),
    subscribe('alice', 'users/alice/#'),
    subscribe('alice', 'users/+/inbox'),
    subscribe('alice', 'devices/dev1/commands'),
    subscribe('alice-foreign', 'devices/dev2/commands'),
    subscribe('bob', 'users/bob/#'),
    subscribe('bob', 'devices/+/commands'),
    subscribe('anonymous', 'devices/dev3/commands'),
    subscribe('anonymous', 'users/#'),
    subscribe('team/eve', 'users/team/eve/#'),
    subscribe('slashed-id', 'devices/site/dev5/commands'),
    // What each device was let write: one level of device id, and the slashed one apart.
    subscribe('monitor', 'devices/+/+'),
    subscribe('site-monitor', 'devices/site/#'),
    quiesce(),
    publish('admin', 'users/alice/inbox', 'admin'),
    publish('admin', 'users/bob/inbox', 'admin'),
    publish('admin', 'users/team/eve/inbox', 'admin'),
    publish('admin', 'devices/dev1/commands', 'admin'),
    publish('admin', 'devices/dev2/commands', 'admin'),
    publish('admin', 'devices/dev3/commands', 'admin'),
    publish('admin', 'devices/site/dev5/commands', 'admin'),
    publish('alice', 'devices/dev1/state', 'alice'),
    publish('alice', 'devices/dev2/state', 'alice'),
    publish('alice', 'users/alice/outbox', 'alice'),
    publish('bob', 'devices/dev2/state', 'bob', { qos: 2 }),
    publish('anonymous', 'devices/dev3/state', 'anonymous'),
    publish('team/eve', 'users/team/eve/outbox', 'eve'),
    publish('slashed-id', 'devices/site/dev5/state', 'slashed'),
    quiesce(),
  ],
};
