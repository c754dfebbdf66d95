/**
 * The stall watchdog (issue 12): a connected client with queued messages
 * and room in its window is reported (warning, counter, admin view) and its
 * queue is sent; a client that merely does not acknowledge is not a stall.
 */
import { describe, expect, it } from 'vitest';
import { StallAfterMs, StallCheckMs } from '../../edge/core/stall-watchdog.ts';
import { CoreHarness, type HarnessConnection } from './harness.ts';

async function subscriberWithBacklog(harness: CoreHarness, receiveMaximum: number, messages: number): Promise<HarnessConnection> {
  const sub = harness.open();
  await sub.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'sub', clean: true, keepalive: 0, properties: { receiveMaximum } });
  await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'T/#', qos: 1 }] });
  const pub = harness.open();
  await pub.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'pub', clean: true, keepalive: 0 });
  for (let i = 0; i < messages; i++) await pub.send({ cmd: 'publish', topic: 'T/t', payload: Buffer.from(String(i)), qos: 1, retain: false, dup: false, messageId: i + 1 });
  return sub;
}

describe('the stall watchdog', () => {
  it('leaves a client alone that holds its window full without acknowledging', async () => {
    const harness = await CoreHarness.create();
    const sub = await subscriberWithBacklog(harness, 2, 5);
    expect(sub.received('publish')).toHaveLength(2);
    const [summary] = harness.core.listClients().filter((c) => c.clientId === 'sub');
    expect(summary).toMatchObject({ inflight: 2, inflightMemoryOnly: 2, queued: 3, receiveMaximum: 2 });
    expect(summary?.stalledSince).toBeUndefined();
    await harness.advance(60_000);
    expect(harness.logs.filter((r) => r.event === 'stall_detected')).toEqual([]);
    expect(harness.core.stats().counters.stallsDetected).toBe(0);
  });

  it('reports a queue that does not move while the window is free, then sends it', async () => {
    const harness = await CoreHarness.create();
    const sub = await subscriberWithBacklog(harness, 2, 5);
    // Simulate the class of bug issue 12 was: acknowledgements free the window, but nothing sends the queue.
    const core = harness.core;
    const outbound = core.outbound;
    const pump = outbound.pump.bind(outbound);
    outbound.pump = () => undefined;
    for (const publish of sub.received('publish')) await sub.send({ cmd: 'puback', messageId: publish.messageId as number });
    outbound.pump = pump;
    expect(sub.received('publish')).toHaveLength(2);

    await harness.advance(StallCheckMs);
    const [seen] = core.listClients().filter((c) => c.clientId === 'sub');
    expect(seen).toMatchObject({ inflight: 0, queued: 3, stalledSince: harness.now });
    expect(core.stats().stalled).toBe(1);

    await harness.advance(StallAfterMs);
    const reports = harness.logs.filter((r) => r.event === 'stall_detected');
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ level: 'warn', fields: { client: 'sub', queued: 3, inflight: 0, receive_maximum: 2 } });
    expect(core.stats().counters.stallsDetected).toBe(1);
    // Recovered: the queue moved into the window.
    expect(sub.received('publish').map((p) => p.payload.toString())).toEqual(['0', '1', '2', '3']);
    await harness.advance(3 * StallCheckMs);
    expect(core.stats().stalled).toBe(0);
  });
});
