// Pieces shared by several pages: confirmation dialog, toasts, finding rows,
// the blocks table with its Unblock flow, and the "block a client" flow.

import { api, ApiError } from './api.js';
import {
  h, clear, timeEl, sevBadge, kindLabel, findingClient, findingHref, scopeEl, tableWrap, emptyRow,
  splitKey,
} from './util.js';

// ------------------------------------------------------------ confirm dialog

/**
 * Ask for confirmation in <dialog id="confirm">.
 * Resolves {ok: true, reason} on #confirm-yes, {ok: false} on #confirm-no / Escape.
 */
export function confirmDialog({ title, message, details, yesLabel = 'Confirm', danger = false, reason = null }) {
  const dlg = document.getElementById('confirm');
  const yes = document.getElementById('confirm-yes');
  const no = document.getElementById('confirm-no');
  const reasonRow = document.getElementById('confirm-reason-row');
  const reasonInput = document.getElementById('confirm-reason');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-message').textContent = message || '';
  const det = clear(document.getElementById('confirm-details'));
  if (details) det.appendChild(details);
  det.hidden = !details;
  yes.textContent = yesLabel;
  yes.classList.toggle('danger', danger);
  yes.classList.toggle('primary', !danger);
  const wantReason = reason !== null;
  reasonRow.hidden = !wantReason;
  reasonInput.value = wantReason ? reason : '';

  return new Promise((resolve) => {
    let done = false;
    const finish = (ok) => {
      if (done) return;
      done = true;
      yes.removeEventListener('click', onYes);
      no.removeEventListener('click', onNo);
      dlg.removeEventListener('cancel', onCancel);
      reasonInput.removeEventListener('keydown', onKey);
      if (dlg.open) dlg.close();
      resolve(ok ? { ok: true, reason: reasonInput.value.trim() } : { ok: false });
    };
    const onYes = () => finish(true);
    const onNo = () => finish(false);
    const onCancel = (e) => { e.preventDefault(); finish(false); };
    const onKey = (e) => { if (e.key === 'Enter') { e.preventDefault(); finish(true); } };
    yes.addEventListener('click', onYes);
    no.addEventListener('click', onNo);
    dlg.addEventListener('cancel', onCancel);
    reasonInput.addEventListener('keydown', onKey);
    dlg.showModal();
    (wantReason ? reasonInput : no).focus();
  });
}

// ------------------------------------------------------------ toasts

export function toast(text, kind = 'ok') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  box.appendChild(el);
  setTimeout(() => el.classList.add('leaving'), 3800);
  setTimeout(() => el.remove(), 4300);
}

// ------------------------------------------------------------ states

