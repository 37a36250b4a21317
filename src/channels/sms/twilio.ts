import { PHONE_PATTERN } from '../../ingest/addresses.ts';
import {
  acceptedAnswer,
  baseUrl,
  httpStatusLine,
  integrationFailed,
  isAnswer,
  joinPath,
  type ProviderAnswer,
  parseObject,
  providerWords,
  requestProvider,
  retryLater,
} from '../http.ts';
import {
  type ChannelProvider,
  type OutboundMessage,
  ProviderConfigError,
  type ProviderContext,
  type SendOutcome,
} from '../port.ts';
import { countSegments } from './segments.ts';

/** Non-secret Twilio settings: exactly one of `from` and `messagingServiceSid`. */
export interface TwilioConfig {
  /** A Twilio number (E.164), a short code, or an alphanumeric sender id. */
  from?: string;
  /** `MG…`: Twilio picks the sender from the service's pool. */
  messagingServiceSid?: string;
  /** Base URL override; `https://api.twilio.com` by default. */
  endpoint?: string;
}

export interface TwilioCredentials {
  /** `AC` + 32 hex digits. */
  accountSid: string;
  authToken: string;
}

export const TWILIO_API = 'https://api.twilio.com';

const E164 = new RegExp(PHONE_PATTERN);
const SHORT_CODE = /^[0-9]{3,8}$/;
// Alphanumeric sender ids: up to 11 letters, digits and spaces, at least one letter.
const ALPHANUMERIC_SENDER = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;

/** Twilio errors that say the `To` number cannot receive SMS at all. */
const BAD_NUMBER_CODES: Readonly<Record<number, string>> = {
  21211: 'invalid To number',
  21614: 'To number is not a mobile number',
};
/** Twilio's "Attempt to send to unsubscribed recipient": the number texted STOP to this sender. */
export const TWILIO_UNSUBSCRIBED = 21610;
const TOO_MANY_REQUESTS = 20429;
/** Twilio's "Authenticate": the accountSid / authToken pair was refused. */
const AUTHENTICATION_FAILED = 20003;
const KNOWN_CODES: Readonly<Record<number, string>> = {
  ...BAD_NUMBER_CODES,
  [TWILIO_UNSUBSCRIBED]: 'the recipient replied STOP to this sender',
  [AUTHENTICATION_FAILED]: 'authentication failed (accountSid / authToken)',
  [TOO_MANY_REQUESTS]: 'too many requests',
  21606: 'the From number cannot send SMS',
  21609: 'invalid StatusCallback URL',
};

/**
 * Creates the `twilio` provider: one Programmable Messaging `POST
 * /2010-04-01/Accounts/{sid}/Messages.json` per message (form-encoded, basic auth), through the
 * outbound guard. The message `sid` becomes the provider message id, and `meta` says how many
 * segments the body costs. When Tidings has a public URL, `StatusCallback` asks Twilio to report
 * receipts to `/v1/providers/{integrationId}/webhook`.
 */
export function createTwilioProvider(
  config: TwilioConfig,
  credentials: TwilioCredentials,
  context: ProviderContext,
): ChannelProvider {
  const sender = checkedSender(config);
  if (!/^AC[0-9a-fA-F]{32}$/.test(credentials.accountSid ?? '')) {
    throw new ProviderConfigError('credentials.accountSid', 'must be "AC" followed by 32 hex digits');
  }
  if (!credentials.authToken) throw new ProviderConfigError('credentials.authToken', 'is required');
  const base = baseUrl(config.endpoint, TWILIO_API);
  const path = joinPath(base, `/2010-04-01/Accounts/${credentials.accountSid}/Messages.json`);
  const authorization = `Basic ${Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64')}`;
  const statusCallback = statusCallbackUrl(context, base);

  return {
    name: 'twilio',
    async send(message: OutboundMessage): Promise<SendOutcome> {
      const to = message.subscriber.phone;
      if (!to) return { kind: 'bad_address', reason: 'the subscriber has no phone number' };
      if (!E164.test(to)) return { kind: 'bad_address', reason: 'the phone number is not in E.164 form' };
      const body = message.content.body ?? message.content.text ?? '';
      if (body.trim() === '') return { kind: 'permanent', reason: 'the SMS template rendered an empty body' };
      const form = new URLSearchParams({ To: to, ...sender, Body: body });
      if (statusCallback) form.set('StatusCallback', statusCallback);
      const answer = await requestProvider(context, base, {
        method: 'POST',
        path,
        headers: {
          authorization,
          accept: 'application/json',
          'content-type': 'application/x-www-form-urlencoded',
          'user-agent': 'Tidings',
        },
        body: form.toString(),
      });
      if (!isAnswer(answer)) return answer;
      if (answer.status >= 200 && answer.status < 300) {
        const { segments, encoding } = countSegments(body);
        return { ...acceptedAnswer(answer, parseObject(answer.body)?.sid), meta: { segments, encoding } };
      }
      return classifyTwilioError(answer, Date.now());
    },
  };
}

