/**
 * How much a sender may make the namespace hold (docs/link-protocol.md,
 * version 3): a link and each of its channels get a window of DATA bytes,
 * and the edge returns credit as the namespace core has processed them. A
 * sidecar then reads a device only while the device has credit, and a
 * gateway sends a client's bytes only within it, so one device (or client)
 * can make the core hold at most its window and one packet beyond.
 */
export interface FlowControl {
  /** DATA bytes one link (a sidecar's, or a gateway's) may have sent and not had processed (MQTT_LINK_WINDOW_BYTES). */
  linkWindowBytes: number;
  /** The same for one channel: a device behind a sidecar, a client of a gateway (MQTT_LINK_CHANNEL_WINDOW_BYTES). */
  channelWindowBytes: number;
  /**
   * Input a gateway holds for one client beyond its credit (MQTT_GATEWAY_CLIENT_BACKLOG_BYTES):
   * a WebSocket cannot be read more slowly, so a client past it is closed (1008).
   */
  gatewayClientBacklogBytes: number;
}

/**
 * A device's window holds a burst of small packets (a QoS 1 window of 100
 * messages is 10 KiB) many times over and keeps a big publisher busy for a
 * round trip of ~50 ms at 5 MB/s; the link's lets 16 devices use their
 * whole window at once while bounding what one sidecar can queue in the
 * core; a gateway's client may be a few windows ahead before it is closed.
 */
export const defaultFlowControl: FlowControl = {
  linkWindowBytes: 4 * 1024 * 1024,
  channelWindowBytes: 256 * 1024,
  gatewayClientBacklogBytes: 2 * 1024 * 1024,
};

/** The windows a link grants: the link's own, and each channel's when it opens. */
export interface LinkWindows {
  link: number;
  channel: number;
}

export function linkWindowsOf(flow: FlowControl): LinkWindows {
  return { link: flow.linkWindowBytes, channel: flow.channelWindowBytes };
}
