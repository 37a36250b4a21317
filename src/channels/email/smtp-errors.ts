import { neverConnected } from '../never-connected.ts';
import type { SendOutcome } from '../port.ts';

/**
 * What an SMTP send's failure becomes in our outcome vocabulary, and the short reasons timelines
 * show for it (the reply code and enhanced status, never the server's own text).
 */

/** Every outcome except success: what a failed send becomes. */
export type FailedOutcome = Exclude<SendOutcome, { kind: 'accepted' }>;

/** The fields nodemailer (and Node's net module) put on their errors, read defensively. */
interface SmtpErrorFields {
  message: string;
  code?: string;
  originalCode?: string;
  responseCode?: number;
  command?: string;
  response?: string;
}

/** Connection-level failures: the message never got a verdict, so trying later may work. */
const TRANSIENT_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ETLS',
  'EPROTOCOL',
  'EPROXY',
  'EMAXLIMIT',
  'EABORT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Local failures that the same message and configuration would hit again. */
const LOCAL_PERMANENT_CODES = new Set([
  'EAUTH',
  'ENOAUTH',
  'EOAUTH2',
  'ECONFIG',
  'EMESSAGE',
  'ESTREAM',
  'EOTP',
  'EREQUIRETLS',
  'EMAXRECIPIENTS',
  'EFILEACCESS',
  'EURLACCESS',
]);

/** The integration's own credentials or TLS settings were refused: every message would be. */
const INTEGRATION_CODES = new Set(['EAUTH', 'ENOAUTH', 'EOAUTH2', 'EREQUIRETLS']);

/**
 * The integration itself is broken and the message never reached the server: it could not be
 * reached (refused, unreachable, unresolvable, connect timed out), it refused our credentials
 * (EAUTH) or our STARTTLS requirement, or it greeted with 421 (service not available). The
 * pipeline fails over to the next integration; this one's circuit breaker counts it.
 */
function isIntegrationFailure(e: SmtpErrorFields, err: unknown): boolean {
  if (isIn(INTEGRATION_CODES, e.code)) return true;
  if (e.command === 'STARTTLS' && (e.responseCode ?? 0) >= 500) return true;
  if (e.responseCode === 421 && e.command === 'CONN') return true;
  return e.responseCode === undefined && neverConnected(err);
}

/**
 * Maps a nodemailer/SMTP error to our outcome vocabulary.
 * - The integration itself broken (see isIntegrationFailure) → retryable with `integrationFailed`.
 * - A server reply decides first: 4xx (and 503, a session-state hiccup, and 552 on RCPT) →
 *   retryable; 5xx on RCPT about the mailbox (550/551/553, or enhanced status 5.1.x / 5.2.1) →
 *   bad_address; any other 5xx → permanent. A policy refusal on RCPT (e.g. `550 5.7.1 relaying denied`) stays permanent
 *   because it says nothing about the address, and bad_address leads to suppression.
 * - Without a reply: connection errors and timeouts → retryable; an address nodemailer itself
 *   refused → bad_address; local configuration/content errors → permanent; anything unknown →
 *   retryable, since retries are bounded and an unknown error is no proof the message is bad.
 */
export function classifySmtpError(err: unknown): FailedOutcome {
  const e = readSmtpError(err);
  const reason = describeSmtpError(e);
  if (isIntegrationFailure(e, err)) return { kind: 'retryable', reason, integrationFailed: true };
  if (e.responseCode !== undefined) return classifyReply(e.responseCode, e.command, e.response, reason);
  if (e.code === 'EENVELOPE' && /recipient/i.test(e.message)) return { kind: 'bad_address', reason };
  if (isIn(TRANSIENT_CODES, e.code) || isIn(TRANSIENT_CODES, e.originalCode)) {
    return { kind: 'retryable', reason };
  }
  if (isIn(LOCAL_PERMANENT_CODES, e.code) || e.code === 'EENVELOPE') return { kind: 'permanent', reason };
  return { kind: 'retryable', reason };
}

