/**
 * One log line per connection event, with the same field names from the
 * edge and from the sidecar (shared/connection-log.ts): the same client
 * events are caused over WebSocket and through the sidecar's TCP port, and
 * the lines each side wrote (workerd's output through Miniflare's log
 * handling; the sidecar's JSON lines) are compared key for key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommonConnectionFields, ConnectionEvents, LinkEvents, type ConnectionEvent } from '../../shared/connection-log.ts';
import { adminClient } from '../helpers/admin-api.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { connectClient, connectExpectingRefusal, eventually } from '../helpers/mqtt-clients.ts';
import { connectPacket, openPeer } from '../helpers/raw-peer.ts';
import { startTestSidecar, type TestSidecar } from '../sidecar/harness.ts';
import { uniqueNames } from '../helpers/names.ts';

const Namespace = 'logs';
const Secret = 'connection-logs-secret';
const Token = 'connection-logs-admin';

let edge: TestEdge;
let sidecar: TestSidecar;

beforeAll(async () => {
  edge = await startTestEdge({ MQTT_BRIDGE_SECRET: Secret, MQTT_ADMIN_TOKEN: Token });
  sidecar = await startTestSidecar(`${edge.mqttUrl}/${Namespace}`, { MQTT_BRIDGE_SECRET: Secret });
  // A runtime user, so that a wrong password is refused on both paths.
  const put = await adminClient(edge.url, Token)('PUT', `/admin/${Namespace}/users/logger`, { password: 'logger-pw' });
  expect(put.status).toBe(201);
});
afterAll(async () => {
  await sidecar?.sidecar.close();
  await edge?.dispose();
});

type Line = Record<string, unknown>;

function edgeLines(): Line[] {
  return edge.logs.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as unknown;
      return typeof parsed === 'object' && parsed !== null ? [parsed as Line] : [];
    } catch {
      return [];
    }
  });
}

const find = (lines: Line[], event: string, client: string): Line | undefined => lines.find((line) => line['event'] === event && line['client'] === client);
const keys = (line: Line | undefined): string[] => Object.keys(line ?? {}).sort();

/** What every line of `event` has: the logger's own fields, then the event's (shared/connection-log.ts). */
function expectedKeys(event: ConnectionEvent | keyof typeof LinkEvents): string[] {
  const own: readonly string[] = event in ConnectionEvents ? [...CommonConnectionFields, ...ConnectionEvents[event as ConnectionEvent]] : ['namespace', ...LinkEvents[event as keyof typeof LinkEvents]];
  return [...new Set(['ts', 'level', 'event', 'component', ...own])].sort();
}

const unique = uniqueNames();
const wsUrl = (): string => `${edge.mqttUrl}/${Namespace}`;
const tcpUrl = (): string => `mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`;

