/**
 * A well-behaved client of the namespace under attack: it publishes a QoS 1
 * message to itself every few milliseconds and measures how long each takes
 * to come back. An attack on the namespace may hurt the attacker only: the
 * victim's messages must all arrive, and quickly. The attack tests
 * (test/attacks/) hold it to that; scripts/memory.ts reports it.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

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
  const trips = await connectRoundTrips(url, { clientId, protocolVersion: 5, ...credentials });
  const timer = setInterval(() => trips.send(), interval);

  return {
    async stop() {
      // Enough samples to speak of a p99, however short the attack was.
      while (trips.sent < MinimumSamples) await new Promise((resolve) => setTimeout(resolve, interval));
      clearInterval(timer);
      await trips.settle();
      trips.end();
      return reportOf(trips.sent, trips.takeLatencies(), trips.outstanding);
    },
  };
}

/**
 * Many quiet devices of the namespace, each publishing a QoS 1 message to
 * itself every `intervalMs` (spread over the interval), measured as the
 * victim is. `phase()` reports the round trips completed since the last
 * phase, so a test can compare the same devices without and with an attack.
 */
export interface QuietDevices {
  phase(): VictimReport;
  stop(): Promise<VictimReport>;
}

export async function startQuietDevices(url: string, count: number, options: { intervalMs?: number; protocolVersion?: 4 | 5 } = {}): Promise<QuietDevices> {
  const interval = options.intervalMs ?? 1000;
  const devices = await Promise.all(Array.from({ length: count }, (_, i) => connectRoundTrips(url, { clientId: `quiet-${i}-${process.pid}`, protocolVersion: options.protocolVersion ?? 4 })));
  const timers = devices.map((device, i) => {
    let timer: NodeJS.Timeout | undefined;
    const start = setTimeout(() => {
      device.send();
      timer = setInterval(() => device.send(), interval);
    }, (interval * i) / count);
    return () => {
      clearTimeout(start);
      clearInterval(timer);
    };
  });
  let sentBefore = 0;
  const sentNow = (): number => devices.reduce((sum, device) => sum + device.sent, 0);
  const phase = (): VictimReport => {
    const sent = sentNow();
    const report = reportOf(sent - sentBefore, devices.flatMap((device) => device.takeLatencies()), 0);
    sentBefore = sent;
    return report;
  };
  return {
    phase,
    async stop() {
      for (const stopTimer of timers) stopTimer();
      await Promise.all(devices.map((device) => device.settle()));
      const outstanding = devices.reduce((sum, device) => sum + device.outstanding, 0);
      for (const device of devices) device.end();
      return { ...phase(), lost: outstanding };
    },
  };
}

/** One client publishing QoS 1 messages to itself, each timed from PUBLISH to its delivery. */
interface RoundTrips {
  readonly sent: number;
  /** Sent and not back (yet). */
  readonly outstanding: number;
  send(): void;
  /** The round trips completed since the last call, in ms. */
  takeLatencies(): number[];
  /** Waits (five seconds at most) for what is still on its way; what is not back by then counts as lost. */
  settle(): Promise<void>;
  end(): void;
}

async function connectRoundTrips(url: string, options: IClientOptions & { clientId: string }): Promise<RoundTrips> {
  const client: MqttClient = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.on('error', () => undefined);
  // Under victim/, which the attack tests' ACLs let the victim use.
  const topic = `victim/${options.clientId}`;
  await new Promise<void>((resolve, reject) => client.subscribe(topic, { qos: 1 }, (error) => (error ? reject(error) : resolve())));
  const sentAt = new Map<number, number>();
  let latencies: number[] = [];
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
  return {
    get sent() {
      return sequence;
    },
    get outstanding() {
      return sentAt.size;
    },
    send() {
      const n = ++sequence;
      sentAt.set(n, performance.now());
      client.publish(topic, String(n), { qos: 1 });
    },
    takeLatencies() {
      const taken = latencies;
      latencies = [];
      return taken;
    },
    async settle() {
      if (sentAt.size > 0) await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), new Promise((resolve) => setTimeout(resolve, 5000))]);
    },
    end() {
      client.end(true);
    },
  };
}

function reportOf(sent: number, latencies: number[], lost: number): VictimReport {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.POSITIVE_INFINITY;
  return { sent, received: latencies.length, lost, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? Number.POSITIVE_INFINITY };
}
