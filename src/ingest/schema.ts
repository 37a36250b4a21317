import Type, { type Static } from 'typebox';
import { Format } from 'typebox/format';
import type { ErrorDetail } from '../api/errors.ts';
import { compileValidator } from '../api/validation.ts';
import { LANES } from '../shared/model.ts';

const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\s/?#]+$' });

/** Formats the runtime can check exactly: Intl knows every IANA zone name and BCP 47 tag. */
Format.Set('iana-time-zone', (value) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
    return true;
  } catch {
    return false;
  }
});
Format.Set('bcp47-locale', (value) => {
  try {
    return Intl.getCanonicalLocales(value).length === 1;
  } catch {
    return false;
  }
});

export const SubscriberFields = {
  email: Type.Optional(Type.Union([Type.String({ format: 'email', maxLength: 320 }), Type.Null()])),
  phone: Type.Optional(Type.Union([Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$' }), Type.Null()])),
  locale: Type.Optional(Type.Union([Type.String({ format: 'bcp47-locale', maxLength: 64 }), Type.Null()])),
  timezone: Type.Optional(
    Type.Union([
      Type.String({ format: 'iana-time-zone', maxLength: 64, description: 'e.g. Asia/Tokyo' }),
      Type.Null(),
    ]),
  ),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
};

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
    idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    priority: Type.Optional(Type.Enum([...LANES])),
    sendAt: Type.Optional(Type.String({ format: 'date-time' })),
    actor: Type.Optional(Type.String({ maxLength: 128 })),
    schedule: Type.Optional(
      Type.Object(
        {
          localTime: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }),
          spreadOver: Type.Optional(Type.String({ pattern: '^\\d+(ms|s|m|h|d)$' })),
        },
        { additionalProperties: false, description: 'Not supported yet: answered with 422' },
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

/**
 * Validates an event body; answers the typed event or details that name each bad field.
 *
 * @example
 * validateEvent({ workflow: 'w', to: [{ subscriberId: 'u', email: 'nope' }] });
 * // { ok: false, details: [{ path: 'to[0].email', message: 'must match format "email"' }] }
 */
export function validateEvent(
  body: unknown,
): { ok: true; value: EventBody } | { ok: false; details: ErrorDetail[] } {
  const base = envelope(body);
  const details = base.ok ? [] : [...base.details];
  const to = (body as { to?: unknown } | null)?.to;
  if (Array.isArray(to)) {
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
  if (details.length > 0) return { ok: false, details };
  const event = body as EventBody;
  if (event.sendAt !== undefined && Number.isNaN(Date.parse(event.sendAt))) {
    return { ok: false, details: [{ path: 'sendAt', message: 'must be an ISO 8601 date-time' }] };
  }
  return { ok: true, value: event };
}
