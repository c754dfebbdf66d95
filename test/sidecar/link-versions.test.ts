/**
 * The link's versions from the sidecar's side (docs/link-protocol.md): it
 * offers every version it speaks and uses the one the edge picks. With an
 * edge of version 2 or 3 it reports its bridges (STATUS) as soon as the
 * link is up; an edge of version 1 (older) would take a STATUS for a
 * protocol error, so it never gets one, and the link works as before.
 * (Credit, version 3, is in credit.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { LinkFrame } from '../../shared/link-protocol.ts';
import type { LinkStatus } from '../../shared/link-status.ts';
import type { EdgeChannelEvents } from '../../sidecar/edge-channel.ts';
import { EdgeLink } from '../../sidecar/edge-link.ts';
import { createLogger } from '../../sidecar/log.ts';
import { closeStarted, startFakeEdge, waitUntil, type EdgeLinkConnection } from './harness.ts';

const links: EdgeLink[] = [];
afterEach(async () => {
  for (const link of links.splice(0)) await link.close();
  await closeStarted();
});

const status: LinkStatus = { bridges: [{ name: 'factory-7', remote: '10.0.0.5:1883', state: 'connecting', since: 1, messagesIn: 0, messagesOut: 0 }] };

const ignore: EdgeChannelEvents = { onOpen: () => undefined, onMessage: () => undefined, onProtocolError: () => undefined, onError: () => undefined, onClose: () => undefined };

async function linkTo(linkVersion: number): Promise<{ link: EdgeLink; edgeEnd: EdgeLinkConnection }> {
  const edge = await startFakeEdge({ linkVersion });
  const link = new EdgeLink({ target: { url: edge.url, handshakeTimeoutMs: 5_000, secret: 's' }, log: createLogger({ format: 'json', level: 'silent' }), deviceQueueBytes: 1 << 20, name: 'sidecar-under-test' });
  links.push(link);
  link.reportStatus(() => status);
  link.start();
  await waitUntil(() => edge.links[0]?.name !== undefined, 'the HELLO');
  // A device after the HELLO: its OPEN is the fence, a STATUS sent when the link opened comes before it.
  link.dial('10.1.1.1:5000', ignore);
  await waitUntil(() => edge.links[0]?.frames.some((frame) => frame.type === 'open') === true, 'the OPEN');
  return { link, edgeEnd: edge.links[0] as EdgeLinkConnection };
}

const types = (frames: LinkFrame[]): string[] => frames.map((frame) => frame.type);

describe('link versions, from the sidecar', () => {
  it('offers both versions; a version 2 edge gets HELLO 2 and the bridges at once, and again after a change', async () => {
    const { link, edgeEnd } = await linkTo(2);
    expect(edgeEnd.ws.protocol).toBe('mqtt-link.2');
    expect(link.stats.version).toBe(2);
    expect(types(edgeEnd.frames)).toEqual(['hello', 'status', 'open']);
    expect(edgeEnd.frames[0]).toMatchObject({ version: 2, name: 'sidecar-under-test' });
    expect(edgeEnd.frames[1]).toEqual({ type: 'status', status });
    status.bridges[0]!.state = 'connected';
    link.statusChanged('state');
    await waitUntil(() => edgeEnd.frames.filter((frame) => frame.type === 'status').length === 2, 'the second STATUS', 5_000);
    expect(edgeEnd.frames.at(-1)).toMatchObject({ type: 'status', status: { bridges: [{ state: 'connected' }] } });
    status.bridges[0]!.state = 'connecting';
  });

  it('links to an edge of version 3 at version 3, offering every version newest first', async () => {
    const { link, edgeEnd } = await linkTo(3);
    expect(edgeEnd.headers['sec-websocket-protocol']).toBe('mqtt-link.3,mqtt-link.2,mqtt-link.1');
    expect(edgeEnd.ws.protocol).toBe('mqtt-link.3');
    expect(link.stats.version).toBe(3);
    expect(types(edgeEnd.frames)).toEqual(['hello', 'status', 'open']);
  });

  it('links to an edge of version 1 at version 1, and never sends it a STATUS', async () => {
    const { link, edgeEnd } = await linkTo(1);
    expect(edgeEnd.ws.protocol).toBe('mqtt-link.1');
    expect(link.stats.version).toBe(1);
    expect(edgeEnd.frames[0]).toMatchObject({ type: 'hello', version: 1 });
    // On a version 2 link the STATUS goes between these two (the test above): here there is none.
    expect(types(edgeEnd.frames)).toEqual(['hello', 'open']);
  });
});
