import {
  acceptedAnswer,
  header,
  httpStatusLine,
  isAnswer,
  type ProviderAnswer,
  parseObject,
  parseRetryAfter,
  providerWords,
  requestProvider,
  retryable,
  retryLater,
} from '../http.ts';
import type { ChannelProvider, OutboundMessage, ProviderContext, SendOutcome } from '../port.ts';
import { type ChatWebhookConfig, chatTarget, chatText } from './target.ts';

/** Discord's JSON error codes that say the webhook itself is gone or its token wrong. */
const UNKNOWN_WEBHOOK = 10015;
const INVALID_WEBHOOK_TOKEN = 50027;

/**
 * Creates the `discord` provider: Execute Webhook with `?wait=true`, so Discord answers the
 * created message (whose `id` becomes the provider message id) instead of 204.
 */
export function createDiscordProvider(config: ChatWebhookConfig, context: ProviderContext): ChannelProvider {
  const target = chatTarget(config);
  const path = `${target.path}${target.path.includes('?') ? '&' : '?'}wait=true`;
  const retryAfterUnitMs = retryAfterUnit(target.path);
  return {
    name: 'discord',
    async send(message: OutboundMessage): Promise<SendOutcome> {
      const content = chatText(message.content);
      if (content.trim() === '') return { kind: 'permanent', reason: 'the chat template rendered no text' };
      const answer = await requestProvider(context, target.origin, {
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', 'user-agent': 'Tidings' },
        // No mentions are resolved: event data rendered into the text must not ping @everyone.
        body: JSON.stringify({ content, allowed_mentions: { parse: [] } }),
      });
      if (!isAnswer(answer)) return answer;
      return classifyDiscordAnswer(answer, Date.now(), retryAfterUnitMs);
    },
  };
}

/**
 * The unit of a 429's `retry_after`, in ms, for the API version the webhook path names: seconds
 * (fractional) from v8 on; milliseconds before, and for a path without a version — the URL
 * Discord hands out (`/api/webhooks/…`) — which Discord serves as its default version, v6
 * (https://github.com/discord/discord-api-docs/issues/4722: "You are probably using a
 * deprecated API version"; the v8 change log moved retry_after from milliseconds to seconds).
 */
export function retryAfterUnit(path: string): 1 | 1000 {
  const version = /\/api\/v(\d+)\//.exec(path)?.[1];
  return version !== undefined && Number(version) >= 8 ? 1000 : 1;
}

/**
 * Maps a Discord answer.
 * - 2xx → accepted, with the created message's `id`.
 * - 429 → retryable after the body's `retry_after` (in `retryAfterUnitMs`, see retryAfterUnit)
 *   or the Retry-After header; 5xx → retryable.
 * - 404 Unknown Webhook (10015), 401 Invalid Webhook Token (50027) → bad_address: the webhook
 *   was deleted or its URL is wrong.
 * - Other 4xx (50035 Invalid Form Body, e.g. content over 2000 characters) → permanent.
 */
export function classifyDiscordAnswer(
  answer: ProviderAnswer,
  now: number,
  retryAfterUnitMs: 1 | 1000 = 1000,
): SendOutcome {
  const json = parseObject(answer.body);
  const line = httpStatusLine(answer.status);
  if (answer.status >= 200 && answer.status < 300) {
    return acceptedAnswer(answer, json?.id);
  }
  const code = typeof json?.code === 'number' ? json.code : null;
  const words = providerWords(json?.message);
  const reason = code === null ? (words ? `${line}: ${words}` : line) : `${line}, Discord ${code}: ${words}`;
  if (answer.status === 429) {
    const value = typeof json?.retry_after === 'number' && json.retry_after >= 0 ? json.retry_after : null;
    const retryAfterMs =
      value === null
        ? parseRetryAfter(header(answer.headers, 'retry-after'), now)
        : // A fractional value is seconds whatever the path: v6's milliseconds are whole numbers
          // (read as milliseconds, seconds would spend the send's attempts in a moment).
          Math.ceil(value * (Number.isInteger(value) ? retryAfterUnitMs : 1000));
    return retryable(reason, retryAfterMs);
  }
  if (answer.status >= 500) return retryLater(answer, reason, now);
  if (code === UNKNOWN_WEBHOOK || code === INVALID_WEBHOOK_TOKEN || answer.status === 404) {
    return { kind: 'bad_address', reason };
  }
  return { kind: 'permanent', reason };
}
