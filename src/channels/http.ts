import { type IncomingHttpHeaders, STATUS_CODES } from 'node:http';
import type { Dispatcher } from 'undici';
import { BlockedTargetError, isBlockedTargetError } from '../security/outbound/index.ts';
import { neverConnected } from './never-connected.ts';
import { ProviderConfigError, type ProviderContext, type SendOutcome } from './port.ts';

/**
 * What the HTTP providers (Twilio, SendGrid, SES, Slack, Discord, FCM, Web Push, webhooks) share:
 * one request through the outbound guard with a deadline, a bounded read of the answer, the
 * no-answer rule and the Retry-After rule.
 */

/** A provider's answer, read whole (up to {@link MAX_ANSWER_BYTES}). */
export interface ProviderAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A send that got no answer to classify: the host is refused, or nothing came back in time. */
export type NoAnswer = Extract<SendOutcome, { kind: 'blocked_target' | 'retryable' }>;

/** Provider answers are small JSON documents; a larger one is cut (its tail is never needed). */
const MAX_ANSWER_BYTES = 64 * 1024;
const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * No answer at all. Refused, reset, unreachable, unresolvable and timed out read the same, so
 * sends cannot be used to scan which hosts and ports exist behind us.
 */
export const NO_ANSWER = noAnswerReason('the provider');

export function noAnswerReason(who: string): string {
  return `no response from ${who} (connection failed or timed out)`;
}

/**
 * The base URL of an HTTP provider: `config.endpoint` when the integration sets one (regional
 * endpoints, local test servers), else the provider's own. Throws ProviderConfigError (a 422 at
 * `PUT`) for anything but an http(s) URL without query or fragment.
 */
export function baseUrl(endpoint: unknown, fallback: string, path = 'config.endpoint'): URL {
  const raw = typeof endpoint === 'string' ? endpoint : fallback;
  const url = URL.canParse(raw) ? new URL(raw) : null;
  if (
    (url?.protocol !== 'http:' && url?.protocol !== 'https:') ||
    url.search ||
    url.hash ||
    url.username ||
    url.password
  ) {
    throw new ProviderConfigError(path, 'must be an http(s) URL without credentials, query or fragment');
  }
  return url;
}

/** `base` + `path`, keeping a path prefix the base may carry (`https://proxy.test/twilio`). */
export function joinPath(base: URL, path: string): string {
  return `${base.pathname.replace(/\/+$/, '')}${path}`;
}

export interface ProviderRequest {
  method: 'POST' | 'GET';
  /** Path and query, already joined with the base's path. */
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
  /** Who failed to answer, for the reason: `the provider` by default. */
  who?: string;
  /**
   * False when the host is not the integration's but a subscriber's (a browser's push service):
   * then an unreachable host says nothing about the integration, which must not fail over.
   */
  hostIsTheIntegrations?: boolean;
}

/** Sends one request through the guard; answers the provider's reply, or why there is none. */
export async function requestProvider(
  context: ProviderContext,
  origin: URL,
  request: ProviderRequest,
): Promise<ProviderAnswer | NoAnswer> {
  let response: Dispatcher.ResponseData;
  try {
    response = await context.outbound.http.request({
      origin: origin.origin,
      path: request.path,
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(request.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
  } catch (error) {
    return noAnswer(error, origin.hostname, request.who, request.hostIsTheIntegrations);
  }
  return { status: response.statusCode, headers: response.headers, body: await readCapped(response) };
}

/**
 * Why a request got no answer. A blocked target is final; the rest is retried, and when the host
 * is the integration's own and no connection was ever made, the integration is down, not the
 * message: `integrationFailed`, so the send fails over at once.
 */
export function noAnswer(
  error: unknown,
  host: string,
  who = 'the provider',
  hostIsTheIntegrations = true,
): NoAnswer {
  if (isBlockedTargetError(error))
    return { kind: 'blocked_target', reason: new BlockedTargetError(host).message };
  const reason = noAnswerReason(who);
  return hostIsTheIntegrations && neverConnected(error)
    ? integrationFailed(reason)
    : { kind: 'retryable', reason };
}

export function isAnswer(result: ProviderAnswer | NoAnswer): result is ProviderAnswer {
  return 'status' in result;
}

/**
 * The answer's body as text, at most {@link MAX_ANSWER_BYTES} of it; the rest is discarded unread.
 * A body that breaks off is classified on what arrived: the status line already says whether the
 * provider took the message, and retrying one it took would send it twice (Twilio, SendGrid and
 * push services do not deduplicate).
 */
async function readCapped(response: Dispatcher.ResponseData): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_ANSWER_BYTES) break;
    }
  } catch {
    // Cut off mid-way: what arrived is all there is.
  }
  // Leaving the loop early does not drain the rest; destroying frees the connection.
  if (size >= MAX_ANSWER_BYTES) response.body.destroy();
  return Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8');
}

/** One header's value (the first, if repeated). */
export function header(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

/** JSON.parse that answers null for anything that is not a JSON object. */
export function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/**
 * A provider's own words for the timeline, made safe to keep there: email addresses and phone
 * numbers masked (providers quote them — "… failed the check: a@b.test" — and timelines outlive
 * a subscriber's erasure), control characters dropped, cut to 160 characters.
 */
export function providerWords(value: unknown): string {
  if (typeof value !== 'string') return '';
  const clean = value
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]+/g, ' ')
    .replace(/[^\s@<>"',;:()]+@[^\s@<>"',;:()]+/g, '…')
    .replace(/\+?\d[\d ().-]{4,}\d/g, '…')
    .trim();
  return clean.length > 160 ? `${clean.slice(0, 159)}…` : clean;
}

/** `HTTP 500 Internal Server Error`: the status and its standard phrase (not the server's own). */
export function httpStatusLine(status: number): string {
  const phrase = STATUS_CODES[status];
  return phrase ? `HTTP ${status} ${phrase}` : `HTTP ${status}`;
}

/** RFC 9110 §10.2.3: either non-negative delay seconds or an HTTP-date. Garbage is ignored. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Date.parse is lenient enough to read "5.5" as a date; an HTTP-date always has a day name.
  if (!/[a-z]/i.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The integration itself is broken — its host unreachable, its credentials refused (401, or a 403
 * about our key) — and the provider never took the message: the send fails over to the next
 * integration at once, and this one's circuit breaker counts it.
 */
export function integrationFailed(reason: string): Extract<SendOutcome, { kind: 'retryable' }> {
  return { kind: 'retryable', reason, integrationFailed: true };
}

/** A 2xx answer taken: accepted, with the provider's id for the message when it gave one. */
export function acceptedAnswer(
  answer: ProviderAnswer,
  providerMessageId: unknown,
): Extract<SendOutcome, { kind: 'accepted' }> {
  const detail = httpStatusLine(answer.status);
  return typeof providerMessageId === 'string' && providerMessageId !== ''
    ? { kind: 'accepted', providerMessageId, detail }
    : { kind: 'accepted', detail };
}

/** A busy provider (429, 5xx): retryable, after its Retry-After when it sent one. */
export function retryLater(
  answer: ProviderAnswer,
  reason: string,
  now: number,
): Extract<SendOutcome, { kind: 'retryable' }> {
  return retryable(reason, parseRetryAfter(header(answer.headers, 'retry-after'), now));
}

/** A retryable outcome, with the provider's delay when it gave one. */
export function retryable(
  reason: string,
  retryAfterMs: number | undefined,
): Extract<SendOutcome, { kind: 'retryable' }> {
  return retryAfterMs === undefined
    ? { kind: 'retryable', reason }
    : { kind: 'retryable', reason, retryAfterMs };
}