describe('connection events, edge and sidecar', () => {
  it('accepted and closed: the same fields on both sides, for a WebSocket client and a TCP device', async () => {
    const ws = unique('ws');
    const tcp = unique('tcp');
    for (const [url, clientId] of [[wsUrl(), ws], [tcpUrl(), tcp]] as const) {
      const client = await connectClient(url, { clientId, username: 'logger', password: 'logger-pw', protocolVersion: 5, keepalive: 30 });
      await client.end();
    }
    await eventually(() => find(edgeLines(), 'connection.closed', ws) !== undefined && find(edgeLines(), 'connection.closed', tcp) !== undefined, 10_000, 'edge connection.closed lines');
    await eventually(() => find(sidecar.logs, 'connection.closed', tcp) !== undefined, 10_000, 'sidecar connection.closed line');

    for (const event of ['connection.accepted', 'connection.closed'] as const) {
      const fromEdgeWs = find(edgeLines(), event, ws);
      const fromEdgeLink = find(edgeLines(), event, tcp);
      const fromSidecar = find(sidecar.logs, event, tcp);
      expect(keys(fromEdgeWs), `${event} edge/ws`).toEqual(expectedKeys(event));
      expect(keys(fromEdgeLink), `${event} edge/link`).toEqual(expectedKeys(event));
      expect(keys(fromSidecar), `${event} sidecar`).toEqual(expectedKeys(event));
    }
    // The values say the same things in the same terms.
    expect(find(edgeLines(), 'connection.accepted', ws)).toMatchObject({ component: 'edge', namespace: Namespace, username: 'logger', protocol: 5, transport: 'ws', keepalive: 30, clean: true, session_present: false });
    expect(find(edgeLines(), 'connection.accepted', tcp)).toMatchObject({ component: 'edge', namespace: Namespace, username: 'logger', protocol: 5, transport: 'link' });
    expect(find(sidecar.logs, 'connection.accepted', tcp)).toMatchObject({ component: 'sidecar', namespace: Namespace, username: 'logger', protocol: 5, transport: 'tcp', keepalive: 30, clean: true, session_present: false });
    expect(find(edgeLines(), 'connection.closed', ws)).toMatchObject({ reason: 'client-disconnect', duration_ms: expect.any(Number) });
    expect(find(sidecar.logs, 'connection.closed', tcp)).toMatchObject({ reason: 'device-disconnected', duration_ms: expect.any(Number) });
    expect(JSON.stringify([...edgeLines(), ...sidecar.logs])).not.toContain('logger-pw');
  });

  it('refused: the same fields and the same reason name and code at 3.1.1', async () => {
    const ws = unique('ws-bad');
    const tcp = unique('tcp-bad');
    expect(await connectExpectingRefusal(wsUrl(), { clientId: ws, username: 'logger', password: 'wrong', protocolVersion: 4 })).toBe(4);
    expect(await connectExpectingRefusal(tcpUrl(), { clientId: tcp, username: 'logger', password: 'wrong', protocolVersion: 4 })).toBe(4);
    await eventually(() => find(sidecar.logs, 'connection.refused', tcp) !== undefined && find(edgeLines(), 'connection.refused', tcp) !== undefined, 10_000, 'refusal lines');
    const lines = [find(edgeLines(), 'connection.refused', ws), find(edgeLines(), 'connection.refused', tcp), find(sidecar.logs, 'connection.refused', tcp)];
    for (const line of lines) {
      expect(keys(line)).toEqual(expectedKeys('connection.refused'));
      expect(line).toMatchObject({ namespace: Namespace, username: 'logger', protocol: 4, reason: 'bad-username-or-password', code: 4 });
    }
  });

  it('keep-alive timeout and protocol error: the same fields, whichever side notices', async () => {
    const wsSilent = unique('ws-silent');
    const tcpSilent = unique('tcp-silent');
    const silentWs = await openPeer({ kind: 'ws', url: wsUrl() }, 4);
    const silentTcp = await openPeer({ kind: 'tcp', port: sidecar.sidecar.tcpPort }, 4);
    silentWs.send(connectPacket(wsSilent, { keepalive: 1 }, 4));
    silentTcp.send(connectPacket(tcpSilent, { keepalive: 1 }, 4));
    await Promise.all([silentWs.closed, silentTcp.closed]);
    await eventually(() => find(edgeLines(), 'connection.keepalive-timeout', wsSilent) !== undefined && find(sidecar.logs, 'connection.keepalive-timeout', tcpSilent) !== undefined, 10_000, 'keep-alive lines');
    expect(keys(find(edgeLines(), 'connection.keepalive-timeout', wsSilent))).toEqual(expectedKeys('connection.keepalive-timeout'));
    expect(keys(find(sidecar.logs, 'connection.keepalive-timeout', tcpSilent))).toEqual(expectedKeys('connection.keepalive-timeout'));
    expect(find(edgeLines(), 'connection.closed', wsSilent)).toMatchObject({ reason: 'keepalive-timeout' });

    // A PUBLISH of QoS 3 is malformed [MQTT-3.3.1-4]: the edge's decoder sees it from a WebSocket client, the sidecar's framer from a device.
    const wsBad = unique('ws-malformed');
    const tcpBad = unique('tcp-malformed');
    for (const [target, clientId] of [[{ kind: 'ws', url: wsUrl() }, wsBad], [{ kind: 'tcp', port: sidecar.sidecar.tcpPort }, tcpBad]] as const) {
      const peer = await openPeer(target, 5);
      peer.send(connectPacket(clientId));
      await peer.waitFor('connack');
      peer.sendBytes(new Uint8Array([0x36, 0x03, 0x00, 0x01, 0x61]));
      await peer.closed;
    }
    const edgeError = (): Line | undefined => find(edgeLines(), 'connection.protocol-error', wsBad);
    const tcpError = (): Line | undefined => find(sidecar.logs, 'connection.protocol-error', tcpBad) ?? find(edgeLines(), 'connection.protocol-error', tcpBad);
    await eventually(() => edgeError() !== undefined && tcpError() !== undefined, 10_000, 'protocol error lines');
    expect(keys(edgeError())).toEqual(expectedKeys('connection.protocol-error'));
    expect(keys(tcpError())).toEqual(expectedKeys('connection.protocol-error'));
    expect(edgeError()).toMatchObject({ reason: 'malformed-packet', code: 0x81 });
    expect(tcpError()).toMatchObject({ reason: 'malformed-packet', code: 0x81 });
  });

  it("the sidecar's link: opened on both sides with the same fields", async () => {
    await eventually(() => edgeLines().some((line) => line['event'] === 'link.opened') && sidecar.logs.some((line) => line['event'] === 'link.opened'), 10_000, 'link.opened lines');
    const fromEdge = edgeLines().find((line) => line['event'] === 'link.opened');
    const fromSidecar = sidecar.logs.find((line) => line['event'] === 'link.opened');
    expect(keys(fromEdge)).toEqual(expectedKeys('link.opened'));
    expect(keys(fromSidecar)).toEqual(expectedKeys('link.opened'));
    expect(fromEdge?.['sidecar']).toBe(fromSidecar?.['sidecar']);
  });
});
