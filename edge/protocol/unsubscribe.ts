/** UNSUBSCRIBE: remove each filter; 5.0 reports per filter whether it existed. */
import type { UnsubscribePacket } from '../../shared/codec/types.ts';
import { ReasonCode } from '../../shared/reason-codes.ts';
import type { ClientLink } from '../core/link.ts';
import type { ProtocolContext } from './context.ts';
import { wellFormedFilter } from './subscribe.ts';

export async function handleUnsubscribe(ctx: ProtocolContext, link: ClientLink, packet: UnsubscribePacket): Promise<void> {
  const clientId = link.state.clientId as string;
  const codes: number[] = [];
  const existing = new Map(ctx.store.subscriptionsOf(clientId).map((entry) => [entry.filter, entry]));
  const onUnsubscribe = ctx.hooks.onUnsubscribe;
  for (const filter of packet.unsubscriptions) wellFormedFilter(link, filter);
  for (const filter of packet.unsubscriptions) {
    if (onUnsubscribe !== undefined) {
      const context = { ...ctx.clientInfo(link), filter };
      // Informational: the unsubscribe happens whatever the hook does.
      await ctx.runHook('onUnsubscribe', clientId, () => onUnsubscribe(context));
    }
    const entry = existing.get(filter);
    if (entry !== undefined && ctx.removeSubscription(entry)) {
      existing.delete(filter);
      codes.push(ReasonCode.Success);
    } else {
      codes.push(ReasonCode.NoSubscriptionExisted);
    }
  }
  // 3.1.1 UNSUBACK carries no codes [MQTT-3.11.3].
  link.write({ cmd: 'unsuback', messageId: packet.messageId as number, granted: link.isV5 ? codes : [] });
  ctx.markDirty(link);
  if (ctx.connectionLog.wants('unsubscribe')) {
    packet.unsubscriptions.forEach((filter, index) => ctx.connectionLog.event('info', 'client.unsubscribed', link.state, { filter, code: codes[index] }));
  }
}
