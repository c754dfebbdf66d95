/**
 * Users and ACL entries added at runtime (the admin API) on top of
 * configured files: the edge gets them through its API, mosquitto gets them
 * written into its files where their lines would go (a user's entries in its
 * block, entries without a username before the first `user` line, patterns
 * anywhere). Both must then decide alike: alice's configured read of
 * shared/# narrowed by a runtime deny and widened by a runtime write; bob,
 * a runtime user with only runtime entries; an anonymous runtime block; and
 * %c / %u patterns added at runtime.
 */
import { connect, publish, quiesce, subscribe, type Scenario } from '../scenario.ts';

export const runtimeEntries: Scenario = {
  name: 'runtime-entries',
  description: 'runtime users and ACL entries merged into configured files, as their lines would be',
  users: { alice: 'alice-pw', writer: 'writer-pw' },
  acl: `topic read public/#

user alice
topic read shared/#

user writer
topic write #
`,
  runtime: {
    users: { bob: 'bob-pw' },
    acl: [
      { username: 'alice', access: 'deny', topic: 'shared/secret' },
      { username: 'alice', access: 'write', topic: 'shared/alice' },
      { username: 'bob', access: 'readwrite', topic: 'bob/#' },
      { username: 'bob', access: 'read', topic: 'devices/#' },
      { access: 'read', topic: 'anon/#' },
      { pattern: true, access: 'write', topic: 'devices/%c/state' },
      { pattern: true, access: 'read', topic: 'users/%u/#' },
    ],
  },
  steps: [
    connect('alice', { clientId: 'r-alice', level: 4, username: 'alice', password: 'alice-pw' }),
    connect('bob', { clientId: 'r-bob', level: 5, username: 'bob', password: 'bob-pw' }),
    connect('writer', { clientId: 'r-writer', level: 5, username: 'writer', password: 'writer-pw' }),
    connect('anonymous', { clientId: 'r-anon', level: 4 }),
    connect('device', { clientId: 'r-dev', level: 5 }),
    subscribe('alice', 'shared/#'),
    subscribe('alice', 'users/alice/#'),
    subscribe('bob', 'bob/#'),
    subscribe('bob', 'users/bob/#'),
    subscribe('bob', 'devices/#'),
    subscribe('anonymous', 'anon/#'),
    subscribe('anonymous', 'public/#'),
    quiesce(),
    publish('writer', 'shared/a', 'writer'),
    publish('writer', 'shared/secret', 'writer'),
    publish('writer', 'bob/1', 'writer'),
    publish('writer', 'users/alice/x', 'writer'),
    publish('writer', 'users/bob/y', 'writer'),
    publish('writer', 'anon/1', 'writer'),
    publish('writer', 'public/1', 'writer'),
    publish('alice', 'shared/alice', 'alice'),
    publish('alice', 'shared/other', 'alice'),
    publish('bob', 'bob/2', 'bob', { qos: 2 }),
    publish('bob', 'shared/x', 'bob'),
    publish('device', 'devices/r-dev/state', 'device'),
    publish('device', 'devices/other/state', 'device'),
    quiesce(),
  ],
};
