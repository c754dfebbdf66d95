/**
 * The Durable Object that owns one broker namespace. A thin adapter: it
 * turns hibernatable WebSocket events and alarms into calls on the
 * namespace core (core/namespace.ts), maps the core's close kinds to
 * WebSocket close codes, and keeps nothing that matters only in memory.
 */
import { DurableObject } from 'cloudflare:workers';
import { BridgeCloseCode } from '../shared/bridge-close-codes.ts';
import type { BrokerNamespaceClass, BrokerNamespaceRpc, BrokerResolver } from './broker-types.ts';
import { WebSocketCloseCode, type CloseCause } from './core/close-cause.ts';
import type { ApiRefusal } from './core/limits.ts';
import type { ConnectionState, Transport } from './core/link.ts';
import { consoleLogger, describeError, type Logger } from './core/log.ts';
import { Namespace } from './core/namespace.ts';
import type { ClientPage, ClientQuery, ClientSummary, ConnectionEventEntry, EventQuery, RetainedSummary, SidecarView, SubscriptionSummary, TopicSummary } from './core/readouts.ts';
import type { QuotaOutcome, QuotaView } from './core/quotas.ts';
import type { HistorySample } from './core/traffic-history.ts';
import type { EdgeEnv } from './env.ts';
import type { ApiMessage } from './http-api.ts';
import { InternalHeader } from './internal-headers.ts';
import type { AclEntryInput, AclEntryView } from './auth/runtime-users.ts';
import { RuntimeAccess, type AddAclOutcome, type DeleteUserOutcome, type PutUserOutcome, type UserView } from './runtime-access.ts';
import { LinkDeviceStore } from './link/link-device-store.ts';
import { LinkHost, type LinkAttachment } from './link/link-host.ts';
import { LinkStatusStore } from './link/link-status-store.ts';
import { defaultFlowControl, linkWindowsOf, type LinkWindows } from './link/flow-control.ts';
import { linkVersionOf, MaxLinkMessageBytes } from '../shared/link-protocol.ts';
import { namespaceStats, type NamespaceStats } from './observability/stats.ts';
import { Gateway, type GatewayClientAttachment } from './gateway/gateway.ts';
import { GatewayLinks } from './gateway/gateway-links.ts';
import { OutputMarker } from './gateway/output-marker.ts';
import { gatewayNamespace } from './gateway/gateway-names.ts';
import { ObjectRates } from './gateway/object-stats.ts';
import { MeteredSql } from './core/metered-sql.ts';
import { SysTopicsPublisher } from './observability/sys-topics.ts';
import type { DeadLetterView } from './rules/dead-letters.ts';
import type { DeadLetterOutcome, DeadLetterSelection } from './rules/rules.ts';

/** How long a drain waits for its clients to finish closing: a client that does not answer the close is not waited for longer. */
const DrainCloseWaitMs = 2_000;
/** How often a gateway holding input checks whether it may hibernate again. */
const StayAwakeCheckMs = 1_000;
/** `WebSocket.readyState` once the close handshake is done. */
const WebSocketClosed = 3;

/** Storage key (synchronous KV) of the namespace's name, for wakes that do not tell it. */
const NamespaceKey = 'broker.namespace';

/**
 * A WebSocket message may hold at most one largest packet and some more
 * framing (small packets sent along with it). Anything larger is refused
 * as soon as it arrives, before a byte of it is decoded.
 */
const WebSocketMessageSlack = 64 * 1024;


/** What the sidecar's close codes say about why its device went away, for onDisconnect and the logs. */
const BridgeCloseCauses: ReadonlyMap<number, CloseCause> = new Map([
  [BridgeCloseCode.GoingAway, 'server-shutdown'],
  [BridgeCloseCode.KeepAliveTimeout, 'keepalive-timeout'],
  [BridgeCloseCode.DeviceProtocolError, 'protocol-error'],
]);

