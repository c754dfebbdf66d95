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
   * a WebSocket cannot be read more slowly, so a client past it is ended by the core (DISCONNECT 0x96).
   */
  gatewayClientBacklogBytes: number;
}

/**
 * A channel's window holds a burst of small packets (a QoS 1 window of 100
 * messages is 8 KiB) several times over, and lets a big publisher send
 * 64 KiB per round trip (6 MB/s at 10 ms); it is also the work one client
 * can queue in the core: 64 KiB of PINGREQs are 32,768 packets to answer,
 * which is why it is not larger. The link's window lets 64 devices use
 * their whole window at once while bounding what one sidecar (or gateway)
 * can queue in the core. A gateway's client may be 1 MiB ahead of its
 * window (and at least one largest message) before it is closed: a client
 * that waits for its acknowledgements is never that far ahead.
 */
export const defaultFlowControl: FlowControl = {
  linkWindowBytes: 4 * 1024 * 1024,
  channelWindowBytes: 64 * 1024,
  gatewayClientBacklogBytes: 1024 * 1024,
};

/** The windows a link grants: the link's own, and each channel's when it opens. */
export interface LinkWindows {
  link: number;
  channel: number;
}

export function linkWindowsOf(flow: FlowControl): LinkWindows {
  return { link: flow.linkWindowBytes, channel: flow.channelWindowBytes };
}
