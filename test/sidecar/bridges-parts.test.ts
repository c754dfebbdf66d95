/**
 * The pure parts of a broker bridge: topic renaming (mosquitto's rules),
 * restart backoff (mosquitto's restart_timeout), and the gate that holds
 * acknowledgements back.
 */
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { AckGate } from '../../sidecar/broker-bridges/ack-gate.ts';
import { parseBridgeConfig, type BridgeTopic, type RestartPolicy } from '../../sidecar/broker-bridges/config.ts';
import { RestartBackoff } from '../../sidecar/broker-bridges/restart-backoff.ts';
import { TopicMap } from '../../sidecar/broker-bridges/topic-map.ts';
import { publishSize } from '../../sidecar/broker-bridges/relay.ts';
import { generate } from 'mqtt-packet';

function topicsOf(...lines: string[]): BridgeTopic[] {
  const { bridges, problems } = parseBridgeConfig(['connection b1', 'address h', ...lines].join('\n'), { source: 'test', hostname: 'gw' });
  expect(problems).toEqual([]);
  return bridges[0]?.topics ?? [];
}

describe('TopicMap', () => {
  it('subscribes locally for out and both, remotely for in and both, one subscription per filter at its highest QoS', () => {
    const map = new TopicMap(topicsOf('topic a/# out 1', 'topic b/# in 2', 'topic c/# both 0 L/ R/', 'topic a/# both 2'));
    expect(map.subscriptions('out')).toEqual([
      { filter: 'a/#', qos: 2 },
      { filter: 'L/c/#', qos: 0 },
    ]);
    expect(map.subscriptions('in')).toEqual([
      { filter: 'b/#', qos: 2 },
      { filter: 'R/c/#', qos: 0 },
      { filter: 'a/#', qos: 2 },
    ]);
  });

  it.each([
    // [topic line, crossing, topic on the side it comes from, topic on the other side]
    ['topic pattern/# out 0 L/ R/', 'out', 'L/pattern/x', 'R/pattern/x'],
    ['topic pattern/# in 0 L/ R/', 'in', 'R/pattern/x', 'L/pattern/x'],
    ['topic pattern/# both 0 L/ ""', 'out', 'L/pattern/x', 'pattern/x'],
    ['topic pattern/# both 0 L/ ""', 'in', 'pattern/x', 'L/pattern/x'],
    ['topic pattern/# both 0 "" R/', 'out', 'pattern/x', 'R/pattern/x'],
    ['topic pattern/# both 0 "" ""', 'in', 'pattern/x', 'pattern/x'],
    ['topic "" both 0 local/one remote/one', 'out', 'local/one', 'remote/one'],
    ['topic "" both 0 local/one remote/one', 'in', 'remote/one', 'local/one'],
    ['topic # out 0 local/topic/ remote/topic/', 'out', 'local/topic/a/b', 'remote/topic/a/b'],
  ] as const)('%s: %s %s → %s', (line, crossing, from, to) => {
    expect(new TopicMap(topicsOf(line)).rename(crossing, from)).toBe(to);
  });

  it('renames by the first line of that direction that matches and has a prefix, as mosquitto does', () => {
    const map = new TopicMap(topicsOf('topic a/# in 0 X/ Y/', 'topic a/# out 0', 'topic # out 0 "" first/', 'topic a/# out 0 "" second/'));
    expect(map.rename('out', 'a/b')).toBe('first/a/b');
    expect(map.rename('in', 'Y/a/b')).toBe('X/a/b');
    // No line with a prefix matches: the name stays.
    expect(new TopicMap(topicsOf('topic a/# both 1')).rename('out', 'a/b')).toBe('a/b');
  });

  it('gives no topic when renaming leaves nothing', () => {
    expect(new TopicMap(topicsOf('topic # out 0 site/ ""')).rename('out', 'site/')).toBeUndefined();
  });
});

describe('RestartBackoff', () => {
  const jitter: RestartPolicy = { kind: 'jitter', baseSeconds: 5, capSeconds: 30 };

  it('waits the same with a constant restart_timeout', () => {
    const backoff = new RestartBackoff({ kind: 'constant', seconds: 20 });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([20_000, 20_000, 20_000]);
  });

  it('grows by decorrelated jitter between the base and three times the last wait, up to the cap, and starts over after a success', () => {
    const highest = new RestartBackoff(jitter, () => 0.999_999);
    expect([highest.next(), highest.next(), highest.next()]).toEqual([15_000, 30_000, 30_000]);
    highest.reset();
    expect(highest.next()).toBe(15_000);
    const lowest = new RestartBackoff(jitter, () => 0);
    expect([lowest.next(), lowest.next()]).toEqual([5_000, 5_000]);
  });

  it('stays within base..cap for any random value', () => {
    let seed = 7;
    const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const backoff = new RestartBackoff(jitter, random);
    for (let i = 0; i < 200; i++) {
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(5_000);
      expect(delay).toBeLessThanOrEqual(30_000);
    }
  });
});

