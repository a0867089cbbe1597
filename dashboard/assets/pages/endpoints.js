// Endpoint inventory: declared and discovered endpoints, shadow ones highlighted.

import { api } from '../api.js';
import { h, clear, fmtInt, fmtRate, fmtMs, timeEl, tableWrap, emptyRow } from '../util.js';
import { pageHeader, card, errorBox, loading, safeClass } from '../components.js';

const SORTS = {
  shadow: { label: 'Shadow first', cmp: (a, b) => (b.shadow === true) - (a.shadow === true) || (b.requests || 0) - (a.requests || 0) },
  requests: { label: 'Most requests', cmp: (a, b) => (b.requests || 0) - (a.requests || 0) },
  rate: { label: 'Rate (1 min)', cmp: (a, b) => (b.rate_1m || 0) - (a.rate_1m || 0) },
  errors: { label: 'Most 4xx + 5xx', cmp: (a, b) => errs(b) - errs(a) },
  p99: { label: 'Slowest p99', cmp: (a, b) => (b.latency_p99_us || 0) - (a.latency_p99_us || 0) },
  last: { label: 'Last seen', cmp: (a, b) => (b.last_seen_ms || 0) - (a.last_seen_ms || 0) },
  path: { label: 'Path', cmp: (a, b) => String(a.template).localeCompare(String(b.template)) || String(a.method).localeCompare(String(b.method)) },
};

function errs(e) {
  const c = e.status_classes || [];
  return (c[3] || 0) + (c[4] || 0);
}

function statusMix(classes) {
  const c = (classes || []).map((n) => Number(n) || 0);
  const parts = [['2xx', c[1] || 0], ['3xx', c[2] || 0], ['4xx', c[3] || 0], ['5xx', c[4] || 0]];
  const total = parts.reduce((s, [, n]) => s + n, 0);
  const title = [c[0] ? `1xx ${fmtInt(c[0])}` : null, ...parts.map(([k, n]) => `${k} ${fmtInt(n)}`)].filter(Boolean).join(' · ');
  const bar = h('span', { class: 'mix', title, role: 'img', 'aria-label': title });
  if (!total) bar.classList.add('none');
  for (const [k, n] of parts) {
    if (!n) continue;
    const seg = h('span', { class: `mix-${k}` });
    seg.style.width = `${(n / total) * 100}%`;
    bar.appendChild(seg);
  }
  return bar;
}

function authSeen(e) {
  const kinds = [['none', e.auth_none], ['jwt', e.auth_jwt], ['api key', e.auth_api_key]].filter(([, n]) => Number(n) > 0);
  if (!kinds.length) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'tags' }, kinds.map(([k, n]) =>
    h('span', { class: `tag auth-${safeClass(k)}`, title: `${fmtInt(n)} requests` }, k)));
}

function row(e) {
  return h('tr', { class: e.shadow ? 'endpoint shadow' : 'endpoint' },
    h('td', { class: 'template' }, h('span', { class: `method m-${safeClass(e.method)}` }, e.method || '?'), ' ',
      h('a', { class: 'mono plain', href: `#/findings?endpoint=${encodeURIComponent(`${e.method} ${e.template}`)}`, title: 'Findings for this endpoint' },
        e.template || ''), e.shadow ? h('span', { class: 'badge shadow-badge', title: 'Seen in traffic but not declared in the configuration' }, 'shadow') : null),
    h('td', {}, e.declared ? h('span', { class: 'badge declared' }, 'declared') : h('span', { class: 'badge discovered' }, 'discovered')),
    h('td', { class: 'num' }, fmtInt(e.requests)),
    h('td', { class: 'num', title: `10 min ${fmtRate(e.rate_10m)}/s · 1 h ${fmtRate(e.rate_1h)}/s` }, fmtRate(e.rate_1m)),
    h('td', {}, statusMix(e.status_classes)),
    h('td', { class: 'num' }, fmtInt(e.unauthorized)),
    h('td', { class: 'num' }, fmtInt(e.forbidden)),
    h('td', { class: 'num' }, fmtInt(e.not_found)),
    h('td', { class: 'num nowrap' }, `${fmtMs(e.latency_p50_us)} / ${fmtMs(e.latency_p95_us)} / ${fmtMs(e.latency_p99_us)}`),
    h('td', {}, authSeen(e)),
    h('td', { class: 'nowrap' }, timeEl(e.first_seen_ms, { compact: true })),
    h('td', { class: 'nowrap' }, timeEl(e.last_seen_ms, { compact: true })));
}

