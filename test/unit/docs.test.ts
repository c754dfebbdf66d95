/**
 * The docs a newcomer follows stay true to the code: every MQTT_* setting
 * the edge, the sidecar or `npm start` reads is in the configuration
 * reference, and every link between the README and docs/ leads to a file
 * and a heading that exist.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-edge.ts';
import { limitSettings } from '../../edge/core/limit-settings.ts';

/** Source files whose settings users set: the edge, the sidecar, what both share, and `npm start`. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'vendor' || name === 'node_modules' ? [] : sourceFiles(path);
    return /\.(ts|js)$/.test(name) ? [path] : [];
  });
}

/**
 * Names the code reads as settings: in quotes ('MQTT_X'), as a property
 * (env.MQTT_X, env['MQTT_X']) or declared (MQTT_X?: string). A name that
 * ends in `_` or is followed by `*` is a family (`MQTT_TLS_*`), not a
 * setting; a bare identifier (a constant such as MQTT_SUBPROTOCOL) is not
 * read from anywhere.
 */
function settingsReadBy(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const names = new Set<string>();
  for (const match of text.matchAll(/(?:['"`]|\.|\[')(MQTT_[A-Z0-9_]*[A-Z0-9])(?![A-Z0-9_]*\*)(?=['"`\]]|\b)/g)) names.add(match[1] as string);
  for (const match of text.matchAll(/^\s*(MQTT_[A-Z0-9_]*[A-Z0-9])\?:/gm)) names.add(match[1] as string);
  return [...names];
}

/** Not settings, though they look like one: each with the reason. */
const NotSettings: Readonly<Record<string, string>> = {
  MQTT_JWT: 'the prefix of the MQTT_JWT_* settings, named in their error messages',
};

describe('docs/configuration.md', () => {
  const reference = readFileSync(join(repoRoot, 'docs', 'configuration.md'), 'utf8');
  const files = [...sourceFiles(join(repoRoot, 'edge')), ...sourceFiles(join(repoRoot, 'sidecar')), ...sourceFiles(join(repoRoot, 'shared')), join(repoRoot, 'scripts', 'start.ts')];

  it('names every MQTT_* setting the edge, the sidecar and npm start read', () => {
    const missing: string[] = [];
    for (const file of files) {
      for (const name of settingsReadBy(file)) {
        if (name in NotSettings) continue;
        if (!reference.includes(`\`${name}\``)) missing.push(`${name} (read in ${relative(repoRoot, file)})`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('lists every limit with its quota name, when it applies and what a client over it gets, in one table row', () => {
    const section = reference.slice(reference.indexOf('### Limits, and what a client over them gets'), reference.indexOf('### The namespace'));
    const rows = section.split('\n').filter((line) => line.startsWith('| `MQTT_'));
    const problems: string[] = [];
    for (const setting of limitSettings) {
      const row = rows.find((line) => line.includes(`\`${setting.variable}\``));
      if (row === undefined) problems.push(`${setting.variable}: no row`);
      else {
        if (!row.includes(`\`${setting.name}\``)) problems.push(`${setting.variable}: quota name ${setting.name} missing`);
        if (!row.includes(setting.applies === 'now' ? '| at once |' : '| next connection |')) problems.push(`${setting.variable}: applies ${setting.applies}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('finds the settings it looks for (the scan itself works)', () => {
    const read = new Set(files.flatMap(settingsReadBy));
    for (const name of ['MQTT_ALLOW_ANONYMOUS', 'MQTT_MAX_PACKET_RATE', 'MQTT_RULES_MAX_ATTEMPTS', 'MQTT_GATEWAYS', 'MQTT_TLS_CERT', 'MQTT_LOG_EVENTS', 'MQTT_WS_PORT', 'MQTT_DATA_DIR']) {
      expect(read.has(name), name).toBe(true);
    }
    expect(read.has('MQTT_TLS_')).toBe(false);
  });
});

/** GitHub's anchor of a heading: lower case, punctuation gone, blanks to dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    const heading = /^#{1,6}\s+(.*)$/.exec(line)?.[1];
    if (heading !== undefined) anchors.add(anchorOf(heading));
  }
  return anchors;
}

describe('links of the README and docs/', () => {
  const pages = [join(repoRoot, 'README.md'), ...readdirSync(join(repoRoot, 'docs')).filter((name) => name.endsWith('.md')).map((name) => join(repoRoot, 'docs', name))];

  it('lead to files and headings that exist', () => {
    const broken: string[] = [];
    for (const page of pages) {
      let fenced = false;
      for (const line of readFileSync(page, 'utf8').split('\n')) {
        if (line.startsWith('```')) fenced = !fenced;
        if (fenced) continue;
        for (const match of line.matchAll(/\]\(([^)\s]+)\)/g)) {
          const target = match[1] as string;
          if (/^[a-z]+:/.test(target)) continue;
          const [path = '', anchor] = target.split('#');
          const file = path === '' ? page : join(dirname(page), path);
          if (!existsSync(file)) {
            broken.push(`${relative(repoRoot, page)}: ${target} (no such file)`);
            continue;
          }
          if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(file).has(anchor)) broken.push(`${relative(repoRoot, page)}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('keep the README short: what it is, how to start, where to go next', () => {
    expect(readFileSync(join(repoRoot, 'README.md'), 'utf8').split('\n').length).toBeLessThan(400);
  });
});
