import { MARKUP } from '../../templates/json-data.ts';

/** API.md's push `interruptionLevel` values (APNs `aps.interruption-level`). */
export const INTERRUPTION_LEVELS = ['passive', 'active', 'time-sensitive', 'critical'] as const;

/** A push badge: at most nine digits (what every adapter maps), or `unread` (API.md). */
export const BADGE_DIGITS = /^\d{1,9}$/;

/** APNs refuses longer `apns-collapse-id` values (400 BadCollapseId); FCM passes the header on to it. */
export const MAX_COLLAPSE_ID_BYTES = 64;

/** Why a push (APNs or FCM) cannot carry `collapseId`, or null: every push adapter and the sandbox refuse it alike. */
export function collapseIdProblem(collapseId: string): string | null {
  const bytes = Buffer.byteLength(collapseId);
  return bytes > MAX_COLLAPSE_ID_BYTES
    ? `collapseId is ${bytes} bytes; APNs accepts at most ${MAX_COLLAPSE_ID_BYTES}`
    : null;
}

/**
 * What is wrong with a push or web push template's fields written as literals (no Liquid markup):
 * an `interruptionLevel`, `badge` or `data` no adapter can map, or a push `collapseId` APNs would
 * refuse (web push hashes a long one into its Topic), would fail every message at send time, so
 * the workflow PUT refuses it instead, naming the field. Templated values are checked when
 * rendered, as before.
 */
export function literalPushProblems(
  fields: Record<string, string>,
  channel: 'push' | 'webpush',
): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const literal = (field: string): string | null => {
    const value = fields[field];
    if (typeof value !== 'string' || MARKUP.test(value)) return null;
    const text = value.trim();
    return text === '' ? null : text;
  };
  const level = literal('interruptionLevel');
  if (level !== null && !(INTERRUPTION_LEVELS as readonly string[]).includes(level))
    problems.push({
      field: 'interruptionLevel',
      message: `must be one of ${INTERRUPTION_LEVELS.join(', ')}`,
    });
  const badge = literal('badge');
  if (badge !== null && badge !== 'unread' && !BADGE_DIGITS.test(badge))
    problems.push({ field: 'badge', message: 'must be a whole number (up to nine digits) or "unread"' });
  const data = literal('data');
  if (data !== null && !isJsonObject(data))
    problems.push({ field: 'data', message: 'must be a JSON object (or its JSON text)' });
  const collapseId = literal('collapseId');
  const tooLong = collapseId !== null && channel === 'push' ? collapseIdProblem(collapseId) : null;
  if (tooLong !== null) problems.push({ field: 'collapseId', message: tooLong.replace(/^collapseId /, '') });
  return problems;
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
