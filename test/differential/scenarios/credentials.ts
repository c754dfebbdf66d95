/**
 * (h) Who may connect, with a password file and allow_anonymous false:
 * good, wrong and missing passwords, unknown users, anonymous clients, at
 * each protocol level. mosquitto 2.0 answers every refusal of its password
 * check with "not authorized" (handle_connect.c, MOSQ_ERR_AUTH).
 */
import { connect, type ClientSpec, type ProtocolLevel, type Scenario } from '../scenario.ts';

const levels: readonly ProtocolLevel[] = [3, 4, 5];

function attempts(level: ProtocolLevel): Array<[name: string, spec: ClientSpec]> {
  return [
    [`good-${level}`, { clientId: `h-good${level}`, level, username: 'alice', password: 'alice-pw' }],
    [`wrong-password-${level}`, { clientId: `h-wrong${level}`, level, username: 'alice', password: 'nope' }],
    [`no-password-${level}`, { clientId: `h-nopw${level}`, level, username: 'alice' }],
    [`unknown-user-${level}`, { clientId: `h-unknown${level}`, level, username: 'mallory', password: 'guess' }],
    [`anonymous-${level}`, { clientId: `h-anon${level}`, level }],
  ];
}

export const credentials: Scenario = {
  name: 'credentials',
  description: 'password file with allow_anonymous false: CONNACK codes for good, wrong, missing and unknown credentials',
  users: { alice: 'alice-pw' },
  allowAnonymous: false,
  acl: `user alice
topic readwrite alice/#
`,
  steps: levels.flatMap((level) => attempts(level).map(([name, spec]) => connect(name, spec))),
};