export function loading(text = 'Loading…') {
  return h('div', { class: 'state loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

export function errorBox(err, onRetry) {
  const msg = err instanceof ApiError || err instanceof Error ? err.message : String(err);
  let retry = null;
  if (onRetry) {
    retry = h('button', { type: 'button', class: 'btn small' }, 'Retry');
    retry.addEventListener('click', onRetry);
  }
  return h('div', { class: 'state error', role: 'alert' },
    h('strong', {}, 'Could not load this page. '), msg, retry);
}

// ------------------------------------------------------------ findings

export function findingsHead({ showClient = true } = {}) {
  return h('thead', {}, h('tr', {},
    h('th', {}, 'Time'), h('th', {}, 'Severity · conf.'), h('th', {}, 'Kind'), h('th', {}, 'Summary'),
    showClient ? h('th', {}, 'Client') : null, h('th', {}, 'Endpoint')));
}

/** <tr class="finding" data-id="…">; a click anywhere on the row (outside links) opens the detail. */
export function findingRow(f, { showClient = true, fresh = false } = {}) {
  const href = findingHref(f.id);
  const tr = h('tr', { class: fresh ? 'finding fresh' : 'finding', dataset: { id: f.id } },
    h('td', { class: 'nowrap' }, timeEl(f.window_end_ms ?? f.window_start_ms, { compact: true })),
    h('td', { class: 'nowrap' }, sevBadge(f.severity),
      f.confidence != null ? h('span', { class: 'conf', title: 'confidence' }, fmtConfidence(f.confidence)) : null),
    h('td', { class: 'nowrap' }, kindLabel(f.kind)),
    h('td', { class: 'summary' }, h('a', { href }, f.summary || kindLabel(f.kind))),
    showClient ? h('td', {}, findingClient(f.client)) : null,
    h('td', { class: 'mono' }, f.endpoint || h('span', { class: 'muted' }, '—')));
  tr.addEventListener('click', (e) => {
    if (e.target.closest('a, button')) return;
    location.hash = href;
  });
  return tr;
}

export function fmtConfidence(c) {
  if (c == null || Number.isNaN(Number(c))) return '—';
  return `${Math.round(Number(c) * 100)}%`;
}

export function findingsTable(findings, opts = {}) {
  const body = h('tbody', {});
  const cols = opts.showClient === false ? 5 : 6;
  if (!findings.length) body.appendChild(emptyRow(cols, opts.empty || 'No findings.'));
  findings.forEach((f) => body.appendChild(findingRow(f, opts)));
  return { wrap: tableWrap(h('table', { class: 'data findings' }, findingsHead(opts), body)), body };
}

// ------------------------------------------------------------ blocks

export function expiresEl(block) {
  if (block.expires_ms == null) return h('span', { class: 'badge perm' }, 'until removed');
  return timeEl(block.expires_ms, { compact: true });
}

export function blockDetails(block) {
  return h('dl', { class: 'kv-inline' },
    h('dt', {}, 'Scope'), h('dd', {}, scopeEl(block.scope)),
    h('dt', {}, 'Reason'), h('dd', {}, block.reason || '—'),
    h('dt', {}, 'Origin'), h('dd', {}, block.origin || '—'));
}

/** Confirm, then DELETE /api/blocks/{id}?reason=…; resolves true when the block is gone. */
export async function unblockFlow(block) {
  const answer = await confirmDialog({
    title: 'Remove this block?',
    message: 'Traffic from this client will be allowed again right away.',
    details: blockDetails(block),
    yesLabel: 'Unblock',
    danger: true,
    reason: '',
  });
  if (!answer.ok) return false;
  try {
    const query = answer.reason ? `?reason=${encodeURIComponent(answer.reason)}` : '';
    await api(`/api/blocks/${encodeURIComponent(block.id)}${query}`, { method: 'DELETE' });
    toast(`Block #${block.id} removed.`);
    return true;
  } catch (e) {
    if (e.status === 404) {
      toast('That block is no longer in force.', 'warn');
      return true;
    }
    toast(`Unblock failed: ${e.message}`, 'error');
    return false;
  }
}

/** Confirm, then POST /api/blocks. Returns the new Block; throws ApiError (4xx message) on failure. */
export async function blockFlow({ scope, value, ttl, reason, askReason = false }) {
  const ttlText = ttl == null || ttl === '' ? 'until removed' : (typeof ttl === 'number' ? `${ttl} s` : ttl);
  const answer = await confirmDialog({
    title: 'Block this client?',
    message: `Requests matching ${scope}:${value} will be denied (${ttlText}).`,
    details: h('dl', { class: 'kv-inline' },
      h('dt', {}, 'Scope'), h('dd', {}, scopeEl(`${scope}:${value}`)),
      h('dt', {}, 'Duration'), h('dd', {}, ttlText),
      askReason ? null : h('dt', {}, 'Reason'), askReason ? null : h('dd', {}, reason || '—')),
    yesLabel: 'Block',
    danger: true,
    reason: askReason ? (reason || '') : null,
  });
  if (!answer.ok) return null;
  const body = {
    scope,
    value,
    ttl: ttl === '' || ttl == null ? null : ttl,
    reason: askReason ? (answer.reason || reason || 'manual') : (reason || 'manual'),
  };
  const block = await api('/api/blocks', { method: 'POST', body });
  toast(`Blocked ${scope}:${value}.`);
  return block;
}

/** Parse a TTL input: "" -> null (permanent), "600" -> 600 (seconds), "10m" -> "10m". */
export function parseTtl(text) {
  const t = String(text || '').trim();
  if (!t) return null;
  if (/^\d+$/.test(t)) return Number(t);
  return t;
}

/**
 * Blocks table. onChanged() is called after a successful unblock.
 * Each row has <button class="unblock" data-block-id="…">.
 */
export function blocksTable(blocks, { onChanged, showFinding = true, empty = 'No blocks in force.' } = {}) {
  const body = h('tbody', {});
  const cols = showFinding ? 8 : 7;
  if (!blocks.length) body.appendChild(emptyRow(cols, empty));
  for (const b of blocks) {
    const btn = h('button', { type: 'button', class: 'unblock btn small', dataset: { blockId: String(b.id) } }, 'Unblock');
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      const gone = await unblockFlow(b);
      btn.disabled = false;
      if (gone && onChanged) onChanged(b);
    });
    body.appendChild(h('tr', { class: 'block', dataset: { id: String(b.id) } },
      h('td', { class: 'num muted' }, `#${b.id}`),
      h('td', {}, scopeLinked(b.scope)),
      h('td', {}, b.reason || '—'),
      h('td', {}, h('span', { class: `badge origin origin-${safeClass(b.origin)}` }, b.origin || '—')),
      h('td', { class: 'nowrap' }, timeEl(b.created_ms, { compact: true })),
      h('td', { class: 'nowrap' }, expiresEl(b)),
      showFinding ? h('td', { class: 'nowrap' }, b.finding
        ? h('a', { href: findingHref(b.finding), class: 'mono', title: b.finding }, shortId(b.finding))
        : h('span', { class: 'muted' }, '—')) : null,
      h('td', { class: 'actions' }, btn)));
  }
  return tableWrap(h('table', { class: 'data blocks' },
    h('thead', {}, h('tr', {},
      h('th', { class: 'num' }, 'ID'), h('th', {}, 'Scope'), h('th', {}, 'Reason'), h('th', {}, 'Origin'),
      h('th', {}, 'Created'), h('th', {}, 'Expires'), showFinding ? h('th', {}, 'Finding') : null,
      h('th', {}, h('span', { class: 'sr-only' }, 'Actions')))),
    body));
}

/** Scopes of kind ip / subject / api_key link to their client page; cidr has none. */
export function scopeLinked(scope) {
  const [kind] = splitKey(scope);
  if (kind === 'ip' || kind === 'subject' || kind === 'api_key') {
    return h('a', { href: `#/clients/${encodeURIComponent(scope)}`, class: 'plain' }, scopeEl(scope));
  }
  return scopeEl(scope);
}

export function shortId(id) {
  const s = String(id || '');
  return s.length > 13 ? `${s.slice(0, 8)}…${s.slice(-4)}` : s;
}

export function safeClass(v) {
  return String(v || '').toLowerCase().replace(/[^a-z0-9_-]/g, '');
}

export function pageHeader(title, ...extra) {
  return h('header', { class: 'page-head' }, h('h1', {}, title), h('div', { class: 'page-tools' }, extra));
}

export function card(title, body, { tools, id, cls } = {}) {
  return h('section', { class: ['card', cls], id },
    title ? h('div', { class: 'card-head' }, h('h2', {}, title), tools ? h('div', { class: 'card-tools' }, tools) : null) : null,
    body);
}
