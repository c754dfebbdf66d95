/**
 * Reads test titles and string literals out of TypeScript test files, as
 * text, without running them: what the conformance matrix test needs to
 * know that a test it names exists.
 *
 * A title is the first argument of `it(`, `test(` or `describe(`, also
 * after modifiers (`it.each([...])(`, `describe.skipIf(x)(`, `it.only(`).
 * Titles with placeholders (`${…}` in a template, `%s`/`%i`/`%j`… and
 * `$name` of `.each`) match a concrete name when every placeholder's part
 * of it is a number or a string literal written somewhere in the tests (a
 * row of the table, a fixture's name), or fits a template literal there.
 * A wire case of test/conformance (wire.ts) gives a title per level and
 * transport, as `wireTestName` names its tests.
 */

/** What the scanner found in one file. */
export interface ScannedFile {
  /** Titles as written (template literals raw, `${…}` included). */
  readonly titles: readonly string[];
  /** Every string and template literal's text. */
  readonly literals: readonly string[];
}

const TestFunctions = new Set(['it', 'test', 'describe']);

function isIdentifierChar(char: string | undefined): boolean {
  return char !== undefined && /[A-Za-z0-9_$]/.test(char);
}

/** Reads a quoted literal starting at `start` (the quote); returns its raw text and the index after it. */
function readLiteral(source: string, start: number): { text: string; end: number } {
  const quote = source[start] as string;
  let i = start + 1;
  let text = '';
  let depth = 0;
  while (i < source.length) {
    const char = source[i] as string;
    if (char === '\\') {
      const next = source[i + 1] ?? '';
      text += quote === '`' ? `\\${next}` : unescape(next);
      i += 2;
      continue;
    }
    if (quote === '`' && char === '$' && source[i + 1] === '{') {
      depth++;
      text += '${';
      i += 2;
      continue;
    }
    if (quote === '`' && depth > 0) {
      if (char === '{') depth++;
      if (char === '}') depth--;
      text += char;
      i++;
      continue;
    }
    if (char === quote) return { text, end: i + 1 };
    text += char;
    i++;
  }
  return { text, end: i };
}

function unescape(char: string): string {
  switch (char) {
    case 'n':
      return '\n';
    case 't':
      return '\t';
    case '0':
      return '\0';
    default:
      return char;
  }
}

