/**
 * The contract between a sidecar and the edge about MQTT_BRIDGE_SECRET,
 * shared so that both sides name a disagreement alike. With the same
 * secret on both, the edge believes the device addresses the sidecar
 * forwards, lets it answer its devices' keep-alives, and lets it carry them
 * all on one link; a sidecar and an edge that disagree say so in both logs,
 * with what to set, instead of running in a way nobody configured.
 */

/** Headers of a sidecar's upgrade requests, and of the edge's refusal of a link. */
export const BridgeHeader = {
  Secret: 'x-mqtt-bridge-secret',
  ClientAddress: 'x-mqtt-client-address',
  /** On the edge's 403 to a link upgrade: which {@link LinkRefusal} it is. */
  LinkRefused: 'x-mqtt-link-refused',
} as const;

/** Why the edge refused a sidecar's link. */
export type LinkRefusal = 'no-secret-configured' | 'secret-missing' | 'secret-mismatch';

/** What to set, in the words both logs use. */
export const LinkRefusalFix: Readonly<Record<LinkRefusal, string>> = {
  'no-secret-configured': "the Worker has no MQTT_BRIDGE_SECRET: set the sidecar's value on the Worker (wrangler secret put MQTT_BRIDGE_SECRET)",
  'secret-missing': "the Worker has an MQTT_BRIDGE_SECRET and the sidecar sent none: set the Worker's value on the sidecar (MQTT_BRIDGE_SECRET)",
  'secret-mismatch': 'the sidecar\'s MQTT_BRIDGE_SECRET differs from the Worker\'s: set the same value on both (wrangler secret put MQTT_BRIDGE_SECRET, and the sidecar\'s setting)',
};

export function isLinkRefusal(value: string | null | undefined): value is LinkRefusal {
  return value === 'no-secret-configured' || value === 'secret-missing' || value === 'secret-mismatch';
}
