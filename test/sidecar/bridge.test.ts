/**
 * One TCP device ⇄ its channel to the edge, against a fake edge that
 * records what arrives: the contract headers, byte-exact forwarding, local
 * PINGREQ, keep-alive, and how each side's close reaches the other. Each
 * test runs twice: over the sidecar's multiplexed link, and with one
 * WebSocket per device (MQTT_EDGE_LINK=off); the device must not notice.
 */
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePacket } from '../../shared/codec/encoder.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import { LinkSubprotocol } from '../../shared/link-protocol.ts';
import { EdgeCloseCode } from '../../sidecar/close-codes.ts';
import { connectDevice, connectPacket, sleep, startFakeEdge, startTestSidecar, waitUntil, type FakeEdge, type TestSidecar, closeStarted } from './harness.ts';

let edge: FakeEdge | undefined;
let running: TestSidecar | undefined;
afterEach(closeStarted);

for (const mode of ['link', 'websocket'] as const) {
  describe(`over ${mode === 'link' ? 'the link' : 'a WebSocket per device'}`, () => {
    async function setUp(env: Record<string, string> = {}, edgeOptions: Parameters<typeof startFakeEdge>[0] = {}): Promise<{ edge: FakeEdge; sidecar: TestSidecar }> {
      edge = await startFakeEdge(edgeOptions);
      // A trusted bridge by default: it then answers PINGREQ itself (see the test without a secret).
      running = await startTestSidecar(edge.url, { MQTT_BRIDGE_SECRET: 'bridge-secret', MQTT_EDGE_LINK: mode === 'link' ? 'on' : 'off', ...env });
      return { edge, sidecar: running };
    }

    describe('forwarding', () => {
      it('forwards the CONNECT and the packets of the same read as one message, with the contract headers', async () => {
        const { edge, sidecar } = await setUp({ MQTT_BRIDGE_SECRET: 's3cret' });
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        const bytes = Buffer.concat([
          encodePacket(connectPacket(4), 4),
          encodePacket({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 1 }] }, 4),
          encodePacket({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('hello'), qos: 1, messageId: 2, retain: false, dup: false }, 4),
        ]);
        device.write(bytes);

        const connection = await edge.connection(1);
        await waitUntil(() => connection.packets.length === 3, 'three packets at the edge');
        expect(connection.messages).toHaveLength(1);
        expect(connection.messages[0]).toEqual(bytes);
        expect(connection.kind).toBe(mode);
        expect(connection.protocol).toBe(mode === 'link' ? LinkSubprotocol : 'mqtt');
        expect(connection.headers['x-mqtt-bridge-secret']).toBe('s3cret');
        expect(connection.address).toBe(`127.0.0.1:${device.socket.localPort}`);
        expect(connection.headers.host).toBe(`127.0.0.1:${edge.port}`);
        expect(connection.path).toBe('/mqtt');
        device.socket.destroy();
      });

      it('sends no secret header when no secret is configured', async () => {
        const { edge, sidecar } = await setUp({ MQTT_BRIDGE_SECRET: '' });
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(4), 4);
        const connection = await edge.connection(1);
        expect(connection.headers['x-mqtt-bridge-secret']).toBeUndefined();
        expect(connection.address).toBe(`127.0.0.1:${device.socket.localPort}`);
        device.socket.destroy();
      });

      it('dials the namespace path of MQTT_EDGE_URL', async () => {
        const { edge, sidecar } = await setUp({}, { path: '/mqtt/site-a' });
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(4), 4);
        const connection = await edge.connection(1);
        expect(connection.path).toBe('/mqtt/site-a');
        expect(sidecar.config.namespace).toBe('site-a');
        expect(sidecar.events('sidecar.listening')[0]).toMatchObject({ namespace: 'site-a' });
        device.socket.destroy();
      });

      it('delivers the edge bytes to the device unchanged', async () => {
        const { edge, sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(5), 5);
        const connection = await edge.connection(1);
        await waitUntil(() => device.packets(5).length === 1, 'CONNACK');
        const publish = encodePacket({ cmd: 'publish', topic: 't', payload: Buffer.alloc(100_000, 7), qos: 0, retain: false, dup: false }, 5);
        connection.sendBytes(Buffer.concat([publish, publish]));
        await waitUntil(() => device.packets(5).length === 3, 'two PUBLISH');
        expect(device.received().subarray(-publish.length * 2)).toEqual(Buffer.concat([publish, publish]));
        device.socket.destroy();
      });
    });

    describe('PINGREQ', () => {
      it('is answered by the sidecar and never forwarded (MQTT.js, keepalive 1 s)', async () => {
        const { edge, sidecar } = await setUp();
        const client = mqtt.connect(`mqtt://127.0.0.1:${sidecar.sidecar.tcpPort}`, { protocolVersion: 4, keepalive: 1, reconnectPeriod: 0 });
        let pingresps = 0;
        client.on('packetreceive', (packet) => {
          if (packet.cmd === 'pingresp') pingresps++;
        });
        await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
        await sleep(3_500);
        expect(client.connected).toBe(true);
        expect(pingresps).toBeGreaterThanOrEqual(2);
        const connection = await edge.connection(1);
        expect(connection.packets.map((p) => p.cmd)).toEqual(['connect']);
        await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
      });

      it('without MQTT_BRIDGE_SECRET forwards PINGREQ, since the edge then enforces keep-alive itself', async () => {
        const { edge, sidecar } = await setUp({ MQTT_BRIDGE_SECRET: '' });
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.write(encodePacket(connectPacket(4), 4));
        const connection = await edge.connection(1);
        expect(connection.headers['x-mqtt-bridge-secret']).toBeUndefined();
        await waitUntil(() => device.packets(4).length === 1, 'CONNACK');
        device.write(encodePacket({ cmd: 'pingreq' }, 4));
        await waitUntil(() => connection.packets.length === 2, 'PINGREQ at the edge');
        expect(connection.packets.map((p) => p.cmd)).toEqual(['connect', 'pingreq']);
        connection.send({ cmd: 'pingresp' });
        await waitUntil(() => device.packets(4).length === 2, 'PINGRESP from the edge');
        device.socket.destroy();
      });

      it('holds a PINGRESP back until the edge CONNACK has gone to the device', async () => {
        const { edge, sidecar } = await setUp({}, { connack: () => undefined });
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.write(Buffer.concat([encodePacket(connectPacket(4), 4), encodePacket({ cmd: 'pingreq' }, 4)]));
        const connection = await edge.connection(1);
        await waitUntil(() => connection.packets.length === 1, 'CONNECT at the edge');
        await sleep(100);
        expect(device.received()).toHaveLength(0);
        connection.send({ cmd: 'connack', sessionPresent: false, returnCode: 0 });
        await waitUntil(() => device.packets(4).length === 2, 'CONNACK and PINGRESP');
        expect(device.packets(4).map((p) => p.cmd)).toEqual(['connack', 'pingresp']);
        expect(connection.packets.map((p) => p.cmd)).toEqual(['connect']);
        device.socket.destroy();
      });
    });

    describe('keep-alive', () => {
      it('closes a silent 3.1.1 device after 1.5 × keep-alive and tells the edge why', async () => {
        const { edge, sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        const started = Date.now();
        device.send(connectPacket(4, { keepalive: 1 }), 4);
        const connection = await edge.connection(1);
        await device.closed;
        const elapsed = Date.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(1_400);
        expect(elapsed).toBeLessThan(2_500);
        expect(device.packets(4).map((p) => p.cmd)).toEqual(['connack']);
        expect(await connection.closed).toEqual({ code: EdgeCloseCode.KeepAliveTimeout, reason: 'keep-alive timeout' });
        expect(sidecar.events('connection.keepalive-timeout')).toHaveLength(1);
      });

      it('sends a 5.0 device DISCONNECT 0x8D first', async () => {
        const { sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(5, { keepalive: 1 }), 5);
        await device.closed;
        const packets = device.packets(5);
        expect(packets.map((p) => p.cmd)).toEqual(['connack', 'disconnect']);
        expect(packets[1]).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.KeepAliveTimeout });
      });

      it('counts every packet (PINGREQ included) as activity', async () => {
        const { sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(4, { keepalive: 1 }), 4);
        for (let i = 0; i < 6; i++) {
          await sleep(400);
          device.send({ cmd: 'pingreq' }, 4);
        }
        expect(device.isClosed()).toBe(false);
        expect(device.packets(4).filter((p) => p.cmd === 'pingresp').length).toBeGreaterThanOrEqual(5);
        device.socket.destroy();
      });

      it('uses the Server Keep Alive of a 5.0 CONNACK instead of the device value', async () => {
        const { sidecar } = await setUp(
          {},
          { connack: (level) => ({ cmd: 'connack', sessionPresent: false, reasonCode: 0, ...(level === 5 ? { properties: { serverKeepAlive: 1 } } : {}) }) },
        );
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        const started = Date.now();
        device.send(connectPacket(5, { keepalive: 600 }), 5);
        await device.closed;
        expect(Date.now() - started).toBeLessThan(3_000);
        expect(device.packets(5)[1]).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.KeepAliveTimeout });
      });

      it('does not time out a device with keep-alive 0', async () => {
        const { sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(4, { keepalive: 0 }), 4);
        await sleep(1_800);
        expect(device.isClosed()).toBe(false);
        device.socket.destroy();
      });
    });

    describe('closing', () => {
      it('flushes what the edge sent before closing, then closes the device', async () => {
        const { edge, sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(5), 5);
        const connection = await edge.connection(1);
        await waitUntil(() => device.packets(5).length === 1, 'CONNACK');
        connection.send({ cmd: 'disconnect', reasonCode: ReasonCode.SessionTakenOver });
        connection.close(1000);
        await device.closed;
        expect(device.packets(5)[1]).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.SessionTakenOver });
      });

      it('forwards a CONNACK refusal and closes when the edge closes', async () => {
        const { edge, sidecar } = await setUp({}, { connack: () => ({ cmd: 'connack', sessionPresent: false, returnCode: 5 }) });
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(4), 4);
        const connection = await edge.connection(1);
        await waitUntil(() => device.packets(4).length === 1, 'CONNACK');
        connection.close(1000);
        await device.closed;
        expect(device.packets(4)).toEqual([expect.objectContaining({ cmd: 'connack', returnCode: 5 })]);
      });

      it('answers CONNACK server unavailable when the edge closes before its CONNACK', async () => {
        const { edge, sidecar } = await setUp({}, { connack: () => undefined });
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(5), 5);
        const connection = await edge.connection(1);
        connection.close(1011, 'broken');
        await device.closed;
        expect(device.packets(5)).toEqual([expect.objectContaining({ cmd: 'connack', reasonCode: ReasonCode.ServerUnavailable })]);
      });

      it.each([1000, 1002, 1008])('makes up no CONNACK when the edge closes on purpose (%i) before one [MQTT-3.2.2-6]', async (code) => {
        const { edge, sidecar } = await setUp({}, { connack: () => undefined });
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(4), 4);
        const connection = await edge.connection(1);
        connection.close(code, 'invalid will topic');
        await device.closed;
        expect(device.received().byteLength).toBe(0);
      });

      it('closes the WebSocket with 4000 when the device drops without DISCONNECT', async () => {
        const { edge, sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(4), 4);
        const connection = await edge.connection(1);
        await waitUntil(() => device.packets(4).length === 1, 'CONNACK');
        device.socket.destroy();
        expect(await connection.closed).toEqual({ code: EdgeCloseCode.DeviceLost, reason: 'device connection lost' });
        await waitUntil(() => sidecar.sidecar.connections === 0, 'connection released');
      });

      it('forwards DISCONNECT and closes the WebSocket with 1000', async () => {
        const { edge, sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(5), 5);
        const connection = await edge.connection(1);
        await waitUntil(() => device.packets(5).length === 1, 'CONNACK');
        device.send({ cmd: 'disconnect', reasonCode: 0 }, 5);
        expect(await connection.closed).toEqual({ code: EdgeCloseCode.Normal, reason: 'client disconnected' });
        expect(connection.packets.map((p) => p.cmd)).toEqual(['connect', 'disconnect']);
        await device.closed;
      });
    });

    describe('malformed input', () => {
      it('closes only the client with a broken fixed header (5.0: DISCONNECT 0x81 first)', async () => {
        const { edge, sidecar } = await setUp();
        const bad = await connectDevice(sidecar.sidecar.tcpPort);
        const good = await connectDevice(sidecar.sidecar.tcpPort);
        bad.send(connectPacket(5, { clientId: 'bad' }), 5);
        good.send(connectPacket(5, { clientId: 'good' }), 5);
        await waitUntil(() => bad.packets(5).length === 1 && good.packets(5).length === 1, 'both CONNACKs');
        const badEdge = edge.connections.find((c) => c.packets[0]?.cmd === 'connect' && c.packets[0].clientId === 'bad');
        bad.write(Uint8Array.of(0x00, 0x00));
        await bad.closed;
        expect(bad.packets(5)[1]).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.MalformedPacket });
        expect((await badEdge?.closed)?.code).toBe(EdgeCloseCode.DeviceProtocolError);

        good.send({ cmd: 'pingreq' }, 5);
        await waitUntil(() => good.packets(5).length === 2, 'PINGRESP for the good client');
        expect(good.isClosed()).toBe(false);
        expect(sidecar.sidecar.connections).toBe(1);
        good.socket.destroy();
      });

      it('refuses a packet over MQTT_MAX_PACKET_SIZE before buffering it (5.0: DISCONNECT 0x95)', async () => {
        const { sidecar } = await setUp({ MQTT_MAX_PACKET_SIZE: '1024' });
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(5), 5);
        await waitUntil(() => device.packets(5).length === 1, 'CONNACK');
        // Only the fixed header of a 10 MB PUBLISH: refused from its Remaining Length alone.
        device.write(Uint8Array.of(0x30, 0x80, 0xad, 0xe2, 0x04));
        await device.closed;
        expect(device.packets(5)[1]).toMatchObject({ cmd: 'disconnect', reasonCode: ReasonCode.PacketTooLarge });
      });

      it('just closes a 3.1.1 client with a broken packet (3.x has no server DISCONNECT)', async () => {
        const { sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(4), 4);
        await waitUntil(() => device.packets(4).length === 1, 'CONNACK');
        device.write(Uint8Array.of(0x32 | 0x06, 0x00)); // PUBLISH with QoS 3
        await device.closed;
        expect(device.packets(4).map((p) => p.cmd)).toEqual(['connack']);
      });

      it('closes a 3.1.1 client that sends AUTH', async () => {
        const { sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send(connectPacket(4), 4);
        await waitUntil(() => device.packets(4).length === 1, 'CONNACK');
        device.write(Uint8Array.of(0xf0, 0x00));
        await device.closed;
      });

      it('closes a client whose first packet is not CONNECT, without dialling the edge', async () => {
        const { edge, sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        device.send({ cmd: 'pingreq' }, 4);
        await device.closed;
        expect(device.received()).toHaveLength(0);
        expect(edge.connections).toHaveLength(0);
      });

      it('answers an unsupported protocol level with CONNACK 0x01 in the 3.1.1 form', async () => {
        const { edge, sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        const connect = Buffer.from(encodePacket(connectPacket(4), 4));
        connect[8] = 6; // Protocol Level byte: after 0x10, length, 0x00 0x04 'MQTT'
        device.write(connect);
        await device.closed;
        expect(device.packets(4)).toEqual([expect.objectContaining({ cmd: 'connack', returnCode: 1 })]);
        expect(edge.connections).toHaveLength(0);
      });

      it('answers a malformed 5.0 CONNECT with CONNACK 0x81', async () => {
        const { sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        const connect = Buffer.from(encodePacket(connectPacket(5), 5));
        connect[9] = 0x01; // Connect Flags: the reserved bit [MQTT-3.1.2-3]
        device.write(connect);
        await device.closed;
        expect(device.packets(5)).toEqual([expect.objectContaining({ cmd: 'connack', reasonCode: ReasonCode.MalformedPacket })]);
      });
    });

    describe('connect timeout', () => {
      it('closes a device that sends nothing, and one that trickles a CONNECT (slowloris)', async () => {
        const { edge, sidecar } = await setUp({ MQTT_CONNECT_TIMEOUT_MS: '300' });
        const silent = await connectDevice(sidecar.sidecar.tcpPort);
        const slow = await connectDevice(sidecar.sidecar.tcpPort);
        const started = Date.now();
        const connect = encodePacket(connectPacket(4), 4);
        let sent = 0;
        const trickle = setInterval(() => {
          if (sent < connect.length && !slow.isClosed()) slow.write(connect.subarray(sent, ++sent));
        }, 50);
        await Promise.all([silent.closed, slow.closed]);
        clearInterval(trickle);
        expect(Date.now() - started).toBeLessThan(1_500);
        expect(edge.connections).toHaveLength(0);
        expect(sidecar.events('connection.refused').filter((line) => line['reason'] === 'connect-timeout')).toHaveLength(2);
        await waitUntil(() => sidecar.sidecar.connections === 0, 'slots released');
      });
    });

    describe('logs', () => {
      it('describe the session with its username, without a password or payload', async () => {
        const { sidecar } = await setUp();
        const device = await connectDevice(sidecar.sidecar.tcpPort);
        const localPort = device.socket.localPort;
        device.send(connectPacket(5, { clientId: 'logged', username: 'alice-user', password: Buffer.from('hunter2-password') }), 5);
        await waitUntil(() => device.packets(5).length === 1, 'CONNACK');
        device.send({ cmd: 'publish', topic: 't', payload: Buffer.from('secret-payload'), qos: 0, retain: false, dup: false }, 5);
        device.send({ cmd: 'disconnect', reasonCode: 0 }, 5);
        await device.closed;
        await waitUntil(() => sidecar.events('connection.closed').length === 1, 'connection.closed line');

        expect(sidecar.events('connection.accepted')[0]).toMatchObject({ level: 'info', client: 'logged', username: 'alice-user', protocol: 5, transport: 'tcp', remote: `127.0.0.1:${localPort}` });
        expect(sidecar.events('connection.closed')[0]).toMatchObject({ client: 'logged', reason: 'device-disconnected', duration_ms: expect.any(Number) });
        const everything = JSON.stringify(sidecar.logs);
        expect(everything).not.toContain('hunter2-password');
        expect(everything).not.toContain('secret-payload');
        for (const line of sidecar.logs) expect(Object.keys(line).slice(0, 3)).toEqual(['ts', 'level', 'event']);
      });
    });
  });
}
