/**
 * workerd's V8 inspector (Chrome DevTools protocol) from a script: the
 * Worker's isolate as a target, one call at a time, and a summary of a CPU
 * profile. Used by scripts/profile.ts and scripts/big-namespace.ts; the
 * inspector is opened by startLocalEdge's `inspectorPort`.
 */
import WebSocket from 'ws';

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples?: number[];
  startTime: number;
  endTime: number;
}

export interface Inspector {
  /** Sends one DevTools method and resolves with its result (rejects with the protocol's error). */
  call(method: string, params?: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

/**
 * Connects to the edge Worker's isolate (the one that also runs its Durable
 * Objects). workerd handles an inspector message only when the isolate has
 * work: with `pump` (e.g. one plain request to the Worker), an isolate that
 * may be idle gets it until each call is answered.
 */
export async function connectInspector(port: number, pump?: () => Promise<void>): Promise<Inspector> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ id: string; title?: string; webSocketDebuggerUrl?: string }>;
  const target = targets.find((t) => t.webSocketDebuggerUrl !== undefined && (t.id.includes('edge') || t.title?.includes('edge') === true)) ?? targets[0];
  if (target?.webSocketDebuggerUrl === undefined) throw new Error(`no inspector target: ${JSON.stringify(targets)}`);
  const devtools = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => devtools.once('open', resolve).once('error', reject));
  let nextId = 1;
  const pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  devtools.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiter?.reject(new Error(`inspector: ${message.error.message}`));
    else waiter?.resolve(message.result);
  });
  const send = (method: string, params: Record<string, unknown>): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      devtools.send(JSON.stringify({ id, method, params }));
    });
  return {
    call: async (method, params = {}) => {
      const answer = send(method, params);
      if (pump === undefined) return answer;
      let answered = false;
      void answer.then(
        () => (answered = true),
        () => (answered = true),
      );
      for (let round = 0; !answered; round++) {
        if (round === 1000) throw new Error(`inspector: ${method} unanswered after ${round} requests`);
        await pump();
      }
      return answer;
    },
    close: () => devtools.close(),
  };
}

/** The functions with the most self time, and the share of idle, as a Markdown table. */
export function topFunctions(title: string, profile: CpuProfile, count = 25): string {
  const hits = new Map<number, number>();
  for (const sample of profile.samples ?? []) hits.set(sample, (hits.get(sample) ?? 0) + 1);
  const total = (profile.samples ?? []).length || 1;
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const n = hits.get(node.id) ?? node.hitCount ?? 0;
    if (n === 0) continue;
    const file = node.callFrame.url.split('/').slice(-2).join('/');
    const key = `${node.callFrame.functionName || '(anonymous)'} ${file}:${node.callFrame.lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + n);
  }
  const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, count);
  return [`## ${title}: ${total} samples`, '', '| self % | function |', '|---:|---|', ...rows.map(([key, n]) => `| ${((100 * n) / total).toFixed(1)} | \`${key}\` |`)].join('\n');
}
