/**
 * bindHookEnvironment: the one place the core adds the host's `env` and
 * `waitUntil` to every hook context (the Durable Object passes its own; the
 * queue-to-d1 test shows them on workerd).
 */
import { describe, expect, it } from 'vitest';
import { bindHookEnvironment, type HookEnvironment, type UserHooks } from '../../edge/core/hooks.ts';
import type { LogFields, Logger } from '../../edge/core/log.ts';

interface TestEnv {
  TABLE: string;
}

function recordingLog(): Logger & { records: Array<{ event: string; fields: LogFields | undefined }> } {
  const records: Array<{ event: string; fields: LogFields | undefined }> = [];
  return { records, log: (_level, event, fields) => records.push({ event, fields }) };
}

function recordingHost(env: TestEnv): HookEnvironment<TestEnv> & { pending: Array<Promise<unknown>> } {
  const pending: Array<Promise<unknown>> = [];
  return { env, pending, waitUntil: (promise) => void pending.push(promise) };
}

const client = { namespace: 'default', clientId: 'c1', protocolLevel: 5 as const };

describe('bindHookEnvironment', () => {
  it('gives every hook its own context plus env and waitUntil, and leaves the core context alone', async () => {
    const host = recordingHost({ TABLE: 'messages' });
    const seen: Record<string, unknown> = {};
    const hooks: UserHooks<TestEnv> = {
      authenticate: ({ env, clientId }) => ((seen['authenticate'] = [env.TABLE, clientId]), { allow: true }),
      onConnect: ({ env }) => void (seen['onConnect'] = env.TABLE),
      onDisconnect: ({ env, cause }) => void (seen['onDisconnect'] = [env.TABLE, cause]),
      onSubscribe: ({ env, filter }) => ((seen['onSubscribe'] = [env.TABLE, filter]), true),
      onUnsubscribe: ({ env, filter }) => void (seen['onUnsubscribe'] = [env.TABLE, filter]),
      onPublish: ({ env, topic, waitUntil }) => {
        waitUntil(Promise.resolve(`${env.TABLE}:${topic}`));
        return true;
      },
      onDeliver: ({ env, clientId }) => ((seen['onDeliver'] = [env.TABLE, clientId]), true),
    };
    const bound = bindHookEnvironment(hooks as UserHooks<never>, recordingLog(), host as HookEnvironment);

    const context = { ...client, topic: 't/1', payload: new Uint8Array([1]), qos: 1 as const, retain: false };
    expect(await bound.onPublish?.(context)).toBe(true);
    expect(context).not.toHaveProperty('env');
    expect(await Promise.all(host.pending)).toEqual(['messages:t/1']);

    await bound.authenticate?.({ ...client, clean: true, keepAlive: 60 });
    await bound.onConnect?.(client);
    await bound.onDisconnect?.({ ...client, cause: 'client-disconnect' });
    await bound.onSubscribe?.({ ...client, filter: 'a/#', qos: 0 });
    await bound.onUnsubscribe?.({ ...client, filter: 'a/#' });
    await bound.onDeliver?.({ namespace: 'default', clientId: 'sub', topic: 't', payload: new Uint8Array(), qos: 0, retain: false });
    expect(seen).toEqual({
      authenticate: ['messages', 'c1'],
      onConnect: 'messages',
      onDisconnect: ['messages', 'client-disconnect'],
      onSubscribe: ['messages', 'a/#'],
      onUnsubscribe: ['messages', 'a/#'],
      onDeliver: ['messages', 'sub'],
    });
  });

  it('binds only the hooks given, as methods of the object they came from', async () => {
    const hooks = {
      table: 'from-this',
      onConnect(this: { table: string }, _ctx: object): void {
        expect(this.table).toBe('from-this');
      },
    };
    const bound = bindHookEnvironment(hooks as UserHooks<never>, recordingLog());
    expect(Object.keys(bound)).toEqual(['onConnect']);
    await bound.onConnect?.(client);
  });

  it('hands bytes over as plain Uint8Arrays over the same memory, whose slice() copies as the type promises', async () => {
    let seen: Uint8Array | undefined;
    const bound = bindHookEnvironment({ onPublish: ({ payload }) => ((seen = payload), true) }, recordingLog());
    // What the codec gives: a Buffer view into the packet, whose slice() is another view.
    const packet = Buffer.from('\x30\x07\x00\x01tabcd');
    const payload = packet.subarray(5);
    await bound.onPublish?.({ ...client, topic: 't', payload, qos: 0, retain: false });
    expect(seen?.constructor).toBe(Uint8Array);
    expect(seen?.buffer).toBe(packet.buffer);
    expect(Array.from(seen ?? [])).toEqual([0x61, 0x62, 0x63, 0x64]);
    expect(seen?.slice().buffer.byteLength).toBe(4);
  });

  it('logs background work that fails, with the hook that started it, and still hands it to the host', async () => {
    const host = recordingHost({ TABLE: 'messages' });
    const log = recordingLog();
    const bound = bindHookEnvironment(
      { onConnect: ({ waitUntil }) => waitUntil(Promise.reject(new Error('queue is full'))) },
      log,
      host as HookEnvironment,
    );
    await bound.onConnect?.(client);
    expect(host.pending).toHaveLength(1);
    await host.pending[0];
    expect(log.records).toEqual([{ event: 'hook_background_failed', fields: { hook: 'onConnect', error: 'Error: queue is full' } }]);
  });

  it('without a host, env is empty and background work just runs', async () => {
    let work: Promise<boolean> | undefined;
    const bound = bindHookEnvironment(
      {
        onConnect: ({ env, waitUntil }) => {
          work = Promise.resolve(Object.keys(env as object).length === 0);
          waitUntil(work);
        },
      },
      recordingLog(),
    );
    await bound.onConnect?.(client);
    expect(await work).toBe(true);
  });
});
