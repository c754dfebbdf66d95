import { describe, expect, it } from 'vitest';
import { DefaultDeadLetterLimits, DefaultMaxAttempts, DefaultOutboxLimits, loadRulesConfig, NoRules } from '../../../edge/rules/config.ts';

const bindings = {
  EVENTS: { send: async () => undefined },
  DB: { prepare: () => undefined },
  BUCKET: { put: async () => undefined },
  TEXT: 'a [vars] string, not a binding',
};
const load = (rules: unknown, extra: Record<string, unknown> = {}) => loadRulesConfig({ MQTT_RULES: JSON.stringify(rules), ...bindings, ...extra } as never);

describe('MQTT_RULES', () => {
  it('is empty when unset, with the default outbox bounds', () => {
    expect(loadRulesConfig({})).toEqual(NoRules);
    expect(NoRules).toEqual({ rules: [], outbox: DefaultOutboxLimits, deadLetters: DefaultDeadLetterLimits, maxAttempts: DefaultMaxAttempts });
    expect(loadRulesConfig({ MQTT_RULES: '  ' }).rules).toEqual([]);
  });

  it('parses every target kind, names rules by position unless named', () => {
    const { rules } = load([
      { filter: 'hook/#', to: 'webhook:http://127.0.0.1:9/in' },
      { name: 'events', filter: 'a/+', to: 'queue:EVENTS' },
      { filter: 'b/#', to: 'd1:DB/readings' },
      { filter: 'c', to: 'r2:BUCKET/archive/' },
      { filter: 'd/#', to: 'r2:BUCKET' },
      { filter: 'e', to: 'republish:copies/e' },
    ]);
    expect(rules.map((rule) => [rule.name, rule.target])).toEqual([
      ['rule-1', { kind: 'webhook', url: 'http://127.0.0.1:9/in' }],
      ['events', { kind: 'queue', binding: 'EVENTS' }],
      ['rule-3', { kind: 'd1', binding: 'DB', table: 'readings' }],
      ['rule-4', { kind: 'r2', binding: 'BUCKET', prefix: 'archive/' }],
      ['rule-5', { kind: 'r2', binding: 'BUCKET', prefix: '' }],
      ['rule-6', { kind: 'republish', topic: 'copies/e' }],
    ]);
    expect(rules[1]?.to).toBe('queue:EVENTS');
  });

  it('signs webhooks with MQTT_RULES_SECRET unless the rule has its own secret', () => {
    const { rules } = load(
      [
        { filter: 'a', to: 'webhook:https://example.com/' },
        { filter: 'b', to: 'webhook:https://example.com/', secret: 'own' },
        { filter: 'c', to: 'queue:EVENTS' },
      ],
      { MQTT_RULES_SECRET: 'shared' },
    );
    expect(rules.map((rule) => rule.secret)).toEqual(['shared', 'own', undefined]);
  });

  it('reads the outbox bounds', () => {
    expect(loadRulesConfig({ MQTT_RULES_OUTBOX_MAX_MESSAGES: '5', MQTT_RULES_OUTBOX_MAX_BYTES: '1000' }).outbox).toEqual({ maxMessages: 5, maxBytes: 1000 });
    expect(() => loadRulesConfig({ MQTT_RULES_OUTBOX_MAX_MESSAGES: 'many' })).toThrow(/MQTT_RULES_OUTBOX_MAX_MESSAGES="many"/);
    expect(() => loadRulesConfig({ MQTT_RULES_OUTBOX_MAX_BYTES: '0' })).toThrow(/MQTT_RULES_OUTBOX_MAX_BYTES/);
  });

  it('reads the attempt bound and the dead letters\' bounds', () => {
    const config = loadRulesConfig({ MQTT_RULES_MAX_ATTEMPTS: '3', MQTT_RULES_DEAD_LETTERS_MAX_MESSAGES: '7', MQTT_RULES_DEAD_LETTERS_MAX_BYTES: '2048' });
    expect(config).toMatchObject({ maxAttempts: 3, deadLetters: { maxMessages: 7, maxBytes: 2048 } });
    expect(() => loadRulesConfig({ MQTT_RULES_MAX_ATTEMPTS: '0' })).toThrow(/MQTT_RULES_MAX_ATTEMPTS="0" must be a positive integer/);
    expect(() => loadRulesConfig({ MQTT_RULES_DEAD_LETTERS_MAX_MESSAGES: '1.5' })).toThrow(/MQTT_RULES_DEAD_LETTERS_MAX_MESSAGES/);
    expect(() => loadRulesConfig({ MQTT_RULES_DEAD_LETTERS_MAX_BYTES: '-1' })).toThrow(/MQTT_RULES_DEAD_LETTERS_MAX_BYTES/);
  });

  // Each bad rule fails loudly, naming the rule (index and name) and the problem.
  const bad: Array<[string, unknown, RegExp]> = [
    ['not JSON', undefined, /MQTT_RULES is not JSON/],
    ['not an array', { filter: 'a', to: 'republish:b' }, /must be a JSON array/],
    ['not an object', ['webhook:x'], /MQTT_RULES\[0\] must be an object/],
    ['a bad filter', [{ filter: 'a/#/b', to: 'republish:c' }], /MQTT_RULES\[0\] \("rule-1"\): "filter" must be a valid topic filter/],
    ['a shared filter', [{ filter: '$share/g/a', to: 'republish:c' }], /"filter" must be a valid topic filter/],
    ['no target', [{ name: 'x', filter: 'a' }], /MQTT_RULES\[0\] \("x"\): "to" must be a string/],
    ['an unknown kind', [{ name: 'x', filter: 'a', to: 'kafka:topic' }], /\("x"\): unknown target kind "kafka"/],
    ['a bad URL', [{ filter: 'a', to: 'webhook:not a url' }], /needs an http\(s\) URL/],
    ['a non-http URL', [{ filter: 'a', to: 'webhook:ftp://example.com/' }], /must be http or https/],
    ['a missing binding', [{ name: 'q', filter: 'a', to: 'queue:MISSING' }], /\("q"\): the Worker has no Queue binding named MISSING/],
    ['a var instead of a binding', [{ filter: 'a', to: 'd1:TEXT/t' }], /no D1 binding named TEXT/],
    ['a binding of the wrong kind', [{ filter: 'a', to: 'r2:EVENTS' }], /no R2 binding named EVENTS/],
    ['a bad table', [{ filter: 'a', to: 'd1:DB/drop table' }], /d1:<BINDING>\/<table>/],
    ['no table', [{ filter: 'a', to: 'd1:DB' }], /d1:<BINDING>\/<table>/],
    ['a republish with wildcards', [{ filter: 'a', to: 'republish:b/#' }], /republish needs a topic name/],
    ['a republish into $SYS', [{ filter: 'a', to: 'republish:$SYS/x' }], /republish needs a topic name/],
    ['a duplicate name', [{ name: 'x', filter: 'a', to: 'republish:b' }, { name: 'x', filter: 'c', to: 'republish:d' }], /two rules are named "x"/],
    ['a bad name', [{ name: 'has space', filter: 'a', to: 'republish:b' }], /"name" must be/],
    ['an unknown field', [{ filter: 'a', to: 'republish:b', fliter: 'x' }], /unknown field "fliter"/],
    ['a secret on a queue', [{ filter: 'a', to: 'queue:EVENTS', secret: 's' }], /"secret" only applies to webhook/],
  ];
  for (const [what, rules, message] of bad) {
    it(`refuses ${what}`, () => {
      const text = rules === undefined ? '[{"filter": ' : JSON.stringify(rules);
      expect(() => loadRulesConfig({ MQTT_RULES: text, ...bindings } as never)).toThrow(message);
    });
  }
});
