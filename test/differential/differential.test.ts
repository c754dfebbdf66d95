/**
 * The same access-control scenarios on mosquitto 2.0.11 and on this broker
 * (through the sidecar over TCP, and over WebSocket), with the same
 * password and ACL files: the CONNACKs, SUBACKs, PUBACKs and deliveries of
 * every client must be equal, except for the listed differences
 * (differences.ts). README.md in this directory says what is covered.
 *
 * DIFF_REPORT=1 prints every run's observations.
 */
import { describe, expect, it } from 'vitest';
import { hasMosquitto } from '../helpers/mosquitto.ts';
import { hasMosquittoPasswd } from '../unit/auth/mosquitto-tools.ts';
import { findProblems } from './compare.ts';
import { AllListedDifferences } from './differences.ts';
import { withFenceRule } from './fence.ts';
import type { RunObservation } from './observation.ts';
import { mosquittoPasswordFile } from './password-file.ts';
import { runScenario } from './run-scenario.ts';
import type { Scenario } from './scenario.ts';
import { Scenarios } from './scenarios/index.ts';
import { startBrokers, type BrokerFiles } from './targets.ts';
import { runtimeAclText } from '../../edge/auth/runtime-users.ts';

function filesOf(scenario: Scenario): BrokerFiles {
  const passwords = mosquittoPasswordFile(scenario.users);
  return { ...(passwords === undefined ? {} : { passwords }), acl: withFenceRule(scenario.acl), allowAnonymous: scenario.allowAnonymous ?? true };
}

/** What mosquitto loads for a scenario with runtime additions: the same files with them written in. */
function mosquittoFilesOf(scenario: Scenario, files: BrokerFiles): BrokerFiles {
  const runtime = scenario.runtime;
  if (runtime === undefined) return files;
  const passwords = mosquittoPasswordFile({ ...(runtime.users ?? {}), ...scenario.users });
  const entries = (runtime.acl ?? []).map((entry, index) => ({ id: index + 1, username: entry.username ?? null, pattern: entry.pattern ?? false, access: entry.access, topic: entry.topic }));
  const text = runtimeAclText(entries);
  return { ...files, ...(passwords === undefined ? {} : { passwords }), acl: `${text.before}${files.acl}\n${text.after}` };
}

describe.skipIf(!hasMosquitto || !hasMosquittoPasswd())('mosquitto 2.0.11 and this broker, same password and ACL files', () => {
  it('lists each difference once, with two different sides, for a scenario that exists', () => {
    const names = new Set(Scenarios.map((scenario) => scenario.name));
    const keys = AllListedDifferences.map((entry) => `${entry.scenario}/${entry.client}/${entry.aspect}/${entry.transports?.join('+') ?? 'both'}`);
    expect(keys.filter((key, index) => keys.indexOf(key) !== index)).toEqual([]);
    for (const entry of AllListedDifferences) {
      expect(names, `${entry.scenario} in ${entry.list}`).toContain(entry.scenario);
      expect(JSON.stringify(entry.mosquitto), `${entry.scenario}/${entry.client}/${entry.aspect}`).not.toBe(JSON.stringify(entry.edge));
    }
  });

  for (const scenario of Scenarios) {
    it(`${scenario.name}: ${scenario.description}`, async () => {
      const files = filesOf(scenario);
      const brokers = await startBrokers(files, scenario.name, { mosquittoFiles: mosquittoFilesOf(scenario, files), ...(scenario.runtime === undefined ? {} : { runtime: scenario.runtime }) });
      try {
        const targets = [brokers.mosquitto, ...brokers.edge];
        // Settled, not Promise.all: no run may still be going when the brokers stop.
        const settled = await Promise.allSettled(targets.map((target) => runScenario(scenario, target)));
        const runs: RunObservation[] = [];
        for (const result of settled) {
          if (result.status === 'rejected') throw result.reason;
          runs.push(result.value);
        }
        const [mosquitto, ...edgeRuns] = runs;
        if (process.env['DIFF_REPORT'] === '1') {
          process.stdout.write(`\n=== ${scenario.name}\n${JSON.stringify(Object.fromEntries(targets.map((target, index) => [target.name, runs[index]])), null, 1)}\n`);
        }
        const problems = edgeRuns.flatMap((edge, index) =>
          findProblems({ scenario: scenario.name, target: brokers.edge[index]!.name, mosquitto: mosquitto!, edge }, AllListedDifferences),
        );
        expect(problems).toEqual([]);
      } finally {
        await brokers.dispose();
      }
    });
  }
});
