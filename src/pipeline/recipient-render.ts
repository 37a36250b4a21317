import type { SubscriberRecord, WorkflowRecord } from '../shared/model.ts';
import { type RenderLocale, warmZone } from '../templates/intl-filters.ts';
import type { CompiledWorkflow, LocalizedSteps, TemplateCache } from '../templates/render.ts';

/**
 * What one recipient's messages render with — shared by deliveries (deliver.ts) and previews
 * (preview.ts), so a preview shows exactly what a send would.
 */

/**
 * The `subscriber` a template sees: its fields, its custom data at the top level, and its id.
 * Email and phone are there only when `withAddresses` (the workflow may read them, see
 * CompiledWorkflow.readsAddresses): the store opens an address only when read, so rendering a
 * workflow that cannot name them decrypts nothing (docs/personal-data.md). Plain data properties,
 * not getters: an object literal with accessors costs V8 a slow define per recipient.
 */
export function subscriberScope(subscriber: SubscriberRecord, withAddresses = true): Record<string, unknown> {
  const scope: Record<string, unknown> = {
    ...subscriber.data,
    id: subscriber.id,
    locale: subscriber.locale,
    timezone: subscriber.timezone,
    data: subscriber.data,
    createdAt: subscriber.createdAt,
    updatedAt: subscriber.updatedAt,
    subscriberId: subscriber.id,
  };
  if (withAddresses) {
    scope.email = subscriber.email;
    scope.phone = subscriber.phone;
  }
  return scope;
}

/**
 * The recipient's steps in its locale (the event's `locale`, else the subscriber's; decided once
 * per workflow version and locale) and what the locale-aware filters format with: that locale,
 * the subscriber's zone (else the tenant's) and `now`.
 */
export function recipientLocale(
  templates: TemplateCache,
  workflow: WorkflowRecord,
  eventLocale: string | null,
  subscriber: Pick<SubscriberRecord, 'locale' | 'timezone'>,
  defaultTimezone: string,
  now: number,
  compiled?: CompiledWorkflow,
): { localized: LocalizedSteps; renderLocale: RenderLocale } {
  const localized = templates.localized(workflow, eventLocale ?? subscriber.locale, compiled);
  const timeZone = subscriber.timezone ?? defaultTimezone;
  warmZone(timeZone);
  return {
    localized,
    renderLocale: {
      locale: localized.locale,
      timeZone,
      now,
      messages: localized.messages,
    },
  };
}