/** Builds the namespace Durable Object class for one broker definition. */
export function createBrokerNamespaceClass(resolve: BrokerResolver): BrokerNamespaceClass {
  return class BrokerNamespace extends DurableObject<EdgeEnv> implements BrokerNamespaceRpc {
    private core: Namespace | undefined;
    /** Configured access with this namespace's runtime users and ACL entries; built with the core. */
    private runtime: RuntimeAccess | undefined;
    private readonly connectionIds = new WeakMap<WebSocket, string>();
    /** The sidecars' links (each one WebSocket for many devices), by socket. */
    private readonly links = new WeakMap<WebSocket, LinkHost>();
    private linkDevices: LinkDeviceStore | undefined;
    /** What each sidecar last reported of its broker bridges. */
    private linkStatus: LinkStatusStore | undefined;
    /** Core role: the links to this namespace's gateway objects. */
    private gateways: GatewayLinks | undefined;
    /** Gateway role: the clients this object holds for its namespace's core. */
    private gateway: Gateway<WebSocket> | undefined;
    private readonly objectRates = new ObjectRates();
    /** Gateway role: the timer that keeps it awake while it holds its clients' input. */
    private awake: ReturnType<typeof setTimeout> | undefined;
    /** Gateway role: each client socket's attachment, read once (not on every message). */
    private readonly gatewayClients = new WeakMap<WebSocket, GatewayClientAttachment>();
    /** Every part of this object reads and writes SQLite through this, so its rows are counted (they are billed). */
    private readonly sql: MeteredSql;
    private log: Logger;
    /** The alarm time this instance last set; unknown (undefined) after a wake. */
    private alarmAt: number | undefined;
    /**
     * The name the object was addressed by (`idFromName`). The runtime tells
     * it when a request or RPC call wakes the object, but not when an alarm
     * does: so it is remembered in storage the first time it is known.
     */
    private namespace: string;
    private rememberedNamespace: string | undefined;
    private maxMessageBytes = Number.POSITIVE_INFINITY;
    /** The windows this object grants its links (and, as a gateway, keeps to). */
    private windows: LinkWindows = linkWindowsOf(defaultFlowControl);

    constructor(ctx: DurableObjectState, env: EdgeEnv) {
      super(ctx, env);
      this.sql = new MeteredSql(ctx.storage.sql);
      this.rememberedNamespace = ctx.storage.kv.get<string>(NamespaceKey);
      this.namespace = ctx.id.name ?? this.rememberedNamespace ?? 'default';
      // Named by namespace (one object per namespace), as the sidecar names its lines.
      this.log = consoleLogger({ component: 'edge', namespace: this.namespace });
    }

    /**
     * Remembers the namespace's name for wakes that do not tell it, once the
     * namespace has storage at all: an object that never accepted a CONNECT
     * writes nothing (see core/gated-sql.ts).
     */
    private rememberNamespace(): void {
      if (this.rememberedNamespace === this.namespace) return;
      this.ctx.storage.kv.put(NamespaceKey, this.namespace);
      this.rememberedNamespace = this.namespace;
    }

    /** Durable Object RPC: publish a message as the broker (HTTP API, service bindings). */
    async publish(message: ApiMessage): Promise<ApiRefusal | undefined> {
      return this.getCore().publishFromApi(message);
    }

    // Durable Object RPC for the admin API, /metrics and the dashboard: reads and admin actions on the core.

    async stats(): Promise<NamespaceStats> {
      const core = this.getCore();
      const now = Date.now();
      const stats = namespaceStats(core, this.namespace, now);
      const gateways = this.gatewayLinks().views();
      // Clients behind gateways are this namespace's connections too; the core's own are the rest.
      const behindGateways = gateways.reduce((sum, gateway) => sum + gateway.connections, 0);
      stats.objects = this.objectRates.sample(now, [
        { role: 'core', name: this.namespace, connections: stats.connected - behindGateways, messagesIn: stats.counters.messagesReceived, messagesOut: stats.counters.messagesSent, callsIn: 0, callsOut: 0, rowsRead: this.sql.rowsRead, rowsWritten: this.sql.rowsWritten },
        // A gateway keeps nothing in SQLite: its clients' channels are in their WebSocket attachments.
        ...gateways.map((gateway) => ({ role: 'gateway' as const, name: gateway.name, connections: gateway.connections, messagesIn: gateway.framesIn, messagesOut: gateway.framesOut, callsIn: gateway.callsIn, callsOut: gateway.callsOut, rowsRead: 0, rowsWritten: 0 })),
      ]);
      return stats;
    }

    async restartObject(name: string): Promise<void> {
      this.log.log('warn', 'object_restart', { object: name });
      // Answered first, then reset: the caller learns it happened, and nothing of this instance runs on.
      this.ctx.waitUntil(
        new Promise<void>((resolve) =>
          setTimeout(() => {
            resolve();
            this.ctx.abort('restarted by the admin API');
          }, 0),
        ),
      );
    }

    // Durable Object RPC between the namespace's objects (docs/scale.md).

    async gatewayFrames(gateway: string, message: Uint8Array, live?: number[]): Promise<void> {
      await this.gatewayLinks().receive(gateway, message, live);
    }

    async gatewayDeliver(gateway: string, message: Uint8Array): Promise<number[]> {
      return this.gatewayRole(gateway).deliver(message);
    }

    async gatewayProbe(gateway: string): Promise<number[]> {
      return this.gatewayRole(gateway).liveChannels();
    }

    async gatewayReset(gateway: string, reason: string): Promise<void> {
      this.gatewayRole(gateway).closeAll(1013, reason.slice(0, 100));
    }

    /** The gateway's part, built after construction from the sockets that survived hibernation. */
    private gatewayRole(name: string): Gateway<WebSocket> {
      if (this.gateway !== undefined) return this.gateway;
      const namespace = gatewayNamespace(name);
      if (namespace === undefined) throw new Error(`"${name}" is not a gateway's name`);
      const resolved = resolve(this.env);
      this.log = consoleLogger({ component: 'edge', namespace, gateway: name }, resolved.logLevel);
      this.maxMessageBytes = resolved.limits.maxPacketSize + WebSocketMessageSlack;
      this.windows = linkWindowsOf(resolved.flow);
      const existing: Array<{ socket: WebSocket; channel: number }> = [];
      for (const ws of this.ctx.getWebSockets()) {
        const attachment = readGatewayAttachment(ws);
        if (attachment === undefined) continue;
        existing.push({ socket: ws, channel: attachment.channel });
        this.gatewayClients.set(ws, attachment);
      }
      // A stub that threw is broken for good: every later call on it fails too, so a core that restarted
      // once would keep this gateway's clients reconnecting for ever. A failed call drops it, and the next
      // call gets a new one (calls go one at a time, so their order does not rest on one stub).
      let core: BrokerNamespaceRpc | undefined;
      const coreStub = (): BrokerNamespaceRpc => (core ??= this.env.BROKER.get(this.env.BROKER.idFromName(namespace)) as unknown as BrokerNamespaceRpc);
      const frames = async (message: Uint8Array, live?: number[]): Promise<void> => {
        try {
          await coreStub().gatewayFrames(name, message, live);
        } catch (error) {
          core = undefined;
          throw error;
        }
      };
      this.gateway = new Gateway<WebSocket>(name, existing, { frames }, (error, clients) => this.log.log('warn', 'core_unreachable', { gateway: name, clients, error: describeError(error) }), {
        windows: this.windows,
        // One largest message is always let in, whatever the setting says.
        backlogBytes: Math.max(resolved.flow.gatewayClientBacklogBytes, this.maxMessageBytes),
        onOverBacklog: (channel, unsentBytes) =>
          this.log.log('warn', 'gateway_client_over_backlog', { gateway: name, channel, unsentBytes, limit: Math.max(resolved.flow.gatewayClientBacklogBytes, this.maxMessageBytes), outcome: 'ended by the core (0x96)' }),
      });
      return this.gateway;
    }

    /** The core's links to its gateways, built with the core (their devices are connections it restores). */
    private gatewayLinks(): GatewayLinks {
      this.getCore();
      return this.gateways as GatewayLinks;
    }

    private gatewayStub(gateway: string): BrokerNamespaceRpc {
      return this.env.BROKER.get(this.env.BROKER.idFromName(gateway)) as unknown as BrokerNamespaceRpc;
    }

    /** A client's WebSocket, accepted by this gateway object and carried to the core as a channel. */
    private acceptAtGateway(request: Request, name: string): Response {
      const gateway = this.gatewayRole(name);
      const pair = new WebSocketPair();
      const client = pair[0];
      const server = pair[1];
      this.ctx.acceptWebSocket(server);
      const channel = gateway.open(server, request.headers.get(InternalHeader.RemoteAddress) ?? undefined);
      const attachment: GatewayClientAttachment = { v: 1, kind: 'gateway-client', gateway: name, channel };
      server.serializeAttachment(attachment);
      this.gatewayClients.set(server, attachment);
      const protocol = request.headers.get(InternalHeader.Subprotocol);
      // The 101 must echo the chosen subprotocol, or browsers drop the connection.
      return new Response(null, { status: 101, webSocket: client, headers: protocol === null ? {} : { 'Sec-WebSocket-Protocol': protocol } });
    }

    /** The gateway attachment of a socket, if it is a gateway's client; a socket known as the core's own is not read. */
    private gatewayClientOf(ws: WebSocket): GatewayClientAttachment | undefined {
      const known = this.gatewayClients.get(ws);
      if (known !== undefined || this.connectionIds.has(ws) || this.links.has(ws)) return known;
      const attachment = readGatewayAttachment(ws);
      if (attachment !== undefined) this.gatewayClients.set(ws, attachment);
      return attachment;
    }

    private async gatewayClientMessage(attachment: GatewayClientAttachment, message: ArrayBuffer | string): Promise<void> {
      const gateway = this.gatewayRole(attachment.gateway);
      const refusal = refusalOf(message, this.maxMessageBytes);
      if (refusal !== undefined) {
        this.log.log('warn', refusal.event, { gateway: attachment.gateway, channel: attachment.channel, ...refusal.fields });
        await gateway.refuse(attachment.channel, refusal.code, refusal.reason);
        return;
      }
      // Not awaited: a client whose input waits for its share would keep thousands of events open (a flood
      // does); the object stays awake instead while anything waits for the core, so nothing queued is lost.
      void gateway.received(attachment.channel, new Uint8Array(message as ArrayBuffer));
      this.stayAwakeWhileSending(gateway);
    }

    /** A pending timer keeps an object from hibernating: one, while the gateway holds input for the core. */
    private stayAwakeWhileSending(gateway: Gateway<WebSocket>): void {
      if (this.awake !== undefined || gateway.idle) return;
      const check = (): void => {
        this.awake = gateway.idle ? undefined : setTimeout(check, StayAwakeCheckMs);
      };
      this.awake = setTimeout(check, StayAwakeCheckMs);
    }

    async listClients(limit: number): Promise<ClientSummary[]> {
      return this.getCore().listClients(limit);
    }

    async findClients(query: ClientQuery): Promise<ClientPage> {
      return this.getCore().findClients(query);
    }

    async disconnectClient(clientId: string): Promise<boolean> {
      return this.getCore().disconnectClient(clientId);
    }

    async drain(): Promise<{ disconnected: number; wills: number }> {
      const drained = await this.getCore().shutdown();
      // Returned once the DISCONNECTs are out, so that a runtime stopped next (npm start's exit) cannot cut them off.
      await this.gateways?.settled();
      await this.clientSocketsClosed(DrainCloseWaitMs);
      return drained;
    }

    /** Waits, at most `ms`, for the close handshake of every client socket of this object to finish. */
    private async clientSocketsClosed(ms: number): Promise<void> {
      const deadline = Date.now() + ms;
      const closing = (): boolean => this.ctx.getWebSockets().some((ws) => readAttachment(ws) !== undefined && ws.readyState !== WebSocketClosed);
      while (closing() && Date.now() < deadline) await new Promise<void>((resolve) => setTimeout(resolve, 10));
    }

    async listRetained(limit: number): Promise<RetainedSummary[]> {
      return this.getCore().listRetained(limit);
    }

    async deleteRetained(topic: string): Promise<boolean> {
      return this.getCore().deleteRetained(topic);
    }

    async listDeadLetters(rule: string | undefined, limit: number): Promise<{ deadLetters: DeadLetterView[]; truncated: boolean } | undefined> {
      return this.getCore().listDeadLetters(rule, limit);
    }

    async retryDeadLetters(selection: DeadLetterSelection): Promise<DeadLetterOutcome | undefined> {
      return this.getCore().retryDeadLetters(selection);
    }

    async deleteDeadLetters(selection: DeadLetterSelection): Promise<DeadLetterOutcome | undefined> {
      return this.getCore().deleteDeadLetters(selection);
    }

    async history(minutes: number): Promise<HistorySample[]> {
      return this.getCore().history(minutes);
    }

    async topics(limit: number): Promise<{ topics: TopicSummary[]; untracked: number }> {
      return this.getCore().topics(limit);
    }

    async connectionEvents(query: EventQuery): Promise<{ events: ConnectionEventEntry[]; unsaved: number }> {
      return this.getCore().connectionEvents(query);
    }

    async listSubscriptions(limit: number): Promise<SubscriptionSummary[]> {
      return this.getCore().listSubscriptions(limit);
    }

    /** The sidecars' links open now, with what each last reported of its broker bridges. */
    async quotas(): Promise<QuotaView[]> {
      return this.getCore().quotaView();
    }

    async setQuotas(changes: Record<string, unknown>): Promise<QuotaOutcome> {
      return this.getCore().setQuotas(changes);
    }

    async sidecars(): Promise<SidecarView[]> {
      this.getCore();
      return this.ctx.getWebSockets().flatMap((ws) => {
        const link = this.links.get(ws);
        return link === undefined ? [] : [link.view()];
      });
    }

    async hasStorage(): Promise<boolean> {
      return this.getCore().hasStorage;
    }

    // Durable Object RPC for the admin API's users and ACL routes: the merged view changes at once for new CONNECTs.

    async listUsers(): Promise<UserView[]> {
      return this.getRuntime().listUsers();
    }

    async putUser(username: string, hash: string): Promise<PutUserOutcome> {
      return this.getRuntime().putUser(username, hash);
    }

    async deleteUser(username: string): Promise<DeleteUserOutcome> {
      return this.getRuntime().deleteUser(username);
    }

    async listAcl(): Promise<AclEntryView[]> {
      return this.getRuntime().listAcl();
    }

    async addAcl(entry: AclEntryInput): Promise<AddAclOutcome> {
      return this.getRuntime().addAcl(entry);
    }

    async deleteAcl(id: number): Promise<boolean> {
      return this.getRuntime().deleteAcl(id);
    }

    private getRuntime(): RuntimeAccess {
      this.getCore();
      return this.runtime as RuntimeAccess;
    }

    /** Builds the core on first use after construction (cold start or wake from hibernation). */
    private getCore(): Namespace {
      if (this.core !== undefined) return this.core;
      const resolved = resolve(this.env);
      this.log = consoleLogger({ component: 'edge', namespace: this.namespace }, resolved.logLevel);
      this.maxMessageBytes = resolved.limits.maxPacketSize + WebSocketMessageSlack;
      this.windows = linkWindowsOf(resolved.flow);
      // Authentication and the ACL decide by configuration plus this namespace's runtime users and entries.
      const runtime = new RuntimeAccess(this.sql, resolved.accessFor(this.namespace).settings, () => Date.now(), () => this.core?.accessChanged());
      this.runtime = runtime;
      const core = new Namespace({
        namespace: this.namespace,
        sql: this.sql,
        onStorageCreated: () => this.rememberNamespace(),
        limits: resolved.limits,
        log: this.log,
        hooks: resolved.hooksFor(() => runtime.settings()),
        // Hooks run in this object: its bindings, and its waitUntil for work that outlives a hook.
        hookEnvironment: { env: this.env, waitUntil: (promise) => this.ctx.waitUntil(promise) },
        hookTimeoutMs: resolved.hookTimeoutMs,
        now: () => Date.now(),
        requestAlarm: (at) => this.requestAlarm(at),
        newId: () => crypto.randomUUID(),
        // Output is sent from a zero-delay timer, after the WebSocket messages already
        // queued have been handled: what they produce for one client leaves as one
        // message. Measured: p2p over WebSocket about twice the throughput, same latency
        // at 1,000 msg/s. The timer is pending only while output waits, so it never
        // keeps an idle object from hibernating.
        deferFlush: (flush: () => void) => void setTimeout(flush, 0),
        setTimer: (ms: number, callback: () => void) => void setTimeout(callback, ms),
        yieldToOthers: () => new Promise<void>((resolve) => setTimeout(resolve, 0)),
        takeover: resolved.takeover,
        rules: resolved.rules,
        logEvents: resolved.logEvents,
        // Rule targets are this object's bindings (MQTT_RULES named them; config checked they exist).
        ruleServices: { env: this.env as unknown as Record<string, unknown>, fetch: (request) => fetch(request) },
        access: runtime.policy,
        // The core publishes $SYS from alarms, and only while someone subscribes to it.
        ...(resolved.sysIntervalMs > 0 ? { systemTopics: new SysTopicsPublisher({ intervalMs: resolved.sysIntervalMs }) } : {}),
      });
      this.core = core;
      if (core.hasStorage) this.rememberNamespace();
      const connections: Array<{ state: ConnectionState; transport: Transport }> = [];
      const liveLinks = new Set<string>();
      for (const ws of this.ctx.getWebSockets()) {
        // A gateway's clients are not this core's connections (an object is one or the other).
        if (readGatewayAttachment(ws) !== undefined) continue;
        const link = readLinkAttachment(ws);
        if (link !== undefined) {
          const host = this.hostLink(ws, link);
          liveLinks.add(link.id);
          connections.push(...host.restoreDevices());
          continue;
        }
        const state = readAttachment(ws);
        if (state === undefined) {
          ws.close(1011, 'connection state lost');
          continue;
        }
        this.connectionIds.set(ws, state.id);
        connections.push({ state, transport: transportFor(ws) });
      }
      // Gateways' links have no socket: they are their devices' rows, and come back with them.
      const marker = new OutputMarker(this.sql, () => core.hasStorage, (ms, callback) => void setTimeout(callback, ms), () => Date.now());
      const gateways = new GatewayLinks(
        this.linkDeviceStore(),
        core.connectionLog,
        () => this.getCore(),
        {
          deliver: (gateway, message) => this.gatewayStub(gateway).gatewayDeliver(gateway, message),
          reset: (gateway, reason) => this.gatewayStub(gateway).gatewayReset(gateway, reason),
          probe: (gateway) => this.gatewayStub(gateway).gatewayProbe(gateway),
        },
        marker,
        this.windows,
      );
      this.gateways = gateways;
      const behindGateways = gateways.restore();
      if (behindGateways.closed > 0) {
        this.log.log('warn', 'gateway_clients_reconnect', { clients: behindGateways.closed, reason: 'the namespace restarted and may have lost what it was sending them' });
      }
      for (const id of behindGateways.linkIds) liveLinks.add(id);
      connections.push(...behindGateways.connections);
      // Devices of links that did not survive (the object restarted) are gone with them.
      this.linkDeviceStore().forgetLinksExcept(liveLinks);
      this.linkStatusStore().forgetLinksExcept(liveLinks);
      core.restore(connections);
      // Not awaited: the wake goes on while the gateways answer.
      if (behindGateways.linkIds.length > 0) this.ctx.waitUntil(gateways.probeRestored(behindGateways.linkIds));
      // Logged on every cold start and every wake from hibernation.
      this.log.log('info', 'namespace_started', { connections: connections.length, subscriptions: core.subscriptionCount });
      return core;
    }

    override async fetch(request: Request): Promise<Response> {
      const named = request.headers.get(InternalHeader.Namespace);
      if (this.ctx.id.name === undefined && named !== null && named !== this.namespace) {
        // A runtime that does not tell the name: the Worker's header does.
        this.namespace = named;
      }
      const gatewayName = request.headers.get(InternalHeader.Gateway);
      if (gatewayName !== null) return this.acceptAtGateway(request, gatewayName);
      const core = this.getCore();
      const pair = new WebSocketPair();
      const client = pair[0];
      const server = pair[1];
      this.ctx.acceptWebSocket(server);
      const remoteAddress = request.headers.get(InternalHeader.RemoteAddress) ?? undefined;
      const protocol = request.headers.get(InternalHeader.Subprotocol);
      const headers = protocol === null ? {} : { 'Sec-WebSocket-Protocol': protocol };
      if (request.headers.get(InternalHeader.Link) === '1') {
        const version = linkVersionOf(protocol ?? '') ?? 1;
        const attachment: LinkAttachment = { v: 1, kind: 'link', id: core.newId(), version, openedAt: Date.now(), ...(remoteAddress === undefined ? {} : { remoteAddress }) };
        server.serializeAttachment(attachment);
        this.hostLink(server, attachment);
        return new Response(null, { status: 101, webSocket: client, headers });
      }
      const state = core.accept(transportFor(server), {
        bridged: request.headers.get(InternalHeader.Bridged) === '1',
        ...(remoteAddress === undefined ? {} : { remoteAddress }),
      });
      this.connectionIds.set(server, state.id);
      // The 101 must echo the chosen subprotocol, or browsers drop the connection.
      return new Response(null, { status: 101, webSocket: client, headers });
    }

    private linkDeviceStore(): LinkDeviceStore {
      return (this.linkDevices ??= new LinkDeviceStore(this.sql));
    }

    private linkStatusStore(): LinkStatusStore {
      return (this.linkStatus ??= new LinkStatusStore(this.sql));
    }

    private hostLink(ws: WebSocket, attachment: LinkAttachment): LinkHost {
      const host = new LinkHost(
        attachment,
        { send: (bytes) => ws.send(bytes), close: (code, reason) => safeClose(ws, code, reason) },
        this.linkDeviceStore(),
        this.getCore().connectionLog,
        (changed) => ws.serializeAttachment(changed),
        'sidecar',
        { store: this.linkStatusStore(), now: () => Date.now() },
        this.windows,
      );
      this.links.set(ws, host);
      return host;
    }

    /** A message on a sidecar's link: frames for many devices. */
    private async linkMessage(host: LinkHost, ws: WebSocket, message: ArrayBuffer | string): Promise<void> {
      const core = this.getCore();
      if (typeof message === 'string' || message.byteLength > MaxLinkMessageBytes) {
        const problem = typeof message === 'string' ? 'a text frame' : `a message of ${message.byteLength} bytes`;
        this.log.log('warn', 'link_protocol_error', { link: host.id, sidecar: host.attachment.name, error: problem });
        safeClose(ws, typeof message === 'string' ? 1003 : 1009, `link protocol error: ${problem}`);
        this.links.delete(ws);
        await host.closeAll(core, 'network-error');
        return;
      }
      try {
        await host.receive(core, new Uint8Array(message));
      } catch (error) {
        this.log.log('error', 'link_message_failed', { link: host.id, error: describeError(error) });
      }
    }

    private linkOf(ws: WebSocket): LinkHost | undefined {
      const known = this.links.get(ws);
      if (known !== undefined) return known;
      this.getCore();
      return this.links.get(ws);
    }

    override async webSocketMessage(ws: WebSocket, message: ArrayBuffer | string): Promise<void> {
      const atGateway = this.gatewayClientOf(ws);
      if (atGateway !== undefined) return this.gatewayClientMessage(atGateway, message);
      const core = this.getCore();
      const link = this.linkOf(ws);
      if (link !== undefined) return this.linkMessage(link, ws, message);
      const id = this.connectionIdOf(ws);
      if (id === undefined) return;
      // The deployment's bound, or the namespace's quota when it is higher (the decoder holds each client to its own).
      const refusal = refusalOf(message, Math.max(this.maxMessageBytes, core.limits.maxPacketSize + WebSocketMessageSlack));
      if (refusal !== undefined) {
        this.log.log('warn', refusal.event, { connection: id, ...refusal.fields });
        safeClose(ws, refusal.code, refusal.reason);
        await core.closed(id, 'protocol-error');
        return;
      }
      try {
        // Not refused, so binary (refusalOf turns every text frame away).
        await core.receive(id, new Uint8Array(message as ArrayBuffer));
      } catch (error) {
        this.log.log('error', 'message_failed', { connection: id, error: describeError(error) });
      }
    }

    override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
      safeClose(ws, code === 1005 || code === 1006 ? 1000 : code, reason);
      const atGateway = this.gatewayClientOf(ws);
      if (atGateway !== undefined) return this.gatewayRole(atGateway.gateway).closed(atGateway.channel);
      const link = this.linkOf(ws);
      if (link !== undefined) {
        this.links.delete(ws);
        this.getCore().connectionLog.link('info', 'link.closed', { sidecar: link.attachment.name, remote: link.attachment.remoteAddress, reason, code, devices: link.deviceCount });
        await link.closeAll(this.getCore(), code === BridgeCloseCode.GoingAway ? 'server-shutdown' : 'network-error');
        return;
      }
      const id = this.connectionIdOf(ws);
      if (id === undefined) return;
      // A trusted sidecar says why its device went away.
      const cause = readAttachment(ws)?.bridged === true ? (BridgeCloseCauses.get(code) ?? 'network-error') : 'network-error';
      await this.getCore().closed(id, cause);
    }

    override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
      const atGateway = this.gatewayClientOf(ws);
      if (atGateway !== undefined) return this.gatewayRole(atGateway.gateway).closed(atGateway.channel);
      const link = this.linkOf(ws);
      if (link !== undefined) {
        this.links.delete(ws);
        this.getCore().connectionLog.link('info', 'link.closed', { sidecar: link.attachment.name, remote: link.attachment.remoteAddress, reason: describeError(error), devices: link.deviceCount });
        await link.closeAll(this.getCore(), 'network-error');
        return;
      }
      const id = this.connectionIdOf(ws);
      this.log.log('info', 'websocket_error', { kind: 'WebSocket', connection: id, error: describeError(error) });
      if (id !== undefined) await this.getCore().closed(id, 'network-error');
    }

    override async alarm(): Promise<void> {
      this.alarmAt = undefined;
      try {
        this.getCore().alarm();
      } catch (error) {
        this.log.log('error', 'alarm_failed', { error: describeError(error) });
        throw error;
      }
    }

    private connectionIdOf(ws: WebSocket): string | undefined {
      const known = this.connectionIds.get(ws);
      if (known !== undefined) return known;
      const state = readAttachment(ws);
      if (state !== undefined) this.connectionIds.set(ws, state.id);
      return state?.id;
    }

    /** One alarm per object: keep the earliest requested time. */
    private requestAlarm(at: number): void {
      if (this.alarmAt !== undefined && this.alarmAt <= at) return;
      this.alarmAt = at;
      void this.ctx.storage.setAlarm(at);
    }
  };
}

