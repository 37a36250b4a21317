import { describe, expect, it } from 'vitest';
import { classifySmtpError, NO_CONNECTION } from '../../../src/channels/email/smtp-errors.ts';
import { classifyWebhookResponse } from '../../../src/channels/webhook/webhook.ts';

/** An error shaped like the ones nodemailer hands back (see its NodemailerError). */
function smtpError(fields: { code?: string; originalCode?: string; command?: string; response?: string }) {
  const responseCode = Number(/^\d{3}/.exec(fields.response ?? '')?.[0]) || undefined;
  return Object.assign(new Error(fields.response ?? 'failed'), { ...fields, responseCode });
}
/** A server reply to a command; nodemailer codes replies on the envelope EENVELOPE. */
const reply = (command: string, response: string, code = 'EENVELOPE') =>
  smtpError({ code, command, response });
const rcpt = (response: string) => reply('RCPT TO', response);
/** A failure with no server reply: a connection or local error. */
const noReply = (code: string, originalCode?: string) => smtpError({ code, originalCode, command: 'CONN' });

describe('classifySmtpError', () => {
  it.each([
    // Server replies on RCPT TO about the mailbox: the address is unusable.
    ['550 5.1.1 on RCPT', rcpt('550 5.1.1 no user'), 'bad_address'],
    ['550 without enhanced code on RCPT', rcpt('550 no such user'), 'bad_address'],
    ['551 on RCPT', rcpt('551 user not local'), 'bad_address'],
    ['553 on RCPT', rcpt('553 mailbox name invalid'), 'bad_address'],
    ['550 5.2.1 mailbox disabled', rcpt('550 5.2.1 disabled'), 'bad_address'],
    // Other 5xx: the message is refused for good, but the address is not to blame.
    ['550 5.7.1 relaying denied on RCPT', rcpt('550 5.7.1 relaying denied'), 'permanent'],
    ['554 after DATA', reply('DATA', '554 5.6.0 spam', 'EMESSAGE'), 'permanent'],
    ['550 on MAIL FROM', reply('MAIL FROM', '550 5.1.8 bad sender domain'), 'permanent'],
    // The integration itself is broken (credentials refused, unreachable): fail over, not fail.
    ['535 on AUTH', reply('AUTH PLAIN', '535 5.7.8 bad credentials', 'EAUTH'), 'integration'],
    // Transient replies.
    ['421 on connect', reply('CONN', '421 4.3.2 shutting down', 'EPROTOCOL'), 'integration'],
    // About the recipient's mailbox or address (enhanced x.1.x, x.2.x): not the server's fault.
    ['450 4.2.1 on RCPT', rcpt('450 4.2.1 try later'), 'recipient'],
    ['452 4.2.2 mailbox full on RCPT', rcpt('452 4.2.2 mailbox full'), 'recipient'],
    ['450 without enhanced code on RCPT', rcpt('450 try later'), 'retryable'],
    ['451 4.3.0 on RCPT', rcpt('451 4.3.0 local error'), 'retryable'],
    // RFC 5321 §4.5.3.1.10: a 552 at RCPT is to be treated as temporary (and a full mailbox empties).
    ['552 5.2.2 mailbox full on RCPT', rcpt('552 5.2.2 mailbox full'), 'recipient'],
    ['552 without enhanced code on RCPT', rcpt('552 too many recipients'), 'recipient'],
    ['451 after DATA', reply('DATA', '451 4.3.0 local error', 'EMESSAGE'), 'retryable'],
    ['452 on RCPT', rcpt('452 4.5.3 too many recipients'), 'retryable'],
    ['454 on AUTH', reply('AUTH PLAIN', '454 4.7.0 temporary failure', 'EAUTH'), 'integration'],
    ['421 after DATA', reply('DATA', '421 4.3.2 shutting down', 'EMESSAGE'), 'retryable'],
    ['503 bad sequence', rcpt('503 5.5.1 bad sequence'), 'retryable'],
    // No reply at all: connection trouble.
    ['ESOCKET/ECONNREFUSED', noReply('ESOCKET', 'ECONNREFUSED'), 'integration'],
    ['ESOCKET/EHOSTUNREACH', noReply('ESOCKET', 'EHOSTUNREACH'), 'integration'],
    ['ESOCKET/ECONNRESET', noReply('ESOCKET', 'ECONNRESET'), 'retryable'],
    ['ETIMEDOUT', noReply('ETIMEDOUT'), 'retryable'],
    ['ECONNECTION', noReply('ECONNECTION'), 'retryable'],
    ['EDNS', noReply('EDNS'), 'integration'],
    [
      "the guard's connect deadline",
      Object.assign(new Error('connect ETIMEDOUT smtp.test:25'), { code: 'ETIMEDOUT' }),
      'integration',
    ],
    [
      'bare ECONNREFUSED',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      'integration',
    ],
    // No reply, refused locally.
    [
      'invalid sender (API)',
      Object.assign(new Error('Invalid sender "x"'), { code: 'EENVELOPE' }),
      'permanent',
    ],
    ['missing credentials', noReply('EAUTH'), 'integration'],
    ['message too large', noReply('EMESSAGE'), 'permanent'],
    // Unknown: bounded retries are safer than failing a message on a guess.
    ['unknown error', new Error('something odd'), 'retryable'],
    ['not an error', 'boom', 'retryable'],
    ['null', null, 'retryable'],
  ])('%s → %s', (_name, err, kind) => {
    const outcome = classifySmtpError(err);
    // 'integration': retryable with integrationFailed (the next integration is tried at once);
    // 'recipient': retryable with recipientOnly (no failure of the integration's circuit).
    const named =
      outcome.kind === 'retryable' && outcome.integrationFailed
        ? 'integration'
        : outcome.kind === 'retryable' && outcome.recipientOnly
          ? 'recipient'
          : outcome.kind;
    expect(named).toBe(kind);
  });

  it('treats an address nodemailer refuses before sending as bad_address', () => {
    const invalid = Object.assign(new Error('Invalid recipient "a b"'), {
      code: 'EENVELOPE',
      command: 'API',
    });
    const none = Object.assign(new Error('No recipients defined'), { code: 'EENVELOPE', command: 'API' });
    expect(classifySmtpError(invalid).kind).toBe('bad_address');
    expect(classifySmtpError(none).kind).toBe('bad_address');
  });

  it("keeps the reply code and enhanced status in the reason, never the server's own words", () => {
    const err = smtpError({
      code: 'EENVELOPE',
      command: 'RCPT TO',
      response: '550 5.1.1 secret-token no user',
    });
    expect(classifySmtpError(err).reason).toBe('SMTP 550 5.1.1 on RCPT TO');
    const plain = smtpError({ code: 'EMESSAGE', command: 'DATA', response: '554 go away' });
    expect(classifySmtpError(plain).reason).toBe('SMTP 554 on DATA');
  });

  it('reads refused, reset, timed out and unresolvable connections the same (no port scanner)', () => {
    const failures = [
      noReply('ESOCKET', 'ECONNREFUSED'),
      noReply('ESOCKET', 'ECONNRESET'),
      noReply('ETIMEDOUT'),
      noReply('EDNS'),
      Object.assign(new Error('getaddrinfo ENOTFOUND x.invalid'), { code: 'ENOTFOUND' }),
    ];
    expect(new Set(failures.map((e) => classifySmtpError(e).reason))).toEqual(new Set([NO_CONNECTION]));
  });
});

