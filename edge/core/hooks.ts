/**
 * User hooks of the broker. Each may be sync or async; the core awaits them
 * in packet order per client. (The full user API — authentication,
 * access control, limits — builds on these.)
 */
import type { ProtocolLevel } from '../../shared/codec/types.ts';
import type { CloseCause } from './broker.ts';

export interface ConnectContext {
  namespace: string;
  clientId: string;
  username?: string;
  password?: Uint8Array;
  protocolLevel: ProtocolLevel;
  remoteAddress?: string;
}

export type AuthDecision = { allow: true } | { allow: false; reason: 'bad-credentials' | 'not-authorized' };

export interface DisconnectContext {
  namespace: string;
  clientId: string;
  cause: CloseCause;
}

export interface BrokerHooks {
  authenticate?(ctx: ConnectContext): AuthDecision | Promise<AuthDecision>;
  onConnect?(ctx: ConnectContext): void | Promise<void>;
  onDisconnect?(ctx: DisconnectContext): void;
}
