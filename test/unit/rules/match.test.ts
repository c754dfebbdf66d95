import { describe, expect, it } from 'vitest';
import type { Rule } from '../../../edge/rules/config.ts';
import { matchingRules, MaxRuleDepth } from '../../../edge/rules/match.ts';

const rule = (name: string, filter: string): Rule => ({ name, filter, to: `republish:${name}`, target: { kind: 'republish', topic: name } });
const rules = [rule('all', '#'), rule('sensors', 'sensors/+/temp'), rule('sys', '$SYS/#'), rule('exact', 'a/b')];
const names = (topic: string, origin?: { rule: string; depth: number }) => matchingRules(rules, topic, origin).map((r) => r.name);

describe('matching rules', () => {
  it('uses MQTT filter semantics', () => {
    expect(names('sensors/1/temp')).toEqual(['all', 'sensors']);
    expect(names('sensors/1/hum')).toEqual(['all']);
    expect(names('a/b')).toEqual(['all', 'exact']);
  });

  it('never matches the broker’s own $ topics', () => {
    expect(names('$SYS/broker/uptime')).toEqual([]);
  });

  it('does not feed a republished message back to the rule that made it', () => {
    expect(names('a/b', { rule: 'exact', depth: 1 })).toEqual(['all']);
  });

  it('ends a chain of republishes after a few hops', () => {
    expect(names('a/b', { rule: 'other', depth: MaxRuleDepth - 1 })).toEqual(['all', 'exact']);
    expect(names('a/b', { rule: 'other', depth: MaxRuleDepth })).toEqual([]);
  });
});
