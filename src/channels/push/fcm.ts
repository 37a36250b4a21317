import type { Dispatcher } from 'undici';
import { parseRetryAfter } from '../http.ts';
import { readBodyText, requestFailure } from '../http-answer.ts';
import {
  type ChannelProvider,
  type MessageMeta,
  type OutboundMessage,
  ProviderConfigError,
  type ProviderContext,
  type SendOutcome,
} from '../port.ts';
import { httpStatusLine } from '../webhook/webhook.ts';
import { parseServiceAccount, type ServiceAccount } from './fcm-credentials.ts';
import { classifyFcmResponse, isStaleAccessToken, readGoogleError } from './fcm-errors.ts';
import { toFcmMessage } from './fcm-message.ts';
import { type AccessToken, AccessTokenCache, JWT_BEARER_GRANT, signAssertion } from './fcm-token.ts';

export const FCM_DEFAULT_ENDPOINT = 'https://fcm.googleapis.com';

export interface FcmConfig {
  projectId: string;
  /** Base URL of the FCM API (a regional endpoint, a test server); Google's by default. */
  endpoint?: string;
  /** Per-request deadline, 10 s by default (not settable through the API). */
  timeoutMs?: number;
}

export interface FcmCredentials {
  /** The service-account key file: the JSON object, or its text. */
  serviceAccount: unknown;
}