describe('classifyWebhookResponse', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it.each([
    [200, null, { kind: 'accepted', detail: 'HTTP 200 OK' }],
    [202, null, { kind: 'accepted', detail: 'HTTP 202 Accepted' }],
    [204, null, { kind: 'accepted', detail: 'HTTP 204 No Content' }],
    [408, null, { kind: 'retryable', reason: 'HTTP 408 Request Timeout' }],
    [425, null, { kind: 'retryable', reason: 'HTTP 425 Too Early' }],
    [429, null, { kind: 'retryable', reason: 'HTTP 429 Too Many Requests' }],
    [429, '30', { kind: 'retryable', reason: 'HTTP 429 Too Many Requests', retryAfterMs: 30_000 }],
    [503, '0', { kind: 'retryable', reason: 'HTTP 503 Service Unavailable', retryAfterMs: 0 }],
    [
      503,
      'Thu, 01 Jan 2026 00:01:30 GMT',
      { kind: 'retryable', reason: 'HTTP 503 Service Unavailable', retryAfterMs: 90_000 },
    ],
    [
      503,
      'Wed, 31 Dec 2025 23:00:00 GMT',
      { kind: 'retryable', reason: 'HTTP 503 Service Unavailable', retryAfterMs: 0 },
    ],
    [503, '5.5', { kind: 'retryable', reason: 'HTTP 503 Service Unavailable' }],
    [503, 'soon', { kind: 'retryable', reason: 'HTTP 503 Service Unavailable' }],
    [503, '', { kind: 'retryable', reason: 'HTTP 503 Service Unavailable' }],
    [500, null, { kind: 'retryable', reason: 'HTTP 500 Internal Server Error' }],
    [502, null, { kind: 'retryable', reason: 'HTTP 502 Bad Gateway' }],
    [504, null, { kind: 'retryable', reason: 'HTTP 504 Gateway Timeout' }],
    [410, null, { kind: 'bad_address', reason: 'HTTP 410 Gone' }],
    [400, null, { kind: 'permanent', reason: 'HTTP 400 Bad Request' }],
    [401, null, { kind: 'permanent', reason: 'HTTP 401 Unauthorized' }],
    [403, null, { kind: 'permanent', reason: 'HTTP 403 Forbidden' }],
    [404, null, { kind: 'permanent', reason: 'HTTP 404 Not Found' }],
    [409, null, { kind: 'permanent', reason: 'HTTP 409 Conflict' }],
    [413, null, { kind: 'permanent', reason: 'HTTP 413 Payload Too Large' }],
    [422, null, { kind: 'permanent', reason: 'HTTP 422 Unprocessable Entity' }],
    [301, null, { kind: 'permanent', reason: 'HTTP 301 Moved Permanently (redirects are not followed)' }],
    [307, null, { kind: 'permanent', reason: 'HTTP 307 Temporary Redirect (redirects are not followed)' }],
  ])('%i (Retry-After %j)', (status, retryAfter, expected) => {
    expect(classifyWebhookResponse(status, retryAfter, now)).toEqual(expected);
  });
});
