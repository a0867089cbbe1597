// Blocks in force, the "Add block" form, and the audit trail.

import { api } from '../api.js';
import { h, clear, SCOPE_KINDS, timeEl, debounce, tableWrap, emptyRow, scopeEl } from '../util.js';
import {
  blocksTable, blockFlow, parseTtl, pageHeader, card, errorBox, loading, safeClass,
} from '../components.js';

const PLACEHOLDER = {
  ip: '203.0.113.9',
  cidr: '203.0.113.0/24',
  subject: 'alice',
  api_key: 'k1',
};

function auditTable(items) {
  const body = h('tbody', {});
  if (!items.length) body.appendChild(emptyRow(6, 'No block changes recorded yet.'));
  for (const a of items) {
    const b = a.block || {};
    body.appendChild(h('tr', {},
      h('td', { class: 'num muted' }, a.seq != null ? String(a.seq) : ''),
      h('td', { class: 'nowrap' }, timeEl(a.at_ms, { compact: true })),
      h('td', {}, h('span', { class: `badge action action-${safeClass(a.action)}` }, String(a.action || '').replace(/_/g, ' '))),
      h('td', {}, b.scope ? scopeEl(b.scope) : '—', b.id != null ? h('span', { class: 'muted small' }, ` #${b.id}`) : null),
      h('td', {}, a.actor || '—'),
      h('td', {}, a.reason || b.reason || '—')));
  }
  return tableWrap(h('table', { class: 'data audit' },
    h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'Seq'), h('th', {}, 'When'), h('th', {}, 'Action'),
      h('th', {}, 'Block'), h('th', {}, 'Actor'), h('th', {}, 'Reason'))),
    body));
}

export async function render(ctx) {
  const { root } = ctx;
  const count = h('span', { class: 'muted small' });
  root.appendChild(pageHeader('Blocks', count));

  // ---- add form
  const kindSel = h('select', { id: 'block-scope', name: 'scope' }, SCOPE_KINDS.map((k) => h('option', { value: k }, k)));
  const valueIn = h('input', { id: 'block-value', name: 'value', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: PLACEHOLDER.ip });
  const ttlIn = h('input', { id: 'block-ttl', name: 'ttl', type: 'text', autocomplete: 'off', placeholder: '10m, 1h, 3600 — empty: until removed' });
  const reasonIn = h('input', { id: 'block-reason', name: 'reason', type: 'text', autocomplete: 'off', placeholder: 'why (recorded in the audit trail)' });
  const formErr = h('p', { id: 'block-error', class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn danger', id: 'block-submit' }, 'Block');
  const form = h('form', { id: 'block-form', class: 'add-block', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'block-scope' }, 'Scope'), kindSel),
    h('div', { class: 'field grow' }, h('label', { for: 'block-value' }, 'Value'), valueIn),
    h('div', { class: 'field' }, h('label', { for: 'block-ttl' }, 'Duration (TTL)'), ttlIn),
    h('div', { class: 'field grow' }, h('label', { for: 'block-reason' }, 'Reason'), reasonIn),
    h('div', { class: 'field actions' }, submit),
    formErr);
  kindSel.addEventListener('change', () => { valueIn.placeholder = PLACEHOLDER[kindSel.value] || ''; });

  const listSlot = h('div', {}, loading());
  const auditSlot = h('div', {}, loading());
  root.appendChild(card('Add block', form));
  root.appendChild(card('Blocks in force', listSlot));
  root.appendChild(card('Audit trail', auditSlot, { tools: h('span', { class: 'muted small' }, 'latest 100 changes') }));

  async function loadBlocks() {
    try {
      const res = await api('/api/blocks', { signal: ctx.signal });
      const items = res.items || [];
      count.textContent = `${items.length} in force`;
      clear(listSlot).appendChild(blocksTable(items, { onChanged: () => refresh() }));
    } catch (e) {
      if (e.name !== 'AbortError') clear(listSlot).appendChild(errorBox(e, () => loadBlocks()));
    }
  }
  async function loadAudit() {
    try {
      const res = await api('/api/audit', { query: { limit: 100 }, signal: ctx.signal });
      clear(auditSlot).appendChild(auditTable(res.items || []));
    } catch (e) {
      if (e.name !== 'AbortError') clear(auditSlot).appendChild(errorBox(e, () => loadAudit()));
    }
  }
  const refresh = () => Promise.all([loadBlocks(), loadAudit()]);
  const refreshSoon = debounce(refresh, 300);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formErr.hidden = true;
    const value = valueIn.value.trim();
    if (!value) {
      formErr.textContent = 'Enter a value to block.';
      formErr.hidden = false;
      valueIn.focus();
      return;
    }
    submit.disabled = true;
    try {
      const created = await blockFlow({
        scope: kindSel.value,
        value,
        ttl: parseTtl(ttlIn.value),
        reason: reasonIn.value.trim() || 'manual',
      });
      if (created !== null) {
        valueIn.value = '';
        reasonIn.value = '';
        ttlIn.value = '';
        await refresh();
      }
    } catch (err) {
      formErr.textContent = err.status
        ? `${err.message}${err.code ? ` (${err.code})` : ''}`
        : err.message;
      formErr.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });

  ctx.on('block', refreshSoon);
  ctx.on('unblock', refreshSoon);
  ctx.on('reset', refreshSoon);
  // Expired blocks disappear on their own; the server may not send an event for each.
  ctx.every(30000, refresh);

  await refresh();
}
