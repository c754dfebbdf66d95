/**
 * Plays a scenario's steps on one broker and returns what each named
 * client observed. A client the broker refused takes no further steps on
 * that broker (its later steps are skipped there): what it would have done
 * is part of the difference.
 */
import { openConnection, type Connection } from './connection.ts';
import { quiesce } from './fence.ts';
import { emptyObservation, type RunObservation } from './observation.ts';
import type { ClientSpec, Scenario, Step } from './scenario.ts';
import type { BrokerTarget } from './targets.ts';
import { pollUntil, withTimeout } from './wait.ts';

const StepTimeoutMs = 10_000;

export async function runScenario(scenario: Scenario, target: BrokerTarget): Promise<RunObservation> {
  const run = new ScenarioRun(target);
  try {
    for (const step of scenario.steps) await run.perform(step);
    // Every run ends fenced, so a missing delivery is a real one.
    await run.perform({ kind: 'quiesce' });
    return run.observations;
  } catch (error) {
    throw new Error(`scenario "${scenario.name}" on ${target.name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    await run.closeAll();
  }
}

class ScenarioRun {
  readonly observations: RunObservation = {};
  /** The spec each client last connected with. */
  private readonly specs = new Map<string, ClientSpec>();
  /** Each client's latest connection. */
  private readonly connections = new Map<string, Connection>();
  private fenceRound = 0;

  constructor(private readonly target: BrokerTarget) {}

  async perform(step: Step): Promise<void> {
    switch (step.kind) {
      case 'connect':
        if (this.specs.has(step.client)) throw new Error(`${step.client} connects twice: use reconnect`);
        this.observations[step.client] = emptyObservation();
        return this.open(step.client, step.spec);
      case 'reconnect': {
        const spec = this.specs.get(step.client);
        if (spec === undefined) throw new Error(`${step.client} reconnects before connecting`);
        if (this.connections.get(step.client)?.isOpen() === true) throw new Error(`${step.client} reconnects while connected`);
        return this.open(step.client, { ...spec, ...step.overrides });
      }
      case 'subscribe':
        return this.ifOpen(step.client, (connection) => connection.subscribe(step.filter, step.qos));
      case 'publish':
        return this.ifOpen(step.client, (connection) => connection.publish(step.topic, step.payload, step.qos, step.retain));
      case 'drop':
        return this.ifOpen(step.client, (connection) => this.endAndWait(connection, () => connection.drop()));
      case 'disconnect':
        return this.ifOpen(step.client, (connection) => this.endAndWait(connection, () => connection.disconnect()));
      case 'quiesce':
        return quiesce(this.openConnections(), ++this.fenceRound, StepTimeoutMs);
    }
  }

  private async open(name: string, spec: ClientSpec): Promise<void> {
    this.specs.set(name, spec);
    const holder = this.openConnections().find((connection) => connection.spec.clientId === spec.clientId);
    const connection = await openConnection(this.target.url, name, spec, this.observations[name]!);
    this.connections.set(name, connection);
    if (holder !== undefined && connection.isOpen()) {
      // [MQTT-3.1.4-3] the broker closes the connection it took the id from; that
      // client must not be asked to fence.
      await withTimeout(holder.closed, StepTimeoutMs, `${holder.name}'s connection to be closed by the takeover`);
    }
  }

  /** Ends a connection and waits until the broker reports it ended (so its will is routed). */
  private async endAndWait(connection: Connection, end: () => Promise<void>): Promise<void> {
    const clientId = connection.spec.clientId;
    const before = this.target.endsReported(clientId);
    await end();
    await pollUntil(() => this.target.endsReported(clientId) > before, StepTimeoutMs, `${this.target.name} to report the end of ${connection.name} (${clientId})`);
  }

  private async ifOpen(name: string, act: (connection: Connection) => Promise<void>): Promise<void> {
    if (!this.observations[name]) throw new Error(`${name} is used before it connects`);
    const connection = this.connections.get(name);
    if (connection?.isOpen() === true) await act(connection);
  }

  private openConnections(): Connection[] {
    return [...this.connections.values()].filter((connection) => connection.isOpen());
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.connections.values()].map((connection) => (connection.isOpen() ? connection.drop() : Promise.resolve())));
  }
}
