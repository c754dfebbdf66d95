/**
 * The numbered normative statements of MQTT 3.1.1 and MQTT 5.0, by id, as
 * the OASIS standards number them: the list docs/conformance.md and
 * matrix.ts must cover, one entry each, no more.
 *
 * Where they come from (docs/conformance.md, "Sources", says more):
 * - 3.1.1 (OASIS Standard, 29 October 2014): appendix B, "Mandatory
 *   normative statements", 141 ids, read from a public translation of the
 *   whole standard that keeps the ids as they are, and checked against
 *   English quotations of the same statements.
 * - 5.0 (OASIS Standard, 7 March 2019): appendix B, 251 ids (5 of chapter 1,
 *   7 of chapter 2, 175 of chapter 3, 60 of chapter 4, 4 of chapter 6),
 *   checked against a second public list that quotes each statement's text.
 *
 * The standards misspell three ids; the list uses the regular spelling and
 * `SpelledInTheStandard` says how the standard wrote it, so a search finds
 * either. An id of one version is not the same statement in the other:
 * MQTT-3.1.2-24 is the keep-alive in 3.1.1 and the Maximum Packet Size in
 * 5.0.
 */

function range(prefix: string, from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => `MQTT-${prefix}-${from + i}`);
}

export const Mqtt311Ids: readonly string[] = [
  ...range('1.5.3', 1, 3),
  ...range('2.2.2', 1, 2),
  ...range('2.3.1', 1, 7),
  ...range('3.1.0', 1, 2),
  ...range('3.1.2', 1, 24),
  ...range('3.1.3', 1, 11),
  ...range('3.1.4', 1, 5),
  ...range('3.2.0', 1, 1),
  ...range('3.2.2', 1, 6),
  ...range('3.3.1', 1, 12),
  ...range('3.3.2', 1, 3),
  ...range('3.3.4', 1, 1),
  ...range('3.3.5', 1, 2),
  ...range('3.6.1', 1, 1),
  ...range('3.8.1', 1, 1),
  ...range('3.8.3', 1, 4),
  ...range('3.8.4', 1, 6),
  ...range('3.9.3', 1, 2),
  ...range('3.10.1', 1, 1),
  ...range('3.10.3', 1, 2),
  ...range('3.10.4', 1, 6),
  ...range('3.12.4', 1, 1),
  ...range('3.14.1', 1, 1),
  ...range('3.14.4', 1, 3),
  ...range('4.1.0', 1, 2),
  ...range('4.3.1', 1, 1),
  ...range('4.3.2', 1, 2),
  ...range('4.3.3', 1, 2),
  ...range('4.4.0', 1, 1),
  ...range('4.5.0', 1, 2),
  ...range('4.6.0', 1, 6),
  ...range('4.7.1', 1, 3),
  ...range('4.7.2', 1, 1),
  ...range('4.7.3', 1, 4),
  ...range('4.8.0', 1, 2),
  ...range('6.0.0', 1, 4),
  ...range('7.0.0', 1, 2),
  ...range('7.1.1', 1, 1),
  ...range('7.1.2', 1, 1),
];

export const Mqtt5Ids: readonly string[] = [
  // Chapter 1: data representation.
  ...range('1.5.4', 1, 3),
  ...range('1.5.5', 1, 1),
  ...range('1.5.7', 1, 1),
  // Chapter 2: packet format (appendix B starts 2.2.1 at -2).
  ...range('2.1.3', 1, 1),
  ...range('2.2.1', 2, 6),
  ...range('2.2.2', 1, 1),
  // Chapter 3: the packets (PINGRESP, 3.13, has no numbered statement).
  ...range('3.1.0', 1, 2),
  ...range('3.1.2', 1, 30),
  ...range('3.1.3', 1, 12),
  ...range('3.1.4', 1, 6),
  ...range('3.2.0', 1, 2),
  ...range('3.2.2', 1, 22),
  ...range('3.3.1', 1, 13),
  ...range('3.3.2', 1, 20),
  ...range('3.3.4', 1, 10),
  ...range('3.4.2', 1, 3),
  ...range('3.5.2', 1, 3),
  ...range('3.6.1', 1, 1),
  ...range('3.6.2', 1, 3),
  ...range('3.7.2', 1, 3),
  ...range('3.8.1', 1, 1),
  ...range('3.8.3', 1, 5),
  ...range('3.8.4', 1, 8),
  ...range('3.9.2', 1, 2),
  ...range('3.9.3', 1, 2),
  ...range('3.10.1', 1, 1),
  ...range('3.10.3', 1, 2),
  ...range('3.10.4', 1, 6),
  ...range('3.11.2', 1, 2),
  ...range('3.11.3', 1, 2),
  ...range('3.12.4', 1, 1),
  ...range('3.14.0', 1, 1),
  ...range('3.14.1', 1, 1),
  ...range('3.14.2', 1, 4),
  ...range('3.14.4', 1, 3),
  ...range('3.15.1', 1, 1),
  ...range('3.15.2', 1, 3),
  // Chapter 4: operational behaviour (4.10 and 4.11 have no numbered statement).
  ...range('4.1.0', 1, 2),
  ...range('4.2.0', 1, 1),
  ...range('4.3.1', 1, 1),
  ...range('4.3.2', 1, 5),
  ...range('4.3.3', 1, 13),
  ...range('4.4.0', 1, 2),
  ...range('4.5.0', 1, 2),
  ...range('4.6.0', 1, 6),
  ...range('4.7.0', 1, 1),
  ...range('4.7.1', 1, 2),
  ...range('4.7.2', 1, 1),
  ...range('4.7.3', 1, 4),
  ...range('4.8.2', 1, 6),
  ...range('4.9.0', 1, 3),
  ...range('4.12.0', 1, 7),
  ...range('4.12.1', 1, 2),
  ...range('4.13.1', 1, 1),
  ...range('4.13.2', 1, 1),
  // Chapter 6: WebSocket.
  ...range('6.0.0', 1, 4),
];

/** Ids the standards print irregularly: our spelling → theirs. */
export const SpelledInTheStandard: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  '3.1.1': {
    'MQTT-3.1.2-7': 'MQTT-3.1.2.7',
    'MQTT-3.8.3-4': 'MQTT-3-8.3-4',
  },
  '5.0': {
    // The body tags it [MQTT-4.2-1]; appendix B lists MQTT-4.2.0-1.
    'MQTT-4.2.0-1': 'MQTT-4.2-1',
  },
};

export const ExpectedCounts = { '3.1.1': 141, '5.0': 251 } as const;