function transportFor(ws: WebSocket): Transport {
  return {
    send: (bytes) => ws.send(bytes),
    close: (kind, reason) => ws.close(WebSocketCloseCode[kind], reason),
    persist: (state) => ws.serializeAttachment(state),
  };
}

/** Attachments written by this code carry `v: 1`; anything else is not ours. A link's says `kind: 'link'`. */
function readAttachment(ws: WebSocket): ConnectionState | undefined {
  const value = ws.deserializeAttachment() as (Partial<ConnectionState> & { kind?: unknown }) | null;
  if (value === null || typeof value !== 'object' || value.v !== 1 || typeof value.id !== 'string' || value.kind !== undefined) return undefined;
  return value as ConnectionState;
}

/**
 * Why a client's WebSocket message is refused unread, if it is: MQTT over
 * WebSocket is binary only [MQTT-6.0.0-1], and a message larger than any
 * packet the namespace accepts (plus framing) is not decoded at all. Shared
 * by the core's own clients and a gateway's.
 */
function refusalOf(message: ArrayBuffer | string, maxBytes: number): { code: number; reason: string; event: string; fields: Record<string, number> } | undefined {
  if (typeof message === 'string') return { code: 1003, reason: 'MQTT needs binary frames', event: 'text_frame', fields: {} };
  if (message.byteLength > maxBytes) return { code: 1009, reason: 'message larger than the maximum packet size', event: 'message_too_large', fields: { bytes: message.byteLength, limit: maxBytes } };
  return undefined;
}

function readGatewayAttachment(ws: WebSocket): GatewayClientAttachment | undefined {
  const value = ws.deserializeAttachment() as Partial<GatewayClientAttachment> | null;
  if (value === null || typeof value !== 'object' || value.v !== 1 || value.kind !== 'gateway-client' || typeof value.gateway !== 'string' || typeof value.channel !== 'number') return undefined;
  return value as GatewayClientAttachment;
}

function readLinkAttachment(ws: WebSocket): LinkAttachment | undefined {
  const value = ws.deserializeAttachment() as Partial<LinkAttachment> | null;
  if (value === null || typeof value !== 'object' || value.v !== 1 || value.kind !== 'link' || typeof value.id !== 'string') return undefined;
  return value as LinkAttachment;
}

function safeClose(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed: the runtime may have completed the close handshake itself.
  }
}
