/**
 * The admin API's users and ACL routes (see admin-api.ts for the others):
 *
 * | route | answer |
 * |---|---|
 * | `GET /admin/<ns>/users` | `{ namespace, users: [{ username, source, createdAt?, updatedAt?, shadowedByConfig? }] }` |
 * | `PUT /admin/<ns>/users/<name>` `{ "password" }` | 201 created / 200 updated; 409 for a configured user |
 * | `DELETE /admin/<ns>/users/<name>` | 200; 404 if no runtime user has that name; 409 for a configured one |
 * | `GET /admin/<ns>/acl` | `{ namespace, entries: [{ id?, username, pattern, access, topic, source }] }` |
 * | `POST /admin/<ns>/acl` `{ username?, pattern?, access, topic }` | 201 `{ namespace, id, ... }` (200 if the same entry exists) |
 * | `DELETE /admin/<ns>/acl/<id>` | 200; 404 if there is none |
 *
 * The password is hashed here, in the Worker, with a fresh random salt
 * (`$7$`, PBKDF2-SHA512, as mosquitto_passwd writes it): the namespace's
 * object stores and sees only the hash.
 */
import { checkAclEntryBody, checkPasswordBody, checkUsername } from '../auth/runtime-users.ts';
import { createPbkdf2Hash, formatPasswordHash } from '../auth/password-hash.ts';
import type { BrokerNamespaceRpc } from '../broker-types.ts';
import type { Logger } from '../core/log.ts';
import { jsonError, jsonResponse, MaxAdminBodyBytes } from './http.ts';
import { readJsonBody } from './json-body.ts';

export type UsersAction = { kind: 'users' } | { kind: 'user'; username: string } | { kind: 'acl' } | { kind: 'aclEntry'; id: string };

export const usersAllowedMethods: Record<UsersAction['kind'], string[]> = {
  users: ['GET'],
  user: ['PUT', 'DELETE'],
  acl: ['GET', 'POST'],
  aclEntry: ['DELETE'],
};

/** `users`, `users/<name>`, `acl`, `acl/<id>`; undefined for none of them, null for a name that is not valid percent-encoding. */
export function parseUsersAction(parts: string[]): UsersAction | undefined | null {
  if (parts.length === 1 && parts[0] === 'users') return { kind: 'users' };
  if (parts.length === 1 && parts[0] === 'acl') return { kind: 'acl' };
  if (parts.length === 2 && parts[0] === 'acl' && parts[1] !== undefined && parts[1] !== '') return { kind: 'aclEntry', id: parts[1] };
  if (parts.length === 2 && parts[0] === 'users' && parts[1] !== undefined && parts[1] !== '') {
    try {
      return { kind: 'user', username: decodeURIComponent(parts[1]) };
    } catch {
      return null;
    }
  }
  return undefined;
}

/** Bodies are small: a password, or one ACL line. */
const MaxBodyBytes = MaxAdminBodyBytes;

export async function handleUsersAction(
  request: Request,
  method: string,
  action: UsersAction,
  stub: BrokerNamespaceRpc,
  namespace: string,
  log: Logger,
): Promise<Response> {
  switch (action.kind) {
    case 'users':
      return jsonResponse(200, { namespace, users: await stub.listUsers() });
    case 'user':
      return method === 'PUT' ? putUser(request, stub, namespace, action.username, log) : deleteUser(stub, namespace, action.username, log);
    case 'acl':
      return method === 'GET' ? jsonResponse(200, { namespace, entries: await stub.listAcl() }) : addAcl(request, stub, namespace, log);
    case 'aclEntry':
      return deleteAcl(stub, namespace, action.id, log);
  }
}

async function putUser(request: Request, stub: BrokerNamespaceRpc, namespace: string, username: string, log: Logger): Promise<Response> {
  const problem = checkUsername(username);
  if (problem !== undefined) return jsonError(400, problem);
  const body = await readJsonBody(request, MaxBodyBytes);
  if (!body.ok) return jsonError(body.status, body.error);
  const password = checkPasswordBody(body.value);
  if (!password.ok) return jsonError(400, password.error);
  const hash = formatPasswordHash(await createPbkdf2Hash(password.value));
  const outcome = await stub.putUser(username, hash);
  if (outcome === 'configured') return jsonError(409, `user "${username}" is configured (MQTT_PASSWORDS): the configuration wins, change it there`);
  if (outcome === 'full') return jsonError(409, `namespace "${namespace}" has the most runtime users it may have`);
  log.log('info', 'admin_user_saved', { namespace, username, created: outcome === 'created' });
  return jsonResponse(outcome === 'created' ? 201 : 200, { namespace, username, source: 'runtime', created: outcome === 'created' });
}

async function deleteUser(stub: BrokerNamespaceRpc, namespace: string, username: string, log: Logger): Promise<Response> {
  const outcome = await stub.deleteUser(username);
  if (outcome === 'configured') return jsonError(409, `user "${username}" is configured (MQTT_PASSWORDS): remove it there`);
  if (outcome === 'missing') return jsonError(404, `no runtime user "${username}" in namespace "${namespace}"`);
  log.log('info', 'admin_user_deleted', { namespace, username });
  return jsonResponse(200, { namespace, username, deleted: true });
}

async function addAcl(request: Request, stub: BrokerNamespaceRpc, namespace: string, log: Logger): Promise<Response> {
  const body = await readJsonBody(request, MaxBodyBytes);
  if (!body.ok) return jsonError(body.status, body.error);
  const checked = checkAclEntryBody(body.value);
  if (!checked.ok) return jsonError(400, checked.error);
  const outcome = await stub.addAcl(checked.value);
  if (outcome.kind === 'full') return jsonError(409, `namespace "${namespace}" has the most runtime ACL entries it may have`);
  if (outcome.kind === 'created') log.log('info', 'admin_acl_added', { namespace, id: outcome.entry.id, username: outcome.entry.username, access: outcome.entry.access, topic: outcome.entry.topic });
  return jsonResponse(outcome.kind === 'created' ? 201 : 200, { namespace, ...outcome.entry, source: 'runtime' });
}

async function deleteAcl(stub: BrokerNamespaceRpc, namespace: string, idText: string, log: Logger): Promise<Response> {
  if (!/^[1-9][0-9]{0,14}$/.test(idText)) return jsonError(400, `"${idText}" is not an ACL entry id (a positive integer; configured entries have none)`);
  const id = Number(idText);
  if (!(await stub.deleteAcl(id))) return jsonError(404, `no runtime ACL entry ${id} in namespace "${namespace}"`);
  log.log('info', 'admin_acl_deleted', { namespace, id });
  return jsonResponse(200, { namespace, id, deleted: true });
}
