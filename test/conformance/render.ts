/**
 * Renders the matrix (matrix.ts) into the generated regions of
 * docs/conformance.md: the summary counts and one table per version.
 * `npx tsx scripts/conformance-doc.ts` writes them;
 * test/unit/conformance-matrix.test.ts fails when the page differs.
 */
import type { Difference, Entry, Status, TestRef } from './matrix-types.ts';
import { Matrix, Mqtt31Differences } from './matrix.ts';

export type Version = keyof typeof Matrix;

export interface Counts {
  statements: number;
  tested: number;
  clients: number;
  notDone: number;
  notYet: number;
}

export function countsOf(entries: ReadonlyArray<{ status: Status }>): Counts {
  const counts: Counts = { statements: entries.length, tested: 0, clients: 0, notDone: 0, notYet: 0 };
  for (const { status } of entries) {
    if (status.kind === 'tested') counts.tested++;
    else if (status.kind === 'not yet') counts.notYet++;
    else if (status.why === 'applies to clients') counts.clients++;
    else counts.notDone++;
  }
  return counts;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function testRef(ref: TestRef): string {
  return `\`${ref.file}\` “${ref.name}”`;
}

function statusCell(status: Status): string {
  switch (status.kind) {
    case 'tested':
      return `tested: ${status.tests.map(testRef).join('; ')}${status.note === undefined ? '' : `. ${status.note}`}`;
    case 'n/a':
      return `n/a (${status.why}): ${status.reason}`;
    case 'not yet':
      return `**not yet**: ${status.gap}`;
  }
}

export function renderSummary(): string {
  const lines = ['| | statements | tested | n/a: applies to clients | n/a: not done | not yet |', '|---|---:|---:|---:|---:|---:|'];
  for (const version of Object.keys(Matrix) as Version[]) {
    const c = countsOf(Matrix[version]);
    lines.push(`| MQTT ${version} | ${c.statements} | ${c.tested} | ${c.clients} | ${c.notDone} | ${c.notYet} |`);
  }
  const d = countsOf(Mqtt31Differences);
  lines.push(`| MQTT 3.1 differences | ${d.statements} | ${d.tested} | ${d.clients} | ${d.notDone} | ${d.notYet} |`);
  return lines.join('\n');
}

export function renderVersion(version: Version): string {
  const lines = ['| id | statement | status |', '|---|---|---|'];
  for (const entry of Matrix[version] as readonly Entry[]) lines.push(`| ${entry.id} | ${cell(entry.text)} | ${cell(statusCell(entry.status))} |`);
  return lines.join('\n');
}

export function renderDifferences(): string {
  const lines = ['| difference | what a server does | status |', '|---|---|---|'];
  for (const difference of Mqtt31Differences as readonly Difference[]) lines.push(`| ${cell(difference.key)} | ${cell(difference.text)} | ${cell(statusCell(difference.status))} |`);
  return lines.join('\n');
}

export function renderNotYet(): string {
  const lines: string[] = [];
  for (const version of Object.keys(Matrix) as Version[]) {
    for (const entry of Matrix[version]) if (entry.status.kind === 'not yet') lines.push(`- ${version} ${entry.id}: ${entry.status.gap}`);
  }
  for (const difference of Mqtt31Differences) if (difference.status.kind === 'not yet') lines.push(`- 3.1 ${difference.key}: ${difference.status.gap}`);
  return lines.join('\n');
}

/** The generated regions of docs/conformance.md, by name. */
export function renderRegions(): Record<string, string> {
  return {
    summary: renderSummary(),
    'not-yet': renderNotYet(),
    '3.1.1': renderVersion('3.1.1'),
    '5.0': renderVersion('5.0'),
    '3.1': renderDifferences(),
  };
}

const begin = (name: string): string => `<!-- BEGIN generated: ${name} -->`;
const end = (name: string): string => `<!-- END generated: ${name} -->`;

/** The region `name` of `page`, or undefined when its markers are missing. */
export function regionOf(page: string, name: string): string | undefined {
  const from = page.indexOf(begin(name));
  const to = page.indexOf(end(name));
  if (from < 0 || to < from) return undefined;
  return page.slice(from + begin(name).length, to).trim();
}

/** `page` with every region replaced by its rendering. */
export function withRegions(page: string, regions: Record<string, string>): string {
  let result = page;
  for (const [name, content] of Object.entries(regions)) {
    const from = result.indexOf(begin(name));
    const to = result.indexOf(end(name));
    if (from < 0 || to < from) throw new Error(`docs/conformance.md has no region "${name}" (${begin(name)} … ${end(name)})`);
    result = `${result.slice(0, from + begin(name).length)}\n${content}\n${result.slice(to)}`;
  }
  return result;
}
