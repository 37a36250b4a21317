import { httpStatusLine, isAnswer, type ProviderAnswer, requestProvider, retryLater } from '../http.ts';
import type { ChannelProvider, OutboundMessage, ProviderContext, SendOutcome } from '../port.ts';
import { type ChatWebhookConfig, chatTarget, chatText } from './target.ts';

/**
 * Slack's answers that say the webhook no longer leads anywhere (the app was removed, the
 * channel deleted or archived, the workspace gone): resending cannot work until someone gives
 * a new URL, so they fail as bad_address rather than plain refusals.
 */
const GONE = new Set([
  'no_service',
  'no_service_id',
  'no_team',
  'team_disabled',
  'channel_not_found',
  'channel_is_archived',
  'invalid_token',
]);

/**
 * Creates the `slack` provider: a JSON `{"text"}` POST to the channel's incoming webhook, through
 * the outbound guard. Slack answers `ok` with no message id.
 */
export function createSlackProvider(config: ChatWebhookConfig, context: ProviderContext): ChannelProvider {
  const target = chatTarget(config);
  return {
    name: 'slack',
    async send(message: OutboundMessage): Promise<SendOutcome> {
      const text = chatText(message.content);
      if (text.trim() === '') return { kind: 'permanent', reason: 'the chat template rendered no text' };
      const answer = await requestProvider(context, target.origin, {
        method: 'POST',
        path: target.path,
        headers: { 'content-type': 'application/json', 'user-agent': 'Tidings' },
        body: JSON.stringify({ text }),
      });
      if (!isAnswer(answer)) return answer;
      return classifySlackAnswer(answer, Date.now());
    },
  };
}

/**
 * Maps a Slack incoming-webhook answer (a status and a one-word body such as `invalid_payload`).
 * - 2xx → accepted.
 * - 429 (with Retry-After) and 5xx → retryable.
 * - A body saying the webhook or channel is gone (`no_service`, `channel_not_found`,
 *   `channel_is_archived`…), or 404 / 410 → bad_address.
 * - Other 4xx (`invalid_payload`, `action_prohibited`, `posting_to_general_channel_denied`…) →
 *   permanent: the same payload gets the same answer.
 */
export function classifySlackAnswer(answer: ProviderAnswer, now: number): SendOutcome {
  const word = answer.body.trim();
  // Slack's error is one snake_case word; anything else from the host stays out of the timeline.
  const code = /^[a-z_]{1,64}$/.test(word) ? word : null;
  const reason = code ? `${httpStatusLine(answer.status)}: ${code}` : httpStatusLine(answer.status);
  if (answer.status >= 200 && answer.status < 300) return { kind: 'accepted', detail: reason };
  if (answer.status === 429 || answer.status >= 500) {
    return retryLater(answer, reason, now);
  }
  if ((code && GONE.has(code)) || answer.status === 404 || answer.status === 410) {
    return { kind: 'bad_address', reason };
  }
  return { kind: 'permanent', reason };
}
