import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../edge/auth/config-error.ts';
import { ClientAcl, canRead, canWrite, parseAclFile, type AclClient } from '../../../edge/auth/acl.ts';

const acl = (...lines: string[]) => parseAclFile(lines.join('\n'));
const anonymous = (clientId = 'anon-client'): AclClient => ({ clientId });
const user = (username: string, clientId = `${username}-client`): AclClient => ({ username, clientId });

function parseError(text: string): ConfigError {
  try {
    parseAclFile(text);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseAclFile', () => {
  it('sorts topic lines into the anonymous and user blocks, and patterns apart wherever they are', () => {
    const parsed = acl(
      '# comment',
      'topic read public/#',
      '',
      'user alice',
      'topic alice/#',
      'pattern write devices/%c/status',
      'user bob',
      'topic deny bob/secret',
      'user alice',
      'topic write shared/in',
    );
    expect(parsed.anonymous).toEqual([{ access: 'read', filter: 'public/#', line: 2 }]);
    expect(parsed.users.get('alice')).toEqual([
      { access: 'readwrite', filter: 'alice/#', line: 5 },
      { access: 'write', filter: 'shared/in', line: 10 },
    ]);
    expect(parsed.users.get('bob')).toEqual([{ access: 'deny', filter: 'bob/secret', line: 8 }]);
    expect(parsed.patterns).toEqual([{ access: 'write', filter: 'devices/%c/status', line: 6 }]);
  });

  it('takes the rest of the line as the filter or username, spaces included', () => {
    const parsed = acl('user  John Smith ', 'topic read\tmy topic/with space');
    expect(parsed.users.get('John Smith')).toEqual([{ access: 'read', filter: 'my topic/with space', line: 2 }]);
  });

  it('accepts CRLF line endings and indented comments', () => {
    const parsed = acl('topic read a/#\r', '   # note\r', 'user x\r', 'topic b\r');
    expect(parsed.anonymous).toHaveLength(1);
    expect(parsed.users.get('x')).toEqual([{ access: 'readwrite', filter: 'b', line: 4 }]);
  });

  it.each([
    { name: 'an unknown directive', line: 'topics read a/b', message: /unknown directive "topics"/ },
    { name: 'user without a name', line: 'user', message: /user without a username/ },
    { name: 'topic without a filter', line: 'topic', message: /missing topic filter/ },
    { name: 'an access word without a filter', line: 'topic read', message: /missing topic filter after "read"/ },
    { name: 'an unknown access word', line: 'topic rw a/b', message: /unknown access "rw"/ },
    { name: 'a misplaced #', line: 'topic read a/#/b', message: /invalid topic filter "a\/#\/b"/ },
    { name: 'a + inside a level', line: 'pattern write sport+/%u', message: /invalid topic filter/ },
  ])('rejects $name with its line number', ({ line, message }) => {
    const error = parseError(['# acl', 'topic read ok/#', line, 'topic read later'].join('\n'));
    expect(error.line).toBe(3);
    expect(error.message).toMatch(/^line 3: /);
    expect(error.message).toMatch(message);
  });
});

describe('blocks', () => {
  const rules = acl('topic read public/#', 'user alice', 'topic readwrite alice/#', 'user bob', 'topic write bob/out');

  it('gives the anonymous block to clients without a username, and only to them', () => {
    expect(canRead(rules, anonymous(), 'public/news')).toBe(true);
    expect(canRead(rules, user('alice'), 'public/news')).toBe(false);
    expect(canRead(rules, anonymous(), 'alice/x')).toBe(false);
  });

  it("gives each user their own block and nobody else's", () => {
    expect(canRead(rules, user('alice'), 'alice/x')).toBe(true);
    expect(canWrite(rules, user('alice'), 'alice/x')).toBe(true);
    expect(canWrite(rules, user('bob'), 'alice/x')).toBe(false);
    expect(canWrite(rules, user('bob'), 'bob/out')).toBe(true);
  });

  it('separates read from write', () => {
    expect(canWrite(rules, anonymous(), 'public/news')).toBe(false);
    expect(canRead(rules, user('bob'), 'bob/out')).toBe(false);
  });

  it('denies a user with no block and no matching pattern, and everything under an empty ACL', () => {
    expect(canRead(rules, user('carol'), 'public/news')).toBe(false);
    const empty = parseAclFile('# nothing\n');
    expect(canRead(empty, anonymous(), 'a')).toBe(false);
    expect(canWrite(empty, user('x'), 'a')).toBe(false);
  });

  it('matches usernames exactly', () => {
    expect(canRead(rules, user('Alice'), 'alice/x')).toBe(false);
    expect(canRead(rules, user(''), 'public/news')).toBe(false);
  });
});

