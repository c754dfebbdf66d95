/**
 * MQTT 5 User Properties keep their order when forwarded [MQTT-3.3.2-18],
 * but mqtt-packet carries them as an object (name → value or values), which
 * loses the order of interleaved names: (a,1),(b,2),(a,3) would leave as
 * (a,1),(a,3),(b,2). The decoder therefore keeps the pairs in wire order
 * beside the object, under a symbol the object form ignores, and the
 * encoder writes them back in that order.
 */
import type { UserProperties } from './types.ts';

export type UserPropertyPair = [name: string, value: string];

/** Where the wire order of a decoded User Properties object is kept. */
const WireOrder: unique symbol = Symbol('mqtt.userProperties.wireOrder');

type Ordered = UserProperties & { [WireOrder]?: readonly UserPropertyPair[] };

/**
 * The object form of `pairs`, without a prototype (a name like "__proto__"
 * is just a name), a repeated name as an array of its values, and the pairs
 * themselves remembered in order.
 */
export function userPropertiesFromPairs(pairs: readonly UserPropertyPair[]): UserProperties {
  const result = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of pairs) {
    const existing = result[name];
    if (existing === undefined) result[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else result[name] = [existing, value];
  }
  Object.defineProperty(result, WireOrder, { value: pairs.map(([name, value]) => [name, value]), enumerable: false });
  return result;
}

/** The pairs in wire order: as decoded if known, else in the object's own order. */
export function userPropertyPairs(properties: UserProperties): UserPropertyPair[] {
  const known = (properties as Ordered)[WireOrder];
  if (known !== undefined) return known.map(([name, value]) => [name, value]);
  const pairs: UserPropertyPair[] = [];
  for (const [name, value] of Object.entries(properties)) {
    for (const one of Array.isArray(value) ? value : [value]) pairs.push([name, one]);
  }
  return pairs;
}

/** True when the object form would write the pairs in another order. */
export function hasInterleavedOrder(properties: UserProperties): boolean {
  const known = (properties as Ordered)[WireOrder];
  if (known === undefined) return false;
  const grouped = userPropertyPairs(Object.assign(Object.create(null) as UserProperties, properties));
  return known.some(([name, value], index) => grouped[index]?.[0] !== name || grouped[index]?.[1] !== value);
}
