/**
 * A sidecar and an edge that disagree about MQTT_BRIDGE_SECRET say so at
 * once in both logs, with what to set (shared/bridge-secret.ts), instead
 * of one of them quietly running in a way nobody configured. Real edge on
 * workerd, real sidecar, every combination.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LinkRefusalFix } from '../../shared/bridge-secret.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, connectExpectingRefusal, eventually } from '../helpers/mqtt-clients.ts';
import { startTestSidecar, type TestSidecar } from './harness.ts';

const edges: TestEdge[] = [];
const sidecars: TestSidecar[] = [];
afterEach(async () => {
  await Promise.all(sidecars.splice(0).map((s) => s.sidecar.close()));
  await Promise.all(edges.splice(0).map((e) => e.dispose()));
});

async function pair(edgeSecret: string | undefined, sidecarSecret: string | undefined): Promise<{ edge: TestEdge; sidecar: TestSidecar }> {
  const edge = await startTestEdge(edgeSecret === undefined ? {} : { MQTT_BRIDGE_SECRET: edgeSecret });
  edges.push(edge);
  const sidecar = await startTestSidecar(edge.mqttUrl, sidecarSecret === undefined ? {} : { MQTT_BRIDGE_SECRET: sidecarSecret });
  sidecars.push(sidecar);
  return { edge, sidecar };
}

const edgeRefusals = (edge: TestEdge, reason: string): string[] => edge.logs.filter((line) => line.includes('"event":"link_refused"') && line.includes(`"reason":"${reason}"`));

describe('MQTT_BRIDGE_SECRET', () => {
  it('different on the two sides: both logs say so at once, and devices are refused rather than served unlike the configuration', async () => {
    const { edge, sidecar } = await pair('the-edge-secret', 'the-sidecar-secret');
    const url = `mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`;
    expect(await connectExpectingRefusal(url, { protocolVersion: 4 })).toBe(3);
    await eventually(() => sidecar.events('edge.link-refused').length > 0, 10_000, "the sidecar's error");
    expect(sidecar.events('edge.link-refused')[0]).toMatchObject({ level: 'error', reason: 'secret-mismatch', fix: LinkRefusalFix['secret-mismatch'] });
    await eventually(() => edgeRefusals(edge, 'secret-mismatch').length > 0, 10_000, "the edge's warning");
    expect(edgeRefusals(edge, 'secret-mismatch')[0]).toContain('set the same value on both');
  });

  it('on the sidecar only: the Worker has none, and both say to set it there', async () => {
    const { edge, sidecar } = await pair(undefined, 'the-sidecar-secret');
    expect(await connectExpectingRefusal(`mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`, { protocolVersion: 5 })).toBe(0x88);
    await eventually(() => sidecar.events('edge.link-refused').some((line) => line['reason'] === 'no-secret-configured'), 10_000, "the sidecar's error");
    await eventually(() => edgeRefusals(edge, 'no-secret-configured').length > 0, 10_000, "the edge's warning");
    expect(edgeRefusals(edge, 'no-secret-configured')[0]).toContain('"level":"warn"');
  });

  it('on the Worker only: the sidecar says at start that it must be set there too; devices still connect', async () => {
    const { edge, sidecar } = await pair('the-edge-secret', undefined);
    await eventually(() => sidecar.events('edge.bridge-secret-missing').length > 0, 10_000, "the sidecar's error");
    expect(sidecar.events('edge.bridge-secret-missing')[0]).toMatchObject({ level: 'error', fix: LinkRefusalFix['secret-missing'] });
    expect(edgeRefusals(edge, 'secret-missing')).toHaveLength(1);
    const device = await connectClient(`mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`, { protocolVersion: 4 });
    await device.end();
  });

  it('on neither side: they agree, and the sidecar only warns what that costs', async () => {
    const { edge, sidecar } = await pair(undefined, undefined);
    await eventually(() => sidecar.events('edge.link-off').length > 0, 10_000, "the sidecar's warning");
    expect(sidecar.events('edge.link-off')[0]).toMatchObject({ level: 'warn', fix: 'set the same MQTT_BRIDGE_SECRET on both' });
    expect(sidecar.events('edge.bridge-secret-missing')).toEqual([]);
    expect(edge.logs.filter((line) => line.includes('"event":"link_refused"') && line.includes('"level":"warn"'))).toEqual([]);
    const device = await connectClient(`mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`, { protocolVersion: 4 });
    await device.end();
  });
});
