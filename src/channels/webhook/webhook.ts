import type { Channel } from '../../shared/model.ts';
import type { ChannelProvider, OutboundMessage, SendOutcome } from '../port.ts';
import { signWebhook } from './signature.ts';

/** Where to deliver, as stored on an integration. */
export interface WebhookConfig {
  url: string;
  /** Whole-request deadline (connect, headers, body), 10 s by default. */
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

const DEFAULT_TIMEOUT_MS = 10_000;
/** How much of an error response body we keep in the reason: enough to debug, not to bloat the log. */
const SNIPPET_BYTES = 200;

/**
 * Creates the `webhook` provider: a signed JSON POST per message (Standard Webhooks headers).
 * `webhook-id` is the Tidings message id, stable across retries, so receivers can deduplicate.
 */
export function createWebhookProvider(
  config: WebhookConfig,
  credentials: WebhookCredentials,
): ChannelProvider {
  const url = new URL(config.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`webhook: url must be http(s), got ${url.protocol}`);
  }
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  return {
    name: 'webhook',
    async send(message: OutboundMessage): Promise<SendOutcome> {
      const body = JSON.stringify(toPayload(message));
      const timestamp = Math.floor(Date.now() / 1000);
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Tidings-Webhook',
            'webhook-id': message.messageId,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signWebhook(credentials.secret, message.messageId, timestamp, body),
          },
          body,
          // A redirect would resend the signed payload somewhere the integration did not name.
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        return { kind: 'retryable', reason: describeFetchError(err, timeoutMs) };
      }
      const outcome = classifyWebhookResponse(
        response.status,
        response.headers.get('retry-after'),
        Date.now(),
      );
      if (outcome.kind === 'accepted') {
        // Nobody reads a success body; cancelling frees the connection.
        await response.body?.cancel().catch(() => undefined);
        return outcome;
      }
      const snippet = await readSnippet(response);
      return snippet ? { ...outcome, reason: `${outcome.reason}: ${snippet}` } : outcome;
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
  const reason = `HTTP ${status}`;
  if (status >= 200 && status < 300) return { kind: 'accepted', detail: reason };
  if (status === 408 || status === 425 || status === 429 || (status >= 500 && status < 600)) {
    const retryAfterMs = parseRetryAfter(retryAfterHeader, now);
    return retryAfterMs === undefined
      ? { kind: 'retryable', reason }
      : { kind: 'retryable', reason, retryAfterMs };
  }
  if (status === 410) return { kind: 'bad_address', reason: `${reason} (endpoint gone)` };
  if (status >= 300 && status < 400)
    return { kind: 'permanent', reason: `${reason} (redirects are not followed)` };
  return { kind: 'permanent', reason };
}

/** RFC 9110 §10.2.3: either non-negative delay seconds or an HTTP-date. Garbage is ignored. */
function parseRetryAfter(header: string | null, now: number): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Date.parse is lenient enough to read "5.5" as a date; an HTTP-date always has a day name.
  if (!/[a-z]/i.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `timed out after ${timeoutMs} ms`;
  }
  // undici reports network failures as TypeError('fetch failed') with the system error as cause.
  const cause = err instanceof Error ? err.cause : undefined;
  const code =
    typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return `network error: ${code ?? message}`;
}

/** The first bytes of an error body, whitespace-collapsed; never throws. */
async function readSnippet(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < SNIPPET_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body that fails mid-read changes nothing about the status we already have.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const raw = Buffer.concat(chunks).toString('utf8');
  const text = raw.slice(0, SNIPPET_BYTES).replace(/\s+/g, ' ').trim();
  return raw.length > SNIPPET_BYTES ? `${text}…` : text;
}
