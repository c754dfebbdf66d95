// The live numbers (cards) and the traffic chart: live from the stats the
// page polls, or per minute from the namespace's own history (the last hour
// or day), which is there as soon as the page opens.
import { api } from './api.js';
import { drawChart } from './chart.js';
import { $, setText } from './dom.js';
import { fmtBytes, fmtDuration, fmtInt, fmtRate } from './format.js';

const LiveSpanMs = 5 * 60 * 1000;
const MinuteMs = 60_000;
const PartialMinuteMs = 20_000;
/** The axes' titles, with their units. */
const Axes = { rateTitle: 'messages / s', countTitle: 'clients connected' };

/** `historyAt`: the broker's time when the history was read (its newest minute is measured up to then). */
const state = { samples: [], history: [], historyAt: 0, range: '60', lastStats: null, clockOffset: 0 };

export function resetTraffic() {
  state.samples = [];
  state.history = [];
  state.lastStats = null;
}

/** A stats answer: the cards, and one point of the live chart. */
export function addLiveSample(stats) {
  state.lastStats = stats;
  // The broker's clock against this browser's, to tell the broker's time when the history arrives.
  state.clockOffset = stats.now - Date.now();
  const samples = state.samples;
  const last = samples[samples.length - 1];
  const sample = { t: stats.now, connected: stats.connected, c: stats.counters, inRate: 0, outRate: 0, bytesIn: 0, bytesOut: 0 };
  if (last && stats.now - last.t < 1000) {
    // Too close to the last sample for a meaningful rate (e.g. right after signing in).
    renderCards(stats, last, samples.length > 1);
    return;
  }
  if (last) {
    const dt = (stats.now - last.t) / 1000;
    const rate = (name) => Math.max(0, stats.counters[name] - last.c[name]) / dt;
    sample.inRate = rate('messagesReceived');
    sample.outRate = rate('messagesSent');
    sample.bytesIn = rate('bytesReceived');
    sample.bytesOut = rate('bytesSent');
  }
  samples.push(sample);
  while (samples.length > 2 && samples[0].t < stats.now - LiveSpanMs) samples.shift();
  renderCards(stats, sample, samples.length > 1);
  if (state.range === 'live') renderChart();
}

/** Reads the per-minute history for the chart's range (not needed for the live view). */
export async function loadHistory() {
  if (state.range === 'live') return;
  const data = await api('/history?minutes=' + state.range);
  state.history = data.samples;
  state.historyAt = Date.now() + state.clockOffset;
  renderChart();
}

function renderCards(stats, sample, hasRates) {
  const c = stats.counters;
  setText('version', 'edge-mqtt-broker ' + stats.version);
  setText('stat-connected', fmtInt(stats.connected));
  setText('stat-connected-sub', fmtInt(stats.sessions) + (stats.sessions === 1 ? ' session' : ' sessions') + ' · max ' + fmtInt(c.clientsMaximum));
  setText('stat-in-rate', hasRates ? fmtRate(sample.inRate) : '–');
  setText('stat-out-rate', hasRates ? fmtRate(sample.outRate) : '–');
  setText('stat-in-total', fmtInt(c.messagesReceived));
  setText('stat-out-total', fmtInt(c.messagesSent));
  setText('stat-publish', fmtInt(c.publishReceived) + ' / ' + fmtInt(c.publishSent));
  setText('stat-dropped', fmtInt(c.publishDropped));
  setText('stat-bytes-in', hasRates ? fmtBytes(sample.bytesIn) : '–');
  setText('stat-bytes-out', hasRates ? fmtBytes(sample.bytesOut) : '–');
  setText('stat-bytes-in-total', fmtBytes(c.bytesReceived) + ' total');
  setText('stat-bytes-out-total', fmtBytes(c.bytesSent) + ' total');
  setText('stat-subscriptions', fmtInt(stats.subscriptions));
  setText('stat-retained', fmtInt(stats.retained));
  // The core's memory, estimated (workerd gives no heap figure): of the isolate's 128 MB, and what fills it most.
  if (stats.memory) {
    const m = stats.memory;
    const share = m.estimatedBytes / m.limitBytes;
    setText('stat-memory', Math.round(share * 100) + '%');
    const [part] = Object.entries(m.parts).filter(([name]) => name !== 'base').sort((a, b) => b[1] - a[1]);
    setText('stat-memory-sub', fmtBytes(m.estimatedBytes) + ' of ' + fmtBytes(m.limitBytes) + (part && part[1] > 0 ? ' · most: ' + part[0] : ''));
    $('memory-card').classList.toggle('alert', share > 0.75);
  }
  // Stalls and drops: the watchdog's current view first, then the totals since the namespace began.
  // Then the fair share: clients slowed while the namespace is behind (docs/flow-control.md).
  const slowed = stats.flow ? stats.flow.slowedClients : 0;
  if (stats.stalled > 0) {
    setText('stat-health', fmtInt(stats.stalled) + ' stalled');
    setText('stat-health-sub', 'clients stalled now');
  } else if (slowed > 0) {
    setText('stat-health', fmtInt(slowed) + ' slowed');
    setText('stat-health-sub', 'behind ' + (stats.flow.behindMs < 1000 ? Math.round(stats.flow.behindMs) + ' ms' : fmtDuration(stats.flow.behindMs / 1000)) + ' · ' + fmtBytes(stats.flow.pendingBytes) + ' waiting');
  } else {
    setText('stat-health', fmtInt(c.stallsDetected) + ' / ' + fmtInt(c.publishDropped));
    setText('stat-health-sub', 'all time · up ' + fmtDuration(stats.uptimeSeconds));
  }
  $('health-card').classList.toggle('alert', stats.stalled > 0 || slowed > 0);
}

