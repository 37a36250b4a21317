/**
 * Tidings inbox for browsers: a realtime client and the `<tidings-inbox>` custom element.
 *
 *   <script type="module" src="https://tidings.example.com/inbox.js"></script>
 *   <tidings-inbox api="https://tidings.example.com" token="SUBSCRIBER_TOKEN"></tidings-inbox>
 *
 * One plain ES module with no dependencies, served as written by `GET /inbox.js`. The stream is a
 * WebSocket (`/v1/inbox/ws`, the token sent as the first message so it never lands in a URL) that
 * reconnects with backoff and jitter and resumes from the last event id (`?after=`), so nothing is
 * missed or shown twice; where WebSockets never get through (a proxy that blocks them) it falls
 * back to Server-Sent Events (`/v1/inbox/stream`). Server data is only ever set as text, and only
 * http(s) URLs are followed.
 */

const EVENT_TYPES = ['ready', 'item.created', 'item.updated', 'inbox.read-all', 'inbox.seen-all'];
/** Close codes of /v1/inbox/ws after which reconnecting with the same token cannot help. */
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_REPLACED = 4429;
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;
/** WebSocket attempts that never opened before the client tries Server-Sent Events instead. */
const WS_FAILURES_BEFORE_SSE = 2;
const PAGE_SIZE = 20;
/**
 * A connection can die without closing (a laptop that slept, a NAT that forgot it), and the
 * server's pings are invisible to page scripts. So while the page is visible and the stream has
 * been quiet this long, the client asks for the unread count; when it differs from the stream's,
 * the stream is stale: reconnect and resume.
 */
const QUIET_CHECK_MS = 60_000;