describe('subscriptions: all, some or none of what they match may be delivered (mosquitto: checked per message)', () => {
  const rules = acl('user alice', 'topic read sensors/#', 'topic read rooms/+/temp', 'topic read $SYS/broker/#', 'topic read #');
  const alice = new ClientAcl(rules, user('alice'));

  it.each([
    ['sensors/#', 'all'],
    ['sensors/+/temp', 'all'],
    ['sensors', 'all'],
    ['rooms/+/temp', 'all'],
    ['rooms/kitchen/temp', 'all'],
    ['rooms/#', 'all'], // granted by '#'
    ['$SYS/broker/uptime', 'all'],
    ['$SYS/broker/#', 'all'],
    ['$SYS/#', 'some'], // '#' never grants '$' topics: only $SYS/broker/... is delivered
    ['$SYS/other', 'none'],
  ])('%s → %s', (filter, expected) => {
    expect(alice.subscription(filter)).toBe(expected);
  });

  it('grants a wildcard subscription past a narrower grant, and delivers only what the grant allows', () => {
    const bob = new ClientAcl(acl('user bob', 'topic read rooms/+/temp'), user('bob'));
    expect(bob.subscription('rooms/#')).toBe('some');
    expect(bob.subscription('rooms/+/+')).toBe('some');
    expect(bob.subscription('rooms/+/temp')).toBe('all');
    expect(bob.subscription('halls/#')).toBe('none');
    expect(bob.mayRead('rooms/kitchen/temp')).toBe(true);
    expect(bob.mayRead('rooms/kitchen/light')).toBe(false);
    expect(bob.mayRead('rooms')).toBe(false);
  });

  it('judges a shared subscription on its filter', () => {
    expect(alice.subscription('$share/group/sensors/+')).toBe('all');
    expect(alice.subscription('$share/group/$SYS/#')).toBe('some');
    expect(alice.subscription('$share/group')).toBe('none');
    expect(canRead(rules, user('alice'), '$share/group/sensors/+')).toBe(true);
  });

  it('never allows an invalid filter or topic', () => {
    expect(canRead(rules, user('alice'), 'sensors/#/x')).toBe(false);
    expect(canRead(rules, user('alice'), '')).toBe(false);
    const writer = acl('topic write #');
    expect(canWrite(writer, anonymous(), 'a/+')).toBe(false);
    expect(canWrite(writer, anonymous(), 'a/#')).toBe(false);
    expect(canWrite(writer, anonymous(), '')).toBe(false);
    expect(canWrite(writer, anonymous(), 'a/b')).toBe(true);
  });
});

describe('deny', () => {
  const rules = acl(
    'topic read public/#',
    'topic deny public/secret',
    'user alice',
    'topic readwrite alice/#',
    'topic deny alice/private/#',
    'user carol',
    'topic readwrite users/carol/#',
    'pattern readwrite users/%u/#',
    'pattern deny users/%u/blocked',
  );

  it('wins over a grant in the same block, for reading and writing', () => {
    expect(canRead(rules, anonymous(), 'public/news')).toBe(true);
    expect(canRead(rules, anonymous(), 'public/secret')).toBe(false);
    expect(canWrite(rules, user('alice'), 'alice/private/diary')).toBe(false);
    expect(canRead(rules, user('alice'), 'alice/private/diary')).toBe(false);
    expect(canWrite(rules, user('alice'), 'alice/public')).toBe(true);
  });

  it('grants a subscription that could deliver a denied topic, and withholds only the denied messages', () => {
    const anon = new ClientAcl(rules, anonymous());
    expect(anon.subscription('public/#')).toBe('some');
    expect(anon.subscription('public/+')).toBe('some');
    expect(anon.subscription('public/+/x')).toBe('all');
    expect(anon.mayRead('public/news')).toBe(true);
    expect(anon.mayRead('public/secret')).toBe(false);
    const alice = new ClientAcl(rules, user('alice'));
    // 'alice/private/#' also denies 'alice/private' itself, which 'alice/+' can match.
    expect(alice.subscription('alice/+')).toBe('some');
    expect(alice.subscription('alice/+/x')).toBe('some');
    expect(alice.subscription('alice/public/+')).toBe('all');
    expect(alice.mayRead('alice/private')).toBe(false);
  });

  it('refuses a subscription that lies inside a deny', () => {
    expect(new ClientAcl(rules, anonymous()).subscription('public/secret')).toBe('none');
    expect(new ClientAcl(rules, user('alice')).subscription('alice/private/#')).toBe('none');
    expect(new ClientAcl(rules, user('alice')).subscription('alice/private/+/x')).toBe('none');
    expect(canRead(rules, anonymous(), 'public/secret')).toBe(false);
  });

  it('from a pattern wins over a grant in the user block', () => {
    // mosquitto would let carol's own block win here; a deny is a deny.
    expect(canWrite(rules, user('carol'), 'users/carol/blocked')).toBe(false);
    expect(canWrite(rules, user('carol'), 'users/carol/other')).toBe(true);
  });
});

