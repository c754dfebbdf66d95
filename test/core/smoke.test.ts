import { describe, expect, it } from 'vitest';
import { CoreHarness } from './harness.ts';

describe('the core in-process', () => {
  it('connects, subscribes, routes a QoS 1 message and survives a restart', async () => {
    const harness = await CoreHarness.create();
    const sub = harness.open();
    await sub.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'sub', clean: true, keepalive: 30 });
    await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 1 }] });
    const pub = harness.open();
    await pub.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'pub', clean: true, keepalive: 30 });
    await pub.send({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, messageId: 9 });
    expect(sub.received('publish').map((p) => p.payload.toString())).toEqual(['x']);
    expect(pub.received('puback')).toHaveLength(1);
    harness.restart();
    await pub.send({ cmd: 'publish', topic: 'a/c', payload: Buffer.from('y'), qos: 0, retain: false, dup: false });
    expect(sub.received('publish').map((p) => p.payload.toString())).toEqual(['x', 'y']);
    await harness.advance(60_000);
    expect(sub.closedWith).toBeDefined();
  });
});
