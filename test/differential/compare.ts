/**
 * Compares one edge run with the mosquitto run of the same scenario, client
 * by client and aspect by aspect. An aspect on a difference list must
 * differ exactly as listed; every other aspect must be equal. The result is
 * a list of problems, each with what was observed, so that a failing run
 * says how to update the lists.
 */
import type { ListedDifference } from './differences.ts';
import { Aspects, emptyObservation, type Aspect, type ClientObservation, type RunObservation } from './observation.ts';
import type { TargetName } from './targets.ts';

export interface Comparison {
  scenario: string;
  target: TargetName;
  mosquitto: RunObservation;
  edge: RunObservation;
}

/**
 * 0x10 No matching subscribers is a PUBACK/PUBREC code a server MAY send
 * instead of 0x00 (MQTT 5.0 §3.4.2.1); both brokers do, but a SUBSCRIBE the
 * edge refuses for access (a deliberate difference) is a subscriber in
 * mosquitto, so who has none differs with access control. Not an
 * access-control difference of its own: compared as 0x00.
 */
const NoMatchingSubscribers = 0x10;

function normalized(aspect: Aspect, observation: ClientObservation): string {
  const value = aspect === 'pubacks' ? observation.pubacks.map((ack) => ({ ...ack, code: ack.code === NoMatchingSubscribers ? 0 : ack.code })) : observation[aspect];
  return JSON.stringify(value);
}

/** The observation an entry describes for one broker, as a whole observation (its other aspects empty). */
function listedSide(entry: ListedDifference, side: 'mosquitto' | 'edge'): ClientObservation {
  return { ...emptyObservation(), [entry.aspect]: entry[side] };
}

export function findProblems(comparison: Comparison, listed: readonly ListedDifference[]): string[] {
  const problems: string[] = [];
  const clients = new Set([...Object.keys(comparison.mosquitto), ...Object.keys(comparison.edge)]);
  const relevant = listed.filter((entry) => entry.scenario === comparison.scenario && (entry.transports?.includes(comparison.target) ?? true));
  for (const client of clients) {
    const mosquitto = comparison.mosquitto[client] ?? emptyObservation();
    const edge = comparison.edge[client] ?? emptyObservation();
    for (const aspect of Aspects) {
      const where = `${comparison.scenario} / ${client} / ${aspect} on ${comparison.target}`;
      const observed = `mosquitto ${normalized(aspect, mosquitto)}, edge ${normalized(aspect, edge)}`;
      const entry = relevant.find((candidate) => candidate.client === client && candidate.aspect === aspect);
      if (entry === undefined) {
        if (normalized(aspect, mosquitto) !== normalized(aspect, edge)) problems.push(`${where}: differs and is not listed; observed ${observed}`);
        continue;
      }
      const asListed = normalized(aspect, mosquitto) === normalized(aspect, listedSide(entry, 'mosquitto')) && normalized(aspect, edge) === normalized(aspect, listedSide(entry, 'edge'));
      if (!asListed) {
        const hint = normalized(aspect, mosquitto) === normalized(aspect, edge) ? 'the brokers now agree: delete the entry' : 'update the entry';
        problems.push(`${where}: listed in ${entry.list} but observed ${observed} (${hint})`);
      }
    }
  }
  for (const entry of relevant) {
    if (!clients.has(entry.client)) problems.push(`${comparison.scenario} / ${entry.client}: listed in ${entry.list} but the scenario has no such client`);
  }
  return problems;
}
