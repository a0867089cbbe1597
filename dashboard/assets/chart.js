// Traffic chart: requests/s and denied/s over the last five minutes, drawn
// as inline SVG built with DOM APIs (no inline styles; colours come from CSS).

import { h, s, clear, fmtRate } from './util.js';

const WINDOW_MS = 5 * 60 * 1000;
const HEIGHT = 240;
const PAD = { top: 14, right: 16, bottom: 34, left: 54 };

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    if (m * p >= v) return m * p;
  }
  return 10 * p;
}

function clock(ms, withSeconds) {
  const opts = withSeconds
    ? { hour: '2-digit', minute: '2-digit', second: '2-digit' }
    : { hour: '2-digit', minute: '2-digit' };
  return new Date(ms).toLocaleTimeString([], opts);
}

export class TrafficChart {
  constructor() {
    this.points = []; // {at_ms, requests_per_s, denied_per_s}, oldest first
    this.svg = s('svg', { class: 'chart-svg', role: 'img', 'aria-label': 'Requests and denied requests per second, last 5 minutes' });
    this.readout = h('span', { class: 'chart-readout' });
    this.el = h('div', { class: 'chart' },
      h('div', { class: 'chart-legend' },
        h('span', { class: 'legend req' }, h('i', { 'aria-hidden': 'true' }), 'requests/s'),
        h('span', { class: 'legend den' }, h('i', { 'aria-hidden': 'true' }), 'denied/s'),
        this.readout),
      h('div', { class: 'chart-box' }, this.svg));
    this.width = 0;
    this.hover = null;
    this.svg.addEventListener('pointermove', (e) => this.onHover(e));
    this.svg.addEventListener('pointerleave', () => { this.hover = null; this.draw(); });
    this.ro = new ResizeObserver(() => {
      const w = Math.floor(this.el.clientWidth);
      if (w && w !== this.width) { this.width = w; this.draw(); }
    });
    this.ro.observe(this.el);
  }

  destroy() { this.ro.disconnect(); }

  setSeries(series) {
    this.points = (series || [])
      .filter((p) => p && p.at_ms != null)
      .map((p) => ({ at_ms: Number(p.at_ms), req: Number(p.requests_per_s) || 0, den: Number(p.denied_per_s) || 0 }))
      .sort((a, b) => a.at_ms - b.at_ms);
    this.trim();
    this.draw();
  }

  push(p) {
    if (!p || p.at_ms == null) return;
    const pt = { at_ms: Number(p.at_ms), req: Number(p.requests_per_s) || 0, den: Number(p.denied_per_s) || 0 };
    const last = this.points[this.points.length - 1];
    if (last && pt.at_ms <= last.at_ms) {
      if (pt.at_ms === last.at_ms) this.points[this.points.length - 1] = pt;
      else return;
    } else {
      this.points.push(pt);
    }
    this.trim();
    this.draw();
  }

  trim() {
    if (!this.points.length) return;
    const end = this.points[this.points.length - 1].at_ms;
    while (this.points.length && this.points[0].at_ms < end - WINDOW_MS) this.points.shift();
  }

  domain() {
    const end = this.points.length ? Math.max(this.points[this.points.length - 1].at_ms, 0) : Date.now();
    return [end - WINDOW_MS, end];
  }

  onHover(e) {
    if (!this.points.length) return;
    const rect = this.svg.getBoundingClientRect();
    const x = e.clientX - rect.left;
    const [t0, t1] = this.domain();
    const w = this.width - PAD.left - PAD.right;
    const t = t0 + ((x - PAD.left) / w) * (t1 - t0);
    let best = this.points[0];
    for (const p of this.points) if (Math.abs(p.at_ms - t) < Math.abs(best.at_ms - t)) best = p;
    this.hover = best;
    this.draw();
  }

