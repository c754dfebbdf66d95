import type { CloseKind } from '../../shared/close-kinds.ts';

export { WebSocketCloseCode, type CloseKind } from '../../shared/close-kinds.ts';

/** Why a connection ended; the onDisconnect hook and the logs see it. */
export type CloseCause =
  | 'client-disconnect'
  | 'keepalive-timeout'
  | 'protocol-error'
  | 'network-error'
  | 'takeover'
  | 'server-shutdown'
  | 'connect-timeout'
  | 'refused'
  | 'admin';

/** The close kind a server-initiated close takes for its cause. */
export function closeKindOf(cause: CloseCause): CloseKind {
  if (cause === 'protocol-error') return 'protocol-error';
  if (cause === 'server-shutdown') return 'going-away';
  return 'normal';
}
