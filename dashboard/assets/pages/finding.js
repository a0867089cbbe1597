// Finding detail: summary, metadata, readable evidence, BOLA id sequence,
// blocks the finding caused (with Unblock).

import { api } from '../api.js';
import {
  h, clear, sevBadge, kindLabel, timeEl, findingClient, fmtDuration, fmtLocal, fmtLocalFull, fmtInt,
} from '../util.js';
import { blocksTable, card, fmtConfidence, loading, safeClass } from '../components.js';

const OUTCOMES = {
  owned: { sym: '✓', label: 'owned', hint: 'object owned by this client' },
  foreign: { sym: '!', label: 'foreign', hint: "another client's object, served" },
  denied: { sym: '✕', label: 'denied', hint: 'access refused (401/403)' },
  other: { sym: '·', label: 'other', hint: 'other outcome (e.g. 404)' },
};

const BOLA_SHOWN = ['signals', 'distinct_ids', 'denied_ids', 'foreign_ids', 'sequential_steps', 'ownership', 'sequence'];

function isPlain(v) {
  return v == null || ['string', 'number', 'boolean'].includes(typeof v);
}

function plain(v) {
  if (v == null) return h('span', { class: 'muted' }, 'null');
  if (typeof v === 'boolean') return h('span', { class: `bool ${v}` }, v ? 'yes' : 'no');
  if (typeof v === 'number') return h('span', { class: 'num-val' }, Number.isInteger(v) ? fmtInt(v) : String(v));
  return h('span', { class: 'str-val' }, v);
}

/** Timestamps in evidence (keys ending in _ms) are shown as local times too. */
function valueEl(key, v, depth) {
  if (typeof v === 'number' && /(^|_)at_ms$|_ms$/.test(key) && v > 1e11) {
    return h('span', {}, timeEl(v));
  }
  if (isPlain(v)) return plain(v);
  if (Array.isArray(v)) {
    if (!v.length) return h('span', { class: 'muted' }, 'none');
    if (v.every(isPlain)) return h('span', { class: 'tags' }, v.map((x) => h('span', { class: 'tag' }, plain(x))));
    if (depth < 2 && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) return objectArrayTable(v);
    return h('pre', { class: 'json' }, JSON.stringify(v, null, 2));
  }
  if (depth < 2) return kvTable(v, depth + 1);
  return h('pre', { class: 'json' }, JSON.stringify(v, null, 2));
}

function kvTable(obj, depth = 0) {
  const rows = Object.entries(obj || {});
  if (!rows.length) return h('span', { class: 'muted' }, 'no details');
  return h('table', { class: depth ? 'kv nested' : 'kv' },
    h('tbody', {}, rows.map(([k, v]) => h('tr', {},
      h('th', { scope: 'row' }, k),
      h('td', {}, valueEl(k, v, depth))))));
}

function objectArrayTable(items) {
  const cols = [];
  items.forEach((it) => Object.keys(it).forEach((k) => { if (!cols.includes(k)) cols.push(k); }));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data compact' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c)))),
    h('tbody', {}, items.map((it) => h('tr', {}, cols.map((c) => h('td', {},
      isPlain(it[c]) ? plain(it[c]) : h('pre', { class: 'json' }, JSON.stringify(it[c], null, 2)))))))));
}

function sequenceEl(seq) {
  const legend = h('div', { class: 'seq-legend' }, Object.entries(OUTCOMES).map(([k, o]) =>
    h('span', { class: `chip outcome-${k}` }, h('span', { class: 'sym', 'aria-hidden': 'true' }, o.sym), ` ${o.label}`)));
  const chips = h('ol', { class: 'seq', 'aria-label': 'Object ids requested, oldest first' },
    seq.map((step, i) => {
      const outcome = OUTCOMES[step.outcome] ? step.outcome : 'other';
      const o = OUTCOMES[outcome];
      const title = [`#${i + 1}`, `id ${step.id}`, o.label, step.status != null ? `HTTP ${step.status}` : null,
        step.at_ms != null ? fmtLocalFull(step.at_ms) : null].filter(Boolean).join(' · ');
      return h('li', { class: `chip outcome-${safeClass(outcome)}`, title },
        h('span', { class: 'sym', 'aria-hidden': 'true' }, o.sym),
        h('span', { class: 'chip-id' }, String(step.id)),
        h('span', { class: 'sr-only' }, ` ${o.label}`),
        step.status != null ? h('span', { class: 'chip-status' }, String(step.status)) : null);
    }));
  const span = seq.length > 1 && seq[0].at_ms != null && seq[seq.length - 1].at_ms != null
    ? `${fmtLocal(seq[0].at_ms)} → ${fmtLocal(seq[seq.length - 1].at_ms)}` : '';
  return h('div', { class: 'sequence' },
    h('p', { class: 'muted small' }, `${seq.length} requests in order, oldest first${span ? ` (${span})` : ''}. `
      + 'Symbol and colour show the outcome.'),
    legend, chips);
}