export async function render(ctx) {
  const { root, query } = ctx;
  const count = h('span', { class: 'muted small' });
  root.appendChild(pageHeader('Endpoints', count));

  const search = h('input', { id: 'ep-search', type: 'search', placeholder: 'filter by path or method', autocomplete: 'off' });
  const shadowOnly = h('input', { id: 'ep-shadow', type: 'checkbox' });
  const sortSel = h('select', { id: 'ep-sort' }, Object.entries(SORTS).map(([k, v]) => h('option', { value: k }, v.label)));
  search.value = query.get('q') || '';
  shadowOnly.checked = query.get('shadow') === '1';
  sortSel.value = SORTS[query.get('sort')] ? query.get('sort') : 'shadow';
  const refreshBtn = h('button', { type: 'button', class: 'btn' }, 'Refresh');
  const controls = h('div', { class: 'filters' },
    h('div', { class: 'field grow' }, h('label', { for: 'ep-search' }, 'Filter'), search),
    h('div', { class: 'field' }, h('label', { for: 'ep-sort' }, 'Sort'), sortSel),
    h('div', { class: 'field check' }, shadowOnly, h('label', { for: 'ep-shadow' }, 'Shadow endpoints only')),
    h('div', { class: 'field actions' }, refreshBtn));
  const slot = h('div', {}, loading());
  root.appendChild(card(null, controls, { cls: 'filters-card' }));
  root.appendChild(card(null, slot));

  let items = [];

  function draw() {
    const q = search.value.trim().toLowerCase();
    const shown = items
      .filter((e) => !shadowOnly.checked || e.shadow)
      .filter((e) => !q || `${e.method} ${e.template}`.toLowerCase().includes(q))
      .sort(SORTS[sortSel.value].cmp);
    const shadows = items.filter((e) => e.shadow).length;
    count.textContent = `${items.length} endpoints, ${shadows} shadow`;
    const body = h('tbody', {});
    if (!shown.length) body.appendChild(emptyRow(12, items.length ? 'No endpoint matches.' : 'No endpoints seen yet.'));
    shown.forEach((e) => body.appendChild(row(e)));
    const old = slot.querySelector('.table-wrap');
    const scrollLeft = old ? old.scrollLeft : 0;
    clear(slot).appendChild(tableWrap(h('table', { class: 'data endpoints' },
      h('thead', {}, h('tr', {},
        h('th', { class: 'template' }, 'Endpoint'), h('th', {}, 'Source'), h('th', { class: 'num' }, 'Requests'),
        h('th', { class: 'num', title: 'requests per second over the last minute' }, 'Rate 1m/s'),
        h('th', { title: '2xx / 3xx / 4xx / 5xx' }, 'Status mix'), h('th', { class: 'num' }, '401'),
        h('th', { class: 'num' }, '403'), h('th', { class: 'num' }, '404'),
        h('th', { class: 'num' }, 'Latency ms', h('br'), h('span', { class: 'th-sub' }, 'p50 / p95 / p99')), h('th', {}, 'Auth seen'),
        h('th', {}, 'First seen'), h('th', {}, 'Last seen'))),
      body)));
    slot.querySelector('.table-wrap').scrollLeft = scrollLeft;
    ctx.setQuery({ q: search.value.trim(), shadow: shadowOnly.checked ? '1' : '', sort: sortSel.value === 'shadow' ? '' : sortSel.value });
  }

  async function load() {
    try {
      const res = await api('/api/endpoints', { signal: ctx.signal });
      items = res.items || [];
      draw();
    } catch (e) {
      if (e.name !== 'AbortError') clear(slot).appendChild(errorBox(e, () => load()));
    }
  }

  search.addEventListener('input', draw);
  shadowOnly.addEventListener('change', draw);
  sortSel.addEventListener('change', draw);
  refreshBtn.addEventListener('click', load);
  ctx.every(15000, () => { if (!document.hidden) load(); });
  ctx.on('reset', load);

  await load();
}
