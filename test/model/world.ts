/**
 * The system under test as the model test sees it: a driver (the broker
 * in-process, or a live namespace on workerd), the peers, and the reference
 * model, with the invariants checked after every step.
 */
import type { ClientSummary } from '../../edge/core/readouts.ts';
import { ReferenceModel, deliveryKey, owedKey, type SessionModel } from './model.ts';
import { Peer, type PeerEvents, type WireConnection } from './peer.ts';

export interface NamespaceCounts {
  connected: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  publishDropped: number;
  stallsDetected: number;
  acksUnmatched: number;
}

export interface Driver {
  readonly name: string;
  /** The broker's clock (ms). */
  now(): number;
  open(): WireConnection;
  /** Sends every peer's waiting packets and whatever they provoke, until nothing moves. */
  quiesce(peers: Peer[]): Promise<void>;
  /** Moves the broker's clock (only where time can be moved). */
  advance?(ms: number): Promise<void>;
  /** Evicts the namespace from memory and wakes it again (only in-process). */
  restart?(): Promise<void>;
  clients(): Promise<ClientSummary[]>;
  counts(): Promise<NamespaceCounts>;
  /** Warnings and errors the broker logged that a correct run never causes. */
  problems(): string[];
  close(): Promise<void>;
}

export interface WorldSettings {
  /** MQTT_MAX_INFLIGHT of the broker: the window of 3.x clients, and ten times it caps 5.0's. */
  maxInflight: number;
}

export class World {
  readonly model = new ReferenceModel();
  readonly peers = new Map<string, Peer>();
  /** What happened, one line per step, for the failure report. */
  readonly trace: string[] = [];

  constructor(
    readonly driver: Driver,
    readonly settings: WorldSettings,
  ) {}

  peer(clientId: string): Peer {
    let peer = this.peers.get(clientId);
    if (peer === undefined) {
      const events: PeerEvents = {
        delivered: (who, message) => {
          // Clearing a retained message routes an empty payload; the model does not follow those.
          if (message.key === '') return;
          this.model.delivered(who.clientId, message);
        },
        acknowledged: (who, key, retain, qos) => this.model.acknowledged(who.clientId, key, retain, qos),
        violation: (who, text) => this.model.violation(`${who.clientId}: ${text}`),
      };
      peer = new Peer(clientId, events);
      this.peers.set(clientId, peer);
    }
    return peer;
  }

  /** Lets the broker answer everything, then checks every invariant. */
  async settle(step: string): Promise<void> {
    this.trace.push(step);
    await this.driver.quiesce([...this.peers.values()]);
    this.model.endOfStep();
    await this.checkInvariants(step);
  }

  private async checkInvariants(step: string): Promise<void> {
    const model = this.model;
    const problems: string[] = [...model.violations.splice(0), ...this.driver.problems()];
    for (const peer of this.peers.values()) {
      const session = model.sessions.get(peer.clientId);
      if (session?.connected === true && !peer.isConnected) problems.push(`${peer.clientId}: the broker closed a connection the model expects open`);
    }
    const counts = await this.driver.counts();
    const connected = [...model.sessions.values()].filter((s) => s.connected).length;
    const expectCount = (what: string, actual: number, expected: number): void => {
      if (actual !== expected) problems.push(`${what}: broker ${actual}, model ${expected}`);
    };
    expectCount('connected clients', counts.connected, connected);
    expectCount('sessions', counts.sessions, model.sessions.size);
    expectCount('subscriptions', counts.subscriptions, model.subscriptionCount());
    expectCount('retained messages', counts.retained, model.retained.size);
    expectCount('dropped messages', counts.publishDropped, 0);
    expectCount('stalls the watchdog reported', counts.stallsDetected, 0);
    expectCount('acknowledgements for ids not in flight', counts.acksUnmatched, 0);

    const clients = await this.driver.clients();
    const listed = new Set(clients.map((c) => c.clientId));
    for (const clientId of model.sessions.keys()) if (!listed.has(clientId)) problems.push(`${clientId}: the model's session is not listed by the broker`);
    for (const summary of clients) {
      const session = model.sessions.get(summary.clientId);
      if (session === undefined) {
        problems.push(`${summary.clientId}: the broker lists a session the model says has ended`);
        continue;
      }
      problems.push(...this.checkSession(session, summary));
    }
    if (problems.length > 0) throw new Error(`after ${step}:\n  ${problems.join('\n  ')}\nsteps:\n  ${this.trace.join('\n  ')}`);
  }

  private checkSession(session: SessionModel, summary: ClientSummary): string[] {
    const problems: string[] = [];
    const peer = this.peer(session.clientId);
    const name = session.clientId;
    if (summary.connected !== session.connected) problems.push(`${name}: broker says connected=${summary.connected}, model ${session.connected}`);
    if (session.connected) {
      if (summary.inflight !== peer.window.size) problems.push(`${name}: broker has ${summary.inflight} in flight, the client holds ${peer.window.size}`);
      if (summary.receiveMaximum !== peer.receiveMaximum) problems.push(`${name}: window ${summary.receiveMaximum}, client's Receive Maximum ${peer.receiveMaximum}`);
      // Liveness, as the broker reports itself: queued messages with room in the window is a stall.
      if (summary.queued > 0 && summary.inflight < peer.receiveMaximum) {
        problems.push(`${name}: STALL: ${summary.queued} queued with ${summary.inflight}/${peer.receiveMaximum} in flight`);
      }
      // Liveness, as the model sees it: with room in the window, everything owed is at the client.
      if (peer.window.size < peer.receiveMaximum) {
        const atClient = new Map<string, number>();
        for (const entry of peer.window.values()) {
          if (entry.stage !== 'publish') continue;
          const owed = owedKey(deliveryKey(entry.key, entry.retain), entry.qos);
          atClient.set(owed, (atClient.get(owed) ?? 0) + 1);
        }
        const missing = [...session.owed].filter(([owed, count]) => count > (atClient.get(owed) ?? 0)).map(([owed]) => owed);
        if (ReferenceModel.pendingQoS0(session) > 0) missing.push(`${ReferenceModel.pendingQoS0(session)} retained at QoS 0`);
        if (missing.length > 0) problems.push(`${name}: STALL: owed ${missing.join(', ')} with ${peer.window.size}/${peer.receiveMaximum} in flight`);
      }
    }
    if (session.shareFilters.size === 0) {
      // Everything the session owes is queued or in flight (retained ones a replay sends at QoS 0 queued too);
      // QoS 2 after PUBREC stays in flight until PUBCOMP.
      const owed = ReferenceModel.owedCount(session) + ReferenceModel.pendingQoS0(session);
      if (summary.queued + summary.inflight !== owed + peer.pubrecSent.size) {
        problems.push(`${name}: broker holds ${summary.queued} queued + ${summary.inflight} in flight, model ${owed} owed + ${peer.pubrecSent.size} awaiting PUBCOMP`);
      }
    }
    if (summary.awaitingRel !== 0) problems.push(`${name}: ${summary.awaitingRel} inbound QoS 2 awaiting PUBREL, though every publisher completes its flow`);
    return problems;
  }
}
