/**
 * `GET /admin/namespaces`: the namespaces a deployment declares, for the
 * dashboard's picker. Durable Objects cannot be listed (there is no index
 * of the objects a Worker has created), so this is what can be known
 * without keeping one:
 * - the exact names and the patterns of MQTT_NAMESPACES;
 * - for each exact name, whether its object has storage (a client
 *   connected at some point): one RPC per name, which wakes the object but
 *   writes nothing; at most MaxProbed names are asked;
 * - names that match only a pattern are unknown until someone opens them,
 *   except those this isolate has routed a client to (`seen`).
 */
import type { EdgeEnv } from '../env.ts';
import type { NamespaceSet } from '../namespaces.ts';
import { describeError, type Logger } from '../core/log.ts';
import { jsonError, jsonResponse, namespaceStub } from './http.ts';
import type { SeenNamespaces } from './seen-namespaces.ts';

/** Exact names asked whether they have storage; beyond this they are listed unasked. */
const MaxProbed = 50;

export interface NamespaceListing {
  name: string;
  /** Whether its object has storage; absent when it was not asked. */
  hasStorage?: boolean;
  /** This Worker isolate has routed a client to it since it started. */
  seen?: true;
}

export async function handleNamespaceList(request: Request, env: EdgeEnv, declared: NamespaceSet, seen: SeenNamespaces, log: Logger): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return jsonError(405, 'use GET', { Allow: 'GET' });
  const { names, patterns } = declared.declared();
  const seenNames = new Set(seen.list().filter((name) => declared.has(name)));
  const namespaces = await Promise.all(
    names.map(async (name, index): Promise<NamespaceListing> => {
      const listing: NamespaceListing = seenNames.delete(name) ? { name, seen: true } : { name };
      if (index >= MaxProbed) return listing;
      try {
        return { ...listing, hasStorage: await namespaceStub(env, name).hasStorage() };
      } catch (error) {
        log.log('warn', 'admin_namespace_probe_failed', { namespace: name, error: describeError(error) });
        return listing;
      }
    }),
  );
  // Names known only from a pattern, that clients have opened here.
  for (const name of seenNames) namespaces.push({ name, seen: true });
  return jsonResponse(200, { namespaces, patterns });
}
