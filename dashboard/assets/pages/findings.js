// Findings list: filters, "Load more" pagination, live rows at the top.

import { api, download } from '../api.js';
import {
  h, clear, KINDS, SEVERITIES, kindLabel, severityRank, emptyRow, tableWrap,
} from '../util.js';
import { findingsHead, findingRow, pageHeader, card, errorBox, toast } from '../components.js';

const PAGE = 50;

function matches(f, filt) {
  if (filt.kind && f.kind !== filt.kind) return false;
  if (filt.severity && severityRank(f.severity) < severityRank(filt.severity)) return false;
  if (filt.client) {
    // Same rule as the server: the IP address, JWT subject or API key id, exactly.
    const c = f.client || {};
    const needle = filt.client;
    const ipSame = c.ip != null && String(c.ip).toLowerCase() === needle.toLowerCase();
    if (!ipSame && c.subject !== needle && c.api_key_id !== needle) return false;
  }
  if (filt.endpoint && f.endpoint !== filt.endpoint) return false;
  return true;
}

export async function render(ctx) {
  const { root, query } = ctx;
  const filt = {
    kind: query.get('kind') || '',
    severity: query.get('severity') || '',
    client: query.get('client') || '',
    endpoint: query.get('endpoint') || '',
  };

  const kindSel = h('select', { id: 'f-kind', name: 'kind' },
    h('option', { value: '' }, 'All kinds'),
    KINDS.map((k) => h('option', { value: k }, kindLabel(k))));
  const sevSel = h('select', { id: 'f-severity', name: 'severity' },
    h('option', { value: '' }, 'Any severity'),
    SEVERITIES.map((s) => h('option', { value: s }, s === 'critical' ? 'critical' : `${s} or higher`)));
  const clientIn = h('input', { id: 'f-client', name: 'client', type: 'search', placeholder: '203.0.113.9, alice or k1', title: 'IP address, JWT subject or API key id (exact)', autocomplete: 'off', spellcheck: 'false' });
  const endpointIn = h('input', { id: 'f-endpoint', name: 'endpoint', type: 'search', placeholder: 'GET /api/orders/{id}', title: 'METHOD /template, exactly as in the endpoint inventory', autocomplete: 'off', spellcheck: 'false' });
  kindSel.value = filt.kind;
  sevSel.value = filt.severity;
  clientIn.value = filt.client;
  endpointIn.value = filt.endpoint;

  const form = h('form', { class: 'filters', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'f-kind' }, 'Kind'), kindSel),
    h('div', { class: 'field' }, h('label', { for: 'f-severity' }, 'Min. severity'), sevSel),
    h('div', { class: 'field grow' }, h('label', { for: 'f-client' }, 'Client'), clientIn),
    h('div', { class: 'field grow' }, h('label', { for: 'f-endpoint' }, 'Endpoint'), endpointIn),
    h('div', { class: 'field actions' },
      h('button', { type: 'submit', class: 'btn primary' }, 'Apply'),
      h('button', { type: 'button', class: 'btn', id: 'f-clear' }, 'Clear')));

  const body = h('tbody', {});
  const table = h('table', { class: 'data findings' }, findingsHead(), body);
  const status = h('div', { class: 'list-status muted small', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'btn', id: 'load-more', hidden: true }, 'Load more');
  const errSlot = h('div', {});

  // Export (Parquet, for polars, pandas or DuckDB): findings of the kind filter,
  // or every request event, over the chosen span.
  const spanSel = h('select', { id: 'x-since', name: 'since', title: 'How far back to export' },
    ['15m', '1h', '6h', '24h', '7d'].map((v) => h('option', { value: v }, `last ${v}`)));
  spanSel.value = '1h';
  const exportBtn = (data, label) => {
    const b = h('button', { type: 'button', class: 'btn', id: `export-${data}` }, label);
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        const query = { data, since: spanSel.value };
        if (data === 'findings' && kindSel.value) query.kind = kindSel.value;
        const name = await download('/api/export', query);
        toast(`Saved ${name}`);
      } catch (e) {
        toast(e.message || 'Export failed', 'error');
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  const exportTools = h('div', { class: 'export-tools' },
    spanSel,
    exportBtn('findings', 'Export findings'),
    exportBtn('events', 'Export events'));

  root.appendChild(pageHeader('Findings', status, exportTools));
  root.appendChild(card(null, form, { cls: 'filters-card' }));
  root.appendChild(card(null, [errSlot, tableWrap(table), h('div', { class: 'load-more' }, more)]));

  let next = null;
  let seen = new Set();
  let gen = 0;

  const updateStatus = () => {
    const n = body.querySelectorAll('tr.finding').length;
    status.textContent = `${n} shown${next ? ', more available' : ''}`;
  };

  async function load(reset) {
    const my = reset ? ++gen : gen;
    if (reset) {
      next = null;
      seen = new Set();
      clear(body).appendChild(emptyRow(6, 'Loading…'));
      clear(errSlot);
    }
    more.disabled = true;
    try {
      const page = await api('/api/findings', {
        query: { ...filt, limit: PAGE, after: reset ? null : next },
        signal: ctx.signal,
      });
      if (my !== gen) return;
      if (reset) clear(body);
      for (const f of page.items || []) {
        if (seen.has(f.id)) continue;
        seen.add(f.id);
        body.appendChild(findingRow(f));
      }
      next = page.next || null;
      if (!body.rows.length) body.appendChild(emptyRow(6, 'No findings match these filters.'));
    } catch (e) {
      if (e.name === 'AbortError' || my !== gen) return;
      if (reset) clear(body);
      clear(errSlot).appendChild(errorBox(e, () => load(reset)));
    } finally {
      if (my === gen) {
        more.hidden = !next;
        more.disabled = false;
        updateStatus();
      }
    }
  }

  const apply = () => {
    filt.kind = kindSel.value;
    filt.severity = sevSel.value;
    filt.client = clientIn.value.trim();
    filt.endpoint = endpointIn.value.trim();
    ctx.setQuery(filt);
    load(true);
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); apply(); });
  kindSel.addEventListener('change', apply);
  sevSel.addEventListener('change', apply);
  form.querySelector('#f-clear').addEventListener('click', () => {
    kindSel.value = '';
    sevSel.value = '';
    clientIn.value = '';
    endpointIn.value = '';
    apply();
  });
  more.addEventListener('click', () => load(false));

  ctx.on('finding', (f) => {
    if (!f || !f.id || seen.has(f.id) || !matches(f, filt)) return;
    seen.add(f.id);
    const empty = body.querySelector('tr.empty');
    if (empty) empty.remove();
    body.insertBefore(findingRow(f, { fresh: true }), body.firstChild);
    updateStatus();
  });
  ctx.on('reset', () => load(true));

  await load(true);
}
