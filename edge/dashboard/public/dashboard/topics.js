// The topic tree: the namespace's busiest recent topics (a bounded list
// with rates, see edge/core/topic-rates.ts) folded into levels, each level
// sorted by the sum of the rates below it.
import { api, isUnauthorized } from './api.js';
import { $, badge, el, setText } from './dom.js';
import { fmtInt, fmtRate } from './format.js';

export async function loadTopics(showError) {
  try {
    const data = await api('/topics?limit=256');
    renderTopics(data);
  } catch (error) {
    if (isUnauthorized(error)) return;
    showError('Could not read the topics: ' + error.message);
  }
}

/** Topics into a tree: { children: Map(level → node), rate, messages, topic?, retained? }. */
function buildTree(topics) {
  const root = { children: new Map(), rate: 0, messages: 0 };
  for (const entry of topics) {
    let node = root;
    node.rate += entry.rate;
    node.messages += entry.messages;
    for (const level of entry.topic.split('/')) {
      let child = node.children.get(level);
      if (!child) {
        child = { children: new Map(), rate: 0, messages: 0 };
        node.children.set(level, child);
      }
      child.rate += entry.rate;
      child.messages += entry.messages;
      node = child;
    }
    node.topic = entry.topic;
    node.retained = entry.retained;
    node.ownRate = entry.rate;
  }
  return root;
}

function renderTopics(data) {
  const tree = $('topics-tree');
  setText('topics-count', data.topics.length + (data.untracked ? ' tracked, ' + fmtInt(data.untracked) + ' messages on topics past the limit' : ' active'));
  if (data.topics.length === 0) {
    tree.replaceChildren(el('li', { class: 'empty', text: 'No messages published recently.' }));
    return;
  }
  const root = buildTree(data.topics);
  // Remember which branches were closed, by path, across refreshes.
  const closed = new Set([...tree.querySelectorAll('details:not([open])')].map((d) => d.getAttribute('data-path')));
  tree.replaceChildren(...renderLevel(root, '', root.rate || 1, closed));
}

function renderLevel(node, prefix, maxRate, closed) {
  const entries = [...node.children.entries()].sort((a, b) => b[1].rate - a[1].rate || (a[0] < b[0] ? -1 : 1));
  return entries.map(([level, child]) => {
    const path = prefix ? prefix + '/' + level : level;
    const line = nodeLine(level === '' ? '(empty level)' : level, child, maxRate, path);
    if (child.children.size === 0) return el('li', null, [line]);
    const details = el('details', { 'data-path': path, open: !closed.has(path) }, [el('summary', null, [line]), el('ul', null, renderLevel(child, path, maxRate, closed))]);
    return el('li', null, [details]);
  });
}

function nodeLine(name, node, maxRate, path) {
  const parts = [el('span', { class: 'name', text: name, title: path })];
  if (node.topic !== undefined && node.retained) parts.push(badge('retained'));
  const width = Math.max(2, Math.round((node.rate / maxRate) * 80));
  parts.push(el('span', { class: 'rate', text: fmtRate(node.rate) + '/s · ' + fmtInt(node.messages), title: 'messages per second · messages counted' }));
  const bar = el('span', { class: 'bar' });
  bar.style.width = width + 'px';
  parts.push(bar);
  return el('div', { class: 'node', 'data-topic': node.topic }, parts);
}

export function setupTopics(showError) {
  $('topics-refresh').addEventListener('click', () => loadTopics(showError));
}
