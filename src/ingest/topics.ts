import type { ErrorDetail } from '../api/errors.ts';
import type { EventBody } from './schema.ts';

/**
 * Topic recipients are checked at acceptance (API.md: an event to a topic that does not exist
 * → 422 topic_not_found): accepted, such an event used to stay `accepted` forever. The keys of
 * a whole request (a bulk's every item) are looked up in one read; these are the pure halves.
 */

/** The distinct topic keys `events` name in `to`. */
export function topicKeys(events: Iterable<EventBody>): string[] {
  const keys = new Set<string>();
  for (const event of events)
    for (const recipient of event.to)
      if (typeof recipient === 'object' && 'topic' in recipient) keys.add(recipient.topic);
  return [...keys];
}

/** One detail per recipient of `event` naming a topic not in `known`, e.g. `to[2].topic`. */
export function unknownTopicDetails(event: EventBody, known: ReadonlySet<string>): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  event.to.forEach((recipient, i) => {
    if (typeof recipient === 'object' && 'topic' in recipient && !known.has(recipient.topic)) {
      details.push({
        path: `to[${i}].topic`,
        message: `is not a known topic: create it with PUT /v1/topics/${encodeURIComponent(recipient.topic)}`,
      });
    }
  });
  return details;
}
