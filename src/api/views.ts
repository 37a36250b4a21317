import {
  type DeviceRecord,
  type EventRecord,
  FINAL_STATUSES,
  type IntegrationRecord,
  isPaused,
  type MessageRecord,
  type PreferenceChoices,
  type SkippedStep,
  type SubscriberRecord,
  type TenantSettings,
  type WorkflowRecord,
  type WorkflowVersionRecord,
} from '../shared/model.ts';
import { recipientsByReference } from '../shared/recipient-reference.ts';
import { iso, isoOrNull } from '../shared/time.ts';
import type { CircuitRecord, EventMessageSummary, WebhookEndpointRecord } from '../store/port.ts';
import { tokenHint } from './device-input.ts';

/** How records look on the wire (API.md). Internal epoch-ms times become ISO strings here. */

export function subscriberView(s: SubscriberRecord) {
  return {
    subscriberId: s.id,
    email: s.email,
    phone: s.phone,
    locale: s.locale,
    timezone: s.timezone,
    data: s.data,
    createdAt: iso(s.createdAt),
    updatedAt: iso(s.updatedAt),
  };
}

/** `workflowVersion` is its event's (the version it rendered with); null when unknown. */
export function messageView(m: MessageRecord, workflowVersion: number | null = null) {
  return {
    messageId: m.id,
    eventId: m.eventId,
    subscriberId: m.subscriberId,
    workflow: m.workflow,
    workflowVersion,
    channel: m.channel,
    status: m.status,
    provider: m.provider,
    providerMessageId: m.providerMessageId ?? null,
    content: m.content,
    meta: m.meta ?? {},
    reason: m.reason,
    escalated: m.escalated ?? false,
    lastError: m.lastError,
    createdAt: iso(m.createdAt),
    updatedAt: iso(m.updatedAt),
    timeline: m.timeline,
  };
}

/** The token itself never leaves: `tokenHint` shows its last characters (web push: the push service and the endpoint's end). */
export function deviceView(d: DeviceRecord) {
  return {
    deviceId: d.id,
    platform: d.platform,
    active: d.active,
    deactivatedAt: isoOrNull(d.deactivatedAt),
    reason: d.reason,
    tokenHint: tokenHint(d),
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
  };
}

/**
 * An event's status follows its messages: accepted → processing → completed (or cancelled). An
 * event with no message is completed when every step was skipped by its conditions, or when all
 * the work resolving its recipients ran and found nobody to send to (an empty topic, recipients
 * erased before its sendAt: EventRecord.openParts); until then it is accepted. An event whose
 * parts are all counted (a broadcast paged over several jobs) is not completed while one is left,
 * however final the messages made so far.
 */
export function eventStatus(
  event: EventRecord,
  messages: readonly Pick<MessageRecord, 'status'>[],
  skipped: SkippedStep[] = [],
): string {
  if (event.status !== 'accepted') return event.status;
  const made = messages.length + skipped.length > 0;
  if (event.countsEveryPart && !allPartsRan(event)) return made ? 'processing' : 'accepted';
  if (messages.length === 0) return skipped.length > 0 || allPartsRan(event) ? 'completed' : 'accepted';
  return messages.every((m) => FINAL_STATUSES.has(m.status) || m.status === 'sent')
    ? 'completed'
    : 'processing';
}

/** Every part of the event's recipient work ran (≤ 0: a count that went wrong still reads finished). */
function allPartsRan(event: EventRecord): boolean {
  return event.openParts !== null && event.openParts <= 0;
}

/** One message as an event's view lists it (without its content: GET /v1/messages/{id} has that). */
export function eventMessageView(m: EventMessageSummary) {
  return {
    messageId: m.id,
    subscriberId: m.subscriberId,
    channel: m.channel,
    status: m.status,
    reason: m.reason,
    provider: m.provider,
    // Its fallback step went out (src/pipeline/fallback.ts).
    escalated: m.escalated ?? false,
    timeline: m.timeline,
  };
}

/** A step an event's recipient did not get, as the event's view lists it. */
export function skippedStepView(s: SkippedStep) {
  return { subscriberId: s.subscriberId, channel: s.channel, step: s.step, reason: s.reason };
}

