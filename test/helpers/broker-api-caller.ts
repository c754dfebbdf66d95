/**
 * Another Worker that calls the edge's BrokerApi over a service binding, as
 * a user's own Worker would: POST `{ method?, namespace, message? }` to it
 * (`method` "publish", the default, or "stats"; the message's `payload` as
 * text, sent as bytes). It answers `published` / the stats as JSON, or 400
 * `refused: <the error's message>`.
 */
import type { Miniflare, WorkerOptions } from 'miniflare';

export const BrokerApiCallerName = 'caller';

export function brokerApiCaller(): WorkerOptions {
  return {
    name: BrokerApiCallerName,
    modules: true,
    compatibilityDate: '2026-04-20',
    script: `export default {
      async fetch(request, env) {
        const { method = 'publish', namespace, message } = await request.json();
        try {
          if (method === 'stats') return Response.json(await env.BROKER_API.stats(namespace));
          await env.BROKER_API.publish(namespace, { ...message, payload: new TextEncoder().encode(message.payload) });
        } catch (error) {
          return new Response('refused: ' + error.message, { status: 400 });
        }
        return new Response('published');
      },
    };`,
    serviceBindings: { BROKER_API: { name: 'edge', entrypoint: 'BrokerApi' } },
  };
}

/** Calls the BrokerApi through the caller Worker; the answer's text. */
export async function callBrokerApi(miniflare: Miniflare, call: { method?: 'publish' | 'stats'; namespace: string; message?: { topic: string; payload: string; qos?: number; retain?: boolean } }): Promise<string> {
  const caller = await miniflare.getWorker(BrokerApiCallerName);
  const response = await caller.fetch('http://caller/', { method: 'POST', body: JSON.stringify(call) });
  return response.text();
}
