/** PINGREQ: answered with PINGRESP [MQTT-3.12.4-1]; that it arrived already counted for keep-alive. */
import type { ClientLink } from '../core/link.ts';
import type { ProtocolContext } from './context.ts';

export function handlePingreq(ctx: ProtocolContext, link: ClientLink): void {
  link.write({ cmd: 'pingresp' });
  ctx.markDirty(link);
}
