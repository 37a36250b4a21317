import { verify, type X509Certificate } from 'node:crypto';

/** An Amazon SNS message as it arrives over HTTP(S) (the JSON body; Content-Type text/plain). */
export interface SnsMessage {
  Type: 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  SubscribeURL?: string;
  Token?: string;
}

const TYPES = new Set(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']);

/** The body as an SNS message, or null when it is not one (not JSON, a field missing or not text). */
export function parseSnsMessage(body: string): SnsMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Record<string, unknown>;
  const text = (key: string) => typeof m[key] === 'string';
  if (!text('Type') || !TYPES.has(m.Type as string)) return null;
  for (const key of [
    'MessageId',
    'TopicArn',
    'Message',
    'Timestamp',
    'SignatureVersion',
    'Signature',
    'SigningCertURL',
  ])
    if (!text(key)) return null;
  for (const key of ['Subject', 'SubscribeURL', 'Token'])
    if (m[key] !== undefined && m[key] !== null && !text(key)) return null;
  if (m.Type !== 'Notification' && (!text('SubscribeURL') || !text('Token'))) return null;
  return m as unknown as SnsMessage;
}

/**
 * The canonical string SNS signs: `name\nvalue\n` for each field in this order, Subject only when
 * the notification has one (AWS "Verifying the signatures of Amazon SNS messages").
 */
export function snsStringToSign(message: SnsMessage): string {
  const fields =
    message.Type === 'Notification'
      ? [
          'Message',
          'MessageId',
          ...(typeof message.Subject === 'string' ? ['Subject'] : []),
          'Timestamp',
          'TopicArn',
          'Type',
        ]
      : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  let text = '';
  for (const field of fields) text += `${field}\n${(message as unknown as Record<string, string>)[field]}\n`;
  return text;
}

/** SignatureVersion 1 is RSA with SHA-1, 2 is RSA with SHA-256; anything else is refused. */
function snsDigest(version: string): 'sha1' | 'sha256' | null {
  return version === '1' ? 'sha1' : version === '2' ? 'sha256' : null;
}

/** True when the message's signature verifies under the signing certificate's key. */
export function verifySnsSignature(message: SnsMessage, certificate: X509Certificate, now: number): boolean {
  const digest = snsDigest(message.SignatureVersion);
  if (digest === null) return false;
  // An expired (or not yet valid) certificate signs nothing.
  if (now < Date.parse(certificate.validFrom) || now > Date.parse(certificate.validTo)) return false;
  try {
    return verify(
      digest,
      Buffer.from(snsStringToSign(message), 'utf8'),
      certificate.publicKey,
      Buffer.from(message.Signature, 'base64'),
    );
  } catch {
    return false;
  }
}

/** Hosts SNS serves signing certificates and subscription links from: `sns.<region>.amazonaws.com` (and `.com.cn`). */
const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/**
 * True when `url` may be fetched for SNS: https, on an SNS host — or on `testHost` (host:port),
 * which only the test-only TIDINGS_TEST_SNS_CERT_HOST sets — with no credentials in it. A
 * signing certificate's path must also end in `.pem`.
 */
export function isSnsUrl(
  url: string,
  kind: 'certificate' | 'subscribe',
  testHost: string | null = null,
): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:' || parsed.username || parsed.password) return false;
  const onSns = SNS_HOST.test(parsed.hostname) && parsed.port === '';
  if (!onSns && !(testHost !== null && parsed.host === testHost)) return false;
  return kind === 'subscribe' || parsed.pathname.endsWith('.pem');
}
