import type { NoAnswer } from '../http.ts';
import {
  acceptedAnswer,
  header,
  httpStatusLine,
  integrationFailed,
  isAnswer,
  joinPath,
  type ProviderAnswer,
  parseObject,
  requestProvider,
  retryLater,
} from '../http.ts';
import {
  type ChannelProvider,
  type MessageMeta,
  type OutboundMessage,
  ProviderConfigError,
  type ProviderContext,
  type SendOutcome,
} from '../port.ts';
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
  const tokens = new AccessTokenCache(() => exchangeAssertion(context, account, now, timeoutMs), now);

  function post(body: string, accessToken: string): Promise<ProviderAnswer | NoAnswer> {
    return requestProvider(context, sendUrl, {
      method: 'POST',
      path: sendUrl.pathname,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        authorization: `Bearer ${accessToken}`,
        'user-agent': 'Tidings-FCM',
      },
      body,
      timeoutMs,
      who: 'FCM',
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
        const answer = await post(body, accessToken);
        if (!isAnswer(answer)) return answer;
        if (answer.status >= 200 && answer.status < 300) {
          return { ...acceptedAnswer(answer, parseObject(answer.body)?.name), meta };
        }
        const error = readGoogleError(answer.body);
        if (attempt === 1 && isStaleAccessToken(answer.status, error)) {
          tokens.invalidate(accessToken);
          continue;
        }
        const outcome = classifyFcmResponse(
          answer.status,
          error,
          header(answer.headers, 'retry-after'),
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
  return new URL(`${base.origin}${joinPath(base, `/v1/projects/${config.projectId}/messages:send`)}`);
}

/**
 * One assertion → access token exchange at the service account's `token_uri`. Failures become
 * outcomes: a refused assertion (bad key, deleted account) fails for good, a busy or unreachable
 * token endpoint is retried.
 */
async function exchangeAssertion(
  context: ProviderContext,
  account: ServiceAccount,
  now: () => number,
  timeoutMs: number,
): Promise<AccessToken> {
  const issuedAt = now();
  const assertion = await signAssertion(account, issuedAt);
  const url = account.tokenUri;
  const answer = await requestProvider(context, url, {
    method: 'POST',
    path: `${url.pathname}${url.search}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'Tidings-FCM' },
    body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString(),
    timeoutMs,
    who: 'the OAuth token endpoint',
  });
  if (!isAnswer(answer)) throw new TokenUnavailable(answer);
  const status = answer.status;
  const json = parseObject(answer.body);
  if (status >= 200 && status < 300) {
    const token = json?.access_token;
    const expiresIn = Number(json?.expires_in);
    if (typeof token === 'string' && token !== '' && Number.isFinite(expiresIn) && expiresIn > 0) {
      return { token, expiresAt: issuedAt + expiresIn * 1000 };
    }
    throw new TokenUnavailable({
      kind: 'permanent',
      reason: 'the OAuth token endpoint answered without an access token and its lifetime',
    });
  }
  // RFC 6749 §5.2: {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
  const code = typeof json?.error === 'string' ? ` ${json.error}` : '';
  const description =
    typeof json?.error_description === 'string' ? `: ${json.error_description.slice(0, 200)}` : '';
  const reason = `OAuth token exchange refused: ${httpStatusLine(status)}${code}${description}`;
  if (status === 429 || status >= 500) {
    throw new TokenUnavailable(retryLater(answer, reason, Date.now()));
  }
  // The service account itself is refused (invalid_grant: a key Google does not know): no message
  // can go through this integration, so sends fail over to the next one.
  throw new TokenUnavailable(integrationFailed(reason));
}
