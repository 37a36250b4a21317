import Type, { type Static } from 'typebox';
import type { ErrorDetail } from '../api/errors.ts';
import { compileValidator } from '../api/validation.ts';
import { spreadOverMs } from '../policy/local-schedule.ts';
import { LANES } from '../shared/model.ts';
import { PatternString } from '../shared/pattern-schemas.ts';
import {
  CancellationKey,
  CLOCK_TIME_MESSAGE,
  CLOCK_TIME_PATTERN,
  DURATION_MESSAGE,
  DURATION_PATTERN,
  Id,
  IdempotencyKey,
  SubscriberFields,
} from './fields.ts';
import { findJsonProblem } from './json-limits.ts';

export { SubscriberFields };

export const InlineSubscriber = Type.Object(
  { subscriberId: Id, ...SubscriberFields },
  { additionalProperties: false, description: 'A subscriber, upserted with the event' },
);
export const TopicRecipient = Type.Object({ topic: Id }, { additionalProperties: false });
export const Recipient = Type.Union([Id, InlineSubscriber, TopicRecipient], {
  description: 'A subscriber id, an inline subscriber, or a topic',
});

/** Most recipients one event may name inline; larger audiences go through topics. */
export const MAX_INLINE_RECIPIENTS = 1000;

export const EventBody = Type.Object(
  {
    workflow: Id,
    to: Type.Array(Recipient, { minItems: 1, maxItems: MAX_INLINE_RECIPIENTS }),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    idempotencyKey: Type.Optional(IdempotencyKey),
    cancellationKey: Type.Optional(CancellationKey),
    priority: Type.Optional(Type.Enum([...LANES])),
    sendAt: Type.Optional(Type.String({ format: 'date-time' })),
    actor: Type.Optional(Type.String({ maxLength: 128 })),
    locale: Type.Optional(
      Type.String({
        format: 'bcp47-locale',
        maxLength: 64,
        description: "renders every recipient in this locale instead of each one's own",
      }),
    ),
    schedule: Type.Optional(
      Type.Object(
        {
          localTime: PatternString(CLOCK_TIME_PATTERN, CLOCK_TIME_MESSAGE, {
            description: "HH:MM (00:00–23:59) on each recipient's own clock",
          }),
          spreadOver: Type.Optional(
            PatternString(DURATION_PATTERN, DURATION_MESSAGE, {
              description: 'a duration from 0s to 24h: recipients are spread over this window',
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            "Deliver at the next localTime in each recipient's time zone (the tenant's defaultTimezone for " +
            'recipients without one), at or after sendAt when the event has one',
        },
      ),
    ),
  },
  { additionalProperties: false },
);
export type EventBody = Static<typeof EventBody>;

// The envelope is checked first; recipients are then checked by the shape they claim to have,
// so an error names the field that is wrong instead of listing every union branch.
const envelope = compileValidator<EventBody>(
  Type.Object(
    {
      ...EventBody.properties,
      to: Type.Array(Type.Unknown(), { minItems: 1, maxItems: MAX_INLINE_RECIPIENTS }),
    },
    {
      additionalProperties: false,
    },
  ),
);
const checkId = compileValidator(Id);
const checkInline = compileValidator(InlineSubscriber);
const checkTopic = compileValidator(TopicRecipient);

/** The furthest ahead `sendAt` may be (API.md: "at most one year ahead"). */
function latestSendAt(now: number): number {
  const limit = new Date(now);
  limit.setUTCFullYear(limit.getUTCFullYear() + 1);
  return limit.getTime();
}

function recipientDetails(to: unknown, details: ErrorDetail[]): void {
  if (!Array.isArray(to)) return;
  to.forEach((recipient, i) => {
    const path = `to[${i}]`;
    if (typeof recipient === 'string') {
      const result = checkId(recipient, path);
      if (!result.ok) details.push(...result.details);
    } else if (recipient !== null && typeof recipient === 'object') {
      const result = 'topic' in recipient ? checkTopic(recipient, path) : checkInline(recipient, path);
      if (!result.ok) details.push(...result.details);
    } else {
      details.push({ path, message: 'must be a subscriber id, {"subscriberId": …} or {"topic": …}' });
    }
  });
}

/**
 * Validates an event body received at `now`; answers the typed event or details that name each
 * bad field. Hostile values anywhere in the body (see json-limits.ts) are found first, in one
 * walk, so nothing the store cannot keep ever joins a commit shared with other callers' events.
 *
 * @example
 * validateEvent({ workflow: 'w', to: [{ subscriberId: 'u', email: 'nope' }] }, Date.now());
 * // { ok: false, details: [{ path: 'to[0].email', message: 'must be an email address such as ada@example.com' }] }
 */
export function validateEvent(
  body: unknown,
  now: number,
): { ok: true; value: EventBody } | { ok: false; details: ErrorDetail[] } {
  const problem = findJsonProblem(body, { schema: EventBody });
  if (problem) return { ok: false, details: [problem] };
  const base = envelope(body);
  const details = base.ok ? [] : [...base.details];
  recipientDetails((body as { to?: unknown } | null)?.to, details);
  if (details.length > 0) return { ok: false, details };
  const event = body as EventBody;
  if (event.sendAt !== undefined) {
    const sendAt = Date.parse(event.sendAt);
    if (Number.isNaN(sendAt)) {
      return { ok: false, details: [{ path: 'sendAt', message: 'must be an ISO 8601 date-time' }] };
    }
    if (sendAt > latestSendAt(now)) {
      return { ok: false, details: [{ path: 'sendAt', message: 'must be at most one year ahead' }] };
    }
  }
  if (event.schedule !== undefined && spreadOverMs(event.schedule.spreadOver) === null) {
    return {
      ok: false,
      details: [{ path: 'schedule.spreadOver', message: 'must be a duration from 0s to 24h (e.g. "60m")' }],
    };
  }
  return { ok: true, value: event };
}
