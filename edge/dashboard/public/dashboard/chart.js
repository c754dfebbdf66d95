// The traffic chart on a canvas: message rates (left axis), connected
// clients as a step line (right axis), each axis titled with its unit, and
// a red tick under every point whose minute had drops or stalls. A point
// marked partial (the minute under way) is drawn apart: a dashed line to a
// hollow dot, never as part of the lines. No library: it is three lines.

/**
 * @param {HTMLCanvasElement} canvas
 * @param {{ start: number, end: number, points: Array<{ t: number, inRate: number, outRate: number, connected: number, flagged: boolean, partial?: boolean }>, ticks: Array<{ t: number, label: string }>, emptyText: string, dots?: boolean, rateTitle: string, countTitle: string }} view
 */
export function drawChart(canvas, view) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (!width || !height) return;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  // Room for the numbers and, outside them, each axis's title.
  const pad = { left: 60, right: 48, top: 10, bottom: 24 };
  const plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
  const { start, end, points } = view;
  // What is drawn, readable without pixels (the browser tests look at it).
  canvas.setAttribute('data-points', String(points.length));
  canvas.setAttribute('data-partial', String(points.filter((p) => p.partial).length));
  const span = Math.max(1, end - start);
  // Four grid steps of a round size: 0, 6, 12, 18, 24 rather than 0, 6.25, 12.5, 18.75, 25.
  const maxRate = 4 * niceStep(Math.max(1, ...points.map((p) => Math.max(p.inRate, p.outRate))) / 4);
  // Whole clients on the right axis: a multiple of the four grid steps.
  const maxConn = Math.ceil(niceCeil(Math.max(1, ...points.map((p) => p.connected))) / 4) * 4;
  const x = (t) => pad.left + ((t - start) / span) * plotW;
  const yRate = (v) => pad.top + plotH - (v / maxRate) * plotH;
  const yConn = (v) => pad.top + plotH - (v / maxConn) * plotH;

  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  ctx.strokeStyle = color('--line');
  ctx.fillStyle = color('--muted');
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= 4; i++) {
    const gy = Math.round(pad.top + (plotH * i) / 4) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.left, gy);
    ctx.lineTo(width - pad.right, gy);
    ctx.stroke();
    ctx.textAlign = 'right';
    ctx.fillText(formatAxis((maxRate * (4 - i)) / 4), pad.left - 6, gy);
    ctx.textAlign = 'left';
    ctx.fillText(String(Math.round((maxConn * (4 - i)) / 4)), width - pad.right + 6, gy);
  }
  axisTitle(ctx, view.rateTitle, 12, pad.top + plotH / 2, -Math.PI / 2);
  axisTitle(ctx, view.countTitle, width - 10, pad.top + plotH / 2, Math.PI / 2);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'alphabetic';
  for (const tick of view.ticks) ctx.fillText(tick.label, x(tick.t), height - 6);
  if (points.length === 0) {
    ctx.fillText(view.emptyText, pad.left + plotW / 2, pad.top + plotH / 2);
    return;
  }
  ctx.fillStyle = color('--danger');
  for (const p of points) if (p.flagged) ctx.fillRect(x(p.t) - 1.5, pad.top + plotH + 2, 3, 5);

  const whole = points.filter((p) => !p.partial);
  const line = (value, y, stroke, step) => {
    ctx.strokeStyle = stroke;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.beginPath();
    whole.forEach((p, index) => {
      const px = x(p.t), py = y(value(p));
      if (index === 0) ctx.moveTo(px, py);
      else if (step) {
        ctx.lineTo(px, y(value(whole[index - 1])));
        ctx.lineTo(px, py);
      } else ctx.lineTo(px, py);
    });
    ctx.stroke();
  };
  // A line needs two points; with few, each one is a dot as well, so a first minute shows.
  const dots = (value, y, fill) => {
    if (whole.length > 120) return;
    ctx.fillStyle = fill;
    for (const p of whole) {
      ctx.beginPath();
      ctx.arc(x(p.t), y(value(p)), 2.5, 0, 2 * Math.PI);
      ctx.fill();
    }
  };
  // The minute under way: dashed from the last whole point, to a hollow dot.
  const partial = (value, y, stroke) => {
    const last = whole[whole.length - 1];
    ctx.strokeStyle = stroke;
    ctx.lineWidth = 1.5;
    for (const p of points.filter((point) => point.partial)) {
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      if (last) {
        ctx.moveTo(x(last.t), y(value(last)));
        ctx.lineTo(x(p.t), y(value(p)));
        ctx.stroke();
      }
      ctx.setLineDash([]);
      ctx.beginPath();
      ctx.arc(x(p.t), y(value(p)), 4, 0, 2 * Math.PI);
      ctx.stroke();
    }
  };
  line((p) => p.connected, yConn, color('--conn'), true);
  line((p) => p.inRate, yRate, color('--in'), false);
  line((p) => p.outRate, yRate, color('--out'), false);
  if (view.dots) {
    dots((p) => p.inRate, yRate, color('--in'));
    dots((p) => p.outRate, yRate, color('--out'));
    dots((p) => p.connected, yConn, color('--conn'));
  }
  partial((p) => p.connected, yConn, color('--conn'));
  partial((p) => p.inRate, yRate, color('--in'));
  partial((p) => p.outRate, yRate, color('--out'));
}

/** An axis's title, along the axis, in the muted colour of the numbers. */
function axisTitle(ctx, text, x, y, angle) {
  ctx.save();
  ctx.translate(x, y);
  ctx.rotate(angle);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, 0, 0);
  ctx.restore();
}

function formatAxis(value) {
  if (value >= 1000) return Math.round(value / 100) / 10 + 'k';
  return String(Math.round(value * 100) / 100);
}

/** The smallest round step (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) at least `value`. */
function niceStep(value) {
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function niceCeil(value) {
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}
