/**
 * What one run of a scenario records per named client, in a form that two
 * brokers' runs can be compared with `toEqual` and printed readably.
 */
import type { QoS } from './scenario.ts';

/** The CONNACK code (3.x return code, 5.0 reason code); NoConnack when the broker closed without one. */
export interface ConnackRecord {
  code: number;
  sessionPresent: boolean;
}

/** The connection closed before any CONNACK arrived. */
export const NoConnack = -1;

export interface SubackRecord {
  filter: string;
  /** The SUBACK's return codes / reason codes, as sent. */
  codes: number[];
}

export interface PubackRecord {
  topic: string;
  /** PUBACK (QoS 1) or PUBREC (QoS 2) reason code; 3.x acknowledgements carry none and count as 0. */
  code: number;
}

export interface ClientObservation {
  /** One per connect or reconnect of this client, in order. */
  connacks: ConnackRecord[];
  subacks: SubackRecord[];
  /** QoS 1/2 publishes only: QoS 0 has no acknowledgement. */
  pubacks: PubackRecord[];
  /** Every distinct delivery (formatMessage), sorted: order and duplicates are not compared. */
  messages: string[];
}

export type Aspect = keyof ClientObservation;
export const Aspects: readonly Aspect[] = ['connacks', 'subacks', 'pubacks', 'messages'];

/** Observations of one run, by client name. */
export type RunObservation = Record<string, ClientObservation>;

export interface DeliveredMessage {
  topic: string;
  payload: string;
  qos: QoS;
  retain: boolean;
}

/**
 * `topic payload q<qos>` and ` retained` when the retain flag was set; the
 * difference lists are written in this form.
 *
 * @example
 * formatMessage({ topic: 'a/b', payload: 'one', qos: 1, retain: true }); // 'a/b one q1 retained'
 */
export function formatMessage(message: DeliveredMessage): string {
  return `${message.topic} ${message.payload} q${message.qos}${message.retain ? ' retained' : ''}`;
}

export function emptyObservation(): ClientObservation {
  return { connacks: [], subacks: [], pubacks: [], messages: [] };
}

/** Adds a delivery; a repeat (a QoS 1 resend with DUP) is the same delivery. */
export function recordMessage(observation: ClientObservation, message: DeliveredMessage): void {
  const text = formatMessage(message);
  if (observation.messages.includes(text)) return;
  observation.messages.push(text);
  observation.messages.sort();
}
