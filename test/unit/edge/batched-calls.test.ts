import { describe, expect, it, vi } from 'vitest';
import { BatchedCalls } from '../../../edge/gateway/batched-calls.ts';

/** A destination whose calls the test answers one by one. */
function destination() {
  const calls: Array<{ message: number[]; answer: (error?: Error) => void }> = [];
  const call = (message: Uint8Array): Promise<void> =>
    new Promise((resolve, reject) => calls.push({ message: [...message], answer: (error) => (error === undefined ? resolve() : reject(error)) }));
  return { calls, call };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('one batched call at a time', () => {
  it('sends the first message at once and what comes meanwhile as the next call, in order', async () => {
    const { calls, call } = destination();
    const batched = new BatchedCalls(call, () => undefined);
    const settled: number[] = [];
    void batched.send(Uint8Array.of(1)).then(() => settled.push(1));
    void batched.send(Uint8Array.of(2)).then(() => settled.push(2));
    void batched.send(Uint8Array.of(3)).then(() => settled.push(3));
    await tick();
    expect(calls.map((c) => c.message)).toEqual([[1]]);
    calls[0]?.answer();
    await tick();
    expect(settled).toEqual([1]);
    expect(calls.map((c) => c.message)).toEqual([[1], [2, 3]]);
    calls[1]?.answer();
    await tick();
    expect(settled).toEqual([1, 2, 3]);
    expect(batched.idle).toBe(true);
    expect(batched.counts).toEqual({ calls: 2, bytes: 3 });
  });

  it('drops what was queued behind a failed call, rejects its senders, and says so once', async () => {
    const { calls, call } = destination();
    const failures: unknown[] = [];
    const batched = new BatchedCalls(call, (error) => failures.push(error));
    const first = batched.send(Uint8Array.of(1));
    await tick();
    const second = batched.send(Uint8Array.of(2));
    calls[0]?.answer(new Error('gone'));
    await expect(first).rejects.toThrow('gone');
    await expect(second).rejects.toThrow('gone');
    expect(failures).toHaveLength(1);
    expect(calls).toHaveLength(1);
    // It goes on afterwards.
    const third = batched.send(Uint8Array.of(3));
    await tick();
    calls[1]?.answer();
    await expect(third).resolves.toBeUndefined();
    expect(calls[1]?.message).toEqual([3]);
  });

  it('fails a call that is never answered after its time, so nothing queued behind it waits for ever', async () => {
    vi.useFakeTimers();
    try {
      const { calls, call } = destination();
      const failures: unknown[] = [];
      const batched = new BatchedCalls(call, (error) => failures.push(error), 1_000);
      const first = batched.send(Uint8Array.of(1));
      const outcome = first.then(() => 'answered', (error: Error) => error.message);
      await vi.advanceTimersByTimeAsync(999);
      expect(failures).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(await outcome).toBe('no answer in 1000 ms');
      expect(failures).toHaveLength(1);
      expect(calls).toHaveLength(1);
      expect(batched.idle).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('splits a batch at about 4 MiB, a larger message alone', async () => {
    const { calls, call } = destination();
    const batched = new BatchedCalls(call, () => undefined);
    void batched.send(Uint8Array.of(0));
    await tick();
    const mib = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 5; i++) void batched.send(mib);
    void batched.send(new Uint8Array(5 * 1024 * 1024));
    calls[0]?.answer();
    await tick();
    expect(calls[1]?.message.length).toBe(4 * 1024 * 1024);
    calls[1]?.answer();
    await tick();
    expect(calls[2]?.message.length).toBe(1024 * 1024);
    calls[2]?.answer();
    await tick();
    expect(calls[3]?.message.length).toBe(5 * 1024 * 1024);
  });
});
