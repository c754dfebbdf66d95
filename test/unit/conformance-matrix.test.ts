/**
 * The conformance matrix (test/conformance/matrix.ts) against the official
 * lists of statement ids (spec-ids.ts), the test files it names, and the
 * page rendered from it (docs/conformance.md). Pure Node: it reads files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Status, TestRef } from '../conformance/matrix-types.ts';
import { Matrix, Mqtt31Differences } from '../conformance/matrix.ts';
import { countsOf, regionOf, renderRegions, type Version } from '../conformance/render.ts';
import { ExpectedCounts, Mqtt311Ids, Mqtt5Ids } from '../conformance/spec-ids.ts';
import { findsTitle, hasPlaceholder, scanSource, titlePattern, type ScannedFile } from '../conformance/titles.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const Official: Record<Version, readonly string[]> = { '3.1.1': Mqtt311Ids, '5.0': Mqtt5Ids };

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return testFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Every file under test/, scanned once. */
const scanned = new Map<string, ScannedFile>(testFiles(join(repoRoot, 'test')).map((path) => [relative(repoRoot, path), scanSource(readFileSync(path, 'utf8'))]));
/** Literals of the tests themselves: not of the matrix, which names every test, nor of this file. */
const isMatrixSide = (path: string): boolean => path.startsWith('test/conformance/') && !path.endsWith('.test.ts');
const literals = new Set([...scanned].filter(([path]) => !isMatrixSide(path) && path !== 'test/unit/conformance-matrix.test.ts').flatMap(([, file]) => file.literals));
const templates = [...literals].filter((literal) => hasPlaceholder(literal) && literal.replace(/\$\{[^}]*\}/g, '').trim().length >= 3).map(titlePattern);

function allStatuses(): Array<{ where: string; status: Status }> {
  return [
    ...(Object.keys(Matrix) as Version[]).flatMap((version) => Matrix[version].map((entry) => ({ where: `${version} ${entry.id}`, status: entry.status }))),
    ...Mqtt31Differences.map((difference) => ({ where: `3.1 ${difference.key}`, status: difference.status })),
  ];
}

function problemOf(ref: TestRef): string | undefined {
  const file = scanned.get(ref.file);
  if (file === undefined) return `${ref.file}: no such test file`;
  if (!ref.file.endsWith('.test.ts')) return `${ref.file}: not a test file`;
  return findsTitle(ref.name, file.titles, literals, templates) ? undefined : `${ref.file}: no test "${ref.name}"`;
}