/** The sender fields of the form, after checking the config names exactly one usable sender. */
function checkedSender(config: TwilioConfig): Record<string, string> {
  const { from, messagingServiceSid } = config;
  if (from !== undefined && messagingServiceSid !== undefined) {
    throw new ProviderConfigError(
      'config.messagingServiceSid',
      'cannot be set together with config.from: give exactly one of them',
    );
  }
  if (messagingServiceSid !== undefined) {
    if (!/^MG[0-9a-fA-F]{32}$/.test(messagingServiceSid)) {
      throw new ProviderConfigError('config.messagingServiceSid', 'must be "MG" followed by 32 hex digits');
    }
    return { MessagingServiceSid: messagingServiceSid };
  }
  if (from === undefined) {
    throw new ProviderConfigError('config.from', 'or config.messagingServiceSid is required (exactly one)');
  }
  if (!E164.test(from) && !SHORT_CODE.test(from) && !ALPHANUMERIC_SENDER.test(from)) {
    throw new ProviderConfigError(
      'config.from',
      'must be an E.164 number (+15551234567), a short code or an alphanumeric sender id (up to 11 letters and digits)',
    );
  }
  return { From: from };
}

/**
 * Twilio's StatusCallback for this integration (API.md: `TIDINGS_PUBLIC_URL/v1/providers/{id}/webhook`),
 * or null when there is nowhere the server sent to could call: no integration or public URL, or a
 * public URL on loopback (the default `http://127.0.0.1:8787`) while the messages go to Twilio
 * itself (`*.twilio.com`), which cannot reach it and may refuse the message over (error 21609).
 * A `config.endpoint` elsewhere (a local test server, a proxy) is sent the callback whatever the
 * public URL: it may well reach a loopback one.
 */
export function statusCallbackUrl(
  context: Pick<ProviderContext, 'publicUrl' | 'integrationId'>,
  base: URL,
): string | null {
  if (!context.publicUrl || !context.integrationId) return null;
  const url = URL.canParse(context.publicUrl) ? new URL(context.publicUrl) : null;
  if (!url) return null;
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|0\.0\.0\.0)$/i.test(url.hostname);
  const toTwilio = base.hostname === 'twilio.com' || base.hostname.endsWith('.twilio.com');
  if (loopback && toTwilio) return null;
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.origin}${path}/v1/providers/${encodeURIComponent(context.integrationId)}/webhook`;
}

/**
 * Maps a Twilio error answer (`{code, message, more_info, status}`) to our outcome vocabulary.
 * - 21610 (the number texted STOP) → opted_out: the subscriber is opted out of SMS.
 * - 21211 / 21614 (not a valid / not a mobile number) → bad_address.
 * - 20429 or HTTP 429, and 5xx → retryable, with Retry-After when Twilio sends one.
 * - 401 / 20003 (accountSid or authToken refused) → the integration itself is broken: retryable
 *   with `integrationFailed`, so the send fails over to the next integration.
 * - Anything else (21606 sender, other 4xx) → permanent.
 */
export function classifyTwilioError(answer: ProviderAnswer, now: number): SendOutcome {
  const error = parseObject(answer.body);
  const code = typeof error?.code === 'number' ? error.code : null;
  const reason = describe(answer.status, code, error?.message);
  if (code === TWILIO_UNSUBSCRIBED) return { kind: 'opted_out', reason };
  if (code !== null && code in BAD_NUMBER_CODES) return { kind: 'bad_address', reason };
  if (answer.status === 429 || code === TOO_MANY_REQUESTS || answer.status >= 500) {
    return retryLater(answer, reason, now);
  }
  if (answer.status === 401 || code === AUTHENTICATION_FAILED) return integrationFailed(reason);
  return { kind: 'permanent', reason };
}

/**
 * `HTTP 400 Bad Request, Twilio 21211: invalid To number`. Known codes get our own words; others
 * Twilio's message, with the phone numbers it quotes masked.
 */
function describe(status: number, code: number | null, message: unknown): string {
  const line = httpStatusLine(status);
  if (code === null) return line;
  const words = KNOWN_CODES[code] ?? providerWords(message);
  return words ? `${line}, Twilio ${code}: ${words}` : `${line}, Twilio ${code}`;
}