function classifyReply(
  code: number,
  command: string | undefined,
  response: string | undefined,
  reason: string,
): FailedOutcome {
  // A server that refuses STARTTLS will refuse it next time too: credentials stay home.
  if (command === 'STARTTLS' && code >= 500) return { kind: 'permanent', reason };
  const onRecipient = command?.toUpperCase().startsWith('RCPT') ?? false;
  // A temporary refusal of the recipient's address or mailbox (enhanced status x.1.x or x.2.x,
  // e.g. 452 4.2.2 mailbox full) says nothing about the server: it must not open the circuit
  // when a broadcast meets many full mailboxes.
  if (code < 500 || code === 503) {
    const subject = enhancedSubject(response);
    return onRecipient && code !== 503 && (subject === '1' || subject === '2')
      ? { kind: 'retryable', reason, recipientOnly: true }
      : { kind: 'retryable', reason };
  }
  // RFC 5321 §4.5.3.1.10: 552 at RCPT is the old code for a limit that is 452 now, and "clients
  // SHOULD treat a 552 code in this case as a temporary" failure; servers also send it for a full
  // mailbox (5.2.2), which empties again. Either is about this message's recipients.
  if (onRecipient && code === 552) return { kind: 'retryable', reason, recipientOnly: true };
  if (onRecipient && isMailboxProblem(code, response)) return { kind: 'bad_address', reason };
  return { kind: 'permanent', reason };
}

/** The subject of a reply's RFC 3463 enhanced status (`452 4.2.2 …` → '2'), or null without one. */
function enhancedSubject(response: string | undefined): string | null {
  return /^\d{3}[ -][245]\.(\d{1,3})\.\d{1,3}\b/.exec(response ?? '')?.[1] ?? null;
}

/** RFC 3463: subject 1 is addressing status, 2.1 is "mailbox disabled". */
function isMailboxProblem(code: number, response: string | undefined): boolean {
  const enhanced = /^\d{3}[ -]([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(response ?? '');
  if (enhanced) {
    const subject = enhanced[2];
    return subject === '1' || (subject === '2' && enhanced[3] === '1');
  }
  return code === 550 || code === 551 || code === 553;
}

export function readSmtpError(err: unknown): SmtpErrorFields {
  if (typeof err !== 'object' || err === null) return { message: String(err) };
  const o = err as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return {
    message: str(o.message) ?? String(err),
    code: str(o.code),
    originalCode: str(o.originalCode),
    responseCode: typeof o.responseCode === 'number' ? o.responseCode : undefined,
    command: str(o.command),
    response: str(o.response),
  };
}

/**
 * Failures before any SMTP reply: refused, reset, unreachable, unresolvable and timed out read
 * the same, so sends cannot be used to scan which hosts and ports exist behind us.
 */
export const NO_CONNECTION = 'could not connect to the SMTP server (connection failed or timed out)';

/** Why a send was abandoned at its deadline: `the SMTP server did not finish the send within 30 s`. */
export function sendDeadlineReason(sendMs: number): string {
  return `the SMTP server did not finish the send within ${sendMs / 1000} s`;
}

const NO_STARTTLS =
  'the SMTP server did not accept STARTTLS, and credentials are only sent over TLS (config.insecure allows plain text)';

/**
 * A short reason for the timeline: the reply code and enhanced status (`SMTP 550 5.1.1 on RCPT
 * TO`), never the server's free text, which comes from whatever host the tenant named.
 */
function describeSmtpError(e: SmtpErrorFields): string {
  if (e.command === 'STARTTLS' || e.code === 'EREQUIRETLS') return NO_STARTTLS;
  if (e.responseCode !== undefined) {
    const where = e.command && e.command !== 'CONN' ? ` on ${e.command}` : '';
    return `${smtpReplyLine(e.response, e.responseCode)}${where}`;
  }
  // A failed handshake says what was wrong with the certificate (OpenSSL's words, not the server's).
  if (e.code === 'ETLS') return `TLS with the SMTP server failed: ${localWords(e.message)}`;
  if (isIn(TRANSIENT_CODES, e.code) || isIn(TRANSIENT_CODES, e.originalCode)) return NO_CONNECTION;
  return `${e.code ?? 'error'}: ${localWords(e.message)}`;
}

/** Nodemailer's own words of an error, cut before any quoted server response. */
function localWords(message: string): string {
  return message.split(/\s*(?:response=|\n)/)[0]!.slice(0, 160);
}

/** `250 2.0.0 Ok: queued as X` → `SMTP 250 2.0.0`. */
export function smtpReplyLine(response: string | undefined, code?: number): string {
  const reply = /^(\d{3})(?:[ -](\d\.\d{1,3}\.\d{1,3})\b)?/.exec(response?.trim() ?? '');
  const replyCode = code ?? (reply ? Number(reply[1]) : undefined);
  if (replyCode === undefined) return 'SMTP reply';
  return reply?.[2] ? `SMTP ${replyCode} ${reply[2]}` : `SMTP ${replyCode}`;
}

function isIn(set: ReadonlySet<string>, value: string | undefined): boolean {
  return value !== undefined && set.has(value);
}
