/**
 * The namespaces this Worker isolate has routed an MQTT WebSocket to since
 * it started. Durable Objects cannot be listed, and a namespace that only
 * matches a pattern of MQTT_NAMESPACES is otherwise unknown until someone
 * names it: this is the isolate's own memory of them. On Cloudflare it is
 * one isolate's view among many; under `npm start` (one isolate) it names
 * every namespace with a client, which is what the stack's drain on exit
 * relies on.
 */

/** Names kept at most; the oldest is forgotten first. */
const MaxSeen = 1_000;

export class SeenNamespaces {
  private readonly names = new Set<string>();

  add(name: string): void {
    if (this.names.has(name)) return;
    this.names.add(name);
    if (this.names.size > MaxSeen) this.names.delete(this.names.values().next().value as string);
  }

  list(): string[] {
    return [...this.names];
  }
}