/** Only http(s) URLs are ever followed: a `javascript:` action URL must not run in the page. */
export function safeUrl(value) {
  if (typeof value !== 'string' || value.length === 0) return null;
  try {
    const url = new URL(value, globalThis.location?.href);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * Whose inbox a subscriber token opens (its tenant and subscriber, read from the token's payload;
 * the signature is the server's business), or null when it cannot be read.
 */
export function tokenSubject(token) {
  try {
    const part = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')));
    return typeof claims?.sub === 'string' ? JSON.stringify([claims.tid ?? null, claims.sub]) : null;
  } catch {
    return null;
  }
}

/** Full jitter (a random delay up to the exponential bound), so clients do not return in step. */
export function backoffDelay(attempt, random = Math.random) {
  const bound = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.max(100, Math.round(random() * bound));
}

/**
 * The realtime inbox of one subscriber. Emits (as DOM events on itself): `event` (every stream
 * event, `detail` the event), `status` (`detail.status`: `connecting`, `open`, `closed`,
 * `unauthorized`), `error` (`detail.error`). Actions go through the REST routes.
 */
export class TidingsInboxClient extends EventTarget {
  constructor({ api, token, transport = 'auto', quietCheckMs = QUIET_CHECK_MS }) {
    super();
    this.quietCheckMs = quietCheckMs;
    this.lastHeardAt = Date.now();
    this.lastUnread = null;
    this.api = String(api).replace(/\/+$/, '');
    this.token = token;
    this.transport = transport;
    this.lastEventId = null;
    this.attempt = 0;
    this.wsFailures = 0;
    this.wsEverOpened = false;
    this.useSse = transport === 'sse';
    this.stopped = true;
    this.connection = null;
    this.timer = null;
    this.onOnline = () => {
      if (!this.stopped && !this.connection) this.reconnectNow();
    };
    this.onVisible = () => {
      if (globalThis.document?.visibilityState === 'visible') this.checkQuiet();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    globalThis.addEventListener?.('online', this.onOnline);
    globalThis.document?.addEventListener('visibilitychange', this.onVisible);
    this.watch = setInterval(() => this.checkQuiet(), Math.max(1000, this.quietCheckMs / 2));
    this.connect();
  }

  stop() {
    this.stopped = true;
    globalThis.removeEventListener?.('online', this.onOnline);
    globalThis.document?.removeEventListener('visibilitychange', this.onVisible);
    clearInterval(this.watch);
    clearTimeout(this.timer);
    this.timer = null;
    this.closeConnection();
    this.status('closed');
  }

  /** A new token (the old one expired): reconnect with it, resuming where the stream stopped. */
  setToken(token) {
    // Another subscriber's token (a user switch) cannot resume from an id of the last one's log.
    if (tokenSubject(token) !== tokenSubject(this.token)) this.lastEventId = null;
    this.token = token;
    if (!this.stopped) this.reconnectNow();
  }

  reconnectNow() {
    clearTimeout(this.timer);
    this.timer = null;
    this.closeConnection();
    this.connect();
  }

  closeConnection() {
    const connection = this.connection;
    this.connection = null;
    if (!connection) return;
    connection.onclose = connection.onerror = connection.onmessage = connection.onopen = null;
    try {
      connection.close();
    } catch {
      // already closed
    }
  }

  status(status) {
    this.dispatchEvent(new CustomEvent('status', { detail: { status } }));
  }

  streamUrl(path, params) {
    const url = new URL(`${this.api}${path}`);
    this.resumedFrom = this.lastEventId;
    if (this.lastEventId !== null) url.searchParams.set('after', this.lastEventId);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return url;
  }

  connect() {
    if (this.stopped || !this.token) return;
    this.status('connecting');
    if (this.useSse || typeof WebSocket === 'undefined') this.connectSse();
    else this.connectWs();
  }

  connectWs() {
    const url = this.streamUrl('/v1/inbox/ws', {});
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    let opened = false;
    this.connection = socket;
    socket.onopen = () => {
      opened = true;
      this.wsEverOpened = true;
      this.wsFailures = 0;
      socket.send(JSON.stringify({ type: 'auth', token: this.token }));
    };
    socket.onmessage = (message) => this.receive(message.data);
    socket.onclose = (close) => {
      if (this.connection !== socket) return;
      this.connection = null;
      if (close.code === CLOSE_UNAUTHORIZED) return this.unauthorized();
      if (close.code === CLOSE_REPLACED) {
        // Another tab took this stream's place (at most 20 per subscriber): stay quiet until asked.
        this.status('closed');
        return;
      }
      if (!opened && !this.wsEverOpened && this.transport === 'auto') {
        this.wsFailures += 1;
        if (this.wsFailures >= WS_FAILURES_BEFORE_SSE) this.useSse = true;
      }
      this.retry();
    };
  }

  connectSse() {
    const source = new EventSource(this.streamUrl('/v1/inbox/stream', { token: this.token }));
    this.connection = source;
    let replaced = false;
    for (const type of EVENT_TYPES) source.addEventListener(type, (message) => this.receive(message.data));
    source.addEventListener('stream.replaced', () => {
      replaced = true;
    });
    source.onerror = () => {
      if (this.connection !== source) return;
      if (replaced) {
        // As the WebSocket's 4429: another tab took this stream's place; stay quiet until asked.
        this.connection = null;
        source.close();
        this.status('closed');
        return;
      }
      // EventSource would retry on its own, but without our backoff and with the token it started
      // with; an expired token shows as a failed reconnect, so ask the server why.
      this.connection = null;
      source.close();
      this.checkToken().then((ok) => (ok ? this.retry() : this.unauthorized()));
    };
  }

  async checkToken() {
    try {
      const response = await this.request('GET', '/v1/inbox/unread-count');
      return response.status !== 401;
    } catch {
      return true;
    }
  }

  /** See {@link QUIET_CHECK_MS}. */
  async checkQuiet() {
    if (
      this.stopped ||
      !this.connection ||
      this.checking ||
      globalThis.document?.visibilityState === 'hidden'
    )
      return;
    if (Date.now() - this.lastHeardAt < this.quietCheckMs || this.lastUnread === null) return;
    this.checking = true;
    try {
      // The request may ride a pooled connection that died with the stream's: it gets a deadline,
      // and missing it counts as a stale stream too.
      const deadline = Math.min(10_000, Math.max(2_000, this.quietCheckMs));
      const response = await this.request(
        'GET',
        '/v1/inbox/unread-count',
        undefined,
        AbortSignal.timeout(deadline),
      );
      this.lastHeardAt = Date.now();
      if (!response.ok) return;
      const answer = await response.json();
      if (answer?.count !== this.lastUnread && !this.stopped) this.reconnectNow();
    } catch (error) {
      if (error?.name === 'TimeoutError' && !this.stopped) this.reconnectNow();
    } finally {
      this.checking = false;
    }
  }

  unauthorized() {
    this.status('unauthorized');
  }

  retry() {
    if (this.stopped) return;
    this.status('connecting');
    const delay = backoffDelay(this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  receive(text) {
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      return;
    }
    if (!event || typeof event.type !== 'string') return;
    this.lastHeardAt = Date.now();
    if (typeof event.unreadCount === 'number') this.lastUnread = event.unreadCount;
    if (event.type === 'error') {
      this.dispatchEvent(new CustomEvent('error', { detail: { error: event.error } }));
      return;
    }
    if (event.type === 'ready') {
      this.attempt = 0;
      // A resume the server could not replay (the log no longer reaches back that far) says so.
      event.resumed = this.resumedFrom !== null && event.resumed !== false;
      this.status('open');
    }
    if (event.id !== undefined && event.id !== null) this.lastEventId = String(event.id);
    this.dispatchEvent(new CustomEvent('event', { detail: event }));
  }

  async request(method, path, body, signal) {
    const headers = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${this.api}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      signal,
    });
  }

  async json(method, path, body) {
    const response = await this.request(method, path, body);
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      if (response.status === 401) this.unauthorized();
      const error = new Error(answer?.error?.message ?? `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return answer;
  }

  /** One page of the inbox, newest first: `{items, nextCursor}`. */
  list(cursor, limit = PAGE_SIZE, tab = null) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set('cursor', cursor);
    if (tab) query.set('tab', tab);
    return this.json('GET', `/v1/inbox?${query}`);
  }

  /** `{count, tabs: {name: unread}}`: the tabs the tenant defines (settings `inboxTabs`). */
  unreadByTab() {
    return this.json('GET', '/v1/inbox/unread-count?tabs=true');
  }

  markRead(itemId) {
    return this.json('POST', `/v1/inbox/${encodeURIComponent(itemId)}/read`);
  }

  markUnread(itemId) {
    return this.json('POST', `/v1/inbox/${encodeURIComponent(itemId)}/unread`);
  }

  archive(itemId) {
    return this.json('POST', `/v1/inbox/${encodeURIComponent(itemId)}/archive`);
  }

  readAll() {
    return this.json('POST', '/v1/inbox/read-all');
  }

  seenAll() {
    return this.json('POST', '/v1/inbox/seen-all');
  }

  /** Hides the item until `until` (an ISO time); it then comes back unread, as a new item. */
  snooze(itemId, until) {
    return this.json('POST', `/v1/inbox/${encodeURIComponent(itemId)}/snooze`, { until });
  }

  /** Records the click (a receipt) and answers `{url}`; `action` is an action's index. */
  click(itemId, action) {
    return this.json(
      'POST',
      `/v1/inbox/${encodeURIComponent(itemId)}/click`,
      action === undefined ? {} : { action },
    );
  }
}

const STYLE = `
:host {
  --_accent: var(--tidings-accent, #2563eb);
  --_bg: var(--tidings-bg, #ffffff);
  --_fg: var(--tidings-fg, #111827);
  --_muted: var(--tidings-muted, #6b7280);
  --_border: var(--tidings-border, #e5e7eb);
  --_unread-bg: var(--tidings-unread-bg, #eff6ff);
  --_badge-bg: var(--tidings-badge-bg, #dc2626);
  --_badge-fg: var(--tidings-badge-fg, #ffffff);
  --_radius: var(--tidings-radius, 10px);
  --_width: var(--tidings-width, 22rem);
  --_max-height: var(--tidings-max-height, 28rem);
  --_shadow: var(--tidings-shadow, 0 10px 30px rgb(0 0 0 / 0.18));
  display: inline-block;
  position: relative;
  font: var(--tidings-font, 14px/1.4 system-ui, sans-serif);
  color: var(--_fg);
}
@media (prefers-color-scheme: dark) {
  :host(:not([theme="light"])) {
    --_bg: var(--tidings-bg, #111827);
    --_fg: var(--tidings-fg, #f3f4f6);
    --_muted: var(--tidings-muted, #9ca3af);
    --_border: var(--tidings-border, #374151);
    --_unread-bg: var(--tidings-unread-bg, #1e293b);
    --_accent: var(--tidings-accent, #60a5fa);
  }
}
:host([theme="dark"]) {
  --_bg: var(--tidings-bg, #111827);
  --_fg: var(--tidings-fg, #f3f4f6);
  --_muted: var(--tidings-muted, #9ca3af);
  --_border: var(--tidings-border, #374151);
  --_unread-bg: var(--tidings-unread-bg, #1e293b);
  --_accent: var(--tidings-accent, #60a5fa);
}
button { font: inherit; color: inherit; cursor: pointer; }
button:focus-visible, [tabindex]:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
.bell {
  position: relative; display: inline-grid; place-items: center;
  inline-size: 2.5rem; block-size: 2.5rem; padding: 0;
  border: 1px solid var(--_border); border-radius: 50%; background: var(--_bg);
}
.bell svg { inline-size: 1.25rem; block-size: 1.25rem; }
.badge {
  position: absolute; inset-block-start: -0.25rem; inset-inline-end: -0.25rem;
  min-inline-size: 1.25rem; padding-inline: 0.3rem; box-sizing: border-box;
  border-radius: 999px; background: var(--_badge-bg); color: var(--_badge-fg);
  font-size: 0.75rem; font-weight: 600; line-height: 1.25rem; text-align: center;
}
.badge[hidden] { display: none; }
.panel {
  position: absolute; z-index: 1000; inset-block-start: calc(100% + 0.5rem); inset-inline-end: 0;
  inline-size: var(--_width); max-inline-size: calc(100vw - 1rem);
  display: flex; flex-direction: column; max-block-size: var(--_max-height);
  background: var(--_bg); color: var(--_fg); border: 1px solid var(--_border);
  border-radius: var(--_radius); box-shadow: var(--_shadow); overflow: hidden;
}
.panel.from-start { inset-inline-end: auto; inset-inline-start: 0; }
.panel[hidden] { display: none; }
header {
  display: flex; align-items: center; justify-content: space-between; gap: 0.5rem;
  padding-block: 0.6rem; padding-inline: 0.9rem; border-block-end: 1px solid var(--_border);
}
h2 { margin: 0; font-size: 1rem; }
.link { border: 0; background: none; color: var(--_accent); padding: 0.2rem; }
.link:disabled { color: var(--_muted); cursor: default; }
.list { list-style: none; margin: 0; padding: 0; overflow-y: auto; flex: 1; }
.item {
  display: grid; grid-template-columns: 1fr auto; gap: 0.25rem 0.5rem;
  padding-block: 0.7rem; padding-inline: 0.9rem; border-block-end: 1px solid var(--_border);
}
.item:focus { outline: 2px solid var(--_accent); outline-offset: -2px; }
.item.unread { background: var(--_unread-bg); }
.item.unread .title::before {
  content: ""; display: inline-block; inline-size: 0.5rem; block-size: 0.5rem; border-radius: 50%;
  background: var(--_accent); margin-inline-end: 0.4rem; vertical-align: middle;
}
.title { font-weight: 600; overflow-wrap: anywhere; }
.body { grid-column: 1 / -1; color: var(--_fg); overflow-wrap: anywhere; white-space: pre-line; }
time { color: var(--_muted); font-size: 0.8rem; white-space: nowrap; }
.controls { grid-column: 1 / -1; display: flex; flex-wrap: wrap; gap: 0.4rem; }
.controls button {
  border: 1px solid var(--_border); background: transparent; border-radius: 6px;
  padding-block: 0.15rem; padding-inline: 0.5rem; font-size: 0.8rem;
}
.controls .action { border-color: var(--_accent); color: var(--_accent); }
.tabs { display: flex; gap: 0.25rem; padding-inline: 0.6rem; border-block-end: 1px solid var(--_border); overflow-x: auto; }
.tabs[hidden] { display: none; }
.tabs button { border: 0; background: none; padding-block: 0.45rem; padding-inline: 0.5rem; border-block-end: 2px solid transparent; }
.tabs button[aria-selected="true"] { border-block-end-color: var(--_accent); color: var(--_accent); font-weight: 600; }
.tab-count { margin-inline-start: 0.3rem; font-size: 0.75rem; color: var(--_muted); }
.snooze-choices { display: flex; flex-wrap: wrap; gap: 0.4rem; inline-size: 100%; }
.snooze-choices[hidden] { display: none; }
.empty, .status { padding: 1.5rem 0.9rem; text-align: center; color: var(--_muted); }
.status { padding-block: 0.5rem; font-size: 0.8rem; }
.status[hidden], .empty[hidden] { display: none; }
.sentinel { block-size: 1px; }
.visually-hidden { position: absolute; inline-size: 1px; block-size: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
`;

const BELL_SVG =
  '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/><path d="M13.73 21a2 2 0 0 1-3.46 0"/></svg>';

/** Words the element shows, overridable through attributes (`label-*`) for other languages. */
const DEFAULT_LABELS = {
  title: 'Notifications',
  empty: 'You have no notifications',
  readAll: 'Mark all as read',
  read: 'Mark as read',
  unread: 'Mark as unread',
  archive: 'Archive',
  open: 'Open',
  allTab: 'All',
  snooze: 'Snooze',
  snoozeHour: 'For an hour',
  snoozeTomorrow: 'Until tomorrow morning',
  snoozeWeek: 'Until next week',
  offline: 'Reconnecting…',
  expired: 'Session expired',
  bellNone: 'Notifications, none unread',
  bellSome: 'Notifications, {count} unread',
};

let nextId = 0;
// The module may be imported where there is no DOM (a server render, a test runner): the client
// works there, the element is simply not defined.

function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

/** "3 minutes ago", "yesterday", in the given locale. */
export function relativeTime(iso, now, locale) {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  if (!Number.isFinite(seconds)) return '';
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(0, 'second');
}

/** When each snooze choice ends, from `now` (local time: "tomorrow morning" is 09:00 here). */
export function snoozeUntil(choice, now = new Date()) {
  const at = new Date(now);
  if (choice === 'snoozeHour') return new Date(now.getTime() + 3_600_000);
  at.setHours(9, 0, 0, 0);
  if (choice === 'snoozeTomorrow') at.setDate(at.getDate() + 1);
  // Next week: the coming Monday, 09:00.
  else at.setDate(at.getDate() + ((8 - at.getDay()) % 7 || 7));
  return at;
}

/**
 * `<tidings-inbox api="https://…" token="…">`: a bell with the unread count that opens a list of
 * the subscriber's notifications, kept live by the stream. Attributes: `api` (default: where this
 * module was loaded from), `token` (a subscriber token; set a new one when it expires), `theme`
 * (`light` or `dark`; default follows `prefers-color-scheme`), `lang`, `transport` (`auto`, `ws`,
 * `sse`) and `label-*` for the words shown. Events: `tidings:ready`, `tidings:item`,
 * `tidings:unread`, `tidings:click` (cancelable), `tidings:status`, `tidings:token-expired`,
 * `tidings:error`.
 */
export class TidingsInbox extends (globalThis.HTMLElement ?? class {}) {
  static get observedAttributes() {
    return ['api', 'token', 'lang'];
  }

  constructor() {
    super();
    this.items = new Map();
    this.nextCursor = undefined;
    this.loadingPage = false;
    this.unreadCount = 0;
    this.client = null;
    this.uid = `tidings-inbox-${++nextId}`;
    this.render();
  }

  label(name, values = {}) {
    const override = this.getAttribute(`label-${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    return (override ?? DEFAULT_LABELS[name]).replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
  }

  get locale() {
    // Intl throws on a tag it cannot read, and pages often write `en_US` for `en-US`: a page's
    // lang is used as a valid tag only, else the browser's language.
    const lang = this.closest('[lang]')?.getAttribute('lang');
    for (const tag of [lang, lang?.replaceAll('_', '-'), navigator.language]) {
      if (!tag) continue;
      try {
        return Intl.getCanonicalLocales(tag)[0];
      } catch {
        // not a language tag: try the next
      }
    }
    return 'en';
  }

  render() {
    const root = this.attachShadow({ mode: 'open' });
    const style = element('style');
    style.textContent = STYLE;
    const panelId = `${this.uid}-panel`;
    const headingId = `${this.uid}-heading`;
    this.bell = element('button', {
      class: 'bell',
      part: 'bell',
      type: 'button',
      'aria-haspopup': 'dialog',
      'aria-expanded': 'false',
      'aria-controls': panelId,
    });
    this.bell.innerHTML = BELL_SVG; // a constant of this module, never server data
    this.badge = element('span', { class: 'badge', part: 'badge', 'aria-hidden': 'true', hidden: '' });
    this.bell.append(this.badge);
    this.panel = element('div', {
      class: 'panel',
      part: 'panel',
      id: panelId,
      role: 'dialog',
      'aria-labelledby': headingId,
      hidden: '',
    });
    this.heading = element('h2', { id: headingId, tabindex: '-1' });
    this.readAllButton = element('button', { class: 'link', type: 'button', part: 'read-all' });
    const header = element('header');
    header.append(this.heading, this.readAllButton);
    this.statusLine = element('div', { class: 'status', role: 'status', hidden: '' });
    this.tabList = element('div', { class: 'tabs', part: 'tabs', role: 'tablist', hidden: '' });
    this.activeTab = null;
    this.tabNames = [];
    this.list = element('ul', { class: 'list', part: 'list', role: 'list' });
    this.emptyState = element('div', { class: 'empty', part: 'empty', hidden: '' });
    this.sentinel = element('li', { class: 'sentinel', 'aria-hidden': 'true' });
    this.list.append(this.sentinel);
    this.live = element('div', { class: 'visually-hidden', 'aria-live': 'polite' });
    this.panel.append(header, this.tabList, this.statusLine, this.list, this.emptyState);
    root.append(style, this.bell, this.panel, this.live);
    this.applyLabels();

    this.bell.addEventListener('click', () => (this.isOpen ? this.close() : this.open()));
    this.readAllButton.addEventListener('click', () =>
      this.act(async () => {
        await this.client.readAll();
        // The stream says so too; this keeps the list right while it reconnects.
        this.markAllRead();
      }),
    );
    this.panel.addEventListener('keydown', (event) => this.onKeydown(event));
    this.onDocumentPointer = (event) => {
      if (this.isOpen && !event.composedPath().includes(this)) this.close(false);
    };
  }

  applyLabels() {
    this.heading.textContent = this.label('title');
    this.readAllButton.textContent = this.label('readAll');
    this.emptyState.textContent = this.label('empty');
    this.updateBadge();
  }

  connectedCallback() {
    // Attributes (label-*) are only certain to be there once connected.
    this.applyLabels();
    document.addEventListener('pointerdown', this.onDocumentPointer);
    this.observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((entry) => entry.isIntersecting)) this.loadMore();
      },
      { root: this.list, rootMargin: '64px' },
    );
    this.observer.observe(this.sentinel);
    this.clock = setInterval(() => this.refreshTimes(), 30_000);
    this.start();
  }

  disconnectedCallback() {
    document.removeEventListener('pointerdown', this.onDocumentPointer);
    this.observer?.disconnect();
    clearInterval(this.clock);
    this.client?.stop();
    this.client = null;
  }

  attributeChangedCallback(name, before, after) {
    if (before === after || !this.isConnected) return;
    if (name === 'token') {
      // A running client resumes with a renewed token of the same subscriber. Another
      // subscriber's (a user switch) starts over: resuming would keep the last one's items on
      // show and replay from an id of their log. So does an element placed before the page had a
      // token, or whose token was removed.
      const subject = tokenSubject(after);
      const renewed =
        after &&
        this.client &&
        !this.client.stopped &&
        subject !== null &&
        subject === tokenSubject(this.client.token);
      if (renewed) this.client.setToken(after);
      else this.start();
    } else if (name === 'api') this.start();
    else if (name === 'lang') this.refreshTimes();
  }

  get api() {
    // Where this module came from, path included: Tidings behind a proxy under a path
    // (`https://example.com/tidings/inbox.js`) answers under that path too.
    return this.getAttribute('api') || new URL('.', import.meta.url).href;
  }

  start() {
    this.client?.stop();
    this.client = null;
    const token = this.getAttribute('token');
    // Nothing of the last subscriber's inbox stays on show, its unread count included.
    // (The next subscriber's count is announced by tidings:unread, even a zero.)
    this.unreadCount = 0;
    this.badgeSet = false;
    this.updateBadge();
    this.items.clear();
    this.nextCursor = undefined;
    for (const node of [...this.list.querySelectorAll('.item')]) node.remove();
    if (!token) return;
    const transport = this.getAttribute('transport') || 'auto';
    const quiet = Number(this.getAttribute('quiet-check'));
    this.client = new TidingsInboxClient({
      api: this.api,
      token,
      transport,
      quietCheckMs: quiet > 0 ? quiet * 1000 : QUIET_CHECK_MS,
    });
    this.client.addEventListener('event', (event) => this.onStreamEvent(event.detail));
    this.client.addEventListener('status', (event) => this.onStatus(event.detail.status));
    this.client.addEventListener('error', (event) => this.emit('tidings:error', event.detail));
    this.client.start();
  }

  emit(type, detail, cancelable = false) {
    return this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true, cancelable }));
  }

  onStatus(status) {
    this.emit('tidings:status', { status });
    const text =
      status === 'connecting' && this.ready
        ? this.label('offline')
        : status === 'unauthorized'
          ? this.label('expired')
          : '';
    this.statusLine.textContent = text;
    this.statusLine.hidden = text === '';
    if (status === 'unauthorized') this.emit('tidings:token-expired', {});
  }

  onStreamEvent(event) {
    if (typeof event.unreadCount === 'number') this.setUnread(event.unreadCount);
    switch (event.type) {
      case 'ready':
        // The first page is read once the stream is live: an item created in between arrives on
        // the stream and one created before is in the page (the map holds each id once). A stream
        // that resumed (`?after=`) has replayed what was missed; one that could not starts over.
        if (!this.ready || !event.resumed) this.reload();
        this.ready = true;
        this.refreshTabs();
        this.emit('tidings:ready', { unreadCount: event.unreadCount });
        break;
      case 'item.created':
        // In a tab the item may not belong: the tab's first page says (an item's category is
        // not part of it).
        if (this.activeTab) this.mergeFirstPage();
        else this.upsert(event.item, true);
        this.live.textContent = event.item?.title ?? '';
        this.emit('tidings:item', { item: event.item });
        break;
      case 'item.updated':
        if (!this.activeTab || this.items.has(event.item?.id)) this.upsert(event.item, true);
        break;
      case 'inbox.read-all':
        this.markAllRead();
        break;
      default:
        break;
    }
    if (event.type !== 'ready' && this.tabNames.length > 0) this.refreshTabs();
  }

  /** Reads the tabs and their unread counts, at most one request at a time (the last wins). */
  refreshTabs() {
    if (this.tabsPending) {
      this.tabsAgain = true;
      return;
    }
    this.tabsPending = this.client
      ?.unreadByTab()
      .then((answer) => this.renderTabs(answer?.tabs ?? {}))
      .catch(() => {})
      .finally(() => {
        this.tabsPending = null;
        if (this.tabsAgain) {
          this.tabsAgain = false;
          this.refreshTabs();
        }
      });
  }

  renderTabs(counts) {
    const names = Object.keys(counts);
    this.tabNames = names;
    this.tabList.hidden = names.length === 0;
    if (names.length === 0) return;
    if (this.activeTab && !names.includes(this.activeTab)) this.selectTab(null);
    const focused = this.shadowRoot.activeElement?.dataset?.tab;
    this.tabList.replaceChildren(
      ...[null, ...names].map((name) => {
        const selected = name === this.activeTab;
        const count = name === null ? this.unreadCount : counts[name];
        const tab = element('button', {
          type: 'button',
          role: 'tab',
          part: 'tab',
          'data-tab': name ?? '',
          'aria-selected': String(selected),
          tabindex: selected ? '0' : '-1',
        });
        tab.append(document.createTextNode(name ?? this.label('allTab')));
        if (count > 0) tab.append(element('span', { class: 'tab-count' }, String(count)));
        tab.addEventListener('click', () => this.selectTab(name));
        return tab;
      }),
    );
    if (focused !== undefined) this.tabList.querySelector(`[data-tab="${CSS.escape(focused)}"]`)?.focus();
  }

  selectTab(name) {
    if (name === this.activeTab) return;
    this.activeTab = name;
    for (const tab of this.tabList.children) {
      const selected = (tab.dataset.tab || null) === name;
      tab.setAttribute('aria-selected', String(selected));
      tab.setAttribute('tabindex', selected ? '0' : '-1');
    }
    this.reload();
  }

  /** A live item while a tab is shown: the tab's newest page, merged into the list. */
  async mergeFirstPage() {
    try {
      const page = await this.client.list(undefined, PAGE_SIZE, this.activeTab);
      for (const item of page.items ?? []) this.upsert(item, false);
    } catch (error) {
      this.emit('tidings:error', { error: { message: error.message } });
    }
  }

  markAllRead() {
    const now = new Date().toISOString();
    for (const { item } of [...this.items.values()]) if (!item.readAt) this.upsert({ ...item, readAt: now });
  }

  setUnread(count) {
    if (count === this.unreadCount && this.badgeSet) return;
    this.badgeSet = true;
    this.unreadCount = count;
    this.updateBadge();
    this.emit('tidings:unread', { count });
  }

  updateBadge() {
    const count = this.unreadCount;
    this.badge.textContent = count > 99 ? '99+' : String(count);
    this.badge.hidden = count === 0;
    this.bell.setAttribute(
      'aria-label',
      count === 0 ? this.label('bellNone') : this.label('bellSome', { count }),
    );
    this.readAllButton.disabled = count === 0;
  }

  /** Starts the list over (first page); a page still on its way for the old list is dropped. */
  async reload() {
    this.generation = (this.generation ?? 0) + 1;
    this.loadingPage = false;
    this.items.clear();
    for (const node of [...this.list.querySelectorAll('.item')]) node.remove();
    this.nextCursor = undefined;
    this.exhausted = false;
    await this.loadMore();
  }

  async loadMore() {
    if (this.loadingPage || this.exhausted || !this.client) return;
    const generation = this.generation;
    this.loadingPage = true;
    try {
      const page = await this.client.list(this.nextCursor, PAGE_SIZE, this.activeTab);
      if (generation !== this.generation) return;
      for (const item of page.items ?? []) this.upsert(item, false);
      this.nextCursor = page.nextCursor ?? null;
      this.exhausted = !page.nextCursor;
    } catch (error) {
      this.emit('tidings:error', { error: { message: error.message } });
    } finally {
      if (generation === this.generation) {
        this.loadingPage = false;
        this.updateEmpty();
      }
    }
    // A short first page may leave the sentinel in view: the observer only fires on changes.
    if (generation === this.generation && !this.exhausted && this.isOpen && this.sentinelVisible())
      this.loadMore();
  }

  sentinelVisible() {
    const list = this.list.getBoundingClientRect();
    const sentinel = this.sentinel.getBoundingClientRect();
    return sentinel.top <= list.bottom + 64;
  }

  /**
   * Adds or replaces an item, keeping the list newest first; archived and snoozed items leave it.
   * An update of an item older than every loaded one waits for its page (`fromStream`).
   */
  upsert(item, fromStream = false) {
    if (!item || typeof item.id !== 'string') return;
    const existing = this.items.get(item.id);
    const active = this.shadowRoot.activeElement;
    if (item.archivedAt || (item.snoozedUntil && Date.parse(item.snoozedUntil) > Date.now())) {
      if (existing) {
        const next = existing.node.nextElementSibling;
        const hadFocus = existing.node.contains(active);
        existing.node.remove();
        this.items.delete(item.id);
        if (hadFocus) (next?.classList.contains('item') ? next : this.heading).focus();
      }
      this.updateEmpty();
      return;
    }
    const createdAt = Date.parse(item.createdAt);
    const loaded = [...this.list.querySelectorAll('.item')];
    if (!existing && fromStream && !this.exhausted && loaded.length > 0) {
      const oldest = this.items.get(loaded[loaded.length - 1].dataset.id);
      if (oldest && createdAt < Date.parse(oldest.item.createdAt)) return;
    }
    const node = this.renderItem(item);
    if (existing) {
      // Keep the keyboard where it was: on the same control of the redrawn item.
      const control =
        existing.node.contains(active) && active !== existing.node ? active.dataset.control : null;
      existing.node.replaceWith(node);
      if (existing.node.contains(active))
        (control ? node.querySelector(`[data-control="${control}"]`) : node)?.focus();
    } else {
      const before = loaded.find(
        (other) => Date.parse(this.items.get(other.dataset.id)?.item.createdAt) < createdAt,
      );
      this.list.insertBefore(node, before ?? this.sentinel);
    }
    this.items.set(item.id, { item, node });
    this.updateEmpty();
  }

  updateEmpty() {
    this.emptyState.hidden = this.items.size > 0 || this.loadingPage;
  }

  renderItem(item) {
    const node = element('li', {
      class: item.readAt ? 'item' : 'item unread',
      part: item.readAt ? 'item' : 'item unread',
      tabindex: '-1',
      'data-id': item.id,
    });
    const title = element('div', { class: 'title' }, item.title ?? '');
    const time = element('time', {
      datetime: item.createdAt,
      title: new Date(item.createdAt).toLocaleString(this.locale),
    });
    time.textContent = relativeTime(item.createdAt, Date.now(), this.locale);
    node.append(title, time);
    if (item.body) node.append(element('div', { class: 'body' }, item.body));
    const controls = element('div', { class: 'controls' });
    const itemName = item.title || item.body || item.id;
    const url = safeUrl(item.actionUrl);
    if (url) {
      const open = element(
        'button',
        {
          type: 'button',
          class: 'action',
          'data-control': 'open',
          'aria-label': `${this.label('open')}: ${itemName}`,
        },
        this.label('open'),
      );
      open.addEventListener('click', () => this.follow(item, undefined));
      controls.append(open);
    }
    (item.actions ?? []).forEach((action, index) => {
      if (!safeUrl(action?.url)) return;
      const button = element(
        'button',
        { type: 'button', class: 'action', 'data-control': `action-${index}` },
        String(action.label ?? ''),
      );
      button.addEventListener('click', () => this.follow(item, index));
      controls.append(button);
    });
    const toggle = element(
      'button',
      {
        type: 'button',
        'data-control': 'toggle-read',
        'aria-label': `${item.readAt ? this.label('unread') : this.label('read')}: ${itemName}`,
      },
      item.readAt ? this.label('unread') : this.label('read'),
    );
    toggle.addEventListener('click', () =>
      this.act(() => (item.readAt ? this.client.markUnread(item.id) : this.client.markRead(item.id))),
    );
    const archive = element(
      'button',
      { type: 'button', 'data-control': 'archive', 'aria-label': `${this.label('archive')}: ${itemName}` },
      this.label('archive'),
    );
    archive.addEventListener('click', () => this.act(() => this.client.archive(item.id)));
    const snooze = element(
      'button',
      {
        type: 'button',
        'data-control': 'snooze',
        'aria-expanded': 'false',
        'aria-label': `${this.label('snooze')}: ${itemName}`,
      },
      this.label('snooze'),
    );
    const choices = element('div', {
      class: 'snooze-choices',
      role: 'group',
      'aria-label': this.label('snooze'),
      hidden: '',
    });
    for (const choice of ['snoozeHour', 'snoozeTomorrow', 'snoozeWeek']) {
      const button = element('button', { type: 'button', 'data-control': choice }, this.label(choice));
      button.addEventListener('click', () =>
        this.act(() => this.client.snooze(item.id, snoozeUntil(choice).toISOString())),
      );
      choices.append(button);
    }
    snooze.addEventListener('click', () => {
      const opening = choices.hidden;
      choices.hidden = !opening;
      snooze.setAttribute('aria-expanded', String(opening));
      if (opening) choices.querySelector('button').focus();
    });
    controls.append(toggle, archive, snooze, choices);
    node.append(controls);
    node.setAttribute('aria-label', [item.title, item.body, time.textContent].filter(Boolean).join('. '));
    return node;
  }

  /** Runs an action; the answer (and the stream) update the list. */
  async act(action) {
    try {
      const answer = await action();
      if (answer && typeof answer.id === 'string') this.upsert(answer, false);
    } catch (error) {
      this.emit('tidings:error', { error: { message: error.message, status: error.status } });
    }
  }

  async follow(item, action) {
    try {
      const { url } = await this.client.click(item.id, action);
      const target = safeUrl(url);
      if (!target) return;
      if (this.emit('tidings:click', { item, action, url: target }, true)) globalThis.location.assign(target);
    } catch (error) {
      this.emit('tidings:error', { error: { message: error.message, status: error.status } });
    }
  }

  refreshTimes() {
    const now = Date.now();
    for (const time of this.list.querySelectorAll('time')) {
      time.textContent = relativeTime(time.getAttribute('datetime'), now, this.locale);
    }
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  open() {
    this.panel.hidden = false;
    this.placePanel();
    this.bell.setAttribute('aria-expanded', 'true');
    this.heading.focus();
    if (this.unreadCount > 0) this.client?.seenAll().catch(() => {});
    if (!this.exhausted && this.sentinelVisible()) this.loadMore();
    this.emit('tidings:open', {});
  }

  /**
   * The panel hangs from the bell's inline end; a bell near the other edge of the window (at the
   * left of a left-to-right page) would push it out of sight, so it hangs from the start instead.
   */
  placePanel() {
    this.panel.classList.remove('from-start');
    const box = this.panel.getBoundingClientRect();
    if (box.left < 0 || box.right > document.documentElement.clientWidth)
      this.panel.classList.add('from-start');
  }

  close(returnFocus = true) {
    if (!this.isOpen) return;
    this.panel.hidden = true;
    this.bell.setAttribute('aria-expanded', 'false');
    if (returnFocus) this.bell.focus();
    this.emit('tidings:close', {});
  }

  /** Escape closes; arrows move between items, Home and End to the first and last. */
  onKeydown(event) {
    if (event.key === 'Escape') {
      event.preventDefault();
      const choices = this.shadowRoot.activeElement?.closest('.snooze-choices');
      if (choices) {
        // Escape in the snooze choices closes them, back on their button.
        choices.hidden = true;
        const button = choices.previousElementSibling;
        button.setAttribute('aria-expanded', 'false');
        button.focus();
        return;
      }
      this.close();
      return;
    }
    const active = this.shadowRoot.activeElement;
    if (active?.getAttribute('role') === 'tab' && (event.key === 'ArrowLeft' || event.key === 'ArrowRight')) {
      // Arrows move along the tabs (mirrored in a right-to-left page) and select as they go.
      const tabs = [...this.tabList.children];
      const rtl = getComputedStyle(this).direction === 'rtl';
      const step = (event.key === 'ArrowRight') !== rtl ? 1 : -1;
      const next = tabs[(tabs.indexOf(active) + step + tabs.length) % tabs.length];
      event.preventDefault();
      next.focus();
      this.selectTab(next.dataset.tab || null);
      return;
    }
    const items = [...this.list.querySelectorAll('.item')];
    if (items.length === 0) return;
    const current = items.findIndex((node) => node === active || node.contains(active));
    let target = null;
    if (event.key === 'ArrowDown') target = items[Math.min(current + 1, items.length - 1)];
    else if (event.key === 'ArrowUp') target = current <= 0 ? items[0] : items[current - 1];
    else if (event.key === 'Home') target = items[0];
    else if (event.key === 'End') target = items[items.length - 1];
    if (!target) return;
    event.preventDefault();
    target.focus();
  }
}

if (typeof customElements !== 'undefined' && !customElements.get('tidings-inbox')) {
  customElements.define('tidings-inbox', TidingsInbox);
}
