// A panel for a route the broker may not have (an older one, or one built
// without it): shown, with its section link, only while the route answers
// with what the panel reads; hidden while it answers 404.
import { api, isUnauthorized } from './api.js';
import { $, find } from './dom.js';

/**
 * Reads `path` for the panel `panelId`. Resolves with the answer when it is
 * one `isShown` accepts (the panel is then shown), with undefined otherwise:
 * no such route, or a refused token (which signs the page out by itself).
 */
export async function loadPanel(path, panelId, isShown) {
  let data;
  try {
    data = await api(path, { optional: true });
  } catch (error) {
    if (isUnauthorized(error)) return undefined;
    throw error;
  }
  const shown = data !== null && isShown(data);
  $(panelId).hidden = !shown;
  find('#sections a[href="#' + panelId + '"]').hidden = !shown;
  return shown ? data : undefined;
}
