/**
 * Retained replays: the retained messages a new subscription gets
 * [MQTT-3.3.1-9], read as they are sent instead of copied at SUBSCRIBE.
 *
 * A replay is a position in the walk of the retained index over the
 * subscription's filter (retained-index.ts) and the generation the
 * retained messages had at SUBSCRIBE. It holds one small page of topics in
 * memory; each message is read (payload included) when its turn comes, and
 * sent if it is still there and no newer than that generation: a retained
 * message that changed after SUBSCRIBE went to the subscription live, and a
 * cleared one has nothing left to send (as an expired one). So a
 * subscription to `ret/#` over 100,000 retained messages costs one page and
 * one message in memory at a time, and nothing in the session's queue.
 *
 * QoS 1 and 2 subscriptions' replays are owed to the session: their
 * position is stored with the subscription (SessionStore.startReplay) and
 * goes on after a reconnect or a restart. A QoS 0 subscription's replay is
 * not [MQTT-4.3.1]: it lives with the connection. UNSUBSCRIBE ends a
 * replay (what it had not sent was never started [MQTT-3.10.4-3]); a new
 * SUBSCRIBE of the same filter starts it again from the beginning, so
 * nothing it owed is lost [MQTT-3.8.4-4].
 */
import type { BrokerMessage } from './message.ts';
import type { MatchedTopic, WalkPosition } from './retained-index.ts';
import type { RetainedMessages } from './retained.ts';
import { matchFilterOf } from './router.ts';
import type { SessionStore } from './session-store.ts';
import type { SubscriptionEntry } from './topic-tree.ts';

/** Topics one page of a replay holds. */
const PageTopics = 32;
/** Index rows one page may read (a walk over names that match nothing goes on with the next page). */
const PageBudget = 1024;

export interface Replay {
  entry: SubscriptionEntry;
  /** Generation at SUBSCRIBE: newer messages were delivered live. */
  readonly seq: number;
  /** Stored with the subscription (QoS 1 and 2), or with the connection only (QoS 0). */
  readonly durable: boolean;
  /** Where the topics in `page` were read after; undefined: the start. */
  after: WalkPosition | undefined;
  /** Topics read ahead, not yet sent. */
  page: MatchedTopic[];
  /** Where the walk goes on once `page` is sent; undefined with `pageRead`: the walk is complete. */
  pageNext: WalkPosition | undefined;
  pageRead: boolean;
  /** The position moved since it was last stored. */
  moved: boolean;
}

/** A replay's next step: a message to send, a page read that gave none yet, a QoS 1/2 message that needs room in the window, or the end. */
export type ReplayStep = { kind: 'message'; message: BrokerMessage } | { kind: 'walked' } | { kind: 'blocked' } | { kind: 'done' };

export interface ReplaysDeps {
  retained: RetainedMessages;
  store: SessionStore;
  now(): number;
  /** Whether the client may read `topic` (checked only for subscriptions that need it). */
  mayRead(clientId: string, topic: string): boolean;
}

export class Replays {
  /** Index rows read since the caller last took the count (what a turn of work is measured in). */
  rowsRead = 0;

  constructor(private readonly deps: ReplaysDeps) {}

  /** A subscription's replay, from the start; a durable one is stored with the subscription (replacing one in progress). */
  start(entry: SubscriptionEntry): Replay {
    const durable = entry.qos > 0;
    const seq = this.deps.retained.generation(matchFilterOf(entry));
    if (durable) this.deps.store.startReplay(entry.clientId, entry.filter, seq);
    // A QoS 0 replay is the connection's: one the subscription held at a higher QoS is over.
    else this.deps.store.advanceReplay(entry.clientId, entry.filter, undefined);
    return fresh(entry, seq, durable, undefined);
  }

  /** The stored (owed) replays of a session, to go on with. */
  load(clientId: string): Replay[] {
    return this.deps.store.replays(clientId).map((stored) => fresh(stored.entry, stored.seq, true, stored.after));
  }

  /**
   * The replay's next message to send, if any is left: skips topics whose
   * message is gone, newer than the replay, or not for this client to read.
   * The message stays next until `sent` is called. Without `room` in the
   * client's window, a message that would need it is not read (its payload
   * may be large, and the window may stay full a while): 'blocked'.
   */
  step(replay: Replay, room: boolean): ReplayStep {
    const { retained, now, mayRead } = this.deps;
    for (;;) {
      const head = replay.page[0];
      if (head === undefined) {
        if (replay.pageRead) {
          this.moveTo(replay, replay.pageNext);
          if (replay.after === undefined) return { kind: 'done' };
        }
        const page = retained.page(matchFilterOf(replay.entry), replay.after, PageTopics, PageBudget);
        this.rowsRead += page.read;
        replay.page = page.topics;
        replay.pageNext = page.next;
        replay.pageRead = true;
        if (page.topics.length === 0) {
          if (page.next === undefined) {
            this.moveTo(replay, undefined);
            return { kind: 'done' };
          }
          return { kind: 'walked' };
        }
        continue;
      }
      if (!room && replay.entry.qos > 0 && head.seq <= replay.seq && (retained.qosOf(head.topic) ?? 0) > 0) return { kind: 'blocked' };
      const stored = head.seq > replay.seq ? undefined : retained.get(head.topic, now());
      const readable = replay.entry.readCheck !== true || mayRead(replay.entry.clientId, head.topic);
      if (stored !== undefined && stored.seq <= replay.seq && readable) return { kind: 'message', message: stored.message };
      this.sent(replay);
    }
  }

  /** The replay's next message went out (or was passed over): the position moves past it. */
  sent(replay: Replay): void {
    const head = replay.page.shift();
    if (head !== undefined) this.moveTo(replay, { topic: head.topic, past: false });
  }

  /** Stores the positions of durable replays that moved (with the messages they sent: one write per pump, not per message). */
  save(replays: readonly Replay[]): void {
    for (const replay of replays) {
      if (!replay.durable || !replay.moved) continue;
      replay.moved = false;
      this.deps.store.advanceReplay(replay.entry.clientId, replay.entry.filter, replay.after);
    }
  }

  /**
   * How many messages a replay has left to send (for the admin API and the
   * model test's counts): the topics left in its walk that it would send,
   * read from the index only (no payload). Reads the rest of the walk, so
   * it is for reads of one session.
   */
  remaining(replay: Replay): number {
    const { retained, mayRead } = this.deps;
    const { entry } = replay;
    const counts = (topic: MatchedTopic): boolean => topic.seq <= replay.seq && (entry.readCheck !== true || mayRead(entry.clientId, topic.topic));
    // The page read ahead may be stale: its topics are looked up again.
    let count = replay.page.filter((topic) => counts({ topic: topic.topic, seq: retained.generationOf(topic.topic) ?? Number.POSITIVE_INFINITY })).length;
    let after = replay.pageRead ? replay.pageNext : replay.after;
    if (replay.pageRead && after === undefined) return count;
    for (;;) {
      const page = retained.page(matchFilterOf(entry), after, 256, 4096);
      count += page.topics.filter(counts).length;
      if (page.next === undefined) return count;
      after = page.next;
    }
  }

  private moveTo(replay: Replay, position: WalkPosition | undefined): void {
    replay.after = position;
    replay.moved = true;
  }
}

function fresh(entry: SubscriptionEntry, seq: number, durable: boolean, after: WalkPosition | undefined): Replay {
  return { entry, seq, durable, after, page: [], pageNext: undefined, pageRead: false, moved: false };
}
