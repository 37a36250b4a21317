import type { Dispatcher } from 'undici';
import type { Channel } from '../../shared/model.ts';
import { baseUrl, httpStatusLine, noAnswer, noAnswerReason, parseRetryAfter, retryable } from '../http.ts';
import {
  type ChannelProvider,
  type OutboundMessage,
  ProviderConfigError,
  type ProviderContext,
  type SendOutcome,
} from '../port.ts';
import { signWebhook } from './signature.ts';

/** Where to deliver, as stored on an integration. */
export interface WebhookConfig {
  url: string;
  /**
   * Sends to this base URL instead of the URL's origin: its origin, its path as a prefix, then the
   * URL's path and query (a relay, a local test server), as a chat webhook's `endpoint` does.
   */
  endpoint?: string;
  /**
   * Whole-request deadline (connect, headers, body), 10 s by default, at most 30 s. Not part of the
   * integration schema (tenants cannot set it): a receiver that trickles its answer must not hold
   * a shared send slot for long.
   */
  timeoutMs?: number;
}

/** The signing secret, `whsec_<base64>` (or any string, used as raw UTF-8 bytes). */
export interface WebhookCredentials {
  secret: string;
}

/** The JSON body a receiver gets. */
export interface WebhookPayload {
  type: 'message';
  messageId: string;
  eventId: string;
  workflow: string;
  subscriberId: string;
  channel: Channel;
  content: Record<string, string>;
  data: Record<string, unknown>;
}

/**
 * Checked when the URL is written (`PUT`): a user name or password in it would never be sent (the
 * request goes to the URL's origin and path), so a receiver that wants them refuses every message,
 * and the integration's GET would show the password. The signature is what authenticates Tidings.
 */
export function checkWebhookUrl(url: unknown): void {
  if (typeof url !== 'string' || !URL.canParse(url)) return;
  const { username, password } = new URL(url);
  if (username !== '' || password !== '') {
    throw new ProviderConfigError(
      'config.url',
      'must not carry a user name or password: they are never sent (the webhook-signature header authenticates Tidings)',
    );
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 30_000;

/**
 * Creates the `webhook` provider: a signed JSON POST per message (Standard Webhooks headers).
 * `webhook-id` is the Tidings message id, stable across retries, so receivers can deduplicate.
 * Requests go through the outbound guard's dispatcher, which refuses private targets and
 * follows no redirect. The timeline gets the HTTP status and its standard phrase, never the
 * receiver's body: the target is whatever the tenant typed, and its answer is not theirs to read.
 */
export function createWebhookProvider(
  config: WebhookConfig,
  credentials: WebhookCredentials,
  context: ProviderContext,
): ChannelProvider {
  const url = URL.canParse(config.url) ? new URL(config.url) : null;
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    throw new ProviderConfigError('config.url', 'must be an http(s) URL');
  }
  const timeoutMs = Math.min(config.timeoutMs ?? DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS);
  const origin = config.endpoint === undefined ? url : baseUrl(config.endpoint, url.origin);
  const prefix = config.endpoint === undefined ? '' : origin.pathname.replace(/\/+$/, '');
  const path = `${prefix}${url.pathname}${url.search}`;

  return {
    name: 'webhook',
    async send(message: OutboundMessage): Promise<SendOutcome> {
      const body = JSON.stringify(toPayload(message));
      const timestamp = Math.floor(Date.now() / 1000);
      let response: Dispatcher.ResponseData;
      try {
        response = await context.outbound.http.request({
          origin: origin.origin,
          path,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Tidings-Webhook',
            'webhook-id': message.messageId,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signWebhook(credentials.secret, message.messageId, timestamp, body),
          },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        return noAnswer(err, origin.hostname, RECEIVER);
      }
      // Nobody reads the body, success or not; dumping it frees the connection for reuse.
      await response.body.dump().catch(() => undefined);
      const retryAfter = response.headers['retry-after'];
      return classifyWebhookResponse(
        response.statusCode,
        Array.isArray(retryAfter) ? (retryAfter[0] ?? null) : (retryAfter ?? null),
        Date.now(),
      );
    },
  };
}

function toPayload(message: OutboundMessage): WebhookPayload {
  return {
    type: 'message',
    messageId: message.messageId,
    eventId: message.eventId,
    workflow: message.workflow,
    subscriberId: message.subscriber.id,
    channel: message.channel,
    content: message.content,
    data: message.data,
  };
}

/**
 * Maps an HTTP status to our outcome vocabulary.
 * - 2xx → accepted.
 * - 408, 425, 429 and 5xx → retryable; a `Retry-After` (delay seconds or HTTP-date, relative to
 *   `now` in epoch ms) becomes `retryAfterMs` whenever the receiver sends one.
 * - 410 Gone → bad_address: the endpoint says it no longer exists.
 * - Other 4xx → permanent: resending the same payload gets the same answer.
 * - Anything else (1xx, 3xx: redirects are not followed) → permanent.
 */
export function classifyWebhookResponse(
  status: number,
  retryAfterHeader: string | null,
  now: number,
): SendOutcome {
  const reason = httpStatusLine(status);
  if (status >= 200 && status < 300) return { kind: 'accepted', detail: reason };
  if (status === 408 || status === 425 || status === 429 || (status >= 500 && status < 600)) {
    return retryable(reason, parseRetryAfter(retryAfterHeader, now));
  }
  if (status === 410) return { kind: 'bad_address', reason };
  if (status >= 300 && status < 400)
    return { kind: 'permanent', reason: `${reason} (redirects are not followed)` };
  return { kind: 'permanent', reason };
}

const RECEIVER = 'the receiver';

/**
 * No answer at all. Refused, reset, unreachable, unresolvable and timed out read the same, so
 * delivery attempts cannot be used to scan which hosts and ports exist behind us.
 */
export const NO_RESPONSE = noAnswerReason(RECEIVER);
