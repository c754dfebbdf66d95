/**
 * How tests name a protocol level and a way in, in their titles: the
 * conformance tests (test/conformance/) run each case at each level it
 * applies to, over TCP through the sidecar and over WebSocket to the edge,
 * and some against mosquitto too.
 */
import type { ProtocolLevel } from '../../shared/codec/types.ts';

/** The MQTT version of each protocol level (3 is MQTT 3.1, `MQIsdp`). */
export const VersionOf: Readonly<Record<ProtocolLevel, string>> = { 3: '3.1', 4: '3.1.1', 5: '5.0' };

/** TCP through the sidecar, or WebSocket to the edge. */
export type WireTransport = 'tcp' | 'ws';
export const WireTransports: readonly WireTransport[] = ['tcp', 'ws'];

/** How a conformance test's title ends after its version: the way to this broker, or the other broker it runs against. */
export const WireTargets = { tcp: 'over tcp', ws: 'over ws', mosquitto: 'against mosquitto' } as const;
export type WireTarget = (typeof WireTargets)[keyof typeof WireTargets];
