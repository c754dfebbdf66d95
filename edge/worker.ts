/**
 * This project's own deployment: the broker configured only through
 * wrangler.toml [vars] and secrets. Your own Worker can do the same with
 * hooks in code (see define-broker.ts and docs/define-broker.md).
 */
import { defineBroker } from './define-broker.ts';

const broker = defineBroker();

export const BrokerNamespace = broker.BrokerNamespace;
export const BrokerApi = broker.BrokerApi;
export default broker.worker;
