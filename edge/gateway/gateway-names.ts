/**
 * Names and placement of a namespace's objects (docs/scale.md). The core
 * keeps the namespace's own name, so `MQTT_GATEWAYS=1` is the one object of
 * before, with its storage. A gateway is `<namespace>/gw/<region>/<i>`: "/"
 * cannot occur in a namespace name, so the two never collide, and the
 * region in the name makes each region's gateways distinct objects, created
 * there by their location hint.
 */

const GatewayMarker = '/gw/';

/** Cloudflare's location hints (Durable Objects docs, "Data location"). */
export type LocationHint = 'wnam' | 'enam' | 'sam' | 'weur' | 'eeur' | 'apac' | 'oc' | 'afr' | 'me';

/** Where the request came from, as far as `request.cf` tells (absent on a local runtime). */
export interface RequestPlace {
  continent?: unknown;
  country?: unknown;
  longitude?: unknown;
}

/** Countries Cloudflare's `me` hint serves (the Middle East). */
const MiddleEast = new Set(['AE', 'BH', 'IL', 'IQ', 'IR', 'JO', 'KW', 'LB', 'OM', 'PS', 'QA', 'SA', 'SY', 'TR', 'YE']);

/** The location hint for a client's region; undefined when the request does not say where it is from. */
export function locationHintFor(place: RequestPlace | undefined): LocationHint | undefined {
  if (place === undefined || typeof place.continent !== 'string') return undefined;
  const longitude = Number(place.longitude);
  if (typeof place.country === 'string' && MiddleEast.has(place.country)) return 'me';
  switch (place.continent) {
    case 'NA':
      // West of the Rockies, roughly: the western North America hint.
      return Number.isFinite(longitude) && longitude < -100 ? 'wnam' : 'enam';
    case 'SA':
      return 'sam';
    case 'EU':
      return Number.isFinite(longitude) && longitude > 20 ? 'eeur' : 'weur';
    case 'AS':
      return 'apac';
    case 'OC':
      return 'oc';
    case 'AF':
      return 'afr';
    default:
      return undefined;
  }
}

export function gatewayName(namespace: string, region: LocationHint | 'any', index: number): string {
  return `${namespace}${GatewayMarker}${region}/${index}`;
}

/** The namespace a gateway serves; undefined for a name that is not a gateway's. */
export function gatewayNamespace(name: string): string | undefined {
  const at = name.indexOf(GatewayMarker);
  return at <= 0 ? undefined : name.slice(0, at);
}

/**
 * Whether `object` names one of the namespace's objects that exist: its
 * core (the namespace's name), or a gateway its core lists (`listed`: the
 * core's `objects`, asked only for a name of one of its gateways). A
 * Durable Object is created by being addressed, so an admin action on any
 * other name must not address it: a made-up `<ns>/gw/<anything>` would be
 * a new object per name.
 */
export async function isObjectOf(namespace: string, object: string, listed: () => Promise<ReadonlyArray<{ role: string; name: string }>>): Promise<boolean> {
  if (object === namespace) return true;
  if (gatewayNamespace(object) !== namespace) return false;
  return (await listed()).some((known) => known.role === 'gateway' && known.name === object);
}

/**
 * Which gateway a new WebSocket gets. The Worker does not know the client id
 * yet (CONNECT follows the upgrade), and no client id needs a fixed gateway
 * (the core owns the directory), so any spread will do: random spreads
 * evenly without shared state.
 */
export function pickGatewayIndex(count: number, random: () => number = Math.random): number {
  return Math.min(count - 1, Math.floor(random() * count));
}
