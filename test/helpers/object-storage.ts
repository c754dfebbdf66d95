/**
 * The Durable Objects a test edge has started, seen from its storage
 * directory: the runtime makes a database file for each object it starts
 * (an empty one of a page if the object writes nothing), so a new file is a
 * new object.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The namespaces' own SQLite files (the runtime's shared-memory index files aside), with their sizes. */
export function storageFiles(persistDir: string): Map<string, number> {
  const dir = join(persistDir, 'edge-BrokerNamespace');
  const files = new Map<string, number>();
  for (const name of readdirSync(dir)) {
    if (name.startsWith('metadata') || name.endsWith('-shm')) continue;
    // A live namespace's -wal file can go between readdir and stat (the runtime checkpoints it);
    // a new object would still show by its .sqlite file.
    const size = statSync(join(dir, name), { throwIfNoEntry: false })?.size;
    if (size !== undefined) files.set(name, size);
  }
  return files;
}

/** What objects started since `before` hold: those that existed before do not count. */
export function newStorage(persistDir: string, before: Map<string, number>): { objects: number; bytes: number } {
  let objects = 0;
  let bytes = 0;
  for (const [name, size] of storageFiles(persistDir)) {
    if (before.has(name)) continue;
    if (name.endsWith('.sqlite')) objects++;
    bytes += size;
  }
  return { objects, bytes };
}
