/** Every differential scenario, in the order the suite runs them. */
import type { Scenario } from '../scenario.ts';
import { credentials } from './credentials.ts';
import { denyPrecedence } from './deny-precedence.ts';
import { liveTakeover } from './live-takeover.ts';
import { overlapping } from './overlapping.ts';
import { partialGrant } from './partial-grant.ts';
import { patterns } from './patterns.ts';
import { retained } from './retained.ts';
import { runtimeEntries } from './runtime-entries.ts';
import { takeoverOffline } from './takeover.ts';
import { userBlocks } from './user-blocks.ts';
import { wildcardDeny } from './wildcard-deny.ts';
import { wills } from './wills.ts';

export const Scenarios: readonly Scenario[] = [
  wildcardDeny,
  userBlocks,
  patterns,
  partialGrant,
  wills,
  retained,
  takeoverOffline,
  credentials,
  denyPrecedence,
  liveTakeover,
  overlapping,
  runtimeEntries,
];
