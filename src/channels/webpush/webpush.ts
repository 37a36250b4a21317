import { createECDH } from 'node:crypto';
import webpush from 'web-push';
import { acceptedAnswer, baseUrl, header, isAnswer, requestProvider } from '../http.ts';
import {
  type ChannelProvider,
  type MessageMeta,
  type OutboundMessage,
  ProviderConfigError,
  type ProviderContext,
  type SendOutcome,
} from '../port.ts';
import { classifyWebPushResponse, toWebPush } from './webpush-payload.ts';

export interface WebPushConfig {
  /** VAPID `sub`: how the push service reaches the sender (`mailto:` or `https:`). */
  subject: string;
  /**
   * Sends every push to this base URL instead of the subscription's push service: its origin, its
   * path as a prefix, then the subscription endpoint's path and query (a local test server).
   */
  endpoint?: string;
  /** Per-request deadline, 10 s by default (not settable through the API). */
  timeoutMs?: number;
}

/** The VAPID key pair, URL-safe base64 as `web-push generate-vapid-keys` prints it. */
export interface WebPushCredentials {
  vapidPublicKey: string;
  vapidPrivateKey: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * How long the push service keeps a message for an offline browser (RFC 8030 §5.2 `TTL`): four
 * weeks, the longest push services keep one and what FCM does by default for app pushes.
 */
export const WEB_PUSH_TTL_SECONDS = 28 * 24 * 3600;

/**
 * Creates the `webpush` provider: one encrypted push message (RFC 8291 aes128gcm) per browser
 * subscription, signed with the integration's VAPID key (RFC 8292). The `web-push` library builds
 * the request (encryption, VAPID JWT, TTL, Urgency, Topic); we send it ourselves through the
 * outbound guard, because the endpoint is whatever URL the subscriber's browser handed over and
 * must meet the private-target rule on every connect.
 */
export function createWebPushProvider(
  config: WebPushConfig,
  credentials: WebPushCredentials,
  context: ProviderContext,
): ChannelProvider {
  const vapidDetails = checkVapid(config, credentials);
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const base = config.endpoint === undefined ? null : baseUrl(config.endpoint, '');

  return {
    name: 'webpush',
    async send(message: OutboundMessage): Promise<SendOutcome> {
      const device = message.device;
      const subscription = device?.subscription;
      if (!device || !subscription) {
        return { kind: 'permanent', reason: 'the message has no web push subscription' };
      }
      const meta: MessageMeta = { deviceId: device.id };
      const delivery = toWebPush(message);
      if ('error' in delivery) return { kind: 'permanent', reason: delivery.error, meta };
      if (delivery.payload.collapseId !== undefined) meta.collapseId = delivery.payload.collapseId;

      const pushService = URL.canParse(subscription.endpoint) ? new URL(subscription.endpoint) : null;
      if (pushService?.protocol !== 'https:' && pushService?.protocol !== 'http:') {
        return {
          kind: 'bad_address',
          reason: 'the subscription endpoint is not an http(s) URL',
          deactivate: 'bad_token',
        };
      }
      // With config.endpoint, the push goes to its origin (a path never moves it: built as text,
      // not resolved as a URL, so `//host/…` stays a path). The VAPID token's audience, the origin
      // the library signs it for, is that origin too, so a token it receives is good for no other.
      const origin = base ?? pushService;
      const prefix = base ? base.pathname.replace(/\/+$/, '') : '';
      const path = `${prefix}${pushService.pathname}${pushService.search}`;
      let request: ReturnType<typeof webpush.generateRequestDetails>;
      try {
        request = webpush.generateRequestDetails(
          base ? { ...subscription, endpoint: `${origin.origin}${path}` } : subscription,
          delivery.text,
          {
            vapidDetails,
            TTL: WEB_PUSH_TTL_SECONDS,
            urgency: delivery.urgency,
            contentEncoding: 'aes128gcm',
            ...(delivery.topic === undefined ? {} : { topic: delivery.topic }),
          },
        );
      } catch (err) {
        // Keys a browser never makes (wrong length, not a P-256 point): nothing can reach it.
        return {
          kind: 'bad_address',
          reason: `the subscription cannot be encrypted to: ${(err as Error).message}`,
          deactivate: 'bad_token',
        };
      }

      // The answer's body is the push service's, about a subscriber-chosen URL: never shown.
      const answer = await requestProvider(context, origin, {
        method: 'POST',
        path,
        headers: requestHeaders(request.headers),
        body: request.body ?? undefined,
        timeoutMs,
        who: 'the push service',
        // The subscription's push service is the subscriber's browser vendor's, not the
        // integration's; config.endpoint is the integration's own (down: fail over).
        hostIsTheIntegrations: base !== null,
      });
      if (!isAnswer(answer)) return answer;
      const outcome = classifyWebPushResponse(
        answer.status,
        header(answer.headers, 'retry-after'),
        Date.now(),
      );
      if (outcome.kind === 'permanent') return { ...outcome, meta };
      if (outcome.kind !== 'accepted') return outcome;
      // RFC 8030 §5: 201 Created, Location = the push message resource.
      return { ...acceptedAnswer(answer, header(answer.headers, 'location')), meta };
    },
  };
}

/** Header values as strings; the content length is undici's to set from the body. */
function requestHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === 'content-length' || value === undefined) continue;
    out[name.toLowerCase()] = String(value);
  }
  return out;
}

/**
 * The VAPID subject and key pair, checked offline (at `PUT`): the subject a `mailto:` or `https:`
 * URL, the public key a 65-byte uncompressed P-256 point, the private key 32 bytes and the one
 * that public key belongs to (a mismatched pair signs JWTs every push service refuses).
 * Then the `web-push` library's own checks, by building VAPID headers once.
 */
function checkVapid(config: WebPushConfig, credentials: WebPushCredentials) {
  const subject = config.subject ?? '';
  const subjectUrl = URL.canParse(subject) ? new URL(subject) : null;
  if (subjectUrl?.protocol !== 'mailto:' && subjectUrl?.protocol !== 'https:') {
    throw new ProviderConfigError('config.subject', 'must be a mailto: or https: URL');
  }
  const publicKey = urlSafeBase64(credentials.vapidPublicKey, 'credentials.vapidPublicKey', 65);
  const privateKey = urlSafeBase64(credentials.vapidPrivateKey, 'credentials.vapidPrivateKey', 32);
  let derived: Buffer;
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(privateKey);
    derived = ecdh.getPublicKey();
  } catch {
    throw new ProviderConfigError('credentials.vapidPrivateKey', 'is not a P-256 private key');
  }
  if (!derived.equals(publicKey)) {
    throw new ProviderConfigError('credentials.vapidPrivateKey', 'does not belong to vapidPublicKey');
  }
  const details = {
    subject,
    publicKey: credentials.vapidPublicKey,
    privateKey: credentials.vapidPrivateKey,
  };
  try {
    webpush.getVapidHeaders(
      'https://push.example',
      subject,
      details.publicKey,
      details.privateKey,
      'aes128gcm',
    );
  } catch (err) {
    throw new ProviderConfigError('credentials', `cannot sign VAPID tokens: ${(err as Error).message}`);
  }
  return details;
}

function urlSafeBase64(value: unknown, path: string, bytes: number): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]+$/.test(value)) {
    throw new ProviderConfigError(path, 'must be URL-safe base64 without padding');
  }
  const decoded = Buffer.from(value, 'base64url');
  if (decoded.length !== bytes) {
    throw new ProviderConfigError(path, `must decode to ${bytes} bytes (it decodes to ${decoded.length})`);
  }
  return decoded;
}
