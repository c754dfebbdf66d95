/**
 * Namespace names, and which ones a deployment declares (MQTT_NAMESPACES).
 * Only declared namespaces exist: the Worker answers 404 for any other name
 * before a Durable Object is addressed, so nobody can create objects (and
 * storage) by inventing names.
 */

/** 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit. */
export const NamespaceNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A name from a URL path, or null if it is not a valid namespace name. */
export function namespaceFromPathSegment(encoded: string): string | null {
  let name: string;
  try {
    name = decodeURIComponent(encoded);
  } catch {
    return null;
  }
  return NamespaceNamePattern.test(name) ? name : null;
}

/** Declared namespaces: exact names and `prefix*` patterns (`*` alone: any name). */
export class NamespaceSet {
  private constructor(
    private readonly names: ReadonlySet<string>,
    private readonly prefixes: readonly string[],
  ) {}

  /** Only `default`: what a deployment has until it declares more. */
  static readonly DefaultOnly = new NamespaceSet(new Set(['default']), []);

  /**
   * Parses MQTT_NAMESPACES: names and patterns separated by commas or
   * whitespace, e.g. `default, tenant-*, lab`. Throws on anything else.
   */
  static parse(text: string | undefined): NamespaceSet {
    if (text === undefined || text.trim() === '') return NamespaceSet.DefaultOnly;
    const names = new Set<string>();
    const prefixes: string[] = [];
    for (const item of text.split(/[\s,]+/).filter((part) => part.length > 0)) {
      if (item.endsWith('*')) {
        const prefix = item.slice(0, -1);
        if (prefix !== '' && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(prefix)) throw new Error(`"${item}" is not a namespace pattern (a name prefix followed by *)`);
        prefixes.push(prefix);
      } else {
        if (!NamespaceNamePattern.test(item)) throw new Error(`"${item}" is not a namespace name (1-64 letters, digits, ".", "_" or "-")`);
        names.add(item);
      }
    }
    return new NamespaceSet(names, prefixes);
  }

  /** What MQTT_NAMESPACES declares: exact names, and patterns as written (`tenant-*`, `*`). */
  declared(): { names: string[]; patterns: string[] } {
    return { names: [...this.names].sort(), patterns: this.prefixes.map((prefix) => `${prefix}*`) };
  }

  has(name: string): boolean {
    return this.names.has(name) || this.prefixes.some((prefix) => name.startsWith(prefix));
  }
}

/** Whether `name` matches a declaration: an exact name, or `prefix*`. */
export function matchesNamespacePattern(pattern: string, name: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}
