/**
 * The namespace's objects as the admin API, /metrics and the dashboard list
 * them (`objects` in GET /admin/<ns>/stats): the core and each gateway,
 * with its connections, its totals and their rates per second since the
 * previous reading (memory only; the first reading after a wake has no
 * rate yet, shown as 0).
 */

export type ObjectRole = 'core' | 'gateway';

export interface ObjectTotals {
  role: ObjectRole;
  /** The object's name (`idFromName`). */
  name: string;
  /** Clients it holds. */
  connections: number;
  /** Core: MQTT packets received and sent by the namespace; gateway: link frames to and from the core (one per client message, a fan-out one for many clients). */
  messagesIn: number;
  messagesOut: number;
  /** Gateway: cross-object calls to the core and from it (every one billed as a request). */
  callsIn: number;
  callsOut: number;
  /** SQLite rows the object read and wrote since it last started (billed per row; memory only, so they restart with the object). */
  rowsRead: number;
  rowsWritten: number;
}

export interface ObjectStats extends ObjectTotals {
  rates: { messagesIn: number; messagesOut: number; callsIn: number; callsOut: number };
}

export class ObjectRates {
  private previous: { at: number; totals: Map<string, ObjectTotals> } | undefined;

  sample(now: number, objects: readonly ObjectTotals[]): ObjectStats[] {
    const before = this.previous;
    this.previous = { at: now, totals: new Map(objects.map((object) => [object.name, object])) };
    const seconds = before === undefined ? 0 : (now - before.at) / 1000;
    return objects.map((object) => {
      const old = before?.totals.get(object.name);
      const rate = (key: 'messagesIn' | 'messagesOut' | 'callsIn' | 'callsOut'): number =>
        old === undefined || seconds <= 0 ? 0 : Math.max(0, Math.round(((object[key] - old[key]) / seconds) * 10) / 10);
      return { ...object, rates: { messagesIn: rate('messagesIn'), messagesOut: rate('messagesOut'), callsIn: rate('callsIn'), callsOut: rate('callsOut') } };
    });
  }
}
