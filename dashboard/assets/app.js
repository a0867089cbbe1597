// Entry point: login / logout, the hash router, the live indicator.

import { api, bus, live, getToken, setToken, clearToken, ApiError } from './api.js';
import { h, clear, tickTimes } from './util.js';
import { errorBox } from './components.js';
import * as overview from './pages/overview.js';
import * as findings from './pages/findings.js';
import * as finding from './pages/finding.js';
import * as blocks from './pages/blocks.js';
import * as endpoints from './pages/endpoints.js';
import * as clients from './pages/clients.js';
import * as client from './pages/client.js';

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ routing

const ROUTES = [
  { re: /^\/overview$/, page: overview, nav: 'overview', title: 'Overview' },
  { re: /^\/findings$/, page: findings, nav: 'findings', title: 'Findings' },
  { re: /^\/findings\/(.+)$/, page: finding, nav: 'findings', title: 'Finding' },
  { re: /^\/blocks$/, page: blocks, nav: 'blocks', title: 'Blocks' },
  { re: /^\/endpoints$/, page: endpoints, nav: 'endpoints', title: 'Endpoints' },
  { re: /^\/clients$/, page: clients, nav: 'clients', title: 'Clients' },
  { re: /^\/clients\/(.+)$/, page: client, nav: 'clients', title: 'Client' },
];

let view = null; // { ctrl } of the page on screen

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/overview';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  return { path, query };
}

function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

async function route() {
  if (!getToken()) return;
  const { path, query } = parseHash();
  const match = ROUTES.find((r) => r.re.test(path));
  if (!match) {
    location.replace('#/overview');
    return;
  }
  const params = path.match(match.re).slice(1).map(safeDecode);

  if (view) view.ctrl.abort();
  const ctrl = new AbortController();
  view = { ctrl };
  const main = $('main');
  const root = h('div', { class: `page page-${match.nav}` });
  clear(main).appendChild(root);
  main.scrollTop = 0;
  window.scrollTo(0, 0);

  document.querySelectorAll('#nav a[data-nav]').forEach((a) => {
    const active = a.dataset.nav === match.nav;
    a.classList.toggle('active', active);
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  document.body.classList.remove('nav-open');
  $('menu').setAttribute('aria-expanded', 'false');
  document.title = `${match.title} · Palisade`;

  const ctx = {
    root,
    params,
    query,
    signal: ctrl.signal,
    /** Subscribe to a live event for as long as this page is on screen. */
    on(type, fn) {
      bus.addEventListener(type, (e) => fn(e.detail), { signal: ctrl.signal });
    },
    /** setInterval for as long as this page is on screen. */
    every(ms, fn) {
      const t = setInterval(fn, ms);
      ctrl.signal.addEventListener('abort', () => clearInterval(t));
    },
    /** Update the hash query without re-rendering the page. */
    setQuery(params) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) if (v) qs.set(k, v);
      const str = qs.toString();
      history.replaceState(null, '', `#${path}${str ? `?${str}` : ''}`);
    },
  };
  try {
    await match.page.render(ctx);
  } catch (e) {
    if (ctrl.signal.aborted || (e && e.name === 'AbortError')) return;
    if (e instanceof ApiError && e.status === 401) return; // handled by the "unauthorized" event
    console.error(e);
    clear(root).appendChild(errorBox(e, () => route()));
  }
}

// ------------------------------------------------------------------ auth

function showLogin(message) {
  if (view) { view.ctrl.abort(); view = null; }
  live.stop();
  clear($('main'));
  $('app').hidden = true;
  $('login-view').hidden = false;
  const msg = $('login-message');
  msg.textContent = message || '';
  msg.hidden = !message;
  const tok = $('token');
  tok.value = '';
  tok.focus();
}

function showApp() {
  $('login-view').hidden = true;
  $('app').hidden = false;
  live.start();
  route();
}

function logout(message) {
  clearToken();
  showLogin(message);
}

async function onLogin(e) {
  e.preventDefault();
  const token = $('token').value.trim();
  const msg = $('login-message');
  const btn = $('login');
  if (!token) {
    msg.textContent = 'Enter the admin token.';
    msg.hidden = false;
    return;
  }
  btn.disabled = true;
  msg.hidden = true;
  setToken(token);
  try {
    await api('/api/stats');
    showApp();
  } catch (err) {
    clearToken();
    msg.textContent = err.status === 401
      ? 'That token was not accepted (401 Unauthorized). Check the admin token and try again.'
      : `Cannot sign in: ${err.message}`;
    msg.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

// ------------------------------------------------------------------ live indicator

function setLive(on) {
  const el = $('live');
  el.textContent = on ? 'live' : 'reconnecting…';
  el.classList.toggle('on', on);
  el.classList.toggle('off', !on);
  el.title = on ? 'Receiving live events' : 'Live events interrupted; reconnecting';
}

// ------------------------------------------------------------------ start

function init() {
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', () => logout('You are signed out.'));
  $('menu').addEventListener('click', () => {
    const open = document.body.classList.toggle('nav-open');
    $('menu').setAttribute('aria-expanded', String(open));
  });
  bus.addEventListener('unauthorized', () => {
    if (!getToken()) return;
    logout('Your session is no longer authorized (401). Sign in again with a valid admin token.');
  });
  bus.addEventListener('status', (e) => setLive(e.detail.connected));
  window.addEventListener('hashchange', route);
  setInterval(tickTimes, 10000);
  setLive(false);

  if (getToken()) showApp();
  else showLogin('');
}

init();
