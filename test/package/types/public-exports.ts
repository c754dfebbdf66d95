/**
 * The package's public types as a Worker developer meets them, checked by
 * tsc against the built declarations (test/package/queue-to-d1.test.ts runs
 * it with the package installed): what must compile does, and what must not
 * compile is marked `@ts-expect-error`, so a loosened type fails as surely
 * as a broken one. Not part of the repository's own projects (it imports
 * the package by its name).
 */
import {
  defineBroker,
  type AllowDecision,
  type ApiMessage,
  type AuthDecision,
  type AuthenticateContext,
  type BrokerHooks,
  type BrokerLimits,
  type BrokerNamespaceClass,
  type BrokerOptions,
  type ChallengeDecision,
  type ClientGrants,
  type ClientInfo,
  type ClientSummary,
  type CloseCause,
  type DefinedBroker,
  type DeliveryContext,
  type DenyDecision,
  type DisconnectContext,
  type EdgeEnv,
  type EdgeVars,
  type LogLevel,
  type NamespaceStats,
  type ProtocolLevel,
  type PublishContext,
  type PublishDecision,
  type QoS,
  type RetainedSummary,
  type SubscribeContext,
  type SubscribeDecision,
  type UnsubscribeContext,
  type UserProperties,
} from 'edge-mqtt-broker';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const holds = <T extends true>(): T | undefined => undefined;

interface Env extends EdgeEnv {
  AUDIT: Queue<string>;
  DEVICES: D1Database;
}

// defineBroker takes hooks typed by the Worker's own environment, and gives its three exports.
const broker: DefinedBroker<Env> = defineBroker<Env>({
  maxConnections: 1000,
  limits: { maxPacketSize: 65_536, maximumQos: 1 } satisfies Partial<BrokerLimits>,
  hookTimeoutMs: 2000,
  logLevel: 'warn' satisfies LogLevel,
  sysInterval: 0,
  async authenticate(context: AuthenticateContext<Env>): Promise<AuthDecision> {
    const row = await context.env.DEVICES.prepare('SELECT 1 FROM devices WHERE id = ?').bind(context.clientId).first();
    if (row === null) return { allow: false, reason: 'bad-credentials' } satisfies DenyDecision;
    if (context.authenticationMethod !== undefined && context.authenticationStep === 0) return { challenge: new Uint8Array([1]) } satisfies ChallengeDecision;
    const grants: ClientGrants = { publish: [`devices/${context.clientId}/#`], subscribe: ['commands/#'] };
    return { allow: true, grants } satisfies AllowDecision;
  },
  onConnect(client: ClientInfo<Env>) {
    client.waitUntil(client.env.AUDIT.send(`${client.namespace} ${client.clientId} ${client.protocolLevel satisfies ProtocolLevel}`));
  },
  onDisconnect(context: DisconnectContext<Env>) {
    const cause: CloseCause = context.cause;
    void cause;
  },
  onSubscribe(context: SubscribeContext<Env>): SubscribeDecision {
    return context.filter.startsWith('commands/') ? { allow: true, qos: 1 satisfies QoS } : { allow: false, reasonCode: 0x87 };
  },
  onUnsubscribe(context: UnsubscribeContext<Env>) {
    void context.filter;
  },
  onPublish(context: PublishContext<Env>): PublishDecision {
    const properties: UserProperties | undefined = context.properties?.userProperties;
    void properties;
    return context.payload.byteLength < 1024;
  },
  onDeliver(context: DeliveryContext & { env: Env }) {
    return context.topic !== 'private';
  },
} satisfies BrokerOptions<Env> & BrokerHooks<Env>);

export default broker.worker;
export const BrokerNamespace: BrokerNamespaceClass = broker.BrokerNamespace;
export const BrokerApi = broker.BrokerApi;

// Publishing from another Worker through the service binding.
const message: ApiMessage = { topic: 'commands/all', payload: new TextEncoder().encode('reboot'), qos: 1, retain: false };
void message;

// What the admin API answers with.
declare const stats: NamespaceStats;
declare const client: ClientSummary;
declare const retained: RetainedSummary;
holds<Equals<typeof stats.connected, number>>();
holds<Equals<typeof client.clientId, string>>();
holds<Equals<typeof retained.topic, string>>();
// Settings are strings, as Workers [vars] are.
holds<Equals<EdgeVars['MQTT_MAX_CONNECTIONS'], string | undefined>>();

// @ts-expect-error: a decision is allow, deny or challenge, nothing else.
const wrong: AuthDecision = { allow: 'yes' };
void wrong;
// @ts-expect-error: QoS is 0, 1 or 2.
const qos: QoS = 3;
void qos;
// @ts-expect-error: a limit is a number.
defineBroker({ limits: { maxPacketSize: '64k' } });
// @ts-expect-error: hooks see the environment they were given, and only it.
defineBroker<Env>({ onConnect: (info) => void info.env.NOT_A_BINDING });
