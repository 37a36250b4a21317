import {
  type Channel,
  type ChannelChoices,
  INTERRUPTIVE_CHANNELS,
  type Lane,
  MANDATORY_CATEGORIES,
  type PreferenceChoices,
  type SuppressionRecord,
  type WorkflowRecord,
} from '../shared/model.ts';
import { isTimeZone, quietUntil } from './quiet-hours.ts';
import { suppressionVerdict } from './suppression.ts';

/** Everything the decision for one (recipient, channel) depends on; `now` is an argument, never read. */
export interface PlanInput {
  channel: Channel;
  /** The event's lane: 'critical' bypasses quiet hours. */
  lane: Lane;
  workflow: {
    key: string;
    category: string | null;
    quietHours: 'bypass' | 'respect';
    defaultPreferences: { channels?: ChannelChoices } | null;
  };
  /** `hasEmail` / `hasPhone`, when given, answer reachability without reading (opening) the address. */
  subscriber: {
    email: string | null;
    phone: string | null;
    timezone: string | null;
    hasEmail?: boolean;
    hasPhone?: boolean;
  };
  /** null: the subscriber made no choice at all. */
  preferences: PreferenceChoices | null;
  /** The tenant's zone, for subscribers without one of their own. */
  defaultTimezone: string;
  /**
   * The suppression of this channel's address (a hard bounce, a complaint, an SMS STOP), found by
   * the caller per batch (src/feedback/suppressions.ts); absent or null: none.
   */
  suppression?: SuppressionRecord | null;
  now: number;
}

/** The part of a workflow the decision reads: built once per delivery (or send), not per recipient. */
export function routingOf(workflow: WorkflowRecord): PlanInput['workflow'] {
  const { category, quietHours, defaultPreferences } = workflow.definition;
  return {
    key: workflow.key,
    category: category ?? null,
    quietHours: quietHours ?? 'respect',
    defaultPreferences: defaultPreferences ?? null,
  };
}

export type Plan =
  | { kind: 'send' }
  | { kind: 'suppress'; reason: 'opted_out' | 'no_address' | 'bad_address'; detail: string }
  /** Quiet hours: send at `until` (epoch ms). */
  | { kind: 'defer'; until: number; detail: string };

/** Shared and frozen: the common answer allocates nothing. */
const SEND: Plan = Object.freeze({ kind: 'send' });

/**
 * What to do with one message for one recipient on one channel. Pure and allocation-light: it
 * runs once per (recipient, channel) on the delivery hot path and again right before a send, so
 * a subscriber without preferences costs a few property reads. The rules, in order:
 *
 * a. Reachability first: a message that cannot reach anyone is `no_address`, whatever else holds,
 *    so the timeline names the fixable problem (add an address) rather than a consent state.
 *    Then the address's suppression (`bad_address` after bounces, `opted_out` after a complaint
 *    or STOP), whatever the category: a dead mailbox bounces an MFA code too, and a carrier
 *    blocks every text to a number that sent STOP.
 * b. Consent (`opted_out`), unless the category is mandatory (transactional, security).
 * c. Quiet hours (`defer`) for interruptive channels.
 * d. Otherwise send.
 * Consent comes before quiet hours: deferring a message the subscriber refused would only
 * postpone a leak.
 */
export function plan(input: PlanInput): Plan {
  const { channel, subscriber } = input;

  // a. Reachability. Push and web push devices are resolved by the pipeline (one message per
  // device, `no_device`), in_app and webhook need no address.
  if (channel === 'email' && !(subscriber.hasEmail ?? subscriber.email))
    return suppress('no_address', 'no email address');
  if (channel === 'sms' && !(subscriber.hasPhone ?? subscriber.phone))
    return suppress('no_address', 'no phone number');
  if (input.suppression) {
    const { reason, detail } = suppressionVerdict(input.suppression);
    return suppress(reason, detail);
  }

  const preferences = input.preferences;
  const workflow = input.workflow;
  const category = workflow.category;

  // b. Consent. Transactional and security messages (MFA codes, password resets, alerts) ignore
  // every opt-out; the preference API refuses such opt-outs (403), and a choice stored before
  // the workflow's category changed must not block them either. Defaults are skipped too: they
  // mean "off until the subscriber opts in", and nobody opts in to a password reset — a
  // mandatory workflow that should not use a channel leaves that step out.
  if (category === null || !MANDATORY_CATEGORIES.has(category)) {
    const refusal = consentRefusal(input, preferences, category);
    if (refusal !== null) return refusal;
  }

  // c. Quiet hours: only channels that interrupt a person (the inbox row never waits), only when
  // the subscriber set a window, and never for a workflow that bypasses them or critical traffic.
  const window = preferences?.quietHours;
  if (
    window &&
    INTERRUPTIVE_CHANNELS.has(channel) &&
    workflow.quietHours !== 'bypass' &&
    input.lane !== 'critical'
  ) {
    const zone = zoneFor(subscriber.timezone, input.defaultTimezone);
    const until = quietUntil(window, zone, input.now);
    if (until !== null) {
      return {
        kind: 'defer',
        until,
        detail: `quiet hours in ${zone} until ${new Date(until).toISOString()}`,
      };
    }
  }

  // d.
  return SEND;
}

/**
 * The opt-out that stops this message, or null. The most specific choice decides: a disabled
 * workflow stops every channel; then the subscriber's choice for (category, channel); then their
 * choice for the channel; only when they made none for this channel does the workflow's default
 * apply. A choice of `true` at a level ends the search there: the subscriber's own word always
 * wins over anything less specific, and over any default.
 */
function consentRefusal(
  input: PlanInput,
  preferences: PreferenceChoices | null,
  category: string | null,
): Plan | null {
  const { channel, workflow } = input;
  if (preferences !== null) {
    // Only a boolean counts as a choice, so inherited names (`constructor`) never do.
    if (preferences.workflows[workflow.key]?.enabled === false) {
      return suppress('opted_out', `subscriber disabled workflow ${workflow.key}`);
    }
    if (category !== null) {
      const categoryChoice = preferences.categories[category]?.[channel];
      if (categoryChoice === false) {
        return suppress('opted_out', `subscriber opted out of ${category} on ${channel}`);
      }
      if (categoryChoice === true) return null;
    }
    const channelChoice = preferences.channels[channel];
    if (channelChoice === false) return suppress('opted_out', `subscriber opted out of ${channel}`);
    if (channelChoice === true) return null;
  }
  if (workflow.defaultPreferences?.channels?.[channel] === false) {
    return suppress(
      'opted_out',
      `${channel} is off by default for workflow ${workflow.key} until the subscriber opts in`,
    );
  }
  return null;
}

function suppress(reason: 'opted_out' | 'no_address' | 'bad_address', detail: string): Plan {
  return { kind: 'suppress', reason, detail };
}

/**
 * The zone a subscriber's clock is read in (quiet hours, local-time schedules): the subscriber's,
 * else the tenant's default, else UTC. A zone Intl does not know (stored before validation, or
 * from an older tzdata) falls back instead of throwing: a bad zone must not stop delivery.
 */
export function zoneFor(subscriberZone: string | null, defaultZone: string): string {
  if (subscriberZone && isTimeZone(subscriberZone)) return subscriberZone;
  if (isTimeZone(defaultZone)) return defaultZone;
  return 'UTC';
}
