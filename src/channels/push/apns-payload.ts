import { createHash } from 'node:crypto';
import { BADGE_DIGITS, collapseIdProblem, INTERRUPTION_LEVELS } from './template-rules.ts';

/** APNs refuses larger payloads (413 PayloadTooLarge); VoIP's 5 KB does not apply to alerts. */
export const MAX_PAYLOAD_BYTES = 4096;

/** What one push becomes on the wire, apart from the device and the token. */
export interface ApnsRequestParts {
  /** The JSON body, at most {@link MAX_PAYLOAD_BYTES} bytes. */
  payload: string;
  pushType: 'alert' | 'background';
  /** 10 sends at once; 5 lets the device pick a moment (background and passive pushes). */
  priority: 10 | 5;
  collapseId?: string;
}

export type MappedPush = { ok: true; parts: ApnsRequestParts } | { ok: false; reason: string };

/**
 * Maps the rendered push template fields (API.md "push") onto an APNs payload. Pure.
 * - `silent: "true"` makes a background push: `aps` holds only `content-available` (Apple drops
 *   background pushes that also carry an alert, sound or badge), priority 5; the alert fields
 *   and `image` are left out, `data` still travels.
 * - `badge: "unread"` is the subscriber's unread inbox count at send time.
 * - `image` sets `mutable-content` so the app's notification service extension can fetch it,
 *   and travels at the top level as `image`.
 * - `data` (JSON object text) spreads its keys at the top level beside `aps`, where apps read
 *   custom keys; the template's own `image` wins over a data key of that name.
 * Anything APNs would refuse (a payload over 4 KB, a collapse id over 64 bytes) or that cannot
 * be mapped is a reason, never silently cut: resending the same message would fail the same way.
 */
export function mapPush(content: Record<string, string>, unreadCount: number | undefined): MappedPush {
  const collapseId = nonEmpty(content.collapseId);
  const tooLong = collapseId === undefined ? null : collapseIdProblem(collapseId);
  if (tooLong !== null) return { ok: false, reason: tooLong };
  const data = parseData(content.data);
  if (!data.ok) return data;

  const silent = content.silent?.trim() === 'true';
  const aps: Record<string, unknown> = {};
  let priority: 10 | 5 = 10;
  if (silent) {
    aps['content-available'] = 1;
    priority = 5;
  } else {
    const alert = alertOf(content);
    if (alert) aps.alert = alert;
    const badge = badgeOf(content.badge, unreadCount);
    if (typeof badge === 'string') return { ok: false, reason: badge };
    if (badge !== undefined) aps.badge = badge;
    const level = nonEmpty(content.interruptionLevel?.trim());
    if (level !== undefined) {
      if (!(INTERRUPTION_LEVELS as readonly string[]).includes(level)) {
        return {
          ok: false,
          reason: `interruptionLevel must be passive, active, time-sensitive or critical (got "${level.slice(0, 40)}")`,
        };
      }
      aps['interruption-level'] = level;
      if (level === 'passive') priority = 5;
    }
    const sound = nonEmpty(content.sound);
    // A critical alert plays even when muted only if its sound is a dictionary marked critical.
    if (level === 'critical') aps.sound = { critical: 1, name: sound ?? 'default', volume: 1 };
    else if (sound !== undefined) aps.sound = sound;
    const threadId = nonEmpty(content.threadId);
    if (threadId !== undefined) aps['thread-id'] = threadId;
    const category = nonEmpty(content.category);
    if (category !== undefined) aps.category = category;
    if (Object.keys(aps).length === 0) {
      return {
        ok: false,
        reason: 'push has no title, body, badge or sound to show (silent: "true" sends a data-only push)',
      };
    }
  }
  const image = silent ? undefined : nonEmpty(content.image);
  if (image !== undefined) aps['mutable-content'] = 1;

  const body: Record<string, unknown> = { ...data.value, aps };
  if (image !== undefined) body.image = image;
  const payload = JSON.stringify(body);
  const bytes = Buffer.byteLength(payload);
  if (bytes > MAX_PAYLOAD_BYTES) {
    return {
      ok: false,
      reason: `payload is ${bytes} bytes after mapping; APNs accepts at most ${MAX_PAYLOAD_BYTES}`,
    };
  }
  return {
    ok: true,
    parts: {
      payload,
      pushType: silent ? 'background' : 'alert',
      priority,
      ...(collapseId === undefined ? {} : { collapseId }),
    },
  };
}

function alertOf(content: Record<string, string>): Record<string, string> | undefined {
  const title = nonEmpty(content.title);
  const body = nonEmpty(content.body);
  if (title === undefined && body === undefined) return undefined;
  return { ...(title === undefined ? {} : { title }), ...(body === undefined ? {} : { body }) };
}

/** A number, `"unread"` → the unread count (left out when the pipeline did not give one), or a reason. */
function badgeOf(value: string | undefined, unreadCount: number | undefined): number | string | undefined {
  const text = nonEmpty(value);
  if (text === undefined) return undefined;
  if (text === 'unread') return unreadCount;
  if (BADGE_DIGITS.test(text)) return Number(text);
  return `badge must be a whole number or "unread" (got "${text.slice(0, 40)}")`;
}

type Parsed = { ok: true; value: Record<string, unknown> } | { ok: false; reason: string };

function parseData(text: string | undefined): Parsed {
  if (nonEmpty(text) === undefined) return { ok: true, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(text!);
  } catch {
    return { ok: false, reason: 'data must be JSON text (a JSON object)' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'data must be a JSON object' };
  }
  if (Object.hasOwn(value, 'aps')) {
    return { ok: false, reason: 'data may not contain an "aps" key: APNs reserves it' };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

// A fixed namespace for Tidings' name-based UUIDs (RFC 9562 §5.5), so one message id maps to one
// apns-id in every process and on every attempt.
const APNS_ID_NAMESPACE = Buffer.from('6f1c2b8e4d3a4f6a9e7b5c0d1a2f3e4b', 'hex');

/**
 * The `apns-id` of a message: a UUIDv5 of the Tidings message id, so every retry of the same
 * message carries the same one and APNs' echo of it can be matched back. Lower-case canonical
 * form, as APNs writes it.
 */
export function apnsIdFor(messageId: string): string {
  const hash = createHash('sha1').update(APNS_ID_NAMESPACE).update(messageId, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Device tokens are hex (32 bytes today; Apple may lengthen them, up to 100 bytes). */
export function isDeviceToken(token: string): boolean {
  return /^[0-9a-fA-F]{16,200}$/.test(token) && token.length % 2 === 0;
}
