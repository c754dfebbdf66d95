/**
 * A sidecar without MQTT_BRIDGE_SECRET cannot open the link: it serves
 * each device over a WebSocket of its own, the edge enforces their
 * keep-alive (every PINGREQ wakes the Durable Object) and sees the
 * sidecar's address instead of theirs. That is a setting both sides may
 * agree on; an edge that does have a secret means they disagree. One link
 * upgrade without a secret at start tells which (the edge's 403 says, see
 * shared/bridge-secret.ts), and the log says what to set.
 */
import { BridgeHeader, LinkRefusalFix, isLinkRefusal } from '../shared/bridge-secret.ts';
import { LinkSubprotocol } from '../shared/link-protocol.ts';
import { openEdgeSocket, type EdgeTarget } from './edge-socket.ts';
import type { Logger } from './log.ts';

export type SecretAgreement = 'both-without' | 'edge-has-one' | 'unknown';

/** Asks the edge, once; logs the answer and returns it. Never rejects. */
export function checkSecretAgreement(target: EdgeTarget, log: Logger): Promise<SecretAgreement> {
  return new Promise((resolve) => {
    const ws = openEdgeSocket({ url: target.url, handshakeTimeoutMs: target.handshakeTimeoutMs }, undefined, LinkSubprotocol);
    let settled = false;
    const done = (agreement: SecretAgreement): void => {
      if (settled) return;
      settled = true;
      if (agreement === 'edge-has-one') log.error('edge.bridge-secret-missing', { url: target.url, fix: LinkRefusalFix['secret-missing'] });
      else if (agreement === 'both-without') {
        log.warn('edge.link-off', {
          reason: 'no MQTT_BRIDGE_SECRET on the sidecar or the Worker',
          effect: 'one WebSocket per device; the edge enforces keep-alive (each PINGREQ wakes it) and sees this sidecar as every device address',
          fix: 'set the same MQTT_BRIDGE_SECRET on both',
        });
      }
      resolve(agreement);
    };
    ws.on('unexpected-response', (_request, response) => {
      const refusal = response.headers[BridgeHeader.LinkRefused];
      const reason = typeof refusal === 'string' && isLinkRefusal(refusal) ? refusal : undefined;
      response.resume();
      ws.terminate();
      if (reason === 'secret-missing') done('edge-has-one');
      else if (reason === 'no-secret-configured') done('both-without');
      else done('unknown');
    });
    // An edge that let a link in without a secret, or that cannot be reached now: nothing to say about the secrets.
    ws.on('open', () => {
      ws.terminate();
      done('unknown');
    });
    ws.on('error', () => done('unknown'));
    ws.on('close', () => done('unknown'));
  });
}
