/**
 * When the sidecar reports its bridges to the edge (sidecar/status-reporter.ts):
 * at once on a new link, a state change within a second of the last report,
 * new counts within half a minute, never the same report twice, and nothing
 * while there is no link to send on. On a fake clock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BridgeStatus, LinkStatus } from '../../shared/link-status.ts';
import { StatusReporter } from '../../sidecar/status-reporter.ts';

let status: LinkStatus;
let sent: LinkStatus[];
let linkUp: boolean;
let reporter: StatusReporter;

const bridge = (patch: Partial<BridgeStatus> = {}): BridgeStatus => ({ name: 'b1', remote: '127.0.0.1:1883', state: 'connecting', since: 0, messagesIn: 0, messagesOut: 0, ...patch });

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  status = { bridges: [bridge()] };
  sent = [];
  linkUp = true;
  reporter = new StatusReporter({
    read: () => structuredClone(status),
    send: (report) => {
      if (linkUp) sent.push(report);
      return linkUp;
    },
  });
});
afterEach(() => {
  reporter.stop();
  vi.useRealTimers();
});

describe('the status reporter', () => {
  it('reports at once on a new link, and again on the next one even when nothing changed', () => {
    reporter.opened();
    expect(sent).toHaveLength(1);
    reporter.opened();
    expect(sent).toHaveLength(2);
  });

  it('reports a state change within a second of the last report, many changes as one', () => {
    reporter.opened();
    for (const state of ['backing-off', 'connecting', 'connected'] as const) {
      status = { bridges: [bridge({ state })] };
      reporter.changed('state');
    }
    vi.advanceTimersByTime(999);
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sent.map((report) => report.bridges[0]?.state)).toEqual(['connecting', 'connected']);
  });

  it('reports new counts within thirty seconds, or sooner with a state change', () => {
    reporter.opened();
    status = { bridges: [bridge({ messagesIn: 5 })] };
    reporter.changed('counts');
    vi.advanceTimersByTime(29_999);
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sent.at(-1)?.bridges[0]?.messagesIn).toBe(5);
    status = { bridges: [bridge({ messagesIn: 9 })] };
    reporter.changed('counts');
    vi.advanceTimersByTime(5_000);
    status = { bridges: [bridge({ messagesIn: 9, state: 'connected' })] };
    reporter.changed('state');
    vi.advanceTimersByTime(0);
    expect(sent.at(-1)?.bridges[0]).toMatchObject({ messagesIn: 9, state: 'connected' });
    expect(sent).toHaveLength(3);
  });

  it('never sends the same report twice', () => {
    reporter.opened();
    reporter.changed('state');
    vi.advanceTimersByTime(60_000);
    expect(sent).toHaveLength(1);
  });

  it('sends nothing without a link, and everything once one opens', () => {
    linkUp = false;
    reporter.opened();
    status = { bridges: [bridge({ state: 'connected' })] };
    reporter.changed('state');
    vi.advanceTimersByTime(60_000);
    expect(sent).toHaveLength(0);
    linkUp = true;
    reporter.opened();
    expect(sent.map((report) => report.bridges[0]?.state)).toEqual(['connected']);
  });
});
