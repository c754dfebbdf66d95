/**
 * The core's side of its gateways (docs/scale.md): one link per gateway
 * object, hosted like a sidecar's (edge/link/link-host.ts) so every client
 * behind a gateway is a connection of this namespace like any other, but
 * carried by Durable Object RPC instead of a WebSocket, so that both ends
 * hibernate. What the namespace writes in one turn for one gateway leaves
 * as one call (a fan-out to many of its clients crosses once, as FANOUT),
 * and calls to one gateway go one at a time, in order.
 *
 * A gateway link has no socket to survive hibernation with: its devices'
 * rows (`link_devices`, link id `gw:<gateway>`) are its state, and the link
 * is rebuilt from them on a wake.
 */
import { BridgeCloseCode } from '../../shared/bridge-close-codes.ts';
import { encodeLinkFrames } from '../../shared/link-protocol.ts';
import type { ConnectionLog } from '../core/connection-log.ts';
import type { ConnectionState, Transport } from '../core/link.ts';
import { describeError } from '../core/log.ts';
import type { LinkDeviceStore } from '../link/link-device-store.ts';
import { LinkHost, type LinkCore } from '../link/link-host.ts';
import { defaultFlowControl, linkWindowsOf, type LinkWindows } from '../link/flow-control.ts';
import { BatchedCalls } from './batched-calls.ts';
import type { OutputMarker } from './output-marker.ts';

const LinkIdPrefix = 'gw:';
/** WebSocket close code for a client told to reconnect: come back, the namespace is there. */
const TryAgainLater = 1013;

/** The gateways, as the core calls them. */
export interface GatewayCalls {
  /** Delivers one link message; answers the channels it named that have no client there any more. */
  deliver(gateway: string, message: Uint8Array): Promise<number[]>;
  /** Closes every client of the gateway (its link was lost here). */
  reset(gateway: string, reason: string): Promise<void>;
  /** The channels that have a client at the gateway now. */
  probe(gateway: string): Promise<number[]>;
}

/** One gateway as the core sees it, for the admin API and /metrics. */
export interface GatewayView {
  name: string;
  connections: number;
  /** Calls the gateway made to the core, and link messages the core sent it (each one call). */
  callsIn: number;
  callsOut: number;
  framesIn: number;
  framesOut: number;
}

type GatewayTotals = Omit<GatewayView, 'name' | 'connections'>;
const NoTraffic: GatewayTotals = { callsIn: 0, callsOut: 0, framesIn: 0, framesOut: 0 };

interface GatewayLink {
  host: LinkHost;
  calls: BatchedCalls;
}

export class GatewayLinks {
  private readonly links = new Map<string, GatewayLink>();
  /** Totals of links that ended, so the counts of a gateway do not restart with its link. */
  private readonly ended = new Map<string, GatewayTotals>();

  constructor(
    private readonly devices: LinkDeviceStore,
    private readonly connectionLog: ConnectionLog,
    private readonly core: () => LinkCore,
    private readonly calls: GatewayCalls,
    /** Whether output to the gateways may have been lost when the core last stopped (output-marker.ts); none: never. */
    private readonly marker?: OutputMarker,
    /** The credit each gateway link grants (a gateway keeps to the same windows, from the same configuration). */
    private readonly windows: LinkWindows = linkWindowsOf(defaultFlowControl),
  ) {}

  /**
   * After a wake: the links of gateways that had clients, rebuilt from their
   * rows, with their connections. After a stop that may have lost output to
   * them (output-marker.ts), their clients are not restored but told to
   * reconnect: each gateway gets a CLOSE for every channel the namespace
   * knew (channels are never reused, so a client that came since is not
   * hit), and their sessions end with the lost connections, as the core's
   * own clients' do when it restarts.
   */
  restore(): { linkIds: string[]; connections: Array<{ state: ConnectionState; transport: Transport }>; closed: number } {
    const linkIds = this.devices.linkIds(LinkIdPrefix);
    if (this.marker?.lostOutput === true) {
      const closed = linkIds.reduce((sum, id) => sum + this.linkFor(id.slice(LinkIdPrefix.length), false).host.closeRestored(TryAgainLater, 'namespace restarted, reconnect'), 0);
      this.marker.forget();
      return { linkIds: [], connections: [], closed };
    }
    const connections = linkIds.flatMap((id) => this.linkFor(id.slice(LinkIdPrefix.length), false).host.restoreDevices());
    return { linkIds, connections, closed: 0 };
  }

