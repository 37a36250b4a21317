import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { isIP } from 'node:net';
import { type SecureContextOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import {
  BlockedTargetError,
  isBlockedTargetError,
  type OutboundGuard,
} from '../../security/outbound/index.ts';
import { parseRetryAfter } from '../http.ts';
import { neverConnected } from '../never-connected.ts';
import {
  type ChannelProvider,
  type DeviceDeactivation,
  type MessageMeta,
  type OutboundMessage,
  ProviderConfigError,
  type ProviderContext,
  type SendOutcome,
} from '../port.ts';
import { apnsIdFor, isDeviceToken, mapPush } from './apns-payload.ts';
import { apnsTokenSigner, ProviderTokenCache, parseApnsKey } from './apns-token.ts';
import { type Http2Answer, Http2Pool } from './http2-pool.ts';

/** Non-secret APNs settings, as stored on an integration. */
export interface ApnsConfig {
  teamId: string;
  keyId: string;
  /** The app's bundle id: every push's `apns-topic`. */
  bundleId: string;
  environment: 'production' | 'sandbox';
  /** Base URL override (`https://…`); by default Apple's host for the environment. */
  endpoint?: string;
}

/** The token-signing key, kept apart from the config so it is stored encrypted. */
export interface ApnsCredentials {
  /** The .p8 file's PEM text. */
  privateKey: string;
}

/** Settings that are the operator's or a test's, never a tenant's (not in the integration schema). */
export interface ApnsOptions {
  /** Trusted CAs instead of Node's store (tests); in production NODE_EXTRA_CA_CERTS adds to the store. */
  ca?: SecureContextOptions['ca'];
  /** Epoch ms, for the token's `iat` and `apns-expiration`. */
  clock?: () => number;
  maxConnections?: number;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** How long APNs may hold a push for an offline device (`apns-expiration`). */
  expirationSeconds?: number;
}

export const APNS_ENDPOINTS = {
  production: 'https://api.push.apple.com',
  sandbox: 'https://api.sandbox.push.apple.com',
} as const;

/** The base URL an integration sends to: its override, else Apple's host for its environment. */
export function apnsEndpoint(config: { environment?: unknown; endpoint?: unknown }): string {
  if (typeof config.endpoint === 'string' && config.endpoint !== '') return config.endpoint;
  return config.environment === 'sandbox' ? APNS_ENDPOINTS.sandbox : APNS_ENDPOINTS.production;
}

const DEFAULTS = {
  maxConnections: 4,
  pingIntervalMs: 60_000,
  pingTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  connectTimeoutMs: 10_000,
  // A day: long enough for a phone that is off overnight, short enough that a stale alert is not
  // shown days later. APNs itself keeps at most ~30 days.
  expirationSeconds: 86_400,
};

/**
 * No answer at all. Refused, reset, unreachable, unresolvable and timed out read the same, so
 * sends cannot be used to scan which hosts and ports exist behind us.
 */
export const NO_ANSWER = 'no answer from APNs (connection failed or timed out)';

/**
 * Creates the `apns` provider: token-based (ES256 JWT) pushes over HTTP/2, one multiplexed
 * connection per integration and up to 4 when the server's stream limit is reached (see
 * Http2Pool), every connection opened through the outbound guard and then TLS with ALPN `h2`.
 *
 * Each message goes to its one device (`message.device`), with an `apns-id` derived from the
 * Tidings message id so every attempt carries the same one. Building the provider never
 * connects, so it doubles as the offline check at `PUT`: a key that is not a P-256 .p8 PEM, or an
 * endpoint that is not an https URL, throws {@link ProviderConfigError}.
 */
export function createApnsProvider(
  config: ApnsConfig,
  credentials: ApnsCredentials,
  context: ProviderContext,
  options: ApnsOptions = {},
): ChannelProvider {
  const key = parseApnsKey(credentials.privateKey);
  const endpoint = parseEndpoint(apnsEndpoint(config));
  const settings = { ...DEFAULTS, ...definedOnly(options) };
  const clock = options.clock ?? Date.now;
  const tokens = new ProviderTokenCache(apnsTokenSigner(key, config.keyId, config.teamId), clock);
  const devicePath = `${endpoint.pathname.replace(/\/+$/, '')}/3/device/`;
  const pool = new Http2Pool({
    origin: endpoint.origin,
    connect: tlsConnector(context.outbound, endpoint, options.ca, settings.connectTimeoutMs),
    maxConnections: settings.maxConnections,
    pingIntervalMs: settings.pingIntervalMs,
    pingTimeoutMs: settings.pingTimeoutMs,
    requestTimeoutMs: settings.requestTimeoutMs,
  });

  return {
    name: 'apns',
    async send(message: OutboundMessage): Promise<SendOutcome> {
      const device = message.device;
      if (device?.platform !== 'apns') {
        return { kind: 'permanent', reason: 'push message has no APNs device to go to' };
      }
      if (!isDeviceToken(device.token)) {
        return {
          kind: 'bad_address',
          reason: 'device token is not an APNs token (hex)',
          deactivate: 'bad_token',
        };
      }
      const mapped = mapPush(message.content, message.unreadCount);
      if (!mapped.ok) return { kind: 'permanent', reason: mapped.reason, meta: { deviceId: device.id } };
      const { payload, pushType, priority, collapseId } = mapped.parts;
      const meta: MessageMeta = { deviceId: device.id, ...(collapseId === undefined ? {} : { collapseId }) };
      const apnsId = apnsIdFor(message.messageId);
      try {
        let token = await tokens.get();
        // Built once per push, the token included (no copy per request).
        const headers: OutgoingHttpHeaders = {
          ':method': 'POST',
          ':path': `${devicePath}${device.token}`,
          'content-type': 'application/json',
          'apns-id': apnsId,
          'apns-topic': config.bundleId,
          'apns-push-type': pushType,
          'apns-priority': String(priority),
          'apns-expiration': String(Math.floor(clock() / 1000) + settings.expirationSeconds),
          authorization: `bearer ${token}`,
        };
        if (collapseId !== undefined) headers['apns-collapse-id'] = collapseId;
        let answer = await pool.request(headers, payload);
        if (answer.status === 403 && apnsReason(answer.body) === 'ExpiredProviderToken') {
          // Once: a fresh token that is refused as expired too points at our clock, not the token.
          tokens.expire(token);
          token = await tokens.get();
          answer = await pool.request({ ...headers, authorization: `bearer ${token}` }, payload);
        }
        return classifyApnsAnswer(answer, apnsId, meta, clock());
      } catch (error) {
        if (isBlockedTargetError(error)) {
          return { kind: 'blocked_target', reason: new BlockedTargetError(endpoint.hostname).message };
        }
        // APNs could not be reached at all: the integration is down, not the message.
        return neverConnected(error)
          ? { kind: 'retryable', reason: describeFailure(error), integrationFailed: true }
          : { kind: 'retryable', reason: describeFailure(error) };
      }
    },
    close: () => pool.close(),
  };
}

/**
 * Maps an APNs answer to our outcome vocabulary (Apple's "Handling notification responses"):
 * - 200 → accepted; `providerMessageId` is the `apns-id` APNs echoes (ours).
 * - 410 (Unregistered, ExpiredToken) → bad_address, the device deactivated.
 * - 400 BadDeviceToken / DeviceTokenNotForTopic → bad_address, the token is wrong for this app.
 * - 429 (TooManyRequests, TooManyProviderTokenUpdates) and 5xx → retryable, with Retry-After
 *   when sent.
 * - 403 (InvalidProviderToken, ExpiredProviderToken even when freshly signed, BadCertificate…):
 *   our credentials are refused, so the integration itself is broken → retryable with
 *   `integrationFailed` (the send fails over; the circuit breaker counts it).
 * - Other 4xx (bad topic, PayloadTooLarge…) → permanent with the reason: the same request gets
 *   the same answer.
 */
export function classifyApnsAnswer(
  answer: Http2Answer,
  apnsId: string,
  meta: MessageMeta,
  now: number,
): SendOutcome {
  const reasonCode = apnsReason(answer.body);
  const reason = `APNs ${answer.status}${reasonCode ? ` ${reasonCode}` : ''}`;
  const status = answer.status;
  if (status === 200) {
    // APNs echoes ours; anything else from an endpoint override is not worth storing.
    const echoed = headerText(answer.headers, 'apns-id');
    const providerMessageId = echoed && UUID.test(echoed) ? echoed.toLowerCase() : apnsId;
    return { kind: 'accepted', providerMessageId, detail: reason, meta };
  }
  if (status === 410) {
    const deactivate: DeviceDeactivation = reasonCode === 'ExpiredToken' ? 'expired' : 'unregistered';
    return { kind: 'bad_address', reason, deactivate };
  }
  if (status === 400 && (reasonCode === 'BadDeviceToken' || reasonCode === 'DeviceTokenNotForTopic')) {
    return { kind: 'bad_address', reason, deactivate: 'bad_token' };
  }
  if (status === 429 || (status >= 500 && status < 600)) {
    const retryAfterMs = parseRetryAfter(headerText(answer.headers, 'retry-after') ?? null, now);
    return retryAfterMs === undefined
      ? { kind: 'retryable', reason }
      : { kind: 'retryable', reason, retryAfterMs };
  }
  if (status === 403 && reasonCode === 'ExpiredProviderToken') {
    return {
      kind: 'retryable',
      reason: `${reason} (a freshly signed token too: is this server's clock right?)`,
      integrationFailed: true,
    };
  }
  if (status === 403) return { kind: 'retryable', reason, integrationFailed: true };
  return { kind: 'permanent', reason, meta };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Apple's `{"reason": "BadDeviceToken"}`; only a plain word is kept (the endpoint may be anyone's). */
export function apnsReason(body: string): string | undefined {
  // A 200's body is empty: no JSON.parse that throws on every accepted push.
  if (body === '') return undefined;
  try {
    const reason = (JSON.parse(body) as { reason?: unknown } | null)?.reason;
    return typeof reason === 'string' && /^[A-Za-z]{1,64}$/.test(reason) ? reason : undefined;
  } catch {
    return undefined;
  }
}

function headerText(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** TLS failures say what was wrong with the certificate (OpenSSL's code); the rest read the same. */
function describeFailure(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO/.test(code)) {
    return `TLS with APNs failed: ${code}`;
  }
  if (error instanceof Error && error.message === NO_H2) return NO_H2;
  return NO_ANSWER;
}

const NO_H2 = 'the APNs endpoint did not agree to HTTP/2 (ALPN h2)';

function parseEndpoint(text: string): URL {
  const field = 'config.endpoint';
  if (!URL.canParse(text)) throw new ProviderConfigError(field, 'must be an https URL');
  const url = new URL(text);
  if (url.protocol !== 'https:') {
    throw new ProviderConfigError(field, 'must be an https URL (APNs speaks HTTP/2 over TLS only)');
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ProviderConfigError(field, 'must be a base URL without credentials, query or fragment');
  }
  return url;
}

/**
 * Opens a TLS connection for HTTP/2: TCP through the outbound guard (resolved, every address
 * checked, connected to a checked one), then TLS with the host name for SNI and certificate
 * checks, and ALPN `h2`. Trust is Node's store (which includes NODE_EXTRA_CA_CERTS) unless `ca`.
 */
function tlsConnector(
  outbound: OutboundGuard,
  endpoint: URL,
  ca: SecureContextOptions['ca'] | undefined,
  timeoutMs: number,
): () => Promise<TLSSocket> {
  const host = endpoint.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = endpoint.port ? Number(endpoint.port) : 443;
  return async () => {
    const socket = await outbound.connect(host, port, timeoutMs);
    return new Promise<TLSSocket>((resolve, reject) => {
      const secure = tlsConnect({
        socket,
        host,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ALPNProtocols: ['h2'],
        minVersion: 'TLSv1.2',
        ...(ca === undefined ? {} : { ca }),
      });
      const fail = (error: Error) => {
        clearTimeout(timer);
        secure.destroy();
        reject(error);
      };
      const timer = setTimeout(
        () => fail(Object.assign(new Error('TLS handshake timed out'), { code: 'ETIMEDOUT' })),
        timeoutMs,
      );
      secure.once('error', fail);
      secure.once('secureConnect', () => {
        if (secure.alpnProtocol !== 'h2') return fail(new Error(NO_H2));
        clearTimeout(timer);
        secure.off('error', fail);
        resolve(secure);
      });
    });
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
