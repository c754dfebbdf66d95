/** The Worker's environment: its settings plus the namespace Durable Object binding. */
import type { EdgeVars } from './config.ts';

export interface EdgeEnv extends EdgeVars {
  BROKER: DurableObjectNamespace;
  /** The dashboard's static files (wrangler.toml `[assets]`); absent in a Worker that does not ship them. */
  ASSETS?: Fetcher;
}
