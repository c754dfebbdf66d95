/** UNSUBSCRIBE: remove each filter; 5.0 reports per filter whether it existed. */
import type { UnsubscribePacket } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import type { BrokerCore } from '../core/broker.ts';
import type { ClientLink } from '../core/link.ts';

export async function handleUnsubscribe(broker: BrokerCore, link: ClientLink, packet: UnsubscribePacket): Promise<void> {
  const clientId = link.state.clientId as string;
  const codes: number[] = [];
  const existing = new Map(broker.store.subscriptionsOf(clientId).map((entry) => [entry.filter, entry]));
  const onUnsubscribe = broker.deps.hooks.onUnsubscribe;
  for (const filter of packet.unsubscriptions) {
    if (onUnsubscribe !== undefined) {
      const context = { ...broker.clientInfo(link), filter };
      // Informational: the unsubscribe happens whatever the hook does.
      await broker.runHook('onUnsubscribe', clientId, () => onUnsubscribe(context));
    }
    const entry = existing.get(filter);
    if (entry !== undefined && broker.store.deleteSubscription(clientId, filter)) {
      broker.removeFromTree(entry);
      existing.delete(filter);
      codes.push(ReasonCode.Success);
    } else {
      codes.push(ReasonCode.NoSubscriptionExisted);
    }
  }
  if (link.isV5) link.write({ cmd: 'unsuback', messageId: packet.messageId as number, granted: codes });
  else link.write({ cmd: 'unsuback', messageId: packet.messageId as number, granted: [] });
  broker.markDirty(link);
}
