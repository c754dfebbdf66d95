/**
 * (b) Two users with their own `user` blocks and different grants, an
 * anonymous client with no anonymous block, and a user in the password file
 * with no block. In mosquitto each client gets exactly one block: its
 * user's, or the anonymous one (acl__find_acls); none means only patterns
 * apply, and here the only pattern is the runner's fence rule.
 */
import { connect, publish, quiesce, subscribe, type Scenario } from '../scenario.ts';

export const userBlocks: Scenario = {
  name: 'user-blocks',
  description: 'alice and bob with different grants; anonymous and block-less users get nothing',
  users: { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', admin: 'admin-pw' },
  acl: `user alice
topic readwrite alice/#
topic read shared/#
topic write inbox/bob

user bob
topic readwrite bob/#
topic read shared/+
topic read inbox/bob
topic write shared/news

user admin
topic write #
`,
  steps: [
    connect('alice', { clientId: 'b-alice', level: 4, username: 'alice', password: 'alice-pw' }),
    connect('bob', { clientId: 'b-bob', level: 5, username: 'bob', password: 'bob-pw' }),
    connect('carol', { clientId: 'b-carol', level: 5, username: 'carol', password: 'carol-pw' }),
    connect('anonymous', { clientId: 'b-anon', level: 4 }),
    connect('admin', { clientId: 'b-admin', level: 5, username: 'admin', password: 'admin-pw' }),
    // Filters each user may read in full, filters reaching beyond their grants, and others' topics.
    subscribe('alice', 'alice/#'),
    subscribe('alice', 'shared/#'),
    subscribe('alice', 'bob/#'),
    subscribe('bob', 'bob/+'),
    subscribe('bob', 'shared/#'),
    subscribe('bob', 'inbox/+'),
    subscribe('carol', '#'),
    subscribe('anonymous', '#'),
    quiesce(),
    publish('admin', 'alice/1', 'admin'),
    publish('admin', 'bob/1', 'admin'),
    publish('admin', 'shared/news', 'admin'),
    publish('admin', 'shared/a/b', 'admin'),
    publish('admin', 'inbox/bob', 'admin'),
    publish('admin', 'inbox/alice', 'admin'),
    publish('alice', 'alice/2', 'alice'),
    publish('alice', 'inbox/bob', 'alice'),
    publish('alice', 'bob/2', 'alice'),
    publish('alice', 'shared/news', 'alice'),
    publish('bob', 'shared/news', 'bob'),
    publish('bob', 'bob/3', 'bob', { qos: 2 }),
    publish('bob', 'alice/3', 'bob'),
    publish('carol', 'alice/4', 'carol'),
    publish('anonymous', 'alice/5', 'anonymous'),
    quiesce(),
  ],
};
