// Users and ACL entries, when the broker keeps them at runtime: each part
// stays hidden while its route answers 404 (GET /admin/<ns>/users, /acl).
// Entries from configuration are shown but only runtime ones can be removed.
import { api, isUnauthorized } from './api.js';
import { $, badge, button, cell, el, fillTable, find, setText } from './dom.js';

/** @type {(message: string) => void} */
let showError = () => {};

export async function loadUsersAndAcl() {
  const [users, acl] = await Promise.all([
    api('/users', { optional: true }).catch(passUnauthorized),
    api('/acl', { optional: true }).catch(passUnauthorized),
  ]);
  const hasUsers = users !== null && users !== undefined && Array.isArray(users.users);
  const hasAcl = acl !== null && acl !== undefined && Array.isArray(acl.entries);
  $('users-part').hidden = !hasUsers;
  $('acl-part').hidden = !hasAcl;
  $('users-panel').hidden = !hasUsers && !hasAcl;
  find('#sections a[href="#users-panel"]').hidden = !hasUsers && !hasAcl;
  if (hasUsers) renderUsers(users.users);
  if (hasAcl) renderAcl(acl.entries);
}

function passUnauthorized(error) {
  if (isUnauthorized(error)) return undefined;
  throw error;
}

function renderUsers(users) {
  setText('users-count', String(users.length));
  const rows = users.map((user) => {
    const actions = el('td', { class: 'actions' });
    if (user.source === 'runtime') {
      const remove = button('Delete', 'small danger', () => deleteUser(user.username, remove));
      remove.setAttribute('data-user', user.username);
      actions.appendChild(remove);
    }
    return el('tr', null, [
      cell('Username', user.username, 'mono'),
      el('td', { 'data-label': 'Source' }, [badge(user.source, user.source === 'runtime' ? 'on' : '')]),
      cell('Updated', user.updatedAt || user.createdAt ? new Date(user.updatedAt || user.createdAt).toLocaleString() : ''),
      actions,
    ]);
  });
  fillTable('users-body', rows, 4, 'No users.');
}

function renderAcl(entries) {
  setText('acl-count', String(entries.length));
  const rows = entries.map((entry) => {
    const actions = el('td', { class: 'actions' });
    if (entry.source === 'runtime') {
      const remove = button('Delete', 'small danger', () => deleteAclEntry(entry, remove));
      remove.setAttribute('data-acl', String(entry.id));
      actions.appendChild(remove);
    }
    const who = entry.pattern ? 'pattern (every client)' : entry.username === null ? 'clients without a username' : entry.username;
    return el('tr', null, [
      cell('Who', who, entry.username === null ? 'muted' : 'mono'),
      el('td', { 'data-label': 'Access' }, [badge(entry.access, entry.access === 'deny' ? 'warn' : '')]),
      cell('Topic', entry.topic, 'mono'),
      el('td', { 'data-label': 'Source' }, [badge(entry.source, entry.source === 'runtime' ? 'on' : '')]),
      actions,
    ]);
  });
  fillTable('acl-body', rows, 5, 'No access rules: everything is allowed.');
}

async function act(call, errorId) {
  $(errorId).textContent = '';
  try {
    await call();
  } catch (error) {
    if (!isUnauthorized(error)) $(errorId).textContent = error.message;
  }
  await loadUsersAndAcl().catch((error) => showError(error.message));
}

function deleteUser(username, node) {
  if (!confirm('Delete user "' + username + '"?')) return;
  node.disabled = true;
  return act(() => api('/users/' + encodeURIComponent(username), { method: 'DELETE' }), 'users-error');
}

function deleteAclEntry(entry, node) {
  if (!confirm('Delete the rule "' + entry.access + ' ' + entry.topic + '"?')) return;
  node.disabled = true;
  return act(() => api('/acl/' + encodeURIComponent(String(entry.id)), { method: 'DELETE' }), 'acl-error');
}

export function setupUsersAndAcl(onError) {
  showError = onError;
  $('user-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const username = $('user-name').value.trim();
    const password = $('user-password').value;
    if (!username || !password) return;
    act(() => api('/users/' + encodeURIComponent(username), { method: 'PUT', body: { password } }), 'users-error').then(() => {
      $('user-password').value = '';
    });
  });
  $('acl-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const body = { access: $('acl-access').value, topic: $('acl-topic').value.trim() };
    const username = $('acl-username').value.trim();
    if (username) body.username = username;
    if ($('acl-pattern').checked) body.pattern = true;
    if (!body.topic) return;
    act(() => api('/acl', { method: 'POST', body }), 'acl-error');
  });
}