export interface FcmOptions {
  /** The clock for assertions and token expiry (tests move it). */
  now?: () => number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** Why a token exchange did not give us a token, already in our outcome vocabulary. */
class TokenUnavailable extends Error {
  constructor(readonly outcome: Exclude<SendOutcome, { kind: 'accepted' }>) {
    super(outcome.reason);
  }
}

/**
 * Creates the `fcm` provider: FCM HTTP v1 `messages:send`, one request per device token,
 * authorised by an OAuth access token obtained with the service account's signed assertion
 * (RFC 7523) at its `token_uri`. The token is shared by every send of the integration and renewed
 * before it expires; a 401 renews it at once and the send is tried once more. Both the token URI
 * and the API endpoint are reached through the outbound guard (private-target rule at every
 * connect, no redirects followed).
 */
export function createFcmProvider(
  config: FcmConfig,
  credentials: FcmCredentials,
  context: ProviderContext,
  options: FcmOptions = {},
): ChannelProvider {
  const account = parseServiceAccount(credentials.serviceAccount);
  const sendUrl = messagesSendUrl(config);
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const now = options.now ?? Date.now;
  const tokens = new AccessTokenCache(
    () => exchangeAssertion(context.outbound.http, account, now, timeoutMs),
    now,
  );

  async function post(body: string, accessToken: string): Promise<Dispatcher.ResponseData> {
    return context.outbound.http.request({
      origin: sendUrl.origin,
      path: sendUrl.pathname,
      method: 'POST',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        authorization: `Bearer ${accessToken}`,
        'user-agent': 'Tidings-FCM',
      },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  }

  return {
    name: 'fcm',
    async send(message: OutboundMessage): Promise<SendOutcome> {
      const device = message.device;
      if (!device?.token) return { kind: 'permanent', reason: 'the message has no FCM registration token' };
      const mapped = toFcmMessage({
        token: device.token,
        content: message.content,
        unreadCount: message.unreadCount,
      });
      const meta: MessageMeta = { deviceId: device.id };
      if (!mapped.ok) return { kind: 'permanent', reason: mapped.reason, meta };
      if (mapped.collapseId !== undefined) meta.collapseId = mapped.collapseId;
      const body = JSON.stringify({ message: mapped.message });

      for (let attempt = 1; ; attempt++) {
        let accessToken: string;
        try {
          accessToken = await tokens.get();
        } catch (err) {
          if (err instanceof TokenUnavailable) return err.outcome;
          throw err;
        }
        let response: Dispatcher.ResponseData;
        try {
          response = await post(body, accessToken);
        } catch (err) {
          return requestFailure(err, sendUrl.hostname, 'FCM', true);
        }
        const text = await readBodyText(response);
        if (response.statusCode >= 200 && response.statusCode < 300) {
          const name = messageName(text);
          const accepted: SendOutcome = {
            kind: 'accepted',
            detail: httpStatusLine(response.statusCode),
            meta,
          };
          return name ? { ...accepted, providerMessageId: name } : accepted;
        }
        const error = readGoogleError(text);
        if (attempt === 1 && isStaleAccessToken(response.statusCode, error)) {
          tokens.invalidate(accessToken);
          continue;
        }
        const outcome = classifyFcmResponse(
          response.statusCode,
          error,
          headerValue(response.headers['retry-after']),
          Date.now(),
        );
        return outcome.kind === 'permanent' ? { ...outcome, meta } : outcome;
      }
    },
  };
}

/** `{endpoint}/v1/projects/{projectId}/messages:send`, a path prefix on the endpoint kept. */
function messagesSendUrl(config: FcmConfig): URL {
  const base = URL.canParse(config.endpoint ?? FCM_DEFAULT_ENDPOINT)
    ? new URL(config.endpoint ?? FCM_DEFAULT_ENDPOINT)
    : null;
  if (base?.protocol !== 'https:' && base?.protocol !== 'http:') {
    throw new ProviderConfigError('config.endpoint', 'must be an http(s) URL');
  }
  if (base.username || base.password || base.search || base.hash) {
    throw new ProviderConfigError('config.endpoint', 'must be a base URL (no user, query or fragment)');
  }
  if (!/^[a-z0-9][a-z0-9.:-]*$/i.test(config.projectId ?? '')) {
    throw new ProviderConfigError('config.projectId', 'is not a Firebase project id');
  }
  const prefix = base.pathname.replace(/\/+$/, '');
  return new URL(`${base.origin}${prefix}/v1/projects/${config.projectId}/messages:send`);
}

/**
 * One assertion → access token exchange at the service account's `token_uri`. Failures become
 * outcomes: a refused assertion (bad key, deleted account) fails for good, a busy or unreachable
 * token endpoint is retried.
 */
async function exchangeAssertion(
  http: Dispatcher,
  account: ServiceAccount,
  now: () => number,
  timeoutMs: number,
): Promise<AccessToken> {
  const issuedAt = now();
  const assertion = await signAssertion(account, issuedAt);
  const url = account.tokenUri;
  let response: Dispatcher.ResponseData;
  try {
    response = await http.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Tidings-FCM' },
      body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString(),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new TokenUnavailable(requestFailure(err, url.hostname, 'the OAuth token endpoint', true));
  }
  const text = await readBodyText(response);
  const status = response.statusCode;
  const answer = parseJson(text);
  if (status >= 200 && status < 300) {
    const token = answer?.access_token;
    const expiresIn = Number(answer?.expires_in);
    if (typeof token === 'string' && token !== '' && Number.isFinite(expiresIn) && expiresIn > 0) {
      return { token, expiresAt: issuedAt + expiresIn * 1000 };
    }
    throw new TokenUnavailable({
      kind: 'permanent',
      reason: 'the OAuth token endpoint answered without an access token and its lifetime',
    });
  }
  // RFC 6749 §5.2: {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
  const code = typeof answer?.error === 'string' ? ` ${answer.error}` : '';
  const description =
    typeof answer?.error_description === 'string' ? `: ${answer.error_description.slice(0, 200)}` : '';
  const reason = `OAuth token exchange refused: ${httpStatusLine(status)}${code}${description}`;
  if (status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(headerValue(response.headers['retry-after']), Date.now());
    throw new TokenUnavailable(
      retryAfterMs === undefined
        ? { kind: 'retryable', reason }
        : { kind: 'retryable', reason, retryAfterMs },
    );
  }
  // The service account itself is refused (invalid_grant: a key Google does not know): no message
  // can go through this integration, so sends fail over to the next one.
  throw new TokenUnavailable({ kind: 'retryable', reason, integrationFailed: true });
}

function messageName(text: string): string | undefined {
  const name = parseJson(text)?.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function headerValue(value: string | string[] | undefined): string | null {
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}
