/**
 * Which rules a message triggers: the cheap part of the publish path, no
 * I/O. Republished messages carry where they came from, so a rule never
 * feeds itself and a chain of rules ends after a few hops.
 */
import { topicMatchesFilter } from '../../shared/topic.ts';
import type { Rule } from './config.ts';

/** Hops a message may have been republished by rules and still trigger rules (A → B → C stops there). */
export const MaxRuleDepth = 3;

/** Where a message came from when a rule republished it. */
export interface RuleOrigin {
  /** The rule that republished it. */
  rule: string;
  /** How many republishes led to it: 1 for a rule's republish of a client's message. */
  depth: number;
}

/**
 * The rules `topic` triggers. The broker's own `$` topics trigger none (a
 * filter like `$SYS/#` would otherwise turn every $SYS update into work).
 */
export function matchingRules(rules: readonly Rule[], topic: string, origin?: RuleOrigin): Rule[] {
  if (rules.length === 0 || topic.startsWith('$')) return [];
  if (origin !== undefined && origin.depth >= MaxRuleDepth) return [];
  return rules.filter((rule) => rule.name !== origin?.rule && topicMatchesFilter(rule.filter, topic));
}