describe('the conformance matrix', () => {
  it('holds the official number of statement ids of each version, each once', () => {
    for (const version of Object.keys(Official) as Version[]) {
      const ids = Official[version];
      expect(ids, version).toHaveLength(ExpectedCounts[version]);
      expect(new Set(ids).size, `${version}: an id twice in spec-ids.ts`).toBe(ids.length);
    }
  });

  it('has an entry for every statement id of 3.1.1 and 5.0, once, and no id outside the official lists', () => {
    for (const version of Object.keys(Official) as Version[]) {
      const official = new Set(Official[version]);
      const ids = Matrix[version].map((entry) => entry.id);
      expect(ids.filter((id) => !official.has(id)), `${version}: ids not in the standard (typos?)`).toEqual([]);
      expect(ids.filter((id, index) => ids.indexOf(id) !== index), `${version}: ids with two entries`).toEqual([]);
      expect(Official[version].filter((id) => !ids.includes(id)), `${version}: statements without an entry`).toEqual([]);
    }
  });

  it('gives every entry its one line and exactly one of: tests, a reason, not yet', () => {
    const problems: string[] = [];
    for (const version of Object.keys(Matrix) as Version[]) {
      for (const entry of Matrix[version]) if (entry.text.trim().length < 10) problems.push(`${version} ${entry.id}: no statement text`);
    }
    for (const { where, status } of allStatuses()) {
      const fields = (['tests', 'reason', 'gap'] as const).filter((field) => field in status);
      if (fields.length !== 1) problems.push(`${where}: ${fields.length} of tests / reason / gap`);
      if (status.kind === 'tested' && status.tests.length === 0) problems.push(`${where}: tested, but by no test`);
      if (status.kind === 'n/a' && status.reason.trim().length < 10) problems.push(`${where}: n/a without a reason`);
      if (status.kind === 'not yet' && status.gap.trim().length < 10) problems.push(`${where}: not yet, without saying what is missing`);
    }
    expect(problems).toEqual([]);
  });

  it('names only test files that exist and tests that are in them', () => {
    const problems = allStatuses().flatMap(({ where, status }) => (status.kind === 'tested' ? status.tests.map(problemOf).filter((p) => p !== undefined).map((p) => `${where}: ${p}`) : []));
    expect(problems).toEqual([]);
  });

  it('finds titles the way it should (the scan itself works)', () => {
    const file = scanned.get('test/unit/codec/malformed.test.ts');
    expect(file?.titles).toContain('%s');
    const found = (name: string, path: string): boolean => findsTitle(name, scanned.get(path)?.titles ?? [], literals, templates);
    // A plain title, an it.each row filled from a literal, one from a template literal, and inventions.
    expect(found('a password without a user name is fine in 5.0', 'test/unit/codec/malformed.test.ts')).toBe(true);
    expect(found('PUBREL with flags 0000 [MQTT-2.2.2-2]', 'test/unit/codec/malformed.test.ts')).toBe(true);
    expect(found('CONNECT client id: U+0000', 'test/unit/codec/malformed.test.ts')).toBe(true);
    expect(found('rejects DISCONNECT flags 2', 'test/unit/codec/framer.test.ts')).toBe(true);
    expect(found('refuses alias 0 with DISCONNECT 0x94', 'test/integration/mqtt5.test.ts')).toBe(true);
    expect(found('no such test at all, made up for this check', 'test/unit/codec/malformed.test.ts')).toBe(false);
    expect(found('rejects something no table lists', 'test/unit/codec/framer.test.ts')).toBe(false);
    expect(found('CONNECT client id: nothing the table has', 'test/unit/codec/malformed.test.ts')).toBe(false);
    // A wire case (test/conformance/wire.ts): registered per level and transport, `${name}, MQTT ${version} over ${transport}`.
    const wireCase = '[MQTT-v3.1-3.1] an empty 3.1 client id is refused with return code 2, then the connection is closed';
    expect(found(`${wireCase}, MQTT 3.1 over tcp`, 'test/conformance/mqtt31.test.ts')).toBe(true);
    expect(found(`${wireCase}, MQTT 3.1 over ws`, 'test/conformance/mqtt31.test.ts')).toBe(true);
    expect(found(`${wireCase}, MQTT 3.1 over a carrier pigeon`, 'test/conformance/mqtt31.test.ts')).toBe(false);
    // A case that also runs against mosquitto: one more test per level, `${name}, MQTT ${version} against mosquitto`.
    expect(found(`${wireCase}, MQTT 3.1 against mosquitto`, 'test/conformance/mqtt31.test.ts')).toBe(true);
    expect(found(`${wireCase}, MQTT 3.1 against a carrier pigeon`, 'test/conformance/mqtt31.test.ts')).toBe(false);
    expect(found(`${wireCase.slice(0, -10)}, MQTT 3.1 over tcp`, 'test/conformance/mqtt31.test.ts')).toBe(false);
  });

  it('is what docs/conformance.md shows: its summary and tables are rendered from the matrix', () => {
    const page = readFileSync(join(repoRoot, 'docs', 'conformance.md'), 'utf8');
    const stale = Object.entries(renderRegions())
      .filter(([name, content]) => regionOf(page, name) !== content)
      .map(([name]) => name);
    expect(stale, 'run: npx tsx scripts/conformance-doc.ts').toEqual([]);
  });

  it('prints its summary', () => {
    const lines = (Object.keys(Matrix) as Version[]).map((version) => {
      const c = countsOf(Matrix[version]);
      return `conformance: MQTT ${version}: ${c.statements} statements, ${c.tested} tested, ${c.clients + c.notDone} n/a (${c.clients} applies to clients, ${c.notDone} not done), ${c.notYet} not yet`;
    });
    const d = countsOf(Mqtt31Differences);
    lines.push(`conformance: MQTT 3.1: ${d.statements} differences, ${d.tested} tested, ${d.clients + d.notDone} n/a, ${d.notYet} not yet`);
    console.log(lines.join('\n'));
    expect(lines).toHaveLength(3);
  });
});
