// Overview: tiles, live traffic chart, deny reasons, latest findings.

import { api } from '../api.js';
import { h, clear, fmtInt, fmtRate, fmtDuration, kindLabel } from '../util.js';
import { findingsTable, findingRow, pageHeader, card, loading } from '../components.js';
import { TrafficChart } from '../chart.js';

const LATEST = 10;

function tile(label, { href, hint } = {}) {
  const value = h('div', { class: 'tile-value' }, '—');
  const sub = h('div', { class: 'tile-sub' }, hint || '');
  const inner = [h('div', { class: 'tile-label' }, label), value, sub];
  const el = href ? h('a', { class: 'tile', href }, inner) : h('div', { class: 'tile' }, inner);
  return { el, value, sub };
}

function barList(entries, { hrefFor, empty }) {
  const list = h('ul', { class: 'bar-list' });
  const max = Math.max(1, ...entries.map(([, n]) => n));
  if (!entries.length) list.appendChild(h('li', { class: 'muted empty' }, empty));
  for (const [name, n] of entries) {
    const fill = h('span', { class: 'bar-fill' });
    fill.style.width = `${Math.max(n > 0 ? 1.5 : 0, (n / max) * 100)}%`;
    const label = hrefFor ? h('a', { href: hrefFor(name) }, kindLabel(name)) : kindLabel(name);
    list.appendChild(h('li', {},
      h('div', { class: 'bar-row' }, h('span', { class: 'bar-name' }, label), h('span', { class: 'bar-num' }, fmtInt(n))),
      h('div', { class: 'bar-track' }, fill)));
  }
  return list;
}

const sortedEntries = (obj) => Object.entries(obj || {})
  .map(([k, v]) => [k, Number(v) || 0])
  .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

export async function render(ctx) {
  const { root } = ctx;
  root.appendChild(pageHeader('Overview'));
  root.appendChild(loading());

  const [stats, latest] = await Promise.all([
    api('/api/stats', { signal: ctx.signal }),
    api('/api/findings', { query: { limit: LATEST }, signal: ctx.signal }),
  ]);
  clear(root).appendChild(pageHeader('Overview', h('span', { class: 'muted small uptime' })));
  const uptime = root.querySelector('.uptime');

  const tiles = {
    rps: tile('Requests / s'),
    dps: tile('Denied / s'),
    blocks: tile('Active blocks', { href: '#/blocks' }),
    findings: tile('Findings total', { href: '#/findings' }),
    clients: tile('Clients tracked', { href: '#/clients' }),
    tee: tile('Tee drops', { hint: 'events the analytics queue dropped' }),
  };
  root.appendChild(h('div', { class: 'tiles' }, Object.values(tiles).map((t) => t.el)));

  const chart = new TrafficChart();
  ctx.signal.addEventListener('abort', () => chart.destroy());
  root.appendChild(card('Traffic, last 5 minutes', chart.el, { cls: 'chart-card' }));

  const denies = h('div', {});
  const kinds = h('div', {});
  const { wrap, body } = findingsTable(latest.items || [], { empty: 'No findings yet.' });
  const latestIds = new Set((latest.items || []).map((f) => f.id));

  root.appendChild(h('div', { class: 'grid-2' },
    card('Deny reasons', denies, { tools: h('span', { class: 'muted small' }, 'since start') }),
    card('Findings by kind', kinds, { tools: h('a', { href: '#/findings', class: 'small' }, 'all findings →') })));
  root.appendChild(card('Latest findings', wrap, {
    tools: h('a', { href: '#/findings', class: 'small' }, 'view all →'),
  }));

  const applyStats = (st) => {
    tiles.rps.value.textContent = fmtRate(st.requests_per_s);
    tiles.rps.sub.textContent = `${fmtInt(st.requests_total)} total`;
    tiles.dps.value.textContent = fmtRate(st.denied_per_s);
    tiles.dps.sub.textContent = `${fmtInt(st.denied_total)} total`;
    tiles.dps.el.classList.toggle('alert', Number(st.denied_per_s) > 0);
    tiles.blocks.value.textContent = fmtInt(st.active_blocks);
    tiles.findings.value.textContent = fmtInt(st.findings_total);
    tiles.clients.value.textContent = fmtInt(st.clients_tracked);
    tiles.clients.sub.textContent = st.endpoints != null ? `${fmtInt(st.endpoints)} endpoints` : '';
    const tee = st.tee || {};
    tiles.tee.value.textContent = fmtInt(tee.dropped ?? 0);
    tiles.tee.sub.textContent = tee.capacity != null ? `queue capacity ${fmtInt(tee.capacity)}` : '';
    tiles.tee.el.classList.toggle('alert', Number(tee.dropped) > 0);
    if (st.uptime_s != null) uptime.textContent = `up ${fmtDuration(st.uptime_s)}`;
    clear(denies).appendChild(barList(sortedEntries(st.denies), { empty: 'Nothing denied yet.' }));
    clear(kinds).appendChild(barList(sortedEntries(st.findings_by_kind), {
      empty: 'No findings yet.',
      hrefFor: (k) => `#/findings?kind=${encodeURIComponent(k)}`,
    }));
  };

  applyStats(stats);
  chart.setSeries(stats.series || []);

  ctx.on('stats', (st) => {
    if (!st) return;
    applyStats(st);
    chart.push({ at_ms: st.at_ms ?? Date.now(), requests_per_s: st.requests_per_s, denied_per_s: st.denied_per_s });
  });

  ctx.on('finding', (f) => {
    if (!f || !f.id || latestIds.has(f.id)) return;
    latestIds.add(f.id);
    const empty = body.querySelector('tr.empty');
    if (empty) empty.remove();
    body.insertBefore(findingRow(f, { fresh: true }), body.firstChild);
    while (body.rows.length > LATEST) body.deleteRow(body.rows.length - 1);
  });

  ctx.on('reset', async () => {
    try {
      const [st, l] = await Promise.all([
        api('/api/stats', { signal: ctx.signal }),
        api('/api/findings', { query: { limit: LATEST }, signal: ctx.signal }),
      ]);
      applyStats(st);
      chart.setSeries(st.series || []);
      clear(body);
      latestIds.clear();
      (l.items || []).forEach((f) => { latestIds.add(f.id); body.appendChild(findingRow(f)); });
    } catch (e) {
      if (e.name !== 'AbortError') console.warn('overview reload failed:', e.message);
    }
  });
}
