// One client: live counters, findings, blocks in force, timeline, "Block this client".

import { api } from '../api.js';
import {
  h, clear, fmtInt, timeEl, splitKey, findingClientKeys, findingHref, SCOPE_KINDS, debounce, scopeEl,
} from '../util.js';
import {
  blocksTable, blockFlow, findingsTable, pageHeader, card, loading, safeClass, toast,
} from '../components.js';

const TTLS = [['10m', '10 minutes'], ['1h', '1 hour'], ['24h', '24 hours'], ['', 'until removed']];

const COUNTERS = [
  ['requests', 'Requests'], ['unauthorized', '401'], ['forbidden', '403'], ['not_found', '404'],
  ['server_errors', '5xx'], ['login_failed', 'Login failed'], ['signature_hits', 'Signature hits'],
];

const TIMELINE_SYM = { finding: '⚑', block_created: '⊘', block_removed: '↺', block_expired: '◷' };

function timeline(items) {
  if (!items.length) return h('p', { class: 'muted' }, 'Nothing recorded for this client yet.');
  return h('ol', { class: 'timeline' }, items.map((t) => h('li', { class: `tl-${safeClass(t.type)}` },
    h('span', { class: 'tl-sym', 'aria-hidden': 'true' }, TIMELINE_SYM[t.type] || '•'),
    h('div', { class: 'tl-body' },
      h('div', { class: 'tl-head' },
        h('span', { class: 'tl-type' }, String(t.type || '').replace(/_/g, ' ')), ' ', timeEl(t.at_ms)),
      h('div', { class: 'tl-summary' },
        t.finding ? h('a', { href: findingHref(t.finding) }, t.summary || 'finding') : (t.summary || ''),
        t.block != null ? h('span', { class: 'muted small' }, ` · block #${t.block}`) : null)))));
}

export async function render(ctx) {
  const { root, params } = ctx;
  const key = params[0];
  const [kind, value] = splitKey(key);
  const canBlock = SCOPE_KINDS.includes(kind) && value !== '';

  const ttlSel = h('select', { id: 'client-block-ttl', 'aria-label': 'Block duration' },
    TTLS.map(([v, label]) => h('option', { value: v }, label)));
  ttlSel.value = '1h';
  const blockBtn = h('button', { type: 'button', class: 'btn danger', id: 'block-client', disabled: !canBlock }, 'Block this client');
  const blockErr = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const badgeSlot = h('span', {});

  root.appendChild(h('a', { href: '#/clients', class: 'back' }, '← Clients'));
  const head = pageHeader('Client', h('div', { class: 'inline-form' }, ttlSel, blockBtn));
  head.querySelector('h1').replaceChildren(scopeEl(key), badgeSlot);
  root.appendChild(head);
  root.appendChild(blockErr);

  const counters = h('div', { class: 'tiles small' });
  const findingsSlot = h('div', {}, loading());
  const blocksSlot = h('div', {}, loading());
  const timelineSlot = h('div', {}, loading());
  const seen = h('p', { class: 'muted small seen-line' });
  root.appendChild(card('Live counters', [counters, seen], { tools: h('span', { class: 'muted small' }, 'last 1–2 minutes') }));
  root.appendChild(card('Blocks in force', blocksSlot));
  root.appendChild(h('div', { class: 'grid-2 wide-left' },
    card('Findings', findingsSlot, {
      tools: value ? h('a', { class: 'small', href: `#/findings?client=${encodeURIComponent(value)}` }, 'all findings →') : null,
    }),
    card('Timeline', timelineSlot, { tools: h('span', { class: 'muted small' }, 'newest first') })));

  let blocked = false;

  async function load() {
    const c = await api(`/api/clients/${encodeURIComponent(key)}`, { signal: ctx.signal });
    const liveSum = c.live;
    const blocks = c.blocks || [];
    blocked = blocks.length > 0 || !!(liveSum && liveSum.blocked);
    clear(badgeSlot).appendChild(blocked ? h('span', { class: 'badge blocked-badge' }, 'blocked') : h('span', {}));

    clear(counters);
    clear(seen);
    if (!liveSum) {
      counters.appendChild(h('p', { class: 'muted' }, 'No traffic from this client in the last minutes.'));
    } else {
      for (const [k, label] of COUNTERS) {
        const n = Number(liveSum[k]) || 0;
        counters.appendChild(h('div', { class: k !== 'requests' && n > 0 ? 'tile alert' : 'tile' },
          h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value' }, fmtInt(n))));
      }
      clear(seen).append('first seen ', timeEl(liveSum.first_seen_ms), ' · last seen ', timeEl(liveSum.last_seen_ms));
    }

    clear(blocksSlot).appendChild(blocksTable(blocks, { onChanged: () => reload(), empty: 'This client is not blocked.' }));
    clear(findingsSlot).appendChild(findingsTable(c.findings || [], { showClient: false, empty: 'No findings for this client.' }).wrap);
    clear(timelineSlot).appendChild(timeline(c.timeline || []));
  }

  async function reload() {
    try { await load(); } catch (e) { if (e.name !== 'AbortError') toast(`Refresh failed: ${e.message}`, 'error'); }
  }
  const soon = debounce(reload, 300);

  blockBtn.addEventListener('click', async () => {
    blockErr.hidden = true;
    blockBtn.disabled = true;
    try {
      const created = await blockFlow({
        scope: kind, value, ttl: ttlSel.value || null, reason: 'manual block from dashboard', askReason: true,
      });
      if (created !== null) await reload();
    } catch (e) {
      blockErr.textContent = `Could not block: ${e.message}${e.code ? ` (${e.code})` : ''}`;
      blockErr.hidden = false;
    } finally {
      blockBtn.disabled = !canBlock;
    }
  });

  const concernsMe = (scope) => scope === key;
  ctx.on('block', (b) => { if (b && concernsMe(b.scope)) soon(); });
  ctx.on('unblock', (d) => { if (d && d.block && concernsMe(d.block.scope)) soon(); });
  ctx.on('finding', (f) => { if (f && findingClientKeys(f.client).includes(key)) soon(); });
  ctx.on('reset', soon);
  ctx.every(5000, () => { if (!document.hidden) reload(); });

  await load();
}
