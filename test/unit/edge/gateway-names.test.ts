import { describe, expect, it } from 'vitest';
import { loadEdgeConfig } from '../../../edge/config.ts';
import { gatewayName, gatewayNamespace, isObjectOf, locationHintFor, pickGatewayIndex } from '../../../edge/gateway/gateway-names.ts';
import { ObjectRates } from '../../../edge/gateway/object-stats.ts';

describe('gateway names and placement', () => {
  it('names a gateway apart from every namespace, and reads its namespace back', () => {
    const name = gatewayName('tenant-1', 'weur', 3);
    expect(name).toBe('tenant-1/gw/weur/3');
    expect(gatewayNamespace(name)).toBe('tenant-1');
    // A namespace name cannot hold "/", so no namespace is taken for a gateway.
    expect(gatewayNamespace('tenant-1')).toBeUndefined();
    expect(gatewayNamespace('/gw/x/1')).toBeUndefined();
  });

  it("knows the namespace's objects that exist (its core, the gateways its core lists) and asks the core only about its gateways' names", async () => {
    const asked: string[] = [];
    const listed = (object: string) => async () => {
      asked.push(object);
      return [{ role: 'core', name: 'ns' }, { role: 'gateway', name: 'ns/gw/any/0' }];
    };
    const known = async (object: string): Promise<boolean> => isObjectOf('ns', object, listed(object));
    expect(await known('ns')).toBe(true);
    expect(await known('ns/gw/any/0')).toBe(true);
    // Made-up gateways of the namespace (a restart would create each), and anything of another namespace.
    for (const object of ['ns/gw/any/1', 'ns/gw/anything', 'ns/gw/weur/0', 'other/gw/any/0', 'other', 'ns2']) expect(await known(object), object).toBe(false);
    expect(asked).toEqual(['ns/gw/any/0', 'ns/gw/any/1', 'ns/gw/anything', 'ns/gw/weur/0']);
  });

  it('maps the request region to a location hint, and none without one', () => {
    expect(locationHintFor(undefined)).toBeUndefined();
    expect(locationHintFor({})).toBeUndefined();
    expect(locationHintFor({ continent: 'NA', longitude: '-122.4' })).toBe('wnam');
    expect(locationHintFor({ continent: 'NA', longitude: '-74.0' })).toBe('enam');
    expect(locationHintFor({ continent: 'EU', longitude: '2.3' })).toBe('weur');
    expect(locationHintFor({ continent: 'EU', longitude: '37.6' })).toBe('eeur');
    expect(locationHintFor({ continent: 'AS', country: 'AE' })).toBe('me');
    expect(locationHintFor({ continent: 'AS', country: 'JP' })).toBe('apac');
    expect(locationHintFor({ continent: 'OC' })).toBe('oc');
    expect(locationHintFor({ continent: 'SA' })).toBe('sam');
    expect(locationHintFor({ continent: 'AF' })).toBe('afr');
    expect(locationHintFor({ continent: 'AN' })).toBeUndefined();
  });

  it('spreads connections over every gateway and never past the last', () => {
    expect(pickGatewayIndex(4, () => 0)).toBe(0);
    expect(pickGatewayIndex(4, () => 0.999999)).toBe(3);
    expect(pickGatewayIndex(1, () => 0.5)).toBe(0);
    const seen = new Set(Array.from({ length: 200 }, () => pickGatewayIndex(4)));
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
  });

  it('reads MQTT_GATEWAYS: 1 by default, refuses what is not a count', () => {
    expect(loadEdgeConfig({}).gateways).toBe(1);
    expect(loadEdgeConfig({ MQTT_GATEWAYS: '4' }).gateways).toBe(4);
    for (const bad of ['0', '-1', '2.5', 'four', '65']) expect(() => loadEdgeConfig({ MQTT_GATEWAYS: bad })).toThrow(/MQTT_GATEWAYS/);
  });

  it('reports rates per second between two readings', () => {
    const rates = new ObjectRates();
    const object = { role: 'gateway' as const, name: 'g', connections: 2, messagesIn: 10, messagesOut: 0, callsIn: 1, callsOut: 0, rowsRead: 0, rowsWritten: 0 };
    expect(rates.sample(1000, [object])[0]?.rates.messagesIn).toBe(0);
    const second = rates.sample(3000, [{ ...object, messagesIn: 30, callsIn: 5 }])[0];
    expect(second?.rates).toEqual({ messagesIn: 10, messagesOut: 0, callsIn: 2, callsOut: 0 });
  });
});
