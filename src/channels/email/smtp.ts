import { createPrivateKey } from 'node:crypto';
import type { Socket } from 'node:net';
import nodemailer from 'nodemailer';
import { BlockedTargetError, isBlockedTargetError } from '../../security/outbound/index.ts';
import {
  type ChannelProvider,
  type OutboundMessage,
  ProviderConfigError,
  type ProviderContext,
  type SendOutcome,
} from '../port.ts';
import { emailParts, looksLikeAddress } from './content.ts';
import { SendSlots } from './send-slots.ts';
import { emailMessageId } from './sender.ts';
import { classifySmtpError, readSmtpError, sendDeadlineReason, smtpReplyLine } from './smtp-errors.ts';

/** Non-secret SMTP settings, as stored on an integration. */
export interface SmtpConfig {
  host: string;
  port: number;
  /** Implicit TLS (usually port 465). When false, nodemailer still upgrades with STARTTLS if offered. */
  secure?: boolean;
  /**
   * Allows AUTH over a connection without TLS (a server that offers no STARTTLS). Off by default:
   * with a `user` and without `secure`, STARTTLS is required before any credential is sent.
   */
  insecure?: boolean;
  /** Envelope sender and From header, e.g. `Acme <noreply@acme.test>`. */
  from: string;
  /** DKIM signing; the private key lives in the credentials. */
  dkim?: { domainName: string; keySelector: string };
}

/** Secret SMTP settings, kept apart from the config so they can be stored encrypted. */
export interface SmtpCredentials {
  user?: string;
  pass?: string;
  /** PEM private key, required when `SmtpConfig.dkim` is set. */
  dkimPrivateKey?: string;
}

/**
 * How long an SMTP send may take. Fixed for tenants (not in the integration schema); tests pass
 * shorter ones to {@link createSmtpProvider}.
 */
export interface SmtpTimeouts {
  /** Connecting, the greeting and STARTTLS together. */
  connectMs: number;
  /** The server's 220 greeting (within `connectMs`). */
  greetingMs: number;
  /** Silence on an open connection. */
  inactivityMs: number;
  /**
   * The whole send, from the moment it has one of the pool's connections (or room to open one) to
   * the server's verdict; the wait for that is not counted. An inactivity timeout alone never ends
   * a session whose server (a tarpit) answers each command just before it: MAIL, RCPT, DATA and the
   * final dot could hold one send for minutes.
   */
  sendMs: number;
}

/** The pool's size. Fixed for tenants like the timeouts; tests pass a smaller one. */
export interface SmtpPoolSize {
  /** Connections the pool opens at most, and so sends under way at once (the rest wait their turn). */
  connections: number;
}

/** nodemailer's default pool size, named because the adapter's own queue must match it. */
export const SMTP_CONNECTIONS = 5;

/**
 * The pipeline owns retries, so a send fails fast instead of holding a worker for nodemailer's
 * defaults (2 min to connect, 10 min of inactivity, no bound on the whole). The whole send gets
 * twice an HTTP provider's 15 s: it is a conversation of six or more round trips. A running job's
 * lease is renewed meanwhile (every third of it), so a send this long never loses it.
 */
export const SMTP_TIMEOUTS: Readonly<SmtpTimeouts> = Object.freeze({
  connectMs: 10_000,
  greetingMs: 10_000,
  inactivityMs: 60_000,
  sendMs: 30_000,
});

/**
 * Creates the `smtp` provider: one pooled nodemailer transport per configured integration.
 * Each message goes to `subscriber.email` with a Message-ID derived from the Tidings message id,
 * so a retried send carries the same Message-ID and receivers can spot the duplicate.
 *
 * Every connection is opened by the outbound guard (the host resolved and each address checked,
 * then a socket to a checked address); nodemailer layers TLS on it with the host name as
 * servername. Building the provider never connects, so it doubles as the offline check at `PUT`:
 * a DKIM setting without a usable private key throws {@link ProviderConfigError}.
 *
 * Sends beyond the pool's `connections` wait their turn in the adapter, first come first served,
 * for as long as it takes (a running job's lease is renewed meanwhile): nodemailer's own queue is
 * never used, so a send's deadline starts only once it has a connection. A send that has not
 * ended within `sendMs` (30 s) of that is abandoned: its pooled connection is closed at once (the
 * pool opens a fresh one for the next send) and it is `retryable` with a reason saying so (see
 * {@link SMTP_TIMEOUTS}). A burst on a healthy relay thus never times out, however long its queue.
 */
