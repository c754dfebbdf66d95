/**
 * (h) A deny and a grant from different places. mosquitto 2.0 checks the
 * client's own block first (its denies first), then the patterns (their
 * denies first), and the first rule that matches decides
 * (security_default.c): a grant in the user's block beats a pattern deny,
 * while a deny in the block beats a pattern grant. The edge lets a deny win
 * from anywhere (edge/auth/acl.ts), the one place it is stricter on purpose.
 */
import { connect, publish, quiesce, subscribe, type Scenario } from '../scenario.ts';

const alice = { level: 5, username: 'alice', password: 'alice-pw' } as const;

export const denyPrecedence: Scenario = {
  name: 'deny-precedence',
  description: 'a pattern deny against a user-block grant, and a block deny against a pattern grant',
  users: { alice: 'alice-pw', admin: 'admin-pw' },
  acl: `pattern deny home/%u/private
pattern read feeds/%u/#

user alice
topic readwrite home/#
topic deny feeds/alice/blocked

user admin
topic write #
`,
  steps: [
    // The pattern deny against the block's grant.
    connect('alice-private', { ...alice, clientId: 'p-private' }),
    // The block's deny against the pattern's grant: under a wildcard, and alone.
    connect('alice-feeds', { ...alice, clientId: 'p-feeds' }),
    connect('alice-blocked', { ...alice, clientId: 'p-blocked' }),
    connect('admin', { clientId: 'p-admin', level: 4, username: 'admin', password: 'admin-pw' }),
    subscribe('alice-private', 'home/alice/private'),
    subscribe('alice-feeds', 'feeds/alice/#'),
    subscribe('alice-blocked', 'feeds/alice/blocked'),
    quiesce(),
    publish('admin', 'home/alice/private', 'admin'),
    publish('admin', 'feeds/alice/news', 'admin'),
    publish('admin', 'feeds/alice/blocked', 'admin'),
    publish('alice-private', 'home/alice/private', 'alice'),
    publish('alice-blocked', 'feeds/alice/blocked', 'alice'),
    quiesce(),
  ],
};
