import type { DevicePlatform, WebPushSubscription } from '../shared/model.ts';
import { hasUrlControlCharacters } from '../shared/url-text.ts';
import type { ErrorDetail } from './errors.ts';

/** `PUT /v1/subscribers/{id}/devices/{deviceId}` as the schema let it through. */
export interface DeviceBody {
  platform: DevicePlatform;
  token?: string;
  subscription?: WebPushSubscription & { expirationTime?: number | null };
}

/** What a device PUT stores, checked and normalised. */
export type DeviceFields = { token: string; subscription: WebPushSubscription | null };

// APNs device tokens are hex (32 bytes today; Apple says not to rely on the length).
const APNS_TOKEN = /^[0-9a-fA-F]{64,200}$/;
// FCM registration tokens are opaque printable ASCII, without spaces.
const FCM_TOKEN = /^[\x21-\x7e]{1,4096}$/;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
export const ENDPOINT_MAX_LENGTH = 2048;
/** RFC 8291: the browser's P-256 public key, uncompressed (0x04, X, Y). */
const P256DH_BYTES = 65;
/** RFC 8291: the authentication secret. */
const AUTH_BYTES = 16;

function isPushEndpoint(endpoint: string): boolean {
  if (endpoint.length > ENDPOINT_MAX_LENGTH || hasUrlControlCharacters(endpoint) || !URL.canParse(endpoint))
    return false;
  const url = new URL(endpoint);
  return url.protocol === 'https:' && url.username === '' && url.password === '';
}

function base64urlBytes(text: string): Buffer | null {
  return BASE64URL.test(text) ? Buffer.from(text, 'base64url') : null;
}

/**
 * Checks a device PUT against its platform: APNs and FCM take a `token`, web push a
 * `subscription` (a PushSubscription's `toJSON()`: an https endpoint and its keys). Answers the
 * fields to store, or one detail per problem, each naming its field.
 */
export function checkDevice(
  body: DeviceBody,
): { ok: true; fields: DeviceFields } | { ok: false; details: ErrorDetail[] } {
  const details: ErrorDetail[] = [];
  if (body.platform !== 'webpush') {
    if (body.subscription !== undefined)
      details.push({
        path: 'subscription',
        message: `is for webpush devices; ${body.platform} devices take a token`,
      });
    const token = body.token;
    if (token === undefined) {
      details.push({ path: 'token', message: 'is required' });
    } else if (body.platform === 'apns' && !APNS_TOKEN.test(token)) {
      details.push({ path: 'token', message: 'must be an APNs device token: 64–200 hexadecimal characters' });
    } else if (body.platform === 'fcm' && !FCM_TOKEN.test(token)) {
      details.push({
        path: 'token',
        message: 'must be an FCM registration token: 1–4096 printable ASCII characters, no spaces',
      });
    }
    if (details.length > 0 || token === undefined) return { ok: false, details };
    // Hex has two spellings: one, so the same token PUT twice is recognised as one device.
    return {
      ok: true,
      fields: { token: body.platform === 'apns' ? token.toLowerCase() : token, subscription: null },
    };
  }
  if (body.token !== undefined)
    details.push({
      path: 'token',
      message: 'is for apns and fcm devices; webpush devices take a subscription',
    });
  const subscription = body.subscription;
  if (subscription === undefined) {
    details.push({ path: 'subscription', message: 'is required' });
    return { ok: false, details };
  }
  const { endpoint, keys } = subscription;
  if (!isPushEndpoint(endpoint)) {
    details.push({
      path: 'subscription.endpoint',
      message: `must be an https URL of at most ${ENDPOINT_MAX_LENGTH} characters, without credentials`,
    });
  }
  const p256dh = base64urlBytes(keys.p256dh);
  if (p256dh?.length !== P256DH_BYTES || p256dh[0] !== 0x04) {
    details.push({
      path: 'subscription.keys.p256dh',
      message: `must be base64url of an uncompressed P-256 public key (${P256DH_BYTES} bytes)`,
    });
  }
  if (base64urlBytes(keys.auth)?.length !== AUTH_BYTES)
    details.push({ path: 'subscription.keys.auth', message: `must be base64url of ${AUTH_BYTES} bytes` });
  if (details.length > 0) return { ok: false, details };
  // `expirationTime` (as toJSON() gives it) is not kept: a push service answering 404 or 410 deactivates the device.
  return {
    ok: true,
    fields: { token: '', subscription: { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } } },
  };
}

/** Characters a hint shows of the end of a token (or of an endpoint's path). */
const HINT_LENGTH = 4;
/**
 * The shortest secret a hint shows the end of: a third of it at most. A shorter one (an FCM token
 * may be a few characters) would be returned whole, or nearly, so its hint shows nothing of it.
 */
const HINTED_MIN_LENGTH = 3 * HINT_LENGTH;

const endOf = (secret: string) => (secret.length >= HINTED_MIN_LENGTH ? secret.slice(-HINT_LENGTH) : '');

/**
 * The end of a token or endpoint, enough to tell devices apart in a list and useless to anyone else.
 * A web push endpoint shows its push service (its origin, public) and the end of the rest.
 */
export function tokenHint(fields: DeviceFields): string {
  if (fields.subscription) {
    const { endpoint } = fields.subscription;
    if (!URL.canParse(endpoint)) return `…${endOf(endpoint)}`;
    const url = new URL(endpoint);
    return `${url.origin}/…${endOf(`${url.pathname}${url.search}${url.hash}`)}`;
  }
  return `…${endOf(fields.token)}`;
}