describe('AckGate', () => {
  /** A socket double: records what the gate writes, lets the test play the broker. */
  function socketDouble(): { socket: Duplex; written: () => Buffer; writes: () => number } {
    const chunks: Buffer[] = [];
    const socket = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    });
    return { socket, written: () => Buffer.concat(chunks), writes: () => chunks.length };
  }
  const puback = (id: number): Buffer => Buffer.from(encodePacket({ cmd: 'puback', messageId: id }, 4));
  const pubrec = (id: number): Buffer => Buffer.from(encodePacket({ cmd: 'pubrec', messageId: id }, 5));
  const pingreq = Buffer.from([0xc0, 0x00]);
  const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('keeps a held acknowledgement until it is released, and lets every other packet pass', async () => {
    const { socket, written } = socketDouble();
    const gate = new AckGate(socket);
    const release = gate.hold(7);
    gate.write(puback(7));
    gate.write(pingreq);
    await flush();
    expect(written()).toEqual(pingreq);
    release();
    expect(written()).toEqual(Buffer.concat([pingreq, puback(7)]));
    release();
    expect(written()).toEqual(Buffer.concat([pingreq, puback(7)]));
  });

  it('keeps acknowledgements in the order they were written: a free one waits behind a held one', async () => {
    const { socket, written } = socketDouble();
    const gate = new AckGate(socket);
    const releaseFirst = gate.hold(1);
    const releaseSecond = gate.hold(2);
    gate.write(puback(1));
    gate.write(pubrec(2));
    gate.write(puback(3));
    await flush();
    releaseSecond();
    expect(written()).toEqual(Buffer.alloc(0));
    releaseFirst();
    expect(written()).toEqual(Buffer.concat([puback(1), pubrec(2), puback(3)]));
  });

  it('finds acknowledgements written a byte at a time, as mqtt-packet writes fields separately', async () => {
    const { socket, written } = socketDouble();
    const gate = new AckGate(socket);
    const release = gate.hold(258);
    for (const byte of pubrec(258)) gate.write(Buffer.from([byte]));
    await flush();
    expect(written()).toEqual(Buffer.alloc(0));
    release();
    expect(written()).toEqual(pubrec(258));
  });

  it('sends packets written together (mqtt-packet corks their pieces) as one write: one WebSocket message, not one per piece', async () => {
    const { socket, written, writes } = socketDouble();
    const gate = new AckGate(socket);
    const release = gate.hold(4);
    gate.cork();
    const ack = puback(4);
    gate.write(ack.subarray(0, 1));
    gate.write(ack.subarray(1));
    gate.write(pingreq);
    gate.write(puback(5));
    process.nextTick(() => gate.uncork());
    await flush();
    expect([writes(), written()]).toEqual([1, pingreq]);
    release();
    expect([writes(), written()]).toEqual([2, Buffer.concat([pingreq, puback(4), puback(5)])]);
  });

  it('passes what the broker sends up unchanged, and drops held acknowledgements with the connection', async () => {
    const { socket, written } = socketDouble();
    const gate = new AckGate(socket);
    const received: Buffer[] = [];
    gate.on('data', (chunk: Buffer) => received.push(chunk));
    socket.push(Buffer.from([0xd0, 0x00]));
    await flush();
    expect(Buffer.concat(received)).toEqual(Buffer.from([0xd0, 0x00]));
    const release = gate.hold(9);
    gate.write(puback(9));
    await flush();
    socket.destroy();
    await flush();
    expect(gate.destroyed).toBe(true);
    release();
    expect(written()).toEqual(Buffer.alloc(0));
  });
});

describe('publishSize', () => {
  it.each([
    ['QoS 0, 3.1.1, a small payload', 'a/b', 10, 0, undefined, 4],
    ['QoS 1, 5.0, with properties', 'sensors/t1', 100, 1, { contentType: 'text/plain', userProperties: { site: 'a' } }, 5],
    ['QoS 2, 5.0, a payload that needs a 3-byte Remaining Length', 'big', 20_000, 2, { messageExpiryInterval: 60 }, 5],
    ['QoS 1, 5.0, right at the 2-byte boundary', 'x', 16_383 - 8, 1, undefined, 5],
  ] as const)('%s: the length of the real packet', (_what, topic, payloadLength, qos, properties, version) => {
    const real = generate(
      { cmd: 'publish', topic, payload: Buffer.alloc(payloadLength), qos, retain: false, dup: false, ...(qos > 0 ? { messageId: 7 } : {}), ...(properties === undefined ? {} : { properties }) },
      { protocolVersion: version },
    );
    expect(publishSize(topic, payloadLength, qos, properties, version)).toBe(real.length);
  });
});
