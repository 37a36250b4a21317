import { BADGE_DIGITS, collapseIdProblem, INTERRUPTION_LEVELS } from './template-rules.ts';

/**
 * Rendered push template fields (docs/api.md "push") → an FCM HTTP v1 `Message`
 * (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages). Pure: the adapter
 * sends what this returns, and the unit tests read it directly.
 */

/** FCM refuses messages whose payload is larger (keys and values included). */
export const FCM_MAX_PAYLOAD_BYTES = 4096;

type ApsValue = string | number;

/** The part of the FCM v1 Message we send. */
export interface FcmMessage {
  token: string;
  notification?: { title?: string; body?: string; image?: string };
  data?: Record<string, string>;
  android: {
    priority: 'high' | 'normal';
    collapse_key?: string;
    notification?: { sound?: string; tag?: string; notification_count?: number };
  };
  apns: {
    headers: Record<string, string>;
    payload: { aps: Record<string, ApsValue> };
  };
}

export type FcmMapping =
  | { ok: true; message: FcmMessage; collapseId?: string; bytes: number }
  | { ok: false; reason: string };

/** What the mapping reads from the outbound message. */
export interface PushInput {
  token: string;
  content: Record<string, string>;
  unreadCount?: number;
}

/**
 * Maps the rendered fields onto `notification`, `data`, `android` and `apns`:
 * - `title`, `body`, `image` → `notification` (FCM shows them on Android and fills the APNs alert
 *   from them); `image` also sets `mutable-content` so an iOS service extension can fetch it.
 * - `data` (JSON object text) → `data`, FCM's string→string map: strings as they are, other values
 *   as their JSON text.
 * - `sound` → Android notification sound and `aps.sound`; `badge` (a whole number, or `"unread"`
 *   for the subscriber's unread inbox count) → `notification_count` and `aps.badge`.
 * - `threadId` → `aps.thread-id`, `category` → `aps.category`, `interruptionLevel` →
 *   `aps.interruption-level`; `passive` also lowers the priority (Android `normal`, APNs 5).
 * - `collapseId` → Android `collapse_key` and notification `tag` (a newer message replaces the
 *   older one, pending or shown) and the `apns-collapse-id` header.
 * - `silent: "true"` → a data-only message: no `notification`, Android `normal` priority, and an
 *   APNs background push (`content-available`, push type `background`, priority 5).
 * A field the provider cannot take as rendered (bad JSON, a badge that is no number, a reserved
 * data key, an oversized collapse id or payload) makes the message fail for good with the reason:
 * resending the same content gets the same answer.
 */
export function toFcmMessage(input: PushInput): FcmMapping {
  const fields = input.content;
  const silent = fields.silent?.trim() === 'true';

  const data = dataMap(fields.data);
  if (typeof data === 'string') return { ok: false, reason: data };
  const badge = badgeCount(fields.badge, input.unreadCount);
  if (typeof badge === 'string') return { ok: false, reason: badge };
  const level = present(fields.interruptionLevel?.trim());
  if (level !== undefined && !(INTERRUPTION_LEVELS as readonly string[]).includes(level)) {
    return { ok: false, reason: `interruptionLevel must be one of ${INTERRUPTION_LEVELS.join(', ')}` };
  }
  const collapseId = present(fields.collapseId);
  const tooLong = collapseId === undefined ? null : collapseIdProblem(collapseId);
  if (tooLong !== null) return { ok: false, reason: tooLong };

  const urgent = !silent && level !== 'passive';
  const message: FcmMessage = {
    token: input.token,
    android: { priority: urgent ? 'high' : 'normal' },
    apns: { headers: { 'apns-priority': urgent ? '10' : '5' }, payload: { aps: {} } },
  };
  const aps = message.apns.payload.aps;
  if (!silent) {
    const notification = compact({
      title: present(fields.title),
      body: present(fields.body),
      image: present(fields.image),
    });
    if (Object.keys(notification).length > 0) message.notification = notification;
    message.apns.headers['apns-push-type'] = 'alert';
    if (fields.image) aps['mutable-content'] = 1;
    const androidNotification = compact({
      sound: present(fields.sound),
      tag: collapseId,
      notification_count: badge,
    });
    if (Object.keys(androidNotification).length > 0) message.android.notification = androidNotification;
  } else {
    message.apns.headers['apns-push-type'] = 'background';
    aps['content-available'] = 1;
  }
  if (data !== undefined) message.data = data;
  if (collapseId !== undefined) {
    message.android.collapse_key = collapseId;
    message.apns.headers['apns-collapse-id'] = collapseId;
  }
  Object.assign(
    aps,
    compact({
      sound: silent ? undefined : present(fields.sound),
      badge,
      'thread-id': present(fields.threadId),
      category: present(fields.category),
      'interruption-level': silent ? undefined : level,
    }),
  );

  const bytes = payloadBytes(message);
  if (bytes > FCM_MAX_PAYLOAD_BYTES) {
    return {
      ok: false,
      reason: `the FCM payload is ${bytes} bytes after mapping; FCM allows at most ${FCM_MAX_PAYLOAD_BYTES}`,
    };
  }
  return collapseId === undefined ? { ok: true, message, bytes } : { ok: true, message, collapseId, bytes };
}

/** The payload size FCM limits: the message as sent, less the device token (an address, not payload). */
function payloadBytes(message: FcmMessage): number {
  const { token: _token, ...payload } = message;
  return Buffer.byteLength(JSON.stringify(payload));
}

/** FCM refuses data keys it uses itself (ErrorCode INVALID_ARGUMENT, "invalid data key"). */
function reservedDataKey(key: string): boolean {
  return key === 'from' || key === 'gcm' || key.toLowerCase().startsWith('google');
}

function dataMap(text: string | undefined): Record<string, string> | undefined | string {
  if (text === undefined || text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'data is not JSON (the push template field data must render a JSON object)';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return 'data must render a JSON object';
  }
  const entries: [string, string][] = [];
  for (const [key, value] of Object.entries(parsed)) {
    if (reservedDataKey(key)) return `data key "${key}" is reserved by FCM (from, gcm, google…)`;
    if (value === undefined) continue;
    entries.push([key, typeof value === 'string' ? value : JSON.stringify(value)]);
  }
  // Own properties whatever the key: `map[key] = …` dropped a key named __proto__ without a word.
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

function badgeCount(text: string | undefined, unreadCount: number | undefined): number | undefined | string {
  const value = present(text?.trim());
  if (value === undefined) return undefined;
  if (value === 'unread') return unreadCount;
  if (!BADGE_DIGITS.test(value)) return 'badge must be a whole number or "unread"';
  return Number(value);
}

/** A rendered field, or undefined when the template left it out or rendered it empty. */
function present(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function compact<T extends Record<string, unknown>>(
  fields: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}
