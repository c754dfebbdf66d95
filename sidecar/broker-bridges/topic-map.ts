/**
 * Which filters a bridge subscribes to on each side, and how a topic is
 * renamed on its way across, exactly as mosquitto does it:
 *
 * - out (and both): subscribe locally to local-prefix + pattern; a message
 *   going out loses the local prefix and gains the remote one.
 * - in (and both): subscribe remotely to remote-prefix + pattern; a message
 *   coming in loses the remote prefix and gains the local one.
 * - The first `topic` line (in file order) of that direction whose filter
 *   matches and that has a prefix decides the renaming; lines without
 *   prefixes rename nothing (mosquitto's send_publish.c / handle_publish.c).
 */
import { topicMatchesFilter } from '../../shared/topic.ts';
import type { BridgeQoS, BridgeTopic } from './config.ts';

/** Which way a message crosses: out = local → remote, in = remote → local. */
export type Crossing = 'out' | 'in';

export interface BridgeSubscription {
  filter: string;
  qos: BridgeQoS;
}

export class TopicMap {
  readonly #topics: readonly BridgeTopic[];

  constructor(topics: readonly BridgeTopic[]) {
    this.#topics = topics;
  }

  /** Filters to subscribe to on the side messages come from: local for out, remote for in. */
  subscriptions(crossing: Crossing): BridgeSubscription[] {
    const byFilter = new Map<string, BridgeQoS>();
    for (const topic of this.#topics) {
      if (!carries(topic, crossing)) continue;
      const filter = crossing === 'out' ? topic.localFilter : topic.remoteFilter;
      // Two lines with one filter are one subscription; the higher QoS wins, as a broker would keep it.
      byFilter.set(filter, Math.max(byFilter.get(filter) ?? 0, topic.qos) as BridgeQoS);
    }
    return [...byFilter].map(([filter, qos]) => ({ filter, qos }));
  }

  /**
   * The topic a message gets on the other side, or undefined when renaming
   * leaves nothing (a topic equal to a prefix of a line whose other prefix is empty).
   *
   * @example
   * new TopicMap(parsed.topics).rename('out', 'local/a') // 'remote/a' for `topic # both 0 local/ remote/`
   */
  rename(crossing: Crossing, topic: string): string | undefined {
    for (const line of this.#topics) {
      if (!carries(line, crossing) || (line.localPrefix === '' && line.remotePrefix === '')) continue;
      const [fromFilter, fromPrefix, toPrefix] =
        crossing === 'out' ? [line.localFilter, line.localPrefix, line.remotePrefix] : [line.remoteFilter, line.remotePrefix, line.localPrefix];
      if (!topicMatchesFilter(fromFilter, topic)) continue;
      const renamed = toPrefix + (topic.startsWith(fromPrefix) ? topic.slice(fromPrefix.length) : topic);
      return renamed === '' ? undefined : renamed;
    }
    return topic;
  }
}

function carries(topic: BridgeTopic, crossing: Crossing): boolean {
  return topic.direction === 'both' || topic.direction === crossing;
}
