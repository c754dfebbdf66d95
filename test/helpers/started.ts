/**
 * What a test started (brokers, clients, files), closed after it, newest
 * first: `afterEach(() => started.closeAll())`.
 */
import { startMosquitto, type Mosquitto, type MosquittoOptions } from './mosquitto.ts';
import { connectClient, type TestClient } from './mqtt-clients.ts';

export class Started {
  private readonly closers: Array<() => Promise<void>> = [];

  /** Something to close after the test. */
  add(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** An MQTT.js client, ended (forced) after the test. */
  async client(url: string, options: Parameters<typeof connectClient>[1] = {}): Promise<TestClient> {
    const connected = await connectClient(url, options);
    this.add(() => connected.end(true));
    return connected;
  }

  /** Debian's mosquitto, stopped after the test. */
  async mosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
    const broker = await startMosquitto(options);
    this.add(() => broker.dispose());
    return broker;
  }

  async closeAll(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) await close();
  }
}