export function createSmtpProvider(
  config: SmtpConfig,
  credentials: SmtpCredentials,
  context: ProviderContext,
  tuning: Partial<SmtpTimeouts & SmtpPoolSize> = {},
): ChannelProvider {
  const limits: SmtpTimeouts & SmtpPoolSize = {
    ...SMTP_TIMEOUTS,
    connections: SMTP_CONNECTIONS,
    ...tuning,
  };
  const slots = new SendSlots(limits.connections);
  const dkimPrivateKey = config.dkim ? checkedDkimKey(credentials.dkimPrivateKey) : undefined;
  const secure = config.secure ?? false;
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: limits.connections,
    host: config.host,
    port: config.port,
    secure,
    // Credentials never cross the wire in clear unless the integration says so.
    requireTLS: !secure && Boolean(credentials.user) && config.insecure !== true,
    auth: credentials.user ? { user: credentials.user, pass: credentials.pass ?? '' } : undefined,
    dkim:
      config.dkim && dkimPrivateKey
        ? { ...config.dkim, privateKey: dkimPrivateKey, headerFieldNames: DKIM_SIGNED_HEADERS }
        : undefined,
    getSocket(options: { host?: string; port?: number }, callback: SocketCallback) {
      context.outbound
        .connect(options.host ?? config.host, options.port ?? config.port, limits.connectMs)
        .then(
          (connection) => callback(null, { connection }),
          (error: Error) => callback(error),
        );
    },
    connectionTimeout: limits.connectMs,
    greetingTimeout: limits.greetingMs,
    socketTimeout: limits.inactivityMs,
    // A session ends with QUIT; a connection closed otherwise (an abandoned send) has nothing left
    // to say, so it is destroyed at once rather than half-closed and kept 5 s for a server that
    // may never close its side.
    socketCloseTimeout: 0,
  });

  return {
    name: 'smtp',
    async send(message: OutboundMessage): Promise<SendOutcome> {
      const to = message.subscriber.email;
      if (!to) return { kind: 'bad_address', reason: 'subscriber has no email address' };
      if (!looksLikeAddress(to)) return { kind: 'bad_address', reason: `not a usable email address: ${to}` };
      const parts = emailParts(message.content);
      if ('problem' in parts) return { kind: 'permanent', reason: parts.problem };
      const messageIdHeader = emailMessageId(message.messageId, config.from);
      // With ~190 sends of a tenant at once and 5 connections, most wait here, maybe minutes on a
      // healthy relay: timed from the call, they would be abandoned untried, reported as the
      // server's slowness, and counted against its circuit breaker. So both the deadline and the
      // breaker's clock (leftQueue) start once the send holds a slot.
      if (!(await slots.acquire())) return { kind: 'retryable', reason: CLOSED_BEFORE_SEND };
      message.leftQueue?.();
      // Aborting fails the send at once, under way on a connection (then the pool closes it and
      // never hands it out again) or still opening one.
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), limits.sendMs);
      try {
        const info = await transport.sendMail({
          signal: deadline.signal,
          from: config.from,
          // The object form stops nodemailer from parsing the address as a list.
          to: { name: '', address: to },
          subject: parts.subject,
          html: parts.html,
          text: parts.text,
          ...(parts.replyTo
            ? { replyTo: { name: parts.replyTo.name ?? '', address: parts.replyTo.address } }
            : {}),
          messageId: messageIdHeader,
          headers: { 'X-Tidings-Message-Id': message.messageId, ...oneClickUnsubscribe(message) },
        });
        if (info.rejected.length > 0 || info.accepted.length === 0) {
          const first = info.rejectedErrors?.[0];
          return first
            ? classifySmtpError(first)
            : { kind: 'bad_address', reason: `recipient rejected: ${smtpReplyLine(info.response)}` };
        }
        return {
          kind: 'accepted',
          providerMessageId: info.messageId,
          detail: smtpReplyLine(info.response),
          meta: { messageIdHeader },
        };
      } catch (err) {
        if (isBlockedTargetError(err)) {
          return { kind: 'blocked_target', reason: new BlockedTargetError(config.host).message };
        }
        // Not a broken integration (no failover within the attempt): the server may have the
        // message already, and the same Message-ID on the retry lets receivers spot a duplicate.
        if (deadline.signal.aborted && readSmtpError(err).code === 'EABORT') {
          return { kind: 'retryable', reason: sendDeadlineReason(limits.sendMs) };
        }
        return classifySmtpError(err);
      } finally {
        clearTimeout(timer);
        slots.release();
      }
    },
    async close(): Promise<void> {
      // Sends waiting for a connection end now; those under way finish (or meet their deadline).
      slots.close();
      transport.close();
    },
  };
}

/** The outcome of a send still waiting for a connection when the integration's client closed. */
export const CLOSED_BEFORE_SEND =
  'the SMTP integration was closed (its settings changed, or Tidings is stopping) before the send started';

/**
 * The headers DKIM signs: nodemailer's defaults plus List-Unsubscribe-Post, which RFC 8058 §4
 * requires to be covered (else anyone relaying the mail could turn a one-click link on).
 */
const DKIM_SIGNED_HEADERS =
  'From:Sender:Reply-To:Subject:Date:Message-ID:To:Cc:MIME-Version:Content-Type:' +
  'Content-Transfer-Encoding:Content-ID:Content-Description:Resent-Date:Resent-From:' +
  'Resent-Sender:Resent-To:Resent-Cc:Resent-Message-ID:In-Reply-To:References:' +
  'List-Id:List-Help:List-Unsubscribe:List-Unsubscribe-Post:List-Subscribe:List-Post:' +
  'List-Owner:List-Archive';

/** RFC 8058 one-click unsubscribe headers, when the message has a link (never for mandatory categories). */
function oneClickUnsubscribe(message: OutboundMessage): Record<string, string> {
  if (!message.unsubscribeUrl) return {};
  return {
    'List-Unsubscribe': `<${message.unsubscribeUrl}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
}

type SocketCallback = (error: Error | null, socket?: { connection: Socket }) => void;

/** The DKIM key, parsed now so a wrong one is refused at `PUT` rather than at every send. */
function checkedDkimKey(pem: string | undefined): string {
  if (!pem) {
    throw new ProviderConfigError('credentials.dkimPrivateKey', 'is required when config.dkim is set');
  }
  try {
    const key = createPrivateKey(pem);
    // nodemailer signs with RSA only: an Ed25519 key (RFC 8463) would send every email unsigned.
    if (key.asymmetricKeyType !== 'rsa') {
      throw new Error(`${key.asymmetricKeyType} keys cannot sign DKIM here (RSA only)`);
    }
  } catch (error) {
    const why = error instanceof Error && /cannot sign DKIM/.test(error.message) ? `: ${error.message}` : '';
    throw new ProviderConfigError('credentials.dkimPrivateKey', `must be an RSA private key in PEM${why}`);
  }
  return pem;
}
