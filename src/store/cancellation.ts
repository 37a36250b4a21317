import type { TimelineEntry } from '../shared/model.ts';

/**
 * What a cancel stops: messages still waiting for their send (queued, or a retry waiting its
 * turn; deferred by quiet hours or a schedule), and dead letters, which were never sent either
 * and which a replay would otherwise send after the cancel. A message in `sending` is with its
 * provider already and cannot be recalled: cancelling it would only be overwritten by the
 * provider's answer a moment later, so it is left to finish and not counted.
 */
export const CANCELLABLE_STATUSES = ['queued', 'deferred', 'dead'] as const;

/** The SQL list of CANCELLABLE_STATUSES, for `status IN (…)` (both dialects quote alike). */
export const CANCELLABLE_SQL = CANCELLABLE_STATUSES.map((s) => `'${s}'`).join(', ');

/** The timeline entry of a message stopped by `DELETE /v1/events?cancellationKey=`: it names the key. */
export function cancelledByKeyEntry(key: string, now: number): TimelineEntry {
  return {
    at: new Date(now).toISOString(),
    status: 'cancelled',
    detail: `cancelled with its events by cancellationKey ${JSON.stringify(key)}`,
  };
}

/** The timeline entry of a message stopped because its workflow was deleted. */
export function workflowDeletedEntry(key: string, now: number): TimelineEntry {
  return {
    at: new Date(now).toISOString(),
    status: 'cancelled',
    detail: `cancelled: workflow ${JSON.stringify(key)} was deleted`,
  };
}
