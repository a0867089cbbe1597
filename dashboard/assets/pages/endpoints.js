// Endpoint inventory: declared and discovered endpoints, shadow ones highlighted;
// with an OpenAPI spec, each endpoint's drift (in spec, zombie, shadow, probed),
// the parameters sent that the spec does not declare, and unused operations.

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

const DRIFT = {
  in_spec: ['in-spec', 'in spec', 'An operation of the OpenAPI spec'],
  zombie: ['zombie-badge', 'zombie', 'Deprecated in the spec, still called'],
  shadow: ['shadow-badge', 'shadow', 'Not in the spec, answered by the service'],
  probed: ['probed', 'probed', 'Not in the spec; the service only answered 404'],
};

function source(e) {
  if (e.drift) {
    const [cls, label, title] = DRIFT[e.drift] || ['probed', e.drift, ''];
    return h('span', { class: `badge ${cls}`, title: e.operation_id ? `${title} (${e.operation_id})` : title }, label);
  }
  return e.declared ? h('span', { class: 'badge declared' }, 'declared') : h('span', { class: 'badge discovered' }, 'discovered');
}

function row(e) {
  const shadowTitle = e.drift ? DRIFT.shadow[2] : 'Seen in traffic but not declared in the configuration';
  const params = (e.undeclared_params || []);
  return h('tr', { class: e.shadow ? 'endpoint shadow' : 'endpoint' },
    h('td', { class: 'template' }, h('span', { class: `method m-${safeClass(e.method)}` }, e.method || '?'), ' ',
      h('a', { class: 'mono plain', href: `#/findings?endpoint=${encodeURIComponent(`${e.method} ${e.template}`)}`, title: 'Findings for this endpoint' },
        e.template || ''), e.shadow ? h('span', { class: 'badge shadow-badge', title: shadowTitle }, 'shadow') : null,
      e.drift === 'zombie' ? h('span', { class: 'badge zombie-badge', title: DRIFT.zombie[2] }, 'zombie') : null,
      params.length ? h('span', { class: 'muted small mono undeclared-params', title: 'Parameters sent that the spec does not declare' }, `undeclared: ${params.join(', ')}`) : null),
    h('td', {}, source(e)),
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
  let unused = null;
  let spec = null;
  const unusedSlot = h('div', {});
  root.appendChild(unusedSlot);

  function drawUnused() {
    clear(unusedSlot);
    if (!unused) return;
    const list = h('tbody', {});
    if (!unused.length) list.appendChild(emptyRow(3, 'Every operation of the spec was called.'));
    unused.forEach((u) => list.appendChild(h('tr', {},
      h('td', { class: 'template' }, h('span', { class: `method m-${safeClass(u.method)}` }, u.method || '?'), ' ', h('span', { class: 'mono' }, u.path || '')),
      h('td', { class: 'mono' }, u.operation_id || ''),
      h('td', {}, u.deprecated ? h('span', { class: 'badge zombie-badge' }, 'deprecated') : null))));
    unusedSlot.appendChild(card(`Unused spec operations${spec ? ` · ${spec.title}` : ''}`,
      tableWrap(h('table', { class: 'data unused-ops' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Operation'), h('th', {}, 'operationId'), h('th', {}, ''))), list))));
  }

  function draw() {
    const q = search.value.trim().toLowerCase();
    const shown = items
      .filter((e) => !shadowOnly.checked || e.shadow)
      .filter((e) => !q || `${e.method} ${e.template}`.toLowerCase().includes(q))
      .sort(SORTS[sortSel.value].cmp);
    const shadows = items.filter((e) => e.shadow).length;
    const zombies = items.filter((e) => e.drift === 'zombie').length;
    count.textContent = `${items.length} endpoints, ${shadows} shadow` + (spec ? `, ${zombies} zombie, ${unused ? unused.length : 0} spec operations unused` : '');
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
      unused = res.unused || null;
      spec = res.spec || null;
      draw();
      drawUnused();
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
