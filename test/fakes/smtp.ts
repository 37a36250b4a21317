import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/**
 * A local SMTP server (the real `smtp-server` package, plain TCP, no TLS) that captures what it
 * receives and can refuse recipients or messages with chosen replies. For integration and e2e tests.
 *
 * ```ts
 * const smtp = await startFakeSmtp({ rejectRecipients: { 'gone@x.test': { code: 550, message: '5.1.1 no such user' } } });
 * // … send to smtp.host:smtp.port …
 * const [mail] = await smtp.waitFor(1);
 * expect(mail.header('subject')).toBe('Hi');
 * expect(mail.html).toContain('<b>');
 * await smtp.close();
 * ```
 */

/** A reply the server sends instead of accepting, e.g. `{ code: 450, message: '4.2.1 try later' }`. */
export interface SmtpReply {
  code: number;
  message: string;
}

export interface FakeSmtpOptions {
  /** Recipients refused at RCPT TO, keyed by address (case-insensitive). */
  rejectRecipients?: Record<string, SmtpReply>;
  /** When set, every message is refused after DATA with this reply. */
  rejectData?: SmtpReply;
  /** Refuses every AUTH with 535 (credentials not accepted). */
  refuseAuth?: boolean;
  /** Listen on this port (e.g. one a test kept closed until now); a free one by default. */
  port?: number;
}

/** One MIME entity: its headers (lower-cased names, unfolded values) and decoded body or parts. */
export interface MimePart {
  headers: Record<string, string[]>;
  /** Media type without parameters, lower-cased (`text/plain`, `multipart/alternative`…). */
  contentType: string;
  /** Decoded body (quoted-printable/base64 undone) for leaf parts; '' for multiparts. */
  body: string;
  parts: MimePart[];
}

/** A message as it arrived. */
export interface CapturedMail {
  /** SMTP envelope: MAIL FROM and accepted RCPT TO addresses. */
  envelope: { from: string; to: string[] };
  /** The user that authenticated, if the client sent AUTH. */
  user: string | undefined;
  /** The exact DATA the client sent (CRLF line ends, dot-stuffing removed). */
  raw: string;
  /** Parsed top-level entity. */
  mime: MimePart;
  /** First value of a top-level header, or undefined. */
  header(name: string): string | undefined;
  /** Decoded body of the first `text/plain` leaf, or undefined. */
  text: string | undefined;
  /** Decoded body of the first `text/html` leaf, or undefined. */
  html: string | undefined;
}

export interface FakeSmtp {
  readonly host: string;
  readonly port: number;
  /** Every accepted message, in arrival order. Refused messages are not recorded. */
  readonly received: CapturedMail[];
  /**
   * The server's log of client command lines, in order (`EHLO …`, `AUTH PLAIN …` with the
   * credentials redacted, `MAIL FROM:…`): shows what a client sent even when it was refused.
   */
  readonly commands: string[];
  /** Refuses (or, with null, accepts again) an address at RCPT TO from now on. */
  rejectRecipient(address: string, reply: SmtpReply | null): void;
  /** Refuses (or, with null, accepts again) every message after DATA from now on. */
  rejectData(reply: SmtpReply | null): void;
  /** Resolves with `received` once it holds at least `count` messages; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<CapturedMail[]>;
  /** Client connections open now (a killed client's close once this process has read it). */
  openConnections(): number;
  /** Forgets received messages and commands (rejection rules stay). */
  reset(): void;
  /** Stops the server, dropping client connections still open after a short grace period. */
  close(): Promise<void>;
}

