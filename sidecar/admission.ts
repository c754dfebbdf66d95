/**
 * MQTT_MAX_CONNECTIONS, decided at TCP accept rather than at CONNACK, so a
 * burst of simultaneous connects cannot slip past the limit while their
 * CONNECTs are still on the way.
 */

/**
 * - `bridge`: a slot is held for this client; it will be bridged to the edge.
 * - `refuse`: over the limit; the sidecar reads its CONNECT only to answer in
 *   the client's protocol level (CONNACK 3 / 0x97), then closes.
 * - `drop`: over the limit and too many refusals are already pending; the
 *   socket is closed at once, without reading anything.
 */
export type Admission = 'bridge' | 'refuse' | 'drop';

/**
 * Refusals in progress at once. Each waits at most the connect timeout for a
 * CONNECT; this cap bounds the memory and sockets a flood can pin that way.
 */
export const MAX_PENDING_REFUSALS = 1024;

export class ConnectionLimiter {
  readonly #maxConnections: number;
  readonly #maxRefusals: number;
  #bridged = 0;
  #refusing = 0;

  /** `maxConnections` 0 means unlimited. */
  constructor(maxConnections: number, maxRefusals = MAX_PENDING_REFUSALS) {
    this.#maxConnections = maxConnections;
    this.#maxRefusals = maxRefusals;
  }

  get bridged(): number {
    return this.#bridged;
  }

  get refusing(): number {
    return this.#refusing;
  }

  /** Takes a slot for a newly accepted socket; pair every call with `release`. */
  admit(): Admission {
    if (this.#maxConnections === 0 || this.#bridged < this.#maxConnections) {
      this.#bridged++;
      return 'bridge';
    }
    if (this.#refusing < this.#maxRefusals) {
      this.#refusing++;
      return 'refuse';
    }
    return 'drop';
  }

  release(admission: Admission): void {
    if (admission === 'bridge') this.#bridged--;
    else if (admission === 'refuse') this.#refusing--;
  }
}
