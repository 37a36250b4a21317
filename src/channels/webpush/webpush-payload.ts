import { createHash } from 'node:crypto';
import type { Urgency } from 'web-push';
import { httpStatusLine, parseRetryAfter } from '../http.ts';
import type { OutboundMessage, SendOutcome } from '../port.ts';
import { BADGE_DIGITS, INTERRUPTION_LEVELS } from '../push/template-rules.ts';

/**
 * The JSON a service worker decrypts from a Tidings web push (`event.data.json()`):
 * `title`, `body` and `data` always, `messageId` for receipts
 * (`POST /v1/messages/{messageId}/receipt`), and each other push template field the template
 * rendered, under its own name and typed (`badge` a number, `silent` a boolean).
 */
export interface WebPushPayload {
  messageId: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  image?: string;
  sound?: string;
  badge?: number;
  threadId?: string;
  category?: string;
  interruptionLevel?: string;
  silent?: true;
  collapseId?: string;
}

/**
 * The largest plaintext that still fits one aes128gcm record in a 4096-byte body (RFC 8291 §4: one
 * record; RFC 8030 §7.2: push services must take 4096 bytes): 4096 less the header (86: salt,
 * record size, key id length, the 65-byte key), the tag (16) and the padding delimiter (1).
 */
export const WEB_PUSH_MAX_PLAINTEXT_BYTES = 4096 - 86 - 16 - 1;

const OPTIONAL_TEXT = ['image', 'sound', 'threadId', 'category', 'interruptionLevel', 'collapseId'] as const;

/** What the request carries besides the payload (RFC 8030 §5.2–5.4). */
export interface WebPushDelivery {
  payload: WebPushPayload;
  /** The encoded payload. */
  text: string;
  urgency: Urgency;
  /** Replaces a pending message with the same topic at the push service. */
  topic?: string;
}

/**
 * Builds the payload and headers from the rendered fields, or says why it cannot (a `data` that is
 * no JSON object, a badge that is no number, a payload too large for one record).
 * Urgency: `critical` and `time-sensitive` → high, `passive` and silent → low, else normal.
 */
export function toWebPush(message: OutboundMessage): WebPushDelivery | { error: string } {
  const fields = message.content;
  let data: Record<string, unknown> = {};
  if (fields.data !== undefined && fields.data.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fields.data);
    } catch {
      return { error: 'data is not JSON (the push template field data must render a JSON object)' };
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return { error: 'data must render a JSON object' };
    }
    data = parsed as Record<string, unknown>;
  }
  const payload: WebPushPayload = {
    messageId: message.messageId,
    title: fields.title ?? '',
    body: fields.body ?? '',
    data,
  };
  for (const name of OPTIONAL_TEXT) {
    const value = fields[name]?.trim();
    if (value) payload[name] = value;
  }
  if (
    payload.interruptionLevel !== undefined &&
    !(INTERRUPTION_LEVELS as readonly string[]).includes(payload.interruptionLevel)
  ) {
    return { error: `interruptionLevel must be one of ${INTERRUPTION_LEVELS.join(', ')}` };
  }
  const badge = fields.badge?.trim();
  if (badge === 'unread') {
    if (message.unreadCount !== undefined) payload.badge = message.unreadCount;
  } else if (badge) {
    if (!BADGE_DIGITS.test(badge)) return { error: 'badge must be a whole number or "unread"' };
    payload.badge = Number(badge);
  }
  const silent = fields.silent?.trim() === 'true';
  if (silent) payload.silent = true;

  const text = JSON.stringify(payload);
  const bytes = Buffer.byteLength(text);
  if (bytes > WEB_PUSH_MAX_PLAINTEXT_BYTES) {
    return {
      error: `the web push payload is ${bytes} bytes; one encrypted record holds at most ${WEB_PUSH_MAX_PLAINTEXT_BYTES}`,
    };
  }
  const level = payload.interruptionLevel;
  const urgency: Urgency =
    level === 'critical' || level === 'time-sensitive'
      ? 'high'
      : level === 'passive' || silent
        ? 'low'
        : 'normal';
  const delivery: WebPushDelivery = { payload, text, urgency };
  if (payload.collapseId !== undefined) delivery.topic = webPushTopic(payload.collapseId);
  return delivery;
}

/**
 * RFC 8030 §5.4: a Topic is at most 32 characters of the URL-safe base64 alphabet. A collapse id
 * that already is one is used as it is; any other is hashed (SHA-256, the first 32 base64url
 * characters), so the same collapse id always gives the same topic.
 */
export function webPushTopic(collapseId: string): string {
  if (/^[A-Za-z0-9_-]{1,32}$/.test(collapseId)) return collapseId;
  return createHash('sha256').update(collapseId).digest('base64url').slice(0, 32);
}

/**
 * Maps a push service's answer (RFC 8030 §5, RFC 8292 §4.2) onto our outcomes.
 * - 2xx (201 Created) → accepted.
 * - 404 → bad_address, device deactivated `expired`: §7.3, "A push service MUST return a 404 (Not
 *   Found) status code if an application server attempts to send a push message to an expired
 *   push message subscription".
 * - 410 Gone → bad_address `unregistered`: push services use it for a subscription the browser
 *   gave up (unsubscribed, permission revoked).
 * - 429 and 5xx (and 408) → retryable, with `Retry-After` when sent.
 * - Other 4xx (400 bad headers, 401/403 VAPID refused, 413 too large) and 3xx (not followed) →
 *   permanent.
 */
export function classifyWebPushResponse(
  status: number,
  retryAfterHeader: string | null,
  now: number,
): SendOutcome {
  const reason = httpStatusLine(status);
  if (status >= 200 && status < 300) return { kind: 'accepted' };
  if (status === 404) return { kind: 'bad_address', reason, deactivate: 'expired' };
  if (status === 410) return { kind: 'bad_address', reason, deactivate: 'unregistered' };
  if (status === 408 || status === 429 || (status >= 500 && status < 600)) {
    const retryAfterMs = parseRetryAfter(retryAfterHeader, now);
    return retryAfterMs === undefined
      ? { kind: 'retryable', reason }
      : { kind: 'retryable', reason, retryAfterMs };
  }
  if (status >= 300 && status < 400)
    return { kind: 'permanent', reason: `${reason} (redirects are not followed)` };
  return { kind: 'permanent', reason };
}
