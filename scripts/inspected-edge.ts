/**
 * The edge on workerd with its V8 inspector open, and what the scripts that
 * measure it read through the inspector: the isolate's JavaScript heap.
 * workerd gives a Worker no heap figure of its own (`process.memoryUsage()`
 * is all zeros there), so the inspector is the one way to see it. Used by
 * scripts/big-namespace.ts and scripts/memory.ts.
 */
import { freePort } from './free-port.ts';
import { connectInspector, type Inspector } from './inspector.ts';
import { startLocalEdge, type LocalEdge, type LocalEdgeOptions } from './local-edge.ts';
import { childPids } from './processes.ts';

/** `promise`, or a rejection naming `what` if it has not settled within `ms`. */
export function within<T>(promise: Promise<T>, what: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * startLocalEdge with workerd's inspector on a port that was free a moment
 * ago. Miniflare's own loopback server binds port 0 too and can get that
 * very port first; workerd then never becomes ready. So a start that takes
 * more than 30 s is abandoned (its workerd, a child of this process, killed
 * by pid) and tried again on another port.
 */
export async function startEdgeWithInspector(options: Omit<LocalEdgeOptions, 'inspectorPort'>, log: (text: string) => void): Promise<{ edge: LocalEdge; inspectorPort: number }> {
  for (let attempt = 1; ; attempt++) {
    const inspectorPort = await freePort();
    const before = new Set(childPids(process.pid, 'workerd'));
    const starting = startLocalEdge({ ...options, inspectorPort });
    try {
      return { edge: await within(starting, 'workerd start', 30_000), inspectorPort };
    } catch (error) {
      starting.catch(() => undefined);
      for (const pid of childPids(process.pid, 'workerd')) if (!before.has(pid)) process.kill(pid, 'SIGKILL');
      if (attempt === 3) throw error;
      log(`  workerd did not start with its inspector on port ${inspectorPort}; again on another`);
    }
  }
}

/**
 * One plain request through the runtime, answered by the Worker without
 * any Durable Object: it warms the runtime's entry, and it gives an idle
 * isolate the work during which workerd answers its inspector (see
 * connectInspector).
 */
export async function warmEntry(edge: LocalEdge): Promise<void> {
  const response = await fetch(new URL('/healthz', edge.url));
  if (!response.ok) throw new Error(`/healthz: ${response.status}`);
  await response.text();
}

/** The edge's inspector, pumped by plain requests so that an idle isolate answers it. */
export function inspectEdge(edge: LocalEdge, inspectorPort: number): Promise<Inspector> {
  return connectInspector(inspectorPort, () => warmEntry(edge));
}

/**
 * The isolate's JavaScript heap in MB (`Runtime.getHeapUsage`): `used`, the
 * live objects (after a full collection when `collect`, else with whatever
 * garbage is not collected yet); `backing`, the memory of ArrayBuffers
 * outside the heap (payloads), where this V8 reports it.
 */
export async function heapUsage(inspector: Inspector, collect: boolean): Promise<{ usedMb: number; backingMb: number }> {
  if (collect) await inspector.call('HeapProfiler.collectGarbage');
  const usage = (await inspector.call('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number; backingStorageSize?: number };
  return { usedMb: usage.usedSize / 2 ** 20, backingMb: (usage.backingStorageSize ?? 0) / 2 ** 20 };
}
