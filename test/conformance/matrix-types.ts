/**
 * The shape of the conformance matrix (matrix.ts): one entry per numbered
 * statement of a version, each with exactly one status. The union makes
 * "a test, a reason or not yet, never two" a type error;
 * test/unit/conformance-matrix.test.ts checks the rest (every id once,
 * every named test exists).
 */

/** A test by its file and its title as vitest shows it (an `it.each` row expanded, e.g. `rejects DISCONNECT flags 2`). */
export interface TestRef {
  readonly file: string;
  readonly name: string;
}

export type Status =
  /** Tests that exercise the statement; `note` says what they leave out, if anything. */
  | { readonly kind: 'tested'; readonly tests: readonly TestRef[]; readonly note?: string }
  /** Not the server's to meet: a duty of the client alone, or a MAY (or an option) the broker does not take. */
  | { readonly kind: 'n/a'; readonly why: 'applies to clients' | 'not done'; readonly reason: string }
  /** An honest gap: untested, or a known violation being fixed. */
  | { readonly kind: 'not yet'; readonly gap: string };

export interface Entry {
  readonly id: string;
  /** One line, our own words. */
  readonly text: string;
  readonly status: Status;
}

/** A difference of MQTT 3.1 (MQIsdp) from 3.1.1 that matters to a server. 3.1 numbers no statements. */
export interface Difference {
  readonly key: string;
  readonly text: string;
  readonly status: Status;
}

export const t = (file: string, name: string): TestRef => ({ file, name });
export const tested = (...tests: TestRef[]): Status => ({ kind: 'tested', tests });
export const testedNote = (note: string, ...tests: TestRef[]): Status => ({ kind: 'tested', tests, note });
export const clientOnly = (reason: string): Status => ({ kind: 'n/a', why: 'applies to clients', reason });
export const notDone = (reason: string): Status => ({ kind: 'n/a', why: 'not done', reason });
export const notYet = (gap: string): Status => ({ kind: 'not yet', gap });
export const e = (id: string, text: string, status: Status): Entry => ({ id, text, status });