function bolaSummary(ev) {
  const stat = (label, v, cls) => (v == null ? null
    : h('div', { class: ['stat', cls] }, h('div', { class: 'stat-value' }, fmtInt(v)), h('div', { class: 'stat-label' }, label)));
  return h('div', { class: 'stats-row' },
    stat('distinct ids', ev.distinct_ids),
    stat('denied', ev.denied_ids, 'denied'),
    stat('foreign', ev.foreign_ids, 'foreign'),
    stat('sequential steps', ev.sequential_steps),
    ev.ownership ? h('div', { class: 'stat' }, h('div', { class: 'stat-value small' }, ev.ownership), h('div', { class: 'stat-label' }, 'ownership')) : null,
    Array.isArray(ev.signals) && ev.signals.length
      ? h('div', { class: 'stat' }, h('div', { class: 'tags' }, ev.signals.map((x) => h('span', { class: 'tag' }, String(x)))), h('div', { class: 'stat-label' }, 'signals'))
      : null);
}

export async function render(ctx) {
  const { root, params } = ctx;
  const id = params[0];
  root.appendChild(h('a', { href: '#/findings', class: 'back' }, '← Findings'));
  const container = h('div', { id: 'finding-detail', class: 'finding-detail', dataset: { id } }, loading());
  root.appendChild(container);

  async function load() {
    const f = await api(`/api/findings/${encodeURIComponent(id)}`, { signal: ctx.signal });
    clear(container);

    const windowEl = f.window_start_ms != null
      ? h('span', {}, timeEl(f.window_start_ms), h('span', { class: 'muted' }, ' → '), timeEl(f.window_end_ms),
        f.window_end_ms != null ? h('span', { class: 'muted' }, ` (${fmtDuration((f.window_end_ms - f.window_start_ms) / 1000)})`) : null)
      : h('span', { class: 'muted' }, '—');

    container.appendChild(h('header', { class: `detail-head sev-edge-${safeClass(f.severity)}` },
      h('div', { class: 'detail-badges' }, sevBadge(f.severity), h('span', { class: 'badge kind' }, kindLabel(f.kind))),
      h('h1', { class: 'detail-summary' }, f.summary || kindLabel(f.kind))));

    container.appendChild(card('Summary', h('dl', { class: 'meta' },
      h('dt', {}, 'Kind'), h('dd', {}, h('a', { href: `#/findings?kind=${encodeURIComponent(f.kind || '')}` }, kindLabel(f.kind))),
      h('dt', {}, 'Severity'), h('dd', {}, sevBadge(f.severity)),
      h('dt', {}, 'Confidence'), h('dd', {}, h('span', { class: 'confidence' },
        h('span', { class: 'meter' }, h('span', { class: 'meter-fill' })), fmtConfidence(f.confidence))),
      h('dt', {}, 'Client'), h('dd', {}, findingClient(f.client)),
      h('dt', {}, 'Endpoint'), h('dd', { class: 'mono' }, f.endpoint
        ? h('a', { href: `#/findings?endpoint=${encodeURIComponent(f.endpoint)}`, title: 'Other findings on this endpoint' }, f.endpoint)
        : h('span', { class: 'muted' }, 'none')),
      h('dt', {}, 'Window'), h('dd', {}, windowEl),
      h('dt', {}, 'Finding id'), h('dd', { class: 'mono small' }, f.id || id))));
    const fill = container.querySelector('.meter-fill');
    if (fill) fill.style.width = `${Math.round(Math.min(1, Math.max(0, Number(f.confidence) || 0)) * 100)}%`;

    const ev = f.evidence && typeof f.evidence === 'object' ? f.evidence : {};
    const evBody = [];
    if (f.kind === 'bola_enumeration') {
      evBody.push(bolaSummary(ev));
      if (Array.isArray(ev.sequence) && ev.sequence.length) evBody.push(sequenceEl(ev.sequence));
    }
    const rest = { ...ev };
    if (f.kind === 'bola_enumeration') {
      // Already shown above as the stats row and the chips.
      for (const k of BOLA_SHOWN) if (k !== 'sequence' || Array.isArray(ev.sequence)) delete rest[k];
    }
    if (Object.keys(rest).length || f.kind !== 'bola_enumeration') {
      evBody.push(h('div', { class: 'table-wrap' }, kvTable(rest)));
    }
    container.appendChild(card('Evidence', evBody));

    const blocks = Array.isArray(f.blocks) ? f.blocks : [];
    container.appendChild(card(`Blocks caused by this finding (${blocks.length})`,
      blocksTable(blocks, { onChanged: () => reload(), showFinding: false, empty: 'This finding caused no block.' })));
  }

  async function reload() {
    try { await load(); } catch (e) { if (e.name !== 'AbortError') console.error(e); }
  }

  ctx.on('unblock', (d) => {
    if (d && d.block && d.block.finding === id) reload();
  });
  ctx.on('block', (b) => {
    if (b && b.finding === id) reload();
  });

  try {
    await load();
  } catch (e) {
    if (e.status === 404) {
      clear(container).appendChild(h('div', { class: 'state error', role: 'alert' }, 'No finding with this id.'));
      return;
    }
    throw e;
  }
}