/** Starts the fake on 127.0.0.1 at a free port. */
export async function startFakeSmtp(options: FakeSmtpOptions = {}): Promise<FakeSmtp> {
  const rejections = new Map<string, SmtpReply>();
  for (const [address, reply] of Object.entries(options.rejectRecipients ?? {})) {
    rejections.set(address.toLowerCase(), reply);
  }
  let dataReply = options.rejectData ?? null;
  const received: CapturedMail[] = [];
  const commands: string[] = [];
  const waiters = new Set<() => void>();
  const quiet = () => undefined;
  // smtp-server logs each client command as debug({ tnx: 'command' }, 'C:', line).
  const commandLog = {
    debug(entry: { tnx?: string }, _label: string, line?: string) {
      if (entry?.tnx === 'command' && typeof line === 'string') commands.push(line);
    },
    trace: quiet,
    info: quiet,
    warn: quiet,
    error: quiet,
    fatal: quiet,
  };

  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    // Replies go out exactly as scripted; the server would otherwise prefix its own enhanced code.
    hideENHANCEDSTATUSCODES: true,
    disableReverseLookup: true,
    logger: commandLog as never,
    // Tests close the fake while pooled clients may still hold idle connections.
    closeTimeout: 200,
    onAuth(auth, _session, callback) {
      if (options.refuseAuth)
        return callback(Object.assign(new Error('5.7.8 authentication failed'), { responseCode: 535 }));
      callback(null, { user: auth.username });
    },
    onRcptTo(address, _session, callback) {
      const reply = rejections.get(address.address.toLowerCase());
      callback(reply ? replyError(reply) : null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', callback);
      stream.on('end', () => {
        if (dataReply) return callback(replyError(dataReply));
        const from = session.envelope.mailFrom;
        received.push(
          captureMail(
            Buffer.concat(chunks).toString('utf8'),
            from ? from.address : '',
            session.envelope.rcptTo.map((r) => r.address),
            typeof session.user === 'string' ? session.user : undefined,
          ),
        );
        for (const wake of waiters) wake();
        callback(null);
      });
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Client errors (a test's dropped connection) must not crash the test run.
  server.on('error', () => undefined);
  const { port } = server.server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    received,
    commands,
    rejectRecipient(address, reply) {
      if (reply) rejections.set(address.toLowerCase(), reply);
      else rejections.delete(address.toLowerCase());
    },
    rejectData(reply) {
      dataReply = reply;
    },
    openConnections: () => (server as unknown as { connections: Set<unknown> }).connections.size,
    waitFor(count, timeoutMs = 5_000) {
      return waitUntil(
        () => received.length >= count,
        waiters,
        timeoutMs,
        () => {
          return `expected ${count} message(s), got ${received.length}`;
        },
      ).then(() => received);
    },
    reset() {
      received.length = 0;
      commands.length = 0;
    },
    close() {
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function replyError(reply: SmtpReply): Error {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}

function waitUntil(
  done: () => boolean,
  waiters: Set<() => void>,
  timeoutMs: number,
  describe: () => string,
): Promise<void> {
  if (done()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const wake = () => {
      if (!done()) return;
      clearTimeout(timer);
      waiters.delete(wake);
      resolve();
    };
    const timer = setTimeout(() => {
      waiters.delete(wake);
      reject(new Error(`fake smtp: timed out after ${timeoutMs} ms: ${describe()}`));
    }, timeoutMs);
    waiters.add(wake);
  });
}

function captureMail(raw: string, from: string, to: string[], user: string | undefined): CapturedMail {
  const mime = parseMime(raw);
  return {
    envelope: { from, to },
    user,
    raw,
    mime,
    header: (name) => mime.headers[name.toLowerCase()]?.[0],
    text: findLeaf(mime, 'text/plain')?.body,
    html: findLeaf(mime, 'text/html')?.body,
  };
}

/**
 * A deliberately small MIME reader: enough for what nodemailer produces (multipart trees,
 * 7bit/quoted-printable/base64, UTF-8). Encoded-word headers (`=?utf-8?…?=`) are left as sent.
 */
export function parseMime(raw: string): MimePart {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split === -1 ? raw : raw.slice(0, split);
  const rest = split === -1 ? '' : raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers: Record<string, string[]> = {};
  // Unfold continuation lines, then split "Name: value".
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const seen = headers[name];
    if (seen) seen.push(value);
    else headers[name] = [value];
  }
  const typeHeader = headers['content-type']?.[0] ?? 'text/plain';
  const contentType = (typeHeader.split(';')[0] ?? '').trim().toLowerCase();
  const boundary = /boundary="?([^";]+)"?/i.exec(typeHeader)?.[1];
  if (contentType.startsWith('multipart/') && boundary) {
    return { headers, contentType, body: '', parts: splitMultipart(rest, boundary).map(parseMime) };
  }
  const encoding = (headers['content-transfer-encoding']?.[0] ?? '7bit').toLowerCase();
  return { headers, contentType, body: decodeBody(rest, encoding), parts: [] };
}

function splitMultipart(body: string, boundary: string): string[] {
  const delimiter = `--${boundary}`;
  const sections = body.split(new RegExp(`^${escapeRegExp(delimiter)}(?:--)?[ \\t]*\\r?$\\n?`, 'm'));
  // Drop the preamble and the epilogue after the closing delimiter.
  return sections.slice(1, -1).map((part) => part.replace(/\r?\n$/, ''));
}

function decodeBody(body: string, encoding: string): string {
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  return body;
}

/** `=XX` escapes are bytes of a UTF-8 sequence, so decode to bytes first and to text last. */
function decodeQuotedPrintable(body: string): string {
  const bytes = body
    .replace(/=\r?\n/g, '')
    .split(/(=[0-9A-F]{2})/i)
    .map((token) =>
      /^=[0-9A-F]{2}$/i.test(token) ? Buffer.from([Number.parseInt(token.slice(1), 16)]) : Buffer.from(token),
    );
  return Buffer.concat(bytes).toString('utf8');
}

function findLeaf(part: MimePart, contentType: string): MimePart | undefined {
  if (part.contentType === contentType && part.parts.length === 0) return part;
  for (const child of part.parts) {
    const found = findLeaf(child, contentType);
    if (found) return found;
  }
  return undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
