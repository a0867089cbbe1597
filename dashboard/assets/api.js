// API access: the admin token (sessionStorage only, never in a URL), JSON
// fetches with a Bearer header, and the live event stream (/api/stream) read
// with fetch() + ReadableStream because EventSource cannot send headers.

const TOKEN_KEY = 'palisade.token';

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
}

/** Events: "unauthorized" (a request got 401), "status" (detail {connected}),
 *  and one per SSE event type: "finding", "block", "unblock", "stats", "reset". */
export const bus = new EventTarget();

function emit(type, detail) {
  bus.dispatchEvent(new CustomEvent(type, { detail }));
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
  }
}

function authHeaders(extra) {
  return { Authorization: `Bearer ${getToken()}`, Accept: 'application/json', ...extra };
}

/**
 * api('/api/findings', {query: {kind: 'probing'}}) -> parsed JSON.
 * Throws ApiError with the server's {"error","message"} on non-2xx.
 */
export async function api(path, { method = 'GET', query, body, signal } = {}) {
  let url = path;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v != null && v !== '') qs.set(k, String(v));
    }
    const str = qs.toString();
    if (str) url += (url.includes('?') ? '&' : '?') + str;
  }
  const init = { method, headers: authHeaders(), cache: 'no-store', signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach the Palisade admin server.');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const code = data && data.error;
    const message = (data && data.message) || (text && !data ? text.slice(0, 300) : '') || `HTTP ${res.status} ${res.statusText}`;
    if (res.status === 401) emit('unauthorized', { message });
    throw new ApiError(res.status, code, message);
  }
  return data;
}

/**
 * Downloads /api/export (a Parquet file) with the Bearer header, which a plain
 * link cannot send: fetched as a blob, then saved through a temporary link.
 * Returns the file name.
 */
export async function download(path, query) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v != null && v !== '') qs.set(k, String(v));
  }
  let res;
  try {
    res = await fetch(`${path}?${qs}`, { headers: authHeaders({ Accept: 'application/vnd.apache.parquet' }), cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the Palisade admin server.');
  }
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    if (res.status === 401) emit('unauthorized', {});
    throw new ApiError(res.status, data && data.error, (data && data.message) || `HTTP ${res.status}`);
  }
  const blob = await res.blob();
  const cd = res.headers.get('Content-Disposition') || '';
  const m = /filename="([^"]+)"/.exec(cd);
  const name = m ? m[1] : 'palisade-export.parquet';
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return name;
}

// ------------------------------------------------------------------ SSE

/**
 * Incremental SSE parser (the WHATWG HTML "event stream interpretation" rules).
 * feed(text) calls onEvent({type, data, id}) for each complete event.
 */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
    this.type = '';
    this.data = [];
    this.lastId = null; // last "id:" seen in this stream
  }

  feed(chunk) {
    this.buf += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone "\r" at the end of the buffer may be the first half of "\r\n".
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') { this.dispatch(); return; }
    if (line.startsWith(':')) return; // comment / keep-alive
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    // "retry" is ignored: reconnection uses its own backoff.
  }

  dispatch() {
    const type = this.type || 'message';
    const data = this.data;
    this.type = '';
    this.data = [];
    if (!data.length) return;
    this.onEvent({ type, data: data.join('\n'), id: this.lastId });
  }
}

const STALL_MS = 45000; // no bytes at all (stats tick every second) -> reconnect

/** One live connection to /api/stream with reconnect, backoff 1 s .. 10 s and Last-Event-ID. */
export class LiveStream {
  constructor() {
    this.lastEventId = null;
    this.running = false;
    this.connected = false;
    this.ctrl = null;
    this.timer = 0;
    this.backoff = 1000;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.backoff = 1000;
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = null;
    this.setConnected(false);
  }

  setConnected(on) {
    if (this.connected === on) return;
    this.connected = on;
    emit('status', { connected: on });
  }

  async connect() {
    if (!this.running) return;
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    let stall = 0;
    const armStall = () => {
      clearTimeout(stall);
      stall = setTimeout(() => ctrl.abort(), STALL_MS);
    };
    let unauthorized = false;
    try {
      const headers = authHeaders({ Accept: 'text/event-stream' });
      if (this.lastEventId != null) headers['Last-Event-ID'] = this.lastEventId;
      armStall();
      const res = await fetch('/api/stream', { headers, cache: 'no-store', signal: ctrl.signal });
      if (res.status === 401) {
        unauthorized = true;
        emit('unauthorized', { message: 'The server rejected the token (401).' });
        return;
      }
      if (!res.ok || !res.body) throw new Error(`stream HTTP ${res.status}`);
      this.setConnected(true);
      this.backoff = 1000;
      const parser = new SseParser((ev) => this.handle(ev));
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        armStall();
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } catch (e) {
      if (e && e.name !== 'AbortError') console.debug('live stream:', e.message || e);
    } finally {
      clearTimeout(stall);
      if (this.ctrl === ctrl) this.ctrl = null;
      this.setConnected(false);
      if (this.running && !unauthorized) {
        const wait = this.backoff;
        this.backoff = Math.min(this.backoff * 2, 10000);
        this.timer = setTimeout(() => this.connect(), wait);
      }
    }
  }

  handle({ type, data, id }) {
    if (id != null) this.lastEventId = id;
    let payload = null;
    if (data !== '') {
      try { payload = JSON.parse(data); } catch { payload = data; }
    }
    emit(type, payload);
  }
}

export const live = new LiveStream();
