// The namespace's Durable Objects (MQTT_GATEWAYS > 1): its core and the
// gateways that hold its clients, from the `objects` of GET /admin/<ns>/stats.
// Hidden for a namespace of one object.
import { $, cell, el, fillTable, find, setText } from './dom.js';
import { fmtInt } from './format.js';

export function renderObjects(stats) {
  const objects = Array.isArray(stats.objects) ? stats.objects : [];
  const shown = objects.length > 1;
  $('objects-panel').hidden = !shown;
  find('#sections a[href="#objects-panel"]').hidden = !shown;
  if (!shown) return;
  setText('objects-count', String(objects.length));
  const rows = objects.map((object) =>
    el('tr', {}, [
      cell('Role', object.role),
      cell('Object', object.name, 'mono'),
      cell('Connections', fmtInt(object.connections), 'num'),
      cell('In /s', fmtRate(object.rates && object.rates.messagesIn), 'num'),
      cell('Out /s', fmtRate(object.rates && object.rates.messagesOut), 'num'),
      cell('Calls in /s', object.role === 'gateway' ? fmtRate(object.rates && object.rates.callsIn) : '', 'num'),
      cell('Calls out /s', object.role === 'gateway' ? fmtRate(object.rates && object.rates.callsOut) : '', 'num'),
    ]),
  );
  fillTable('objects-body', rows, 7, 'No objects.');
}

function fmtRate(value) {
  return typeof value === 'number' ? (value >= 100 ? fmtInt(Math.round(value)) : value.toFixed(1)) : '–';
}