export function eventView(
  event: EventRecord,
  messages: MessageRecord[],
  status: string,
  skipped: SkippedStep[] = [],
) {
  return {
    eventId: event.id,
    workflow: event.workflow,
    // The version its messages render with: the one current when the event was accepted.
    workflowVersion: event.workflowVersion,
    status,
    priority: event.priority,
    createdAt: iso(event.createdAt),
    // Inline recipients by reference, also in events stored before that was how they were stored.
    to: recipientsByReference(event.payload.to),
    data: event.payload.data ?? {},
    // A scheduled event shows when and how: until a recipient's time comes it has no message.
    ...(event.payload.sendAt ? { sendAt: event.payload.sendAt } : {}),
    ...(event.payload.schedule ? { schedule: event.payload.schedule } : {}),
    ...(event.payload.cancellationKey ? { cancellationKey: event.payload.cancellationKey } : {}),
    // What else the event's templates were given: `actor` in scope (after that subscriber's
    // erasure, the erased id), `locale` for every recipient.
    ...(event.payload.actor !== undefined ? { actor: event.payload.actor } : {}),
    ...(event.payload.locale !== undefined ? { locale: event.payload.locale } : {}),
    messages: messages.map(eventMessageView),
    // Steps whose `if` was false for a recipient: no message was created for them.
    skipped: skipped.map(skippedStepView),
  };
}

export function workflowView(w: WorkflowRecord) {
  return {
    key: w.key,
    ...w.definition,
    // Paused by its definition (the kill switch), or by Tidings when its renders kept timing out.
    paused: isPaused(w),
    pausedReason: w.pausedReason,
    version: w.version,
    createdAt: iso(w.createdAt),
    updatedAt: iso(w.updatedAt),
  };
}

/** One saved version of a workflow; `current` marks the one new events use. */
export function workflowVersionView(v: WorkflowVersionRecord, current: boolean) {
  return { version: v.version, current, createdAt: iso(v.createdAt), definition: v.definition };
}

/** A circuit no worker has published yet: closed, as every breaker starts. */
const CLOSED_CIRCUIT = { state: 'closed', failures: 0, openedAt: null } as const;

/**
 * Credentials are never returned; only whether some are set. `circuit` is the breaker's state as
 * its worker last published it (on transitions: `failures` counts those that opened it).
 */
/**
 * An integration's health in one word (API.md: "each with its health"), read from its circuit:
 * `down` while the circuit is open (sends pass it over), `degraded` while it is half-open or has
 * recent failures, `healthy` otherwise; `disabled` when it takes no sends at all.
 */
function integrationHealth(
  i: IntegrationRecord,
  circuit: CircuitRecord | undefined,
): 'healthy' | 'degraded' | 'down' | 'disabled' {
  if (!i.enabled) return 'disabled';
  if (circuit?.state === 'open') return 'down';
  if (circuit?.state === 'half_open' || (circuit?.failures ?? 0) > 0) return 'degraded';
  return 'healthy';
}

/**
 * A config as GET shows it: a URL holding a user name or password (taken before PUT refused them;
 * never sent) shows `***` for each, so the password stored with it is not shown.
 */
function configView(config: Record<string, unknown>): Record<string, unknown> {
  let shown: Record<string, unknown> | null = null;
  for (const [field, value] of Object.entries(config)) {
    if (typeof value !== 'string' || !value.includes('@') || !URL.canParse(value)) continue;
    const url = new URL(value);
    if (!url.username && !url.password) continue;
    if (url.username) url.username = '***';
    if (url.password) url.password = '***';
    shown ??= { ...config };
    shown[field] = url.href;
  }
  return shown ?? config;
}

export function integrationView(i: IntegrationRecord, circuit?: CircuitRecord) {
  return {
    id: i.id,
    channel: i.channel,
    provider: i.provider,
    priority: i.priority,
    enabled: i.enabled,
    config: configView(i.config),
    rateLimit: i.perSecond === null ? null : { perSecond: i.perSecond },
    hasCredentials: i.sealedCredentials !== null,
    health: integrationHealth(i, circuit),
    circuit: circuit
      ? {
          state: circuit.state,
          failures: circuit.failures,
          openedAt: circuit.openedAt === null ? null : iso(circuit.openedAt),
        }
      : CLOSED_CIRCUIT,
    createdAt: iso(i.createdAt),
    updatedAt: iso(i.updatedAt),
  };
}

/** An endpoint as lists show it: never its secrets. */
export function webhookEndpointView(e: WebhookEndpointRecord) {
  return {
    id: e.id,
    url: e.url,
    events: e.events,
    enabled: e.enabled,
    disabledReason: e.disabledReason,
    createdAt: iso(e.createdAt),
    updatedAt: iso(e.updatedAt),
  };
}

/** Opaque cursors: base64url of the position, so clients cannot depend on their contents. */
export function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(parts.join('\u0000')).toString('base64url');
}

export function decodeCursor(cursor: string): string[] | null {
  try {
    const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('\u0000');
    return parts.length > 0 && parts.every((p) => p.length > 0) ? parts : null;
  } catch {
    return null;
  }
}

export function preferencesView(p: PreferenceChoices) {
  return { channels: p.channels, categories: p.categories, workflows: p.workflows, quietHours: p.quietHours };
}

export function tenantSettingsView(s: TenantSettings) {
  return { defaultTimezone: s.defaultTimezone, dailyCap: s.dailyCap, inboxTabs: s.inboxTabs };
}
