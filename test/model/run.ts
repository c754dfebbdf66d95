/**
 * Runs the model test: seeded, shrinking, replayable. A failure prints the
 * seed and the path of the shrunk counterexample, and the command to replay
 * exactly it (MODEL_SEED=... MODEL_PATH=...).
 */
import fc from 'fast-check';
import { commandArbitraries, type CommandOptions } from './commands.ts';
import type { ReferenceModel } from './model.ts';
import { World, type Driver, type WorldSettings } from './world.ts';

export interface ModelRunOptions extends CommandOptions {
  runs: number;
  maxCommands: number;
  seed: number;
  /** fast-check's path of one counterexample, to replay only it (with replayPath: which commands ran). */
  path?: string;
  replayPath?: string;
  settings: WorldSettings;
  makeDriver(): Promise<Driver>;
  /** Called with the number of commands of each sequence that ran to its end. */
  onSequence?(commands: number): void;
}

/** Settings from the environment: MODEL_RUNS, MODEL_COMMANDS, MODEL_SEED (a number or `random`), MODEL_PATH. */
export function settingsFromEnvironment(defaults: { runs: number; maxCommands: number }): { runs: number; maxCommands: number; seed: number; path?: string; replayPath?: string } {
  const env = process.env;
  const seedText = env['MODEL_SEED'];
  const seed = seedText === undefined ? 20261201 : seedText === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(seedText);
  const path = env['MODEL_PATH'];
  const replayPath = env['MODEL_REPLAY'];
  return {
    runs: Number(env['MODEL_RUNS'] ?? defaults.runs),
    maxCommands: Number(env['MODEL_COMMANDS'] ?? defaults.maxCommands),
    seed,
    ...(path === undefined ? {} : { path }),
    ...(replayPath === undefined ? {} : { replayPath }),
  };
}

export type ModelRunDetails = fc.RunDetails<[Iterable<fc.AsyncCommand<ReferenceModel, World, false>>]>;

export async function runModel(options: ModelRunOptions): Promise<ModelRunDetails> {
  const property = fc.asyncProperty(fc.commands(commandArbitraries(options), {
      maxCommands: options.maxCommands,
      size: 'max',
      ...(options.replayPath === undefined ? {} : { replayPath: options.replayPath }),
    }), async (commands) => {
    const driver = await options.makeDriver();
    const world = new World(driver, options.settings);
    try {
      await fc.asyncModelRun(() => ({ model: world.model as ReferenceModel, real: world }), commands);
      // Quiescence: late clients answer everything they held; the invariants must hold once more.
      for (const peer of world.peers.values()) if (peer.isConnected) peer.releaseHeld();
      await world.settle('release-all');
      options.onSequence?.(world.trace.length);
    } finally {
      await driver.close();
    }
  });
  return fc.check(property, {
    numRuns: options.runs,
    seed: options.seed,
    ...(options.path === undefined ? {} : { path: options.path }),
    endOnFailure: options.path !== undefined,
  });
}

/** A failure report with the replay command. */
export function describeFailure(details: ModelRunDetails, testCommand: string, maxCommands: number): string {
  const base = fc.defaultReportMessage(details) ?? 'failed';
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  const replayPath = /replayPath="([^"]*)"/.exec(fc.stringify(details.counterexample))?.[1] ?? '';
  return `${error}\n\n${base}\n\nReplay exactly this counterexample:\n  MODEL_COMMANDS=${maxCommands} MODEL_SEED=${details.seed} MODEL_PATH='${details.counterexamplePath ?? ''}' MODEL_REPLAY='${replayPath}' ${testCommand}`;
}