  draw() {
    const W = this.width || Math.floor(this.el.clientWidth) || 600;
    const svg = clear(this.svg);
    svg.setAttribute('viewBox', `0 0 ${W} ${HEIGHT}`);
    svg.setAttribute('width', String(W));
    svg.setAttribute('height', String(HEIGHT));
    const iw = W - PAD.left - PAD.right;
    const ih = HEIGHT - PAD.top - PAD.bottom;
    const [t0, t1] = this.domain();
    const maxV = niceMax(Math.max(0, ...this.points.map((p) => Math.max(p.req, p.den))));
    const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * iw;
    const y = (v) => PAD.top + ih - (v / maxV) * ih;

    // y grid + labels
    const g = s('g', { class: 'axis y' });
    const ticks = 4;
    for (let i = 0; i <= ticks; i += 1) {
      const v = (maxV * i) / ticks;
      const yy = Math.round(y(v)) + 0.5;
      g.appendChild(s('line', { class: i === 0 ? 'base' : 'grid', x1: PAD.left, x2: W - PAD.right, y1: yy, y2: yy }));
      g.appendChild(s('text', { x: PAD.left - 8, y: yy + 4, 'text-anchor': 'end' }, Number.isInteger(v) ? v.toLocaleString() : fmtRate(v)));
    }
    g.appendChild(s('text', {
      class: 'axis-title', x: 12, y: PAD.top + ih / 2, 'text-anchor': 'middle',
      transform: `rotate(-90 12 ${PAD.top + ih / 2})`,
    }, 'per second'));
    svg.appendChild(g);

    // x ticks: one per minute, labelled with local clock time
    const gx = s('g', { class: 'axis x' });
    const step = iw < 360 ? 120000 : 60000;
    const first = Math.ceil(t0 / step) * step;
    for (let t = first; t <= t1; t += step) {
      const xx = Math.round(x(t)) + 0.5;
      gx.appendChild(s('line', { class: 'tick', x1: xx, x2: xx, y1: PAD.top + ih, y2: PAD.top + ih + 5 }));
      gx.appendChild(s('text', { x: xx, y: PAD.top + ih + 18, 'text-anchor': 'middle' }, clock(t, false)));
    }
    gx.appendChild(s('text', { class: 'axis-title', x: W - PAD.right, y: HEIGHT - 2, 'text-anchor': 'end' }, 'local time'));
    svg.appendChild(gx);

    if (!this.points.length) {
      svg.appendChild(s('text', { class: 'chart-empty', x: PAD.left + iw / 2, y: PAD.top + ih / 2, 'text-anchor': 'middle' }, 'waiting for data…'));
      this.readout.textContent = '';
      return;
    }

    const line = (key) => this.points.map((p, i) => `${i ? 'L' : 'M'}${x(p.at_ms).toFixed(1)},${y(p[key]).toFixed(1)}`).join('');
    const area = (key) => {
      const pts = this.points;
      return `${line(key)}L${x(pts[pts.length - 1].at_ms).toFixed(1)},${y(0)}L${x(pts[0].at_ms).toFixed(1)},${y(0)}Z`;
    };
    svg.appendChild(s('path', { class: 'area req', d: area('req') }));
    svg.appendChild(s('path', { class: 'area den', d: area('den') }));
    svg.appendChild(s('path', { class: 'line req', d: line('req') }));
    svg.appendChild(s('path', { class: 'line den', d: line('den') }));

    const p = this.hover || this.points[this.points.length - 1];
    if (this.hover) {
      const xx = x(p.at_ms);
      svg.appendChild(s('line', { class: 'cursor', x1: xx, x2: xx, y1: PAD.top, y2: PAD.top + ih }));
      svg.appendChild(s('circle', { class: 'dot req', cx: xx, cy: y(p.req), r: 3.5 }));
      svg.appendChild(s('circle', { class: 'dot den', cx: xx, cy: y(p.den), r: 3.5 }));
    }
    this.readout.textContent = `${this.hover ? clock(p.at_ms, true) : 'now'}: ${fmtRate(p.req)} req/s, ${fmtRate(p.den)} denied/s`;
  }
}
