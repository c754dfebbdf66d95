/**
 * (h) A takeover while the old connection is still open, the old
 * connection holding a will. mosquitto 2.0 (handle_connect.c
 * connect__on_authorised) sends the old will only if the old session ends
 * (it was clean, or the new CONNECT is clean) and otherwise discards it.
 * The edge sends a 3.x will whenever its connection is closed without
 * DISCONNECT [MQTT-3.1.2-8], and keeps a 5.0 will back only when the new
 * connection goes on with the session [MQTT-3.1.3-9]: the two differ on a
 * persistent 3.1.1 session taken over by a persistent connection
 * (docs/conformance-decisions.md). A clean takeover is the control; a
 * clean session taken over by a persistent connection (3.1.1, and 5.0 with
 * Session Expiry 0) sends its will on both.
 */
import { connect, quiesce, subscribe, takeover, type Scenario } from '../scenario.ts';

export const liveTakeover: Scenario = {
  name: 'live-takeover',
  description: 'taking over an open connection that holds a will: persistent (3.1.1, 5.0) and clean, by a clean or a persistent connection',
  users: { alice: 'alice-pw', watcher: 'watcher-pw' },
  acl: `user alice
topic readwrite alice/#

user watcher
topic read #
`,
  steps: [
    connect('watcher', { clientId: 'l-watcher', level: 5, username: 'watcher', password: 'watcher-pw' }),
    subscribe('watcher', 'alice/#'),
    connect('first-3.1.1', { clientId: 'l-s4', level: 4, username: 'alice', password: 'alice-pw', clean: false, will: { topic: 'alice/will4', payload: 'first', qos: 1 } }),
    connect('first-5.0', {
      clientId: 'l-s5',
      level: 5,
      username: 'alice',
      password: 'alice-pw',
      clean: false,
      sessionExpiry: 300,
      will: { topic: 'alice/will5', payload: 'first', qos: 1 },
    }),
    connect('first-clean', { clientId: 'l-clean', level: 4, username: 'alice', password: 'alice-pw', will: { topic: 'alice/will-clean', payload: 'first', qos: 1 } }),
    connect('first-clean-3.1.1', { clientId: 'l-c4', level: 4, username: 'alice', password: 'alice-pw', will: { topic: 'alice/will-c4', payload: 'first', qos: 1 } }),
    connect('first-expiry-0', { clientId: 'l-c5', level: 5, username: 'alice', password: 'alice-pw', will: { topic: 'alice/will-c5', payload: 'first', qos: 1 } }),
    quiesce(),
    takeover('second-3.1.1', { clientId: 'l-s4', level: 4, username: 'alice', password: 'alice-pw', clean: false }),
    takeover('second-5.0', { clientId: 'l-s5', level: 5, username: 'alice', password: 'alice-pw', clean: false, sessionExpiry: 300 }),
    takeover('second-clean', { clientId: 'l-clean', level: 4, username: 'alice', password: 'alice-pw' }),
    takeover('second-clean-3.1.1', { clientId: 'l-c4', level: 4, username: 'alice', password: 'alice-pw', clean: false }),
    takeover('second-expiry-0', { clientId: 'l-c5', level: 5, username: 'alice', password: 'alice-pw', clean: false, sessionExpiry: 300 }),
    quiesce(),
  ],
};
