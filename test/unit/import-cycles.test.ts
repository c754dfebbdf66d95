/**
 * No import cycles in edge/, sidecar/ or shared/: each module can change
 * without the modules it imports depending on it in turn. Type-only imports
 * count too: a cycle of types is still a cycle of understanding.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const scanned = ['edge', 'sidecar', 'shared'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative specifiers of every `import ... from`, `export ... from` and `import('...')` in a file. */
export function importsOf(text: string): string[] {
  const specifiers: string[] = [];
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) specifiers.push(match[1] as string);
  for (const match of text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) specifiers.push(match[1] as string);
  for (const match of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) specifiers.push(match[1] as string);
  return specifiers.filter((specifier) => specifier.startsWith('.'));
}

/** Every cycle of the import graph, as lists of files (Tarjan's strongly connected components). */
export function findCycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const lowlinks = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    indices.set(node, index);
    lowlinks.set(node, index);
    index++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indices.has(next)) {
        visit(next);
        lowlinks.set(node, Math.min(lowlinks.get(node) as number, lowlinks.get(next) as number));
      } else if (onStack.has(next)) {
        lowlinks.set(node, Math.min(lowlinks.get(node) as number, indices.get(next) as number));
      }
    }
    if (lowlinks.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      const selfImport = (graph.get(node) ?? []).includes(node);
      if (component.length > 1 || selfImport) cycles.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indices.has(node)) visit(node);
  return cycles;
}

describe('import cycles', () => {
  it('finds a cycle where there is one (the checker itself)', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
    ]);
    expect(findCycles(graph)).toEqual([['a', 'b', 'c']]);
    expect(importsOf(`import type { X } from './x.ts';\nexport { y } from "../y.ts";\nimport 'node:fs';\nconst z = await import('./z.ts');`)).toEqual(['./x.ts', '../y.ts', './z.ts']);
  });

  it(`there are none in ${scanned.join('/, ')}/`, () => {
    const graph = new Map<string, string[]>();
    for (const file of scanned.flatMap((dir) => sourceFiles(join(root, dir)))) {
      const targets = importsOf(readFileSync(file, 'utf8')).map((specifier) => relative(root, resolve(dirname(file), specifier)));
      graph.set(relative(root, file), targets);
    }
    expect(graph.size).toBeGreaterThan(50);
    expect(findCycles(graph)).toEqual([]);
  });
});
