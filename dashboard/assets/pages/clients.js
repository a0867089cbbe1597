// Clients: top talkers and top failing clients.

import { api } from '../api.js';
import { h, clear, fmtInt, timeEl, clientLink, tableWrap, emptyRow, debounce } from '../util.js';
import { pageHeader, card, errorBox, loading } from '../components.js';

export function clientSummaryTable(items, { empty }) {
  const body = h('tbody', {});
  if (!items.length) body.appendChild(emptyRow(10, empty));
  for (const c of items) {
    body.appendChild(h('tr', { class: c.blocked ? 'client blocked' : 'client', dataset: { key: c.key } },
      h('td', {}, clientLink(c.key), c.blocked ? h('span', { class: 'badge blocked-badge' }, 'blocked') : null),
      h('td', { class: 'num' }, fmtInt(c.requests)),
      h('td', { class: c.unauthorized > 0 ? 'num warn' : 'num' }, fmtInt(c.unauthorized)),
      h('td', { class: 'num' }, fmtInt(c.forbidden)),
      h('td', { class: 'num' }, fmtInt(c.not_found)),
      h('td', { class: 'num' }, fmtInt(c.server_errors)),
      h('td', { class: c.login_failed > 0 ? 'num warn' : 'num' }, fmtInt(c.login_failed)),
      h('td', { class: c.signature_hits > 0 ? 'num warn' : 'num' }, fmtInt(c.signature_hits)),
      h('td', { class: 'nowrap' }, timeEl(c.first_seen_ms, { compact: true })),
      h('td', { class: 'nowrap' }, timeEl(c.last_seen_ms, { compact: true }))));
  }
  return tableWrap(h('table', { class: 'data clients' },
    h('thead', {}, h('tr', {},
      h('th', {}, 'Client'), h('th', { class: 'num' }, 'Requests'), h('th', { class: 'num' }, '401'),
      h('th', { class: 'num' }, '403'), h('th', { class: 'num' }, '404'), h('th', { class: 'num' }, '5xx'),
      h('th', { class: 'num' }, 'Login failed'), h('th', { class: 'num' }, 'Signature hits'),
      h('th', {}, 'First seen'), h('th', {}, 'Last seen'))),
    body));
}

export async function render(ctx) {
  const { root } = ctx;
  const count = h('span', { class: 'muted small' });
  const goForm = h('form', { class: 'inline-form', role: 'search' },
    h('label', { for: 'client-go', class: 'sr-only' }, 'Open client by key'),
    h('input', { id: 'client-go', type: 'search', placeholder: 'ip:203.0.113.9 / subject:alice / api_key:k1', autocomplete: 'off', spellcheck: 'false' }),
    h('button', { type: 'submit', class: 'btn' }, 'Open'));
  goForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const key = goForm.querySelector('input').value.trim();
    if (key) location.hash = `#/clients/${encodeURIComponent(key)}`;
  });
  root.appendChild(pageHeader('Clients', count, goForm));
  const talkers = h('div', {}, loading());
  const failing = h('div', {}, loading());
  root.appendChild(card('Top talkers', talkers, { tools: h('span', { class: 'muted small' }, 'last 1–2 minutes') }));
  root.appendChild(card('Top failing', failing, { tools: h('span', { class: 'muted small' }, '401 / 403 / failed logins / signatures') }));

  async function load() {
    try {
      const res = await api('/api/clients', { signal: ctx.signal });
      count.textContent = `${fmtInt(res.tracked)} tracked`;
      clear(talkers).appendChild(clientSummaryTable(res.top_talkers || [], { empty: 'No traffic in the last minutes.' }));
      clear(failing).appendChild(clientSummaryTable(res.top_failing || [], { empty: 'No failing clients. Good.' }));
    } catch (e) {
      if (e.name !== 'AbortError') clear(talkers).appendChild(errorBox(e, () => load()));
    }
  }
  const soon = debounce(load, 500);
  ctx.every(5000, () => { if (!document.hidden) load(); });
  ctx.on('block', soon);
  ctx.on('unblock', soon);
  ctx.on('reset', soon);
  await load();
}
