import { createPublicKey, type KeyObject, verify } from 'node:crypto';

/**
 * SendGrid's Signed Event Webhook: an ECDSA P-256 / SHA-256 signature (base64, DER) in
 * `X-Twilio-Email-Event-Webhook-Signature` over the `X-Twilio-Email-Event-Webhook-Timestamp`
 * header followed by the raw body, verified with the account's verification key.
 */
export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

/**
 * Reads a verification key as SendGrid shows it (base64 of the DER SubjectPublicKeyInfo) or as
 * PEM; throws when it is no P-256 public key.
 */
export function parseSendGridKey(text: string): KeyObject {
  const trimmed = text.trim();
  const key = trimmed.includes('-----BEGIN')
    ? createPublicKey(trimmed)
    : createPublicKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('is not an ECDSA P-256 public key');
  }
  return key;
}

/**
 * How far SendGrid's signed timestamp (Unix seconds) may be from our clock. The signature covers
 * it, so it dates the request: without a bound, a captured callback could be posted again for good.
 * SendGrid names no tolerance. It retries a POST that got no 2xx "for up to 24 hours after the
 * event occurs" (docs.sendgrid.com, "Troubleshooting the Event Webhook") and does not say whether a
 * retry is signed anew, so a timestamp up to 24 hours old is taken (a shorter window could refuse
 * SendGrid's own retries after an outage, and lose their bounces); ahead of our clock, at most
 * 5 minutes (clock skew).
 */
export const SENDGRID_TIMESTAMP_TOLERANCE = Object.freeze({
  pastMs: 24 * 60 * 60 * 1000,
  futureMs: 5 * 60 * 1000,
});

/** True when `timestamp` is whole Unix seconds within SENDGRID_TIMESTAMP_TOLERANCE of `now` (ms). */
export function sendGridTimestampFresh(timestamp: string | undefined, now: number): boolean {
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
  const at = Number(timestamp) * 1000;
  return at >= now - SENDGRID_TIMESTAMP_TOLERANCE.pastMs && at <= now + SENDGRID_TIMESTAMP_TOLERANCE.futureMs;
}

/** True when `signature` is SendGrid's over `timestamp` + `body` under `key`. */
export function verifySendGridSignature(
  key: KeyObject,
  timestamp: string | undefined,
  body: Buffer,
  signature: string | undefined,
): boolean {
  if (!timestamp || !signature) return false;
  try {
    return verify(
      'sha256',
      Buffer.concat([Buffer.from(timestamp, 'utf8'), body]),
      { key, dsaEncoding: 'der' },
      Buffer.from(signature, 'base64'),
    );
  } catch {
    // A signature that is no DER ECDSA value at all.
    return false;
  }
}
