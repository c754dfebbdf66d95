/**
 * Keep-alive enforcement for one device. The sidecar, not the edge, watches
 * TCP devices, so a fleet of idle devices never wakes the Durable Object.
 *
 * [MQTT-3.1.2-24] If the Keep Alive value is non-zero and the Server does not
 * receive a Control Packet from the Client within one and a half times the
 * Keep Alive time period, it MUST disconnect the Network Connection.
 */

export interface KeepAliveOptions {
  /** Called once when the device has been silent for 1.5 × keep-alive. */
  onExpired: () => void;
  /** Milliseconds clock (tests). */
  now?: () => number;
}

export class KeepAliveMonitor {
  readonly #onExpired: () => void;
  readonly #now: () => number;
  #limitMs = 0;
  #lastSeen = 0;
  #timer: NodeJS.Timeout | undefined;
  #suspended = false;

  constructor(options: KeepAliveOptions) {
    this.#onExpired = options.onExpired;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Grace period in ms for the current keep-alive; 0 when disabled. */
  get limitMs(): number {
    return this.#limitMs;
  }

  /**
   * (Re)starts watching with `keepAliveSeconds` (0 disables [MQTT-3.1.2-22]).
   * Called with the device's CONNECT value, and again with a 5.0 CONNACK's
   * Server Keep Alive, which overrides it [MQTT-3.2.2-22].
   */
  start(keepAliveSeconds: number): void {
    this.#clearTimer();
    this.#limitMs = keepAliveSeconds * 1500;
    this.#lastSeen = this.#now();
    this.#schedule(this.#limitMs);
  }

  /** Records a complete packet from the device. Cheap: it only stores a time. */
  touch(): void {
    this.#lastSeen = this.#now();
  }

  /**
   * Stops the clock while the sidecar itself is not reading the device
   * (backpressure from the edge): silence we cause is not the device's fault.
   */
  suspend(): void {
    this.#suspended = true;
    this.#clearTimer();
  }

  resume(): void {
    if (!this.#suspended) return;
    this.#suspended = false;
    this.#lastSeen = this.#now();
    this.#schedule(this.#limitMs);
  }

  stop(): void {
    this.#limitMs = 0;
    this.#clearTimer();
  }

  // One timer per device that re-arms only when it fires, instead of a
  // clearTimeout/setTimeout pair on every packet.
  #schedule(delayMs: number): void {
    if (this.#limitMs === 0 || this.#suspended) return;
    this.#timer = setTimeout(() => this.#check(), Math.max(1, Math.ceil(delayMs)));
  }

  #check(): void {
    this.#timer = undefined;
    const idle = this.#now() - this.#lastSeen;
    if (idle >= this.#limitMs) {
      this.#limitMs = 0;
      this.#onExpired();
      return;
    }
    this.#schedule(this.#limitMs - idle);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