  /**
   * After a wake the rows say which clients each gateway held, not whether
   * they are still there: the runtime may have restarted, and a gateway's
   * sockets with it. Each gateway with clients is asked once; those it no
   * longer has end as lost (their wills are published) rather than wait for
   * their keep-alive. A gateway that cannot be reached loses its link.
   */
  async probeRestored(linkIds: readonly string[]): Promise<void> {
    await Promise.allSettled(
      linkIds.map(async (id) => {
        const gateway = id.slice(LinkIdPrefix.length);
        const link = this.links.get(gateway);
        if (link === undefined) return;
        const asked = new Set(link.host.openChannels());
        try {
          const live = await this.calls.probe(gateway);
          if (this.links.get(gateway) === link) await link.host.keepOnly(this.core(), new Set(live), asked);
        } catch (error) {
          await this.lost(gateway, describeError(error));
        }
      }),
    );
  }

  /** A call from a gateway: first the channels that survived its start (if it says), then its frames. */
  async receive(gateway: string, message: Uint8Array, live: readonly number[] | undefined): Promise<void> {
    const link = this.linkFor(gateway, true);
    const core = this.core();
    if (live !== undefined) await link.host.keepOnly(core, new Set(live));
    await link.host.receive(core, message);
  }

  /** Settles once what was written to the gateways so far has reached them (a flush of the links is a microtask away). */
  async settled(): Promise<void> {
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    await Promise.all([...this.links.values()].map((link) => link.calls.settled()));
  }

  views(): GatewayView[] {
    const names = new Set([...this.links.keys(), ...this.ended.keys()]);
    return [...names].sort().map((name) => ({ name, connections: this.links.get(name)?.host.deviceCount ?? 0, ...this.totalsOf(name) }));
  }

  /** A gateway's counts since this object started: its ended links' and its current one's. */
  private totalsOf(name: string): GatewayTotals {
    const before = this.ended.get(name) ?? NoTraffic;
    const link = this.links.get(name);
    if (link === undefined) return before;
    const { messagesIn, framesIn, framesOut } = link.host.traffic;
    return { callsIn: before.callsIn + messagesIn, callsOut: before.callsOut + link.calls.counts.calls, framesIn: before.framesIn + framesIn, framesOut: before.framesOut + framesOut };
  }

  private linkFor(gateway: string, logOpen: boolean): GatewayLink {
    const known = this.links.get(gateway);
    if (known !== undefined) return known;
    const id = `${LinkIdPrefix}${gateway}`;
    let host: LinkHost | undefined;
    const calls = new BatchedCalls(
      async (message) => {
        const gone = await this.calls.deliver(gateway, message);
        // Clients the gateway no longer has: ended here as lost, as if their CLOSE had come.
        if (gone.length > 0 && host !== undefined) {
          await host.receive(this.core(), encodeLinkFrames(gone.map((channel) => ({ type: 'close' as const, channel, code: BridgeCloseCode.DeviceLost }))));
        }
      },
      (error) => void this.lost(gateway, describeError(error)),
    );
    host = new LinkHost(
      { v: 1, kind: 'link', id, name: gateway },
      {
        send: (bytes) => {
          this.marker?.sending();
          void calls
            .send(bytes)
            .catch(() => undefined)
            .finally(() => this.marker?.settled());
        },
        close: (_code, reason) => void this.calls.reset(gateway, reason).catch(() => undefined),
        backlog: () => calls.backlog,
        drained: () => calls.settled(),
      },
      this.devices,
      this.connectionLog,
      () => undefined,
      'gateway',
      undefined,
      this.windows,
    );
    const link = { host, calls };
    this.links.set(gateway, link);
    if (logOpen) this.connectionLog.link('info', 'link.opened', { sidecar: gateway });
    return link;
  }

  /** A call to a gateway failed: its clients here end as lost, and the gateway is told to drop them. */
  private async lost(gateway: string, error: string): Promise<void> {
    const link = this.links.get(gateway);
    if (link === undefined) return;
    // Its counts are kept before the link goes (read after, they would lose the link's own).
    this.ended.set(gateway, this.totalsOf(gateway));
    this.links.delete(gateway);
    this.connectionLog.link('warn', 'link.closed', { sidecar: gateway, reason: error, devices: link.host.deviceCount });
    await link.host.closeAll(this.core(), 'network-error');
    await this.calls.reset(gateway, 'namespace lost this gateway').catch(() => undefined);
  }
}