describe('patterns', () => {
  const rules = acl(
    'pattern read devices/%c/#',
    'pattern write users/%u/out',
    'pattern read home/%u-devices/+',
    'pattern read literal/%x/%c',
  );

  it('substitute the client id for %c, for every client', () => {
    expect(canRead(rules, anonymous('dev1'), 'devices/dev1/temp')).toBe(true);
    expect(canRead(rules, user('alice', 'dev1'), 'devices/dev1/#')).toBe(true);
    expect(canRead(rules, anonymous('dev1'), 'devices/dev2/temp')).toBe(false);
    // Granted, but only devices/dev1/temp is delivered through it.
    expect(new ClientAcl(rules, anonymous('dev1')).subscription('devices/+/temp')).toBe('some');
    expect(new ClientAcl(rules, anonymous('dev1')).mayRead('devices/dev2/temp')).toBe(false);
  });

  it('substitute the username for %u, and do not apply to anonymous clients', () => {
    expect(canWrite(rules, user('alice'), 'users/alice/out')).toBe(true);
    expect(canWrite(rules, user('alice'), 'users/bob/out')).toBe(false);
    expect(canWrite(rules, anonymous(), 'users//out')).toBe(false);
    expect(canWrite(rules, anonymous(), 'users/%u/out')).toBe(false);
  });

  it('substitute inside a level and leave other % sequences alone', () => {
    expect(canRead(rules, user('al'), 'home/al-devices/lamp')).toBe(true);
    expect(canRead(rules, user('al'), 'home/bob-devices/lamp')).toBe(false);
    expect(canRead(rules, anonymous('c9'), 'literal/%x/c9')).toBe(true);
  });
});

describe('identities that would change a pattern', () => {
  const grants = acl('pattern readwrite users/%u/#', 'pattern read devices/%c/status', 'user a', 'topic read own/#');

  it.each([
    { name: "a username '+'", client: user('+'), topic: 'users/alice/x' },
    { name: "a username '#'", client: user('#'), topic: 'users/alice/x' },
    { name: 'a username with a slash', client: user('alice/evil'), topic: 'users/alice/evil/x' },
    { name: 'an empty username', client: user(''), topic: 'users//x' },
    { name: "a client id '+'", client: anonymous('+'), topic: 'devices/dev1/status' },
    { name: "a client id '#'", client: anonymous('#'), topic: 'devices/dev1/status' },
    { name: 'a client id with a slash', client: anonymous('dev1/x'), topic: 'devices/dev1/x/status' },
  ])('get nothing from the pattern: $name', ({ client, topic }) => {
    expect(canRead(grants, client, topic)).toBe(false);
    expect(canWrite(grants, client, topic)).toBe(false);
  });

  it("cannot reach another user's subtree through a slash", () => {
    // Substituted as is, 'a/b' would be granted users/a/b/#, which is inside user a's users/a/#.
    expect(canRead(grants, user('a/b'), 'users/a/b/inbox')).toBe(false);
    expect(canRead(grants, user('a'), 'users/a/b/inbox')).toBe(true);
  });

  it('keep the rules that need no substitution', () => {
    const safe = acl('pattern read devices/%c/status', 'user x/y', 'topic read free/#');
    expect(canRead(safe, user('x/y', 'dev/1'), 'free/a')).toBe(true);
  });

  it('are denied everything when a deny pattern would need them', () => {
    const withDeny = acl('pattern deny users/%u/blocked', 'user x/y', 'topic read free/#', 'user plain', 'topic read free/#');
    expect(canRead(withDeny, user('x/y'), 'free/a')).toBe(false);
    expect(canRead(withDeny, user('plain'), 'free/a')).toBe(true);
    // A deny pattern with %u does not apply to anonymous clients at all.
    const anonymousToo = acl('topic read free/#', 'pattern deny users/%u/blocked');
    expect(canRead(anonymousToo, anonymous(), 'free/a')).toBe(true);
  });
});
