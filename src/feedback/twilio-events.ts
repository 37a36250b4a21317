import type { FeedbackEvent } from './events.ts';

/**
 * Twilio error codes that say the number cannot receive texts at all: a hard bounce. Both tables
 * have no prototype: `ErrorCode=constructor` is a code like any other, not a dead number.
 */
const DEAD_NUMBER_CODES: Readonly<Record<string, string>> = codes({
  '30005': 'unknown destination handset',
  '30006': 'landline or unreachable carrier',
  '21211': 'invalid To number',
  '21614': 'To number is not a mobile number',
});
/** Codes of a phone that may come back (switched off, out of coverage): a soft bounce. */
const UNREACHABLE_CODES: Readonly<Record<string, string>> = codes({
  '30003': 'unreachable destination handset',
});

function codes(table: Record<string, string>): Readonly<Record<string, string>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, string>, table));
}

/**
 * Twilio's opt-out keywords (Advanced Opt-Out defaults, case-insensitive, the whole body): the
 * number is opted out of or back in to SMS. Twilio's own `OptOutType` parameter wins when present.
 */
const STOP_WORDS = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE']);
const START_WORDS = new Set(['START', 'YES', 'UNSTOP']);

export function smsKeyword(body: string, optOutType: string | undefined): 'stop' | 'start' | null {
  const type = optOutType?.trim().toUpperCase();
  if (type === 'STOP') return 'stop';
  if (type === 'START') return 'start';
  const word = body.trim().toUpperCase();
  if (STOP_WORDS.has(word)) return 'stop';
  if (START_WORDS.has(word)) return 'start';
  return null;
}

/**
 * Reads a Twilio callback (form parameters, signature already checked): a status callback
 * (MessageSid + MessageStatus) or an incoming message (From + Body) that may be STOP or START.
 * - `delivered` → delivered; `read` (WhatsApp) → read.
 * - `undelivered` → bounced, `failed` → failed, with the ErrorCode; a dead number is also a hard
 *   bounce of the address, an unreachable one a soft bounce.
 * - Intermediate statuses (queued, sending, sent…) say nothing new.
 */
/** Twilio's message SIDs: SM (SMS) or MM (MMS) and 32 lowercase hex digits. */
const MESSAGE_SID = /^(SM|MM)[0-9a-f]{32}$/;

/**
 * The inbound text's own id, or null when it cannot be trusted to name it. Twilio signs the
 * parameters as name + value run together, so the boundary between one value and the next name
 * is not signed: a replayer could move it to make a "new" MessageSid (`SM…NumMedia0`) or hide it.
 * A SID of exactly Twilio's form cannot move, and the copies Twilio sends must agree with it.
 */
export function inboundSid(params: URLSearchParams): string | null {
  const sid = params.get('MessageSid');
  if (sid === null || !MESSAGE_SID.test(sid)) return null;
  for (const copy of ['SmsSid', 'SmsMessageSid']) {
    const value = params.get(copy);
    if (value !== null && value !== sid) return null;
  }
  return sid;
}

export function twilioEvents(params: URLSearchParams): FeedbackEvent[] {
  const sid = params.get('MessageSid') ?? params.get('SmsSid');
  const status = params.get('MessageStatus') ?? params.get('SmsStatus');
  if (sid && status && status !== 'received') {
    const ref = { providerMessageId: sid, channel: 'sms' } as const;
    if (status === 'delivered')
      return [{ ref, change: { status: 'delivered', detail: 'Twilio: delivered' }, addresses: [] }];
    if (status === 'read')
      return [{ ref, change: { status: 'read', detail: 'Twilio: read' }, addresses: [] }];
    if (status !== 'undelivered' && status !== 'failed') return [];
    const code = params.get('ErrorCode') ?? '';
    const known = DEAD_NUMBER_CODES[code] ?? UNREACHABLE_CODES[code];
    const error = code ? `Twilio ${code}${known ? `: ${known}` : ''}` : `Twilio: ${status}`;
    const event: FeedbackEvent = {
      ref,
      addresses: [],
      change: {
        status: status === 'undelivered' ? 'bounced' : 'failed',
        reason: code in DEAD_NUMBER_CODES ? 'bad_address' : 'provider_rejected',
        error,
        detail: `Twilio: ${status} (${error})`,
        // A carrier's delivery receipt is final: a later failure report for the text changes nothing.
        replaces: ['sent'],
      },
    };
    const to = params.get('To');
    if (to && (code in DEAD_NUMBER_CODES || code in UNREACHABLE_CODES)) {
      event.addresses.push({
        channel: 'sms',
        address: to,
        effect: code in DEAD_NUMBER_CODES ? 'hard_bounce' : 'soft_bounce',
        detail: error,
      });
    }
    return [event];
  }
  const from = params.get('From');
  const body = params.get('Body');
  if (!from || body === null) return [];
  const keyword = smsKeyword(body, params.get('OptOutType') ?? undefined);
  if (keyword === null) return [];
  const detail = `texted ${body.trim().toUpperCase().slice(0, 20)}`;
  const event: FeedbackEvent = { addresses: [{ channel: 'sms', address: from, effect: keyword, detail }] };
  const inbound = inboundSid(params);
  if (inbound) event.once = `twilio:${inbound}`;
  // A START opts a number back in, so it must be one we can tell from a replay; a STOP without
  // a usable id is still applied (erring towards "do not text" is always allowed).
  else if (keyword === 'start') return [];
  return [event];
}
