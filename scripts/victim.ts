/**
 * A well-behaved client of the namespace under attack: it publishes a QoS 1
 * message to itself every few milliseconds and measures how long each takes
 * to come back. An attack on the namespace may hurt the attacker only: the
 * victim's messages must all arrive, and quickly. The attack tests
 * (test/attacks/) hold it to that; scripts/memory.ts reports it.
 */
import mqtt, { type MqttClient } from 'mqtt';

/** The victim keeps publishing at least this many messages, so that its p99 means something. */
const MinimumSamples = 50;

export interface VictimReport {
  sent: number;
  received: number;
  lost: number;
  p50: number;
  p99: number;
  max: number;
}

export interface Victim {
  /** Stops publishing, waits for what is still on its way, and reports. */
  stop(): Promise<VictimReport>;
}

export async function startVictim(url: string, options: { intervalMs?: number; clientId?: string; username?: string; password?: string } = {}): Promise<Victim> {
  const interval = options.intervalMs ?? 20;
  const clientId = options.clientId ?? `victim-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const credentials = options.username === undefined ? {} : { username: options.username, password: options.password ?? '' };
  const client: MqttClient = mqtt.connect(url, { clientId, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000, ...credentials });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('error', () => undefined);
  // Under victim/, which the attack tests' ACLs let the victim use.
  const topic = `victim/${clientId}`;
  await new Promise<void>((resolve, reject) => client.subscribe(topic, { qos: 1 }, (error) => (error ? reject(error) : resolve())));
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let sequence = 0;
  const waiters: Array<() => void> = [];
  client.on('message', (_topic, payload) => {
    const n = Number(payload.toString());
    const at = sentAt.get(n);
    if (at === undefined) return;
    sentAt.delete(n);
    latencies.push(performance.now() - at);
    if (sentAt.size === 0) for (const waiter of waiters.splice(0)) waiter();
  });
  const timer = setInterval(() => {
    const n = ++sequence;
    sentAt.set(n, performance.now());
    client.publish(topic, String(n), { qos: 1 });
  }, interval);

  return {
    async stop() {
      // Enough samples to speak of a p99, however short the attack was.
      while (sequence < MinimumSamples) await new Promise((resolve) => setTimeout(resolve, interval));
      clearInterval(timer);
      // Whatever is still on its way gets five seconds; what is not back by then counts as lost.
      if (sentAt.size > 0) await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), new Promise((resolve) => setTimeout(resolve, 5000))]);
      client.end(true);
      const sorted = [...latencies].sort((a, b) => a - b);
      const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.POSITIVE_INFINITY;
      return { sent: sequence, received: latencies.length, lost: sentAt.size, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? Number.POSITIVE_INFINITY };
    },
  };
}