/** Index after the bracket matching the one at `start` ('(' or '['), skipping literals and comments. */
function skipBalanced(source: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < source.length) {
    const char = source[i] as string;
    if (char === "'" || char === '"' || char === '`') {
      i = readLiteral(source, i).end;
      continue;
    }
    if (char === '/' && source[i + 1] === '/') {
      i = source.indexOf('\n', i);
      if (i < 0) return source.length;
      continue;
    }
    if (char === '/' && source[i + 1] === '*') {
      i = source.indexOf('*/', i + 2) + 2;
      if (i < 2) return source.length;
      continue;
    }
    if (char === '(' || char === '[' || char === '{') depth++;
    if (char === ')' || char === ']' || char === '}') {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return i;
}

function skipSpace(source: string, start: number): number {
  let i = start;
  while (i < source.length && /\s/.test(source[i] as string)) i++;
  return i;
}

/** After `it`/`test`/`describe` at `start`: the title, if a call with a literal first argument follows. */
function titleAt(source: string, start: number): string | undefined {
  let i = start;
  for (;;) {
    i = skipSpace(source, i);
    if (source[i] === '.') {
      i = skipSpace(source, i + 1);
      const name = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(source.slice(i, i + 40))?.[0];
      if (name === undefined) return undefined;
      i = skipSpace(source, i + name.length);
      // Type arguments: it.each<[string, boolean]>([...]).
      if (source[i] === '<') {
        const close = source.indexOf('>(', i);
        if (close < 0) return undefined;
        i = close + 1;
      }
      // Modifiers that take arguments before the title: .each([...]), .skipIf(cond), .runIf(cond), .for([...]).
      if (source[i] === '(' && ['each', 'skipIf', 'runIf', 'for'].includes(name)) i = skipBalanced(source, i);
      continue;
    }
    if (source[i] !== '(') return undefined;
    i = skipSpace(source, i + 1);
    const quote = source[i];
    if (quote !== "'" && quote !== '"' && quote !== '`') return undefined;
    return readLiteral(source, i).text;
  }
}

const WireLevelNames: Readonly<Record<string, string>> = { '3': '3.1', '4': '3.1.1', '5': '5.0' };

/**
 * After `ids` at `start`: the test names of a wire case (wire.ts
 * `wireCases`, named by `wireTestName`) written as an object with literal
 * `ids: [...]`, then `title:` and `levels: [...]`: `[id] … title (level,
 * transport)` for each level and transport. Anything else gives none.
 */
function wireCaseTitlesAt(source: string, start: number): string[] {
  let i = skipSpace(source, start);
  if (source[i] !== ':') return [];
  i = skipSpace(source, i + 1);
  if (source[i] !== '[') return [];
  const idsEnd = skipBalanced(source, i);
  const ids: string[] = [];
  for (i = skipSpace(source, i + 1); i < idsEnd - 1; i = skipSpace(source, i)) {
    const quote = source[i];
    if (quote !== "'" && quote !== '"' && quote !== '`') return [];
    const literal = readLiteral(source, i);
    ids.push(literal.text);
    i = skipSpace(source, literal.end);
    if (source[i] === ',') i++;
  }
  const rest = /^\s*,\s*title:\s*/.exec(source.slice(idsEnd));
  if (rest === null || ids.length === 0) return [];
  const titleStart = idsEnd + rest[0].length;
  if (!["'", '"', '`'].includes(source[titleStart] ?? '')) return [];
  const title = readLiteral(source, titleStart);
  const levels = /^\s*,\s*levels:\s*\[([\d\s,]+)\]/.exec(source.slice(title.end))?.[1]?.split(',').map((level) => WireLevelNames[level.trim()]);
  if (levels === undefined || levels.some((level) => level === undefined)) return [];
  const prefix = ids.map((id) => `[${id}]`).join(' ');
  return levels.flatMap((level) => ['tcp', 'ws'].map((transport) => `${prefix} ${title.text} (${level as string}, ${transport})`));
}

/** Titles and literals of one file's text. */
export function scanSource(source: string): ScannedFile {
  const titles: string[] = [];
  const literals: string[] = [];
  let i = 0;
  while (i < source.length) {
    const char = source[i] as string;
    if (char === "'" || char === '"' || char === '`') {
      const literal = readLiteral(source, i);
      literals.push(literal.text);
      i = literal.end;
      continue;
    }
    if (char === '/' && source[i + 1] === '/') {
      const end = source.indexOf('\n', i);
      i = end < 0 ? source.length : end;
      continue;
    }
    if (char === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? source.length : end + 2;
      continue;
    }
    if (/[A-Za-z_$]/.test(char) && !isIdentifierChar(source[i - 1]) && source[i - 1] !== '.') {
      const word = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(source.slice(i, i + 40))?.[0] ?? char;
      if (TestFunctions.has(word)) {
        const title = titleAt(source, i + word.length);
        if (title !== undefined) titles.push(title);
      }
      if (word === 'ids') titles.push(...wireCaseTitlesAt(source, i + word.length));
      i += word.length;
      continue;
    }
    i++;
  }
  return { titles, literals };
}

/** `${…}`, printf-style `%s %d %i %f %j %o %#` and `.each`'s `$name` / `$a.b`. */
const Placeholder = /\$\{(?:[^{}]|\{[^{}]*\})*\}|%[sdifjoO#%]|\$[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/g;

export function hasPlaceholder(title: string): boolean {
  return new RegExp(Placeholder.source).test(title);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The title as a pattern: its text literally, each placeholder a non-empty group. */
export function titlePattern(title: string): RegExp {
  let source = '';
  let last = 0;
  for (const match of title.matchAll(Placeholder)) {
    source += escapeRegExp(title.slice(last, match.index));
    source += match[0] === '%%' ? '%' : '(.+?)';
    last = (match.index ?? 0) + match[0].length;
  }
  source += escapeRegExp(title.slice(last));
  return new RegExp(`^${source}$`, 's');
}

/**
 * Whether `part` (a placeholder's share of a name) is something the tests
 * write down: a number, a literal, or a template literal whose own
 * placeholders are filled with numbers or literals.
 */
export function isKnownPart(part: string, literals: ReadonlySet<string>, templates: readonly RegExp[], nested = false): boolean {
  if (/^-?\d+(\.\d+)?$/.test(part)) return true;
  if (literals.has(part)) return true;
  // %j quotes strings.
  if (part.startsWith('"') && part.endsWith('"')) {
    try {
      const unquoted: unknown = JSON.parse(part);
      if (typeof unquoted === 'string' && literals.has(unquoted)) return true;
    } catch {
      // not JSON
    }
  }
  if (nested) return false;
  return templates.some((pattern) => {
    const match = pattern.exec(part);
    return match !== null && match.slice(1).every((inner) => isKnownPart(inner, literals, templates, true));
  });
}

/** Whether `name` is one of `titles`, literally or as an expansion of a title with placeholders. */
export function findsTitle(name: string, titles: readonly string[], literals: ReadonlySet<string>, templates: readonly RegExp[]): boolean {
  if (titles.includes(name)) return true;
  for (const title of titles) {
    if (!hasPlaceholder(title)) continue;
    const match = titlePattern(title).exec(name);
    if (match === null) continue;
    if (match.slice(1).every((part) => isKnownPart(part, literals, templates))) return true;
  }
  return false;
}
