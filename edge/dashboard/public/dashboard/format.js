// Number, size, time and duration formats shared by the panels.

const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });

export function fmtInt(n) {
  return integer.format(n);
}

export function fmtRate(n) {
  if (n >= 100) return integer.format(n);
  return n.toFixed(n >= 10 ? 1 : 2).replace(/\.?0+$/, '') || '0';
}

export function fmtBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? integer.format(n) : n.toFixed(n >= 100 ? 0 : 1)) + ' ' + units[i];
}

export function fmtDuration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
  if (d > 0) return d + 'd ' + h + 'h';
  if (h > 0) return h + 'h ' + m + 'm';
  if (m > 0) return m + 'm ' + s + 's';
  return s + 's';
}

export function fmtTime(ms) {
  return new Date(ms).toLocaleTimeString();
}

/** A moment: the time of day if it was today, else the date as well. */
export function fmtWhen(ms) {
  const date = new Date(ms);
  return date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleString();
}

export function fmtSince(ms) {
  if (!ms) return '';
  return fmtDuration(Math.max(0, (Date.now() - ms) / 1000)) + ' ago';
}

/** Session expiry as MQTT 5 means it: 0 ends with the connection, 0xFFFFFFFF never. */
export function fmtExpiry(seconds) {
  if (seconds === undefined) return '';
  if (seconds === 0) return 'with the connection';
  if (seconds >= 0xffffffff) return 'never';
  return fmtDuration(seconds);
}

export const protocolNames = { 3: '3.1', 4: '3.1.1', 5: '5.0' };
