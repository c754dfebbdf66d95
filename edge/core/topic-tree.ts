/**
 * Subscription trie: one node per topic level, so matching a topic costs
 * O(levels × branching on wildcards), independent of how many subscriptions
 * the namespace holds.
 */

/** What one client asked for with one filter. */
export interface SubscriptionEntry {
  clientId: string;
  /** The filter as subscribed, including a `$share/group/` prefix. */
  filter: string;
  qos: 0 | 1 | 2;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId?: number;
  /** Share group name for `$share/{group}/{filter}` subscriptions. */
  shareGroup?: string;
  /**
   * The client may read only some of what the filter matches (an ACL deny
   * inside it, a grant narrower than it): each message is checked before it
   * is delivered. Decided at SUBSCRIBE; without it, nothing is checked.
   */
  readCheck?: boolean;
}

class TrieNode {
  readonly children = new Map<string, TrieNode>();
  /** Entries whose filter ends at this node, keyed by clientId + full filter. */
  readonly entries = new Map<string, SubscriptionEntry>();

  isEmpty(): boolean {
    return this.children.size === 0 && this.entries.size === 0;
  }
}

function entryKey(clientId: string, filter: string): string {
  return `${clientId}\u0000${filter}`;
}

export class TopicTree {
  private readonly root = new TrieNode();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /**
   * Adds or replaces the entry for (clientId, filter). `matchFilter` is the
   * filter without any `$share/group/` prefix.
   */
  add(matchFilter: string, entry: SubscriptionEntry): void {
    let node = this.root;
    for (const level of matchFilter.split('/')) {
      let child = node.children.get(level);
      if (child === undefined) {
        child = new TrieNode();
        node.children.set(level, child);
      }
      node = child;
    }
    const key = entryKey(entry.clientId, entry.filter);
    if (!node.entries.has(key)) this.count++;
    node.entries.set(key, entry);
  }

  /** Removes the entry; returns whether it existed. Prunes empty branches. */
  remove(matchFilter: string, clientId: string, filter: string): boolean {
    const path: TrieNode[] = [this.root];
    const levels = matchFilter.split('/');
    let node = this.root;
    for (const level of levels) {
      const child = node.children.get(level);
      if (child === undefined) return false;
      path.push(child);
      node = child;
    }
    if (!node.entries.delete(entryKey(clientId, filter))) return false;
    this.count--;
    for (let i = levels.length; i > 0; i--) {
      const current = path[i];
      const parent = path[i - 1];
      const level = levels[i - 1];
      if (current === undefined || parent === undefined || level === undefined || !current.isEmpty()) break;
      parent.children.delete(level);
    }
    return true;
  }

  /** Calls `visit` for every entry whose filter matches `topic`. */
  match(topic: string, visit: (entry: SubscriptionEntry) => void): void {
    const levels = topic.split('/');
    // [MQTT-4.7.2-1] a filter starting with a wildcard must not match a topic starting with '$'.
    const isSystemTopic = topic.startsWith('$');
    this.matchFrom(this.root, levels, 0, isSystemTopic, visit);
  }

  private matchFrom(node: TrieNode, levels: string[], depth: number, isSystemTopic: boolean, visit: (entry: SubscriptionEntry) => void): void {
    const wildcardAllowed = !(isSystemTopic && depth === 0);
    if (wildcardAllowed) {
      // '#' matches the parent level too: 'a/#' matches 'a' [MQTT-4.7.1-2].
      const multi = node.children.get('#');
      if (multi !== undefined) for (const entry of multi.entries.values()) visit(entry);
    }
    if (depth === levels.length) {
      for (const entry of node.entries.values()) visit(entry);
      return;
    }
    const level = levels[depth] as string;
    const exact = node.children.get(level);
    if (exact !== undefined) this.matchFrom(exact, levels, depth + 1, isSystemTopic, visit);
    if (wildcardAllowed) {
      const single = node.children.get('+');
      if (single !== undefined) this.matchFrom(single, levels, depth + 1, isSystemTopic, visit);
    }
  }
}