export function renderChart() {
  const view = state.range === 'live' ? liveView() : historyView(Number(state.range));
  setText('chart-span', view.title);
  setText('chart-note', view.note || '');
  drawChart($('chart'), view);
}

function liveView() {
  const samples = state.samples;
  const last = samples[samples.length - 1];
  const end = last ? last.t : Date.now();
  // The window grows with what this page has seen, from one minute up to five.
  const seen = samples.length ? end - samples[0].t : 0;
  const span = [60000, 120000, 180000, LiveSpanMs].find((s) => s >= seen) || LiveSpanMs;
  const tick = span <= 60000 ? 15000 : span <= 120000 ? 30000 : 60000;
  const ticks = [];
  for (let ago = span; ago >= 0; ago -= tick) ticks.push({ t: end - ago, label: ago === 0 ? 'now' : '-' + (ago % 60000 === 0 ? ago / 60000 + 'm' : ago / 1000 + 's') });
  return {
    title: span === 60000 ? 'live, last minute' : 'live, last ' + span / 60000 + ' minutes',
    start: end - span,
    end,
    points: samples.slice(1).map((s) => ({ t: s.t, inRate: s.inRate, outRate: s.outRate, connected: s.connected, flagged: false })),
    ticks,
    emptyText: 'collecting…',
    note: '',
    ...Axes,
  };
}

/**
 * One point per minute; a whole minute without a sample had no traffic and
 * kept its connections. The minute under way is not a whole minute: its
 * point is marked partial (drawn apart, dashed), at the rate of the seconds
 * it has had, once it has had PartialMinuteMs of them; before that it has
 * no point at all, rather than one at zero or a guess from a few seconds.
 */
function historyView(minutes) {
  // The newest minute's sample counts up to when the history was read: its rate is over that much of it.
  const now = state.historyAt || Date.now() + state.clockOffset;
  const currentMinute = Math.floor(now / MinuteMs) * MinuteMs;
  const start = currentMinute - (minutes - 1) * MinuteMs;
  const byMinute = new Map(state.history.map((s) => [s.t, s]));
  const points = [];
  let connected;
  let dropped = 0, stalls = 0;
  for (let t = start; t <= currentMinute; t += MinuteMs) {
    const sample = byMinute.get(t);
    const partial = t === currentMinute;
    // Too little of it yet for a rate worth drawing (and its first flush may hold seconds of the last minute).
    if (partial && (!sample || now - t < PartialMinuteMs)) break;
    if (sample) {
      connected = sample.connections;
      dropped += sample.dropped;
      stalls += sample.stalls;
    }
    if (connected === undefined) continue;
    // The current minute is not over: its rate is over the seconds it has had.
    const seconds = partial ? (now - t) / 1000 : 60;
    points.push({
      t,
      inRate: sample ? sample.messagesIn / seconds : 0,
      outRate: sample ? sample.messagesOut / seconds : 0,
      connected: sample ? sample.connections : connected,
      flagged: sample ? sample.dropped + sample.stalls > 0 : false,
      partial,
    });
  }
  const notes = [];
  if (points.some((p) => p.partial)) notes.push('Dashed, hollow: this minute so far.');
  if (dropped + stalls > 0) notes.push('In this period: ' + fmtInt(dropped) + ' messages dropped, ' + fmtInt(stalls) + ' stalls detected (red ticks).');
  const tickEvery = minutes <= 60 ? 10 * MinuteMs : 4 * 60 * MinuteMs;
  const ticks = [];
  for (let ago = (minutes - 1) * MinuteMs - (((minutes - 1) * MinuteMs) % tickEvery); ago >= 0; ago -= tickEvery) {
    ticks.push({ t: currentMinute - ago, label: ago === 0 ? 'now' : '-' + (ago >= 60 * MinuteMs ? ago / (60 * MinuteMs) + 'h' : ago / MinuteMs + 'm') });
  }
  return {
    title: minutes === 60 ? 'per minute, last hour' : 'per minute, last 24 hours',
    start,
    end: currentMinute,
    points,
    ticks,
    emptyText: 'no traffic in this period',
    dots: true,
    note: notes.join(' '),
    ...Axes,
  };
}

export function setupTraffic() {
  const buttons = document.querySelectorAll('#traffic-panel [data-range]');
  const press = () => buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.getAttribute('data-range') === state.range)));
  buttons.forEach((b) =>
    b.addEventListener('click', () => {
      state.range = b.getAttribute('data-range');
      press();
      renderChart();
      loadHistory().catch(() => {});
    }),
  );
  press();
  window.addEventListener('resize', renderChart);
}
