/**
 * Which connection a client id is on: at most one [MQTT-3.1.4-3]. A new
 * connection with a client id that is already connected takes it over;
 * the caller disconnects the old one.
 */
import type { ClientLink } from './link.ts';

export class Directory {
  private readonly byClient = new Map<string, ClientLink>();

  get size(): number {
    return this.byClient.size;
  }

  linkOf(clientId: string): ClientLink | undefined {
    return this.byClient.get(clientId);
  }

  isConnected(clientId: string): boolean {
    return this.byClient.has(clientId);
  }

  /** Makes `link` the connection of `clientId`; returns the connection it takes over, if any. */
  bind(link: ClientLink, clientId: string): ClientLink | undefined {
    const previous = this.byClient.get(clientId);
    this.byClient.set(clientId, link);
    return previous === link ? undefined : previous;
  }

  /** Unbinds `link` if it is its client's connection; returns whether it was. */
  unbind(link: ClientLink): boolean {
    const clientId = link.state.clientId;
    if (clientId === undefined || this.byClient.get(clientId) !== link) return false;
    this.byClient.delete(clientId);
    return true;
  }

  links(): IterableIterator<ClientLink> {
    return this.byClient.values();
  }
}
