/** Parses what a raw test peer receives into packets and lets a test wait for one. */
import mqttPacket from 'mqtt-packet';

export interface PacketCollector {
  packets: mqttPacket.Packet[];
  /** Feeds received bytes (any chunking). */
  push(data: Buffer): void;
  /** The nth packet of `cmd` (1 = first), waiting up to timeoutMs for it. */
  waitFor(cmd: string, timeoutMs?: number, nth?: number): Promise<mqttPacket.Packet>;
}

export function collectPackets(protocolVersion: 3 | 4 | 5): PacketCollector {
  const packets: mqttPacket.Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion });
  const waiters: Array<() => void> = [];
  parser.on('packet', (packet) => {
    packets.push(packet);
    for (const waiter of waiters.splice(0)) waiter();
  });
  parser.on('error', () => undefined);
  return {
    packets,
    push: (data) => void parser.parse(data),
    waitFor: (cmd, timeoutMs = 5000, nth = 1) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${nth}. ${cmd} within ${timeoutMs} ms; got ${packets.map((p) => p.cmd).join(',')}`)), timeoutMs);
        const check = (): void => {
          const found = packets.filter((p) => p.cmd === cmd)[nth - 1];
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(found);
          } else waiters.push(check);
        };
        check();
      }),
  };
}
