// DOM helpers. Everything the dashboard shows that came from clients (ids,
// topics, payloads, usernames, error text) goes through textContent or an
// attribute set with setAttribute: never through innerHTML.

/**
 * The element with that id. Typed loosely on purpose: the ids are the page's
 * own (index.html), and each is an input, a button or a container as used.
 * @type {(id: string) => any}
 */
export const $ = (id) => document.getElementById(id);

/** The element `selector` finds, typed as loosely as `$`. @type {(selector: string) => any} */
export const find = (selector) => document.querySelector(selector);

/** An element with properties (`text` is textContent, `class`, `data-*` and `aria-*` are attributes) and children. */
export function el(tag, props, children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null) continue;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'class') node.className = value;
      else if (key.startsWith('data-') || key.startsWith('aria-')) node.setAttribute(key, String(value));
      else node[key] = value;
    }
  }
  if (children) for (const child of children) if (child) node.appendChild(child);
  return node;
}

/** A table cell; `label` names it in the phone layout (one card per row). */
export function cell(label, text, cls) {
  return el('td', { 'data-label': label, text: text == null ? '' : String(text), class: cls || '' });
}

/**
 * Text that may be long (a client id can be 64 KiB): one line, cut with an
 * ellipsis by the stylesheet, the whole of it in the tooltip. Nothing for
 * no text, so that an empty cell is empty (a phone's card leaves it out).
 */
export function clipped(tag, text) {
  return text ? el(tag, { class: 'clip', text, title: text }) : null;
}

/** A second, quieter line under a value (what went wrong, in words), clipped as above; nothing for no text. */
export function subLine(text) {
  return text ? el('div', { class: 'sub clip', text, title: text }) : null;
}

export function setText(id, text) {
  const node = $(id);
  if (node.textContent !== text) node.textContent = text;
}

/** Replaces a table body's rows, or shows `emptyText` across `columns` when there are none. */
export function fillTable(bodyId, rows, columns, emptyText) {
  const body = $(bodyId);
  const content = rows.length > 0 ? rows : [el('tr', { class: 'empty' }, [el('td', { colSpan: columns, text: emptyText })])];
  body.replaceChildren(...content);
}

export function badge(text, kind, title) {
  return el('span', { class: kind ? 'badge ' + kind : 'badge', text, title });
}

export function button(text, cls, onClick) {
  const node = el('button', { type: 'button', class: cls, text });
  node.addEventListener('click', onClick);
  return node;
}
