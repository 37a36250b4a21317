import type { SuppressionRecord } from '../shared/model.ts';

/** Soft bounces (mailbox full, phone off) of one address within the window that make it a hard one. */
export const SOFT_BOUNCE_LIMIT = 3;
export const SOFT_BOUNCE_WINDOW_MS = 7 * 24 * 60 * 60 * 1000;

/** True once an address has bounced softly often enough, recently enough, to be treated as dead. */
export function softBouncesAreHard(countInWindow: number): boolean {
  return countInWindow >= SOFT_BOUNCE_LIMIT;
}

/**
 * What a suppression makes of a message (API.md "Messages" reasons): an address that bounces is
 * a `bad_address`; one whose owner complained or texted STOP has `opted_out`.
 */
export function suppressionVerdict(suppression: SuppressionRecord): {
  reason: 'bad_address' | 'opted_out';
  detail: string;
} {
  const since = new Date(suppression.createdAt).toISOString();
  switch (suppression.reason) {
    case 'hard_bounce':
      return { reason: 'bad_address', detail: `address suppressed since ${since}: ${suppression.detail}` };
    case 'soft_bounces':
      return {
        reason: 'bad_address',
        detail: `address suppressed since ${since} after repeated soft bounces: ${suppression.detail}`,
      };
    case 'complaint':
      return { reason: 'opted_out', detail: `address suppressed since ${since}: ${suppression.detail}` };
    case 'sms_stop':
      return { reason: 'opted_out', detail: `number texted STOP (${since}); START opts it back in` };
  }
}
