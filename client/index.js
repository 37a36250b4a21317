// The Tidings client: plain JavaScript with no dependencies and no build step, for Node >= 20 and
// browsers. It speaks the HTTP API (docs/client.md); nothing here imports server code.

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RETRIES = 3;
/** The longest wait between tries, whatever a Retry-After asks for. */
const MAX_RETRY_DELAY_MS = 60_000;
/** Standard Webhooks: a signature older or newer than this is refused (replays). */
const DEFAULT_TOLERANCE_S = 300;
const RETRY_STATUSES = new Set([429, 503]);

/** Every failure the client reports: an API error (`status`, `code`, `details`) or a network one (status 0). */
export class TidingsError extends Error {
  constructor(message, { status = 0, code = 'network_error', details = [], cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TidingsError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const segment = (value) => encodeURIComponent(String(value));
/** `fn`, which can also be called through `methods`' names. */
const callable = (fn, methods) => Object.assign((...args) => fn(...args), methods);

function queryString(query) {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** Milliseconds a `Retry-After` asks for (seconds or an HTTP date), or null when absent or unreadable. */
function retryAfterMs(header, now) {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Exponential backoff with full jitter: up to 0.5 s, 1 s, 2 s, … */
function backoffMs(attempt) {
  return Math.random() * Math.min(MAX_RETRY_DELAY_MS, 500 * 2 ** attempt);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A header value as its UTF-8 bytes, one character per byte: fetch refuses a header character
 * above U+00FF (`注`) and sends `é` as the one Latin-1 byte E9. The server reads a header's bytes
 * as UTF-8 when they are UTF-8, so any key reaches it as given. ASCII is unchanged.
 */
function utf8Header(value) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: any character beyond ASCII is sought
  if (!/[^\x00-\x7f]/.test(value)) return value;
  return Array.from(new TextEncoder().encode(value), (byte) => String.fromCharCode(byte)).join('');
}

function newIdempotencyKey() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  c.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: described by the status alone
  }
  const error = body && typeof body === 'object' ? body.error : null;
  return new TidingsError(error?.message ?? `HTTP ${response.status}`, {
    status: response.status,
    code: error?.code ?? `http_${response.status}`,
    details: Array.isArray(error?.details) ? error.details : [],
  });
}

/**
 * Pages of a list, fetched as they are iterated: `for await (const page of list)` gives each
 * `{items, nextCursor}`; `list.items()` gives the items one by one.
 */
class PageIterator {
  constructor(fetchPage, query) {
    this.fetchPage = fetchPage;
    this.query = query ?? {};
  }

  async *[Symbol.asyncIterator]() {
    let cursor = this.query.cursor;
    do {
      const page = await this.fetchPage({ ...this.query, cursor });
      yield page;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  async *items() {
    for await (const page of this) yield* page.items;
  }
}

function headerOf(headers, name) {
  if (!headers) return null;
  if (typeof headers.get === 'function') return headers.get(name);
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return null;
}

function base64ToBytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function bytesToBase64(bytes) {
  let binary = '';
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Compares in time independent of where the strings differ. */
function sameText(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function verificationFailed(message) {
  return new TidingsError(message, { status: 0, code: 'invalid_signature' });
}

/**
 * Checks a Standard Webhooks signature as Tidings signs (status webhooks and the webhook
 * channel): HMAC-SHA256 of `${webhook-id}.${webhook-timestamp}.${body}`, keyed by the `whsec_`
 * secret's decoded bytes. Answers the parsed body; throws TidingsError `invalid_signature`.
 */
async function verifyWebhook(body, headers, secret, options = {}) {
  const id = headerOf(headers, 'webhook-id');
  const timestamp = headerOf(headers, 'webhook-timestamp');
  const signatures = headerOf(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures)
    throw verificationFailed('missing webhook-id, webhook-timestamp or webhook-signature');
  const seconds = Number(timestamp);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_S;
  const now = (options.now ?? Date.now()) / 1000;
  if (!Number.isInteger(seconds) || Math.abs(now - seconds) > tolerance)
    throw verificationFailed(`webhook-timestamp is not within ${tolerance} s of now`);
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const keyBytes =
    typeof secret === 'string' && secret.startsWith('whsec_')
      ? base64ToBytes(secret.slice('whsec_'.length))
      : new TextEncoder().encode(String(secret));
  const key = await globalThis.crypto.subtle.importKey(
    'raw',
    keyBytes,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const mac = await globalThis.crypto.subtle.sign(
    'HMAC',
    key,
    new TextEncoder().encode(`${id}.${timestamp}.${text}`),
  );
  const expected = bytesToBase64(mac);
  // One `v1,<base64>` per secret still signing (two during a rotation).
  const match = signatures
    .split(' ')
    .some((candidate) => candidate.startsWith('v1,') && sameText(candidate.slice(3), expected));
  if (!match) throw verificationFailed('no signature in webhook-signature matches the secret');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class Tidings {
  /**
   * @param {{url: string, apiKey: string, fetch?: typeof fetch, maxRetries?: number, timeoutMs?: number}} options
   */
  constructor(options) {
    if (!options || typeof options.url !== 'string')
      throw new TypeError('new Tidings({ url, apiKey }): url is required');
    this.url = options.url.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

    const call = (method, path, init) => this.request(method, path, init);
    const page = (path) => (query) => call('GET', `${path}${queryString(query)}`);

    this.events = {
      /** Triggers a workflow. Retries reuse one idempotency key: the given one, else a new one. */
      trigger: (input, options = {}) => {
        const bodyKey = input?.idempotencyKey;
        const key = options.idempotencyKey ?? (bodyKey === undefined ? newIdempotencyKey() : undefined);
        return call('POST', '/v1/events', { body: input, idempotencyKey: key });
      },
      bulk: (events, options = {}) =>
        call('POST', '/v1/events/bulk', {
          body: { events },
          idempotencyKey: options.idempotencyKey ?? newIdempotencyKey(),
        }),
      get: (eventId) => call('GET', `/v1/events/${segment(eventId)}`),
      cancel: (eventId) => call('DELETE', `/v1/events/${segment(eventId)}`),
      cancelByKey: (cancellationKey) => call('DELETE', `/v1/events${queryString({ cancellationKey })}`),
    };

    const subscriber = (id) => `/v1/subscribers/${segment(id)}`;
    const updatePreferences = (subscriberId, patch) =>
      call('PATCH', `${subscriber(subscriberId)}/preferences`, { body: patch });
    // API.md names `subscribers.preferences` and `subscribers.devices` as methods: called, they
    // read (or, given a patch, change) the preferences and list the devices; their named methods
    // do the same and more.
    const preferences = (subscriberId, patch) =>
      patch === undefined
        ? call('GET', `${subscriber(subscriberId)}/preferences`)
        : updatePreferences(subscriberId, patch);
    const listDevices = (subscriberId) => call('GET', `${subscriber(subscriberId)}/devices`);
    this.subscribers = {
      upsert: (subscriberId, fields = {}) => call('PUT', subscriber(subscriberId), { body: fields }),
      get: (subscriberId) => call('GET', subscriber(subscriberId)),
      delete: (subscriberId) => call('DELETE', subscriber(subscriberId)),
      bulk: (subscribers) => call('POST', '/v1/subscribers/bulk', { body: { subscribers } }),
      list: (query) => new PageIterator(page('/v1/subscribers'), query),
      listPage: page('/v1/subscribers'),
      token: (subscriberId, options = {}) =>
        call('POST', `${subscriber(subscriberId)}/token`, {
          body: options.expiresIn === undefined ? {} : { expiresIn: options.expiresIn },
        }),
      export: (subscriberId) => call('GET', `${subscriber(subscriberId)}/export`),
      consentLog: (subscriberId) => call('GET', `${subscriber(subscriberId)}/consent-log`),
      preferences: callable(preferences, { get: preferences, update: updatePreferences }),
      devices: callable(listDevices, {
        list: listDevices,
        put: (subscriberId, deviceId, device) =>
          call('PUT', `${subscriber(subscriberId)}/devices/${segment(deviceId)}`, { body: device }),
        delete: (subscriberId, deviceId) =>
          call('DELETE', `${subscriber(subscriberId)}/devices/${segment(deviceId)}`),
      }),
    };

    const topic = (key) => `/v1/topics/${segment(key)}`;
    this.topics = {
      put: (key, fields = {}) => call('PUT', topic(key), { body: fields }),
      get: (key) => call('GET', topic(key)),
      delete: (key) => call('DELETE', topic(key)),
      list: (query) => new PageIterator(page('/v1/topics'), query),
      listPage: page('/v1/topics'),
      addSubscribers: (key, subscriberIds) =>
        call('POST', `${topic(key)}/subscribers`, { body: { subscriberIds } }),
      removeSubscriber: (key, subscriberId) =>
        call('DELETE', `${topic(key)}/subscribers/${segment(subscriberId)}`),
      subscribers: (key, query) => new PageIterator(page(`${topic(key)}/subscribers`), query),
    };

    const workflow = (key) => `/v1/workflows/${segment(key)}`;
    this.workflows = {
      put: (key, definition) => call('PUT', workflow(key), { body: definition }),
      get: (key) => call('GET', workflow(key)),
      delete: (key) => call('DELETE', workflow(key)),
      list: (query) => new PageIterator(page('/v1/workflows'), query),
      listPage: page('/v1/workflows'),
      versions: (key) => call('GET', `${workflow(key)}/versions`),
      rollback: (key, version) => call('POST', `${workflow(key)}/rollback`, { body: { version } }),
      preview: (key, input) => call('POST', `${workflow(key)}/preview`, { body: input }),
      stats: (key) => call('GET', `${workflow(key)}/stats`),
    };

    const integration = (id) => `/v1/integrations/${segment(id)}`;
    this.integrations = {
      put: (id, body) => call('PUT', integration(id), { body }),
      get: (id) => call('GET', integration(id)),
      delete: (id) => call('DELETE', integration(id)),
      list: () => call('GET', '/v1/integrations'),
    };

    this.messages = {
      /** An async iterator over pages of messages, newest first (filters: subscriberId, eventId, channel, status, limit). */
      list: (query) => new PageIterator(page('/v1/messages'), query),
      listPage: page('/v1/messages'),
      get: (messageId) => call('GET', `/v1/messages/${segment(messageId)}`),
      receipt: (messageId, status) =>
        call('POST', `/v1/messages/${segment(messageId)}/receipt`, { body: { status } }),
    };

    const endpoint = (id) => `/v1/webhook-endpoints/${segment(id)}`;
    this.webhookEndpoints = {
      put: (id, body) => call('PUT', endpoint(id), { body }),
      list: () => call('GET', '/v1/webhook-endpoints'),
      delete: (id) => call('DELETE', endpoint(id)),
      rotate: (id) => call('POST', `${endpoint(id)}/rotate`),
      test: (id) => call('POST', `${endpoint(id)}/test`),
    };

    this.settings = {
      get: () => call('GET', '/v1/settings'),
      update: (patch) => call('PATCH', '/v1/settings', { body: patch }),
    };

    this.deadLetters = {
      list: (query) => new PageIterator(page('/v1/dead-letters'), query),
      listPage: page('/v1/dead-letters'),
      replay: (messageId) => call('POST', `/v1/dead-letters/${segment(messageId)}/replay`),
    };

    this.webhooks = { verify: verifyWebhook };
  }

  /**
   * One API call: JSON in and out, the server key as bearer. 429 and 503 are tried again (up to
   * `maxRetries` times) after their Retry-After, with the same body and idempotency key, as are
   * network failures of requests that are safe to repeat. Failures throw TidingsError.
   */
  async request(method, path, init = {}) {
    const headers = { accept: 'application/json' };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    if (init.idempotencyKey !== undefined) headers['idempotency-key'] = utf8Header(init.idempotencyKey);
    let body;
    if (init.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.body);
    }
    const repeatable =
      method === 'GET' || method === 'PUT' || method === 'DELETE' || init.idempotencyKey !== undefined;
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await this.fetchImpl(`${this.url}${path}`, {
          method,
          headers,
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (cause) {
        if (repeatable && attempt < this.maxRetries) {
          await sleep(backoffMs(attempt));
          continue;
        }
        throw new TidingsError(`${method} ${path} failed: ${cause?.message ?? cause}`, { cause });
      }
      if (RETRY_STATUSES.has(response.status) && attempt < this.maxRetries) {
        const asked = retryAfterMs(response.headers.get('retry-after'), Date.now());
        // Drained, so the connection can be reused for the next try.
        await response.arrayBuffer().catch(() => undefined);
        await sleep(Math.min(MAX_RETRY_DELAY_MS, asked ?? backoffMs(attempt)));
        continue;
      }
      if (!response.ok) throw await errorFrom(response);
      if (response.status === 204) return undefined;
      const text = await response.text();
      return text ? JSON.parse(text) : undefined;
    }
  }
}

export default Tidings;
