// Small DOM and formatting helpers. Every string reaches the DOM as a text
// node (never as HTML), so values from the API are always escaped.

const SVG_NS = 'http://www.w3.org/2000/svg';

export const KINDS = [
  'auth_failure_spike', 'bola_enumeration', 'credential_stuffing', 'brute_force', 'scraping',
  'probing', 'volume_anomaly', 'latency_anomaly', 'error_burst', 'new_endpoint', 'signature',
  'unusual_client',
];
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'];
export const SCOPE_KINDS = ['ip', 'cidr', 'subject', 'api_key'];

function append(el, child) {
  if (child == null || child === false) return;
  if (Array.isArray(child)) { child.forEach((c) => append(el, c)); return; }
  el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'style') throw new Error('inline style attributes are not allowed (CSP)');
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) throw new Error('use addEventListener, not on* attributes (CSP)');
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** h('a', {href: '#/x', class: 'y'}, 'text', child...) -> element; strings become text nodes. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** Same as h() for SVG elements. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// ---------------------------------------------------------------- numbers

export function fmtInt(n) {
  if (n == null || Number.isNaN(Number(n))) return '—';
  return Number(n).toLocaleString();
}

export function fmtRate(n) {
  if (n == null || Number.isNaN(Number(n))) return '—';
  const v = Number(n);
  if (v === 0) return '0';
  if (v < 0.1) return v.toFixed(3);
  if (v < 10) return v.toFixed(2);
  if (v < 100) return v.toFixed(1);
  return Math.round(v).toLocaleString();
}

/** microseconds -> "12.3" (ms, no unit) */
export function fmtMs(us) {
  if (us == null || Number.isNaN(Number(us))) return '—';
  const ms = Number(us) / 1000;
  if (ms < 1) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return Math.round(ms).toLocaleString();
}

export function fmtBytes(n) {
  if (n == null) return '—';
  const v = Number(n);
  if (v < 1024) return `${Math.round(v)} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${(v / 1024 / 1024).toFixed(1)} MiB`;
}

export function fmtDuration(seconds) {
  let s = Math.max(0, Math.round(Number(seconds) || 0));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hr = Math.floor(s / 3600); s -= hr * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

// ---------------------------------------------------------------- times

const sameDay = (a, b) => a.getFullYear() === b.getFullYear()
  && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

export function fmtLocal(ms) {
  if (ms == null) return '—';
  const d = new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return '—';
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  if (sameDay(d, new Date())) return time;
  return `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

export function fmtLocalFull(ms) {
  if (ms == null) return '';
  const d = new Date(Number(ms));
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}

export function fmtRelative(ms, now = Date.now()) {
  if (ms == null) return '';
  const diff = Math.round((Number(ms) - now) / 1000);
  const abs = Math.abs(diff);
  let txt;
  if (abs < 5) return 'just now';
  if (abs < 60) txt = `${abs} s`;
  else if (abs < 3600) txt = `${Math.round(abs / 60)} min`;
  else if (abs < 86400) txt = `${Math.round(abs / 3600)} h`;
  else txt = `${Math.round(abs / 86400)} d`;
  return diff < 0 ? `${txt} ago` : `in ${txt}`;
}

/** Local time plus relative time ("14:02:31 · 2 min ago"); relative part is refreshed by tickTimes(). */
export function timeEl(ms, { compact = false } = {}) {
  if (ms == null) return h('span', { class: 'muted' }, '—');
  const iso = new Date(Number(ms)).toISOString();
  const rel = h('span', { class: 'rel', dataset: { ms: String(ms) } }, fmtRelative(ms));
  return h('time', { class: compact ? 'ts compact' : 'ts', datetime: iso, title: fmtLocalFull(ms) },
    h('span', { class: 'abs' }, fmtLocal(ms)), ' ', rel);
}

/** Refresh every relative time in the document. */
export function tickTimes() {
  const now = Date.now();
  document.querySelectorAll('.rel[data-ms]').forEach((el) => {
    el.textContent = fmtRelative(Number(el.dataset.ms), now);
  });
}

// ---------------------------------------------------------------- domain bits

export function severityRank(sev) {
  const i = SEVERITIES.indexOf(sev);
  return i < 0 ? 0 : i;
}

export function sevBadge(sev) {
  const known = SEVERITIES.includes(sev) ? sev : 'info';
  return h('span', { class: `badge sev sev-${known}` }, sev || 'unknown');
}

export function kindLabel(kind) {
  return String(kind || 'unknown').replace(/_/g, ' ');
}

/** "ip:1.2.3.4" -> ["ip", "1.2.3.4"]; splits at the first colon only (IPv6 values contain colons). */
export function splitKey(key) {
  const s = String(key || '');
  const i = s.indexOf(':');
  return i < 0 ? ['', s] : [s.slice(0, i), s.slice(i + 1)];
}

export function clientHref(key) {
  return `#/clients/${encodeURIComponent(key)}`;
}

export function findingHref(id) {
  return `#/findings/${encodeURIComponent(id)}`;
}

/** Client identities of a finding as client keys ("ip:…", "subject:…", "api_key:…"). */
export function findingClientKeys(client) {
  const c = client || {};
  const keys = [];
  if (c.subject != null && c.subject !== '') keys.push(`subject:${c.subject}`);
  if (c.api_key_id != null && c.api_key_id !== '') keys.push(`api_key:${c.api_key_id}`);
  if (c.ip != null && c.ip !== '') keys.push(`ip:${c.ip}`);
  return keys;
}

/** A client key shown as "kind value" with a link to the client page. */
export function clientLink(key) {
  const [kind, value] = splitKey(key);
  return h('a', { class: 'client-link', href: clientHref(key), title: key },
    kind ? h('span', { class: 'key-kind' }, kind) : null, h('span', { class: 'key-value' }, value));
}

/** All identities of a finding's client, or "endpoint-wide". */
export function findingClient(client) {
  const keys = findingClientKeys(client);
  if (!keys.length) return h('span', { class: 'muted' }, 'endpoint-wide');
  return h('span', { class: 'client-list' }, keys.map((k) => clientLink(k)));
}

export function scopeEl(scope) {
  const [kind, value] = splitKey(scope);
  return h('span', { class: 'scope' }, h('span', { class: 'key-kind' }, kind || '?'),
    h('span', { class: 'key-value' }, value));
}

/** Wraps a table so it scrolls horizontally on narrow screens. */
export function tableWrap(table) {
  return h('div', { class: 'table-wrap' }, table);
}

export function emptyRow(cols, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: String(cols) }, text));
}

export function debounce(fn, ms) {
  let t = 0;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}
