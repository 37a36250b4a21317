import type { Recipient } from '../shared/model.ts';

/** Subscriber ids named directly in `to` (plain ids and inline objects), first occurrence wins. */
export function directSubscriberIds(to: Recipient[]): string[] {
  const ids = new Set<string>();
  for (const recipient of to) {
    if (typeof recipient === 'string') ids.add(recipient);
    else if ('subscriberId' in recipient) ids.add(recipient.subscriberId);
  }
  return [...ids];
}

/** Topic keys named in `to`, deduplicated. */
export function topicKeys(to: Recipient[]): string[] {
  const keys = new Set<string>();
  for (const recipient of to)
    if (typeof recipient === 'object' && 'topic' in recipient) keys.add(recipient.topic);
  return [...keys];
}

export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
