import { canonicalJson } from '../ingest/canonical.ts';
import { idFloor } from '../shared/ids.ts';
import {
  CHANNELS,
  type Channel,
  type ConsentSource,
  LANES,
  type PreferenceChoices,
  type SuppressionReason,
  sendPartition,
} from '../shared/model.ts';
import type {
  ConsentRecord,
  DigestEventRef,
  ErasureRequest,
  ExpiringTable,
  PreferencePatch,
  WaitingJobRef,
  WaitingJobsCursor,
} from './port.ts';

/** The consent log's `change` for a preference PATCH: what it asked for, as applied. */
export function preferenceChange(patch: PreferencePatch): Record<string, unknown> {
  return { preferences: patch };
}

/** The consent log's `change` for an address suppressed (or lifted) on a channel. */
export function suppressionChange(
  channel: Channel,
  reason: SuppressionReason,
  lifted: boolean,
): Record<string, unknown> {
  return { [lifted ? 'unsuppressed' : 'suppressed']: { channel, reason } };
}

/** Whether a PATCH changed the stored choices (only changes are logged: a callback retried logs once). */
export function choicesChanged(before: PreferenceChoices | null, after: PreferenceChoices): boolean {
  return before === null || canonicalJson(before) !== canonicalJson(after);
}

export interface ConsentRow {
  id: number | string;
  at: number | string;
  change: string | Record<string, unknown>;
  source: string;
  detail: string | null;
}

export function toConsent(row: ConsentRow): ConsentRecord {
  return {
    id: Number(row.id),
    at: Number(row.at),
    change: typeof row.change === 'string' ? JSON.parse(row.change) : row.change,
    source: row.source as ConsentSource,
    detail: row.detail,
  };
}

/**
 * How far apart two processes' clocks may be for the erasure check of a delivery's write
 * (NewMessage.subscriberCreatedAt): an erasure that began up to this long before the delivery
 * was built still makes it check its recipients one by one.
 */
export const ERASURE_CLOCK_MARGIN_MS = 60_000;

/** The timeline entry erasure appends to each message it erases. */
export function erasedEntry(now: number): { at: string; status: string } {
  return { at: new Date(now).toISOString(), status: 'erased' };
}

/**
 * Each expiring table: the id column the sweep ranges over (after the tenant), that id's prefix,
 * and the rest of the primary key that names one row.
 */
export const EXPIRING: Readonly<Record<ExpiringTable, { idColumn: string; prefix: string; key: string }>> = {
  events: { idColumn: 'id', prefix: 'evt', key: 'id' },
  messages: { idColumn: 'id', prefix: 'msg', key: 'id' },
  sandbox_captures: { idColumn: 'id', prefix: 'cap', key: 'id' },
  skipped_steps: { idColumn: 'event_id', prefix: 'evt', key: 'event_id, subscriber_id, step' },
};

/** The id below which a table's rows were created before `before`. */
export function expiryFloor(table: ExpiringTable, before: number): string {
  return idFloor(EXPIRING[table].prefix, before);
}

/**
 * An event payload with what it held of an erased subscriber taken out: their entries in `to`
 * become the bare erased id (no address, locale, zone or data), and when nobody else was in `to`,
 * the event `data` (all about them) is emptied too. Answers null when the payload named them not.
 */
export function scrubEventPayload(
  payload: unknown,
  subscriberId: string,
  erasedId: string,
): Record<string, unknown> | null {
  if (!payload || typeof payload !== 'object' || !Array.isArray((payload as { to?: unknown }).to))
    return null;
  const event = payload as Record<string, unknown> & { to: unknown[] };
  let found = false;
  const to = event.to.map((entry) => {
    const id = typeof entry === 'string' ? entry : (entry as { subscriberId?: unknown } | null)?.subscriberId;
    if (id !== subscriberId) return entry;
    found = true;
    return { subscriberId: erasedId };
  });
  if (!found) return null;
  // Nobody left: every entry is an erased one (this erasure's or an earlier one's), so an event
  // for two people erased one after the other loses its data with the second.
  const alone = to.every((entry) => {
    const id = (entry as { subscriberId?: unknown })?.subscriberId;
    return id === erasedId || (typeof id === 'string' && ERASED_ID.test(id));
  });
  return { ...event, to, ...(alone && event.data !== undefined ? { data: {} } : {}) };
}

/** What src/privacy/erasure.ts's erasedSubscriberId answers. */
const ERASED_ID = /^erased:[A-Za-z0-9_-]{32}$/;

/** A ready or running job as scrubWaitingEvents reads it (a payload as stored: JSON text or parsed). */
export interface WaitingJobRow {
  id: number | string;
  run_at: number | string;
  kind: string;
  state: string;
  payload: unknown;
  partition_key?: string | null;
}

/**
 * Job kinds that act for one subscriber named in their payload (`subscriberId`) and hold nothing
 * for anyone else: a fallback step still to fire, an inbox snooze still to end, held messages
 * still to release (src/pipeline/release-deferred.ts). An erasure drops
 * the ready ones: a fallback that fired later found no message under the id (they were renamed)
 * and sent the event's next step to whoever held the id by then. A dropped fallback closes its
 * event's open part as it is deleted (migration 050's triggers), so the event can complete.
 */
const FOR_ONE_SUBSCRIBER = new Set(['fallback', 'inbox-wake', 'release-deferred']);

/**
 * A release after a change of the tenant's default zone (src/pipeline/release-deferred.ts): it
 * pages through subscribers, and its cursor (`after`) is the last id it read. One that stopped at
 * the erased subscriber starts its walk again (`after` null): every decision it makes again is one
 * a send would make anyway, and the id is gone from the queue.
 */
const ZONE_RELEASE = 'release-default-zone';

/**
 * A status webhook still to go to one of the tenant's endpoints (src/webhooks/emit.ts): its body
 * names the subscriber (`data.subscriberId`) and may quote a provider's error about their address.
 */
const ENDPOINT_EVENT = 'endpoint_event';

/**
 * A status webhook's payload as the erased message reads: the subscriber by the erased id, and
 * no error text (erasure empties a message's). Null when it does not name them.
 */
function scrubbedEndpointEvent(
  payload: { event?: unknown },
  subscriberId: string,
  erasedId: string,
): Record<string, unknown> | null {
  const event = payload.event as { data?: Record<string, unknown> } | null | undefined;
  const data = event?.data;
  if (!data || typeof data !== 'object' || data.subscriberId !== subscriberId) return null;
  const { error: _error, ...kept } = data;
  return { ...payload, event: { ...event, data: { ...kept, subscriberId: erasedId } } };
}

/** Whether a status webhook is about a message whose id sorts before `before` (ids sort by time). */
function aboutMessageBefore(payload: { event?: unknown }, before: string): boolean {
  const messageId = (payload.event as { data?: { messageId?: unknown } } | null | undefined)?.data?.messageId;
  return typeof messageId === 'string' && messageId < before;
}

/** What the queue's last pass looks for (scrubWaitingEvents `webhooksOnly`, waitingFor). */
export interface AfterMessages {
  /** Messages made up to the erasure's `before` have ids below it. */
  messagesBefore: string;
  /** Every partition the subscriber's sends may wait in (sendPartition: each channel and lane). */
  sendPartitions: ReadonlySet<string>;
}

/** The bound of a webhooks-only pass: messages made up to `before` (ms) have ids below it. */
export function messagesUpTo(
  request: Pick<ErasureRequest, 'tenantId' | 'subscriberId' | 'before'>,
): AfterMessages {
  const { tenantId, subscriberId, before } = request;
  return {
    messagesBefore: idFloor('msg', before + 1),
    sendPartitions: new Set(
      CHANNELS.flatMap((channel) =>
        LANES.map((lane) => sendPartition(tenantId, subscriberId, channel, lane)),
      ),
    ),
  };
}

/**
 * A send still waiting for one of the erased subscriber's messages (cancelled by now: a retry's
 * backoff, a quiet-hours deferral): it would find the message cancelled and do nothing, but until
 * it ran its partition key named the subscriber beside the erased message's id.
 */
function waitingSendOf(job: WaitingJobRow, after: AfterMessages): boolean {
  if (job.kind !== 'send' || job.state !== 'ready') return false;
  if (typeof job.partition_key !== 'string' || !after.sendPartitions.has(job.partition_key)) return false;
  // Only then its payload: the queue's other sends are passed over unread.
  const messageId = payloadOf<{ messageId?: unknown }>(job)?.messageId;
  return typeof messageId === 'string' && messageId < after.messagesBefore;
}

/** A waiting job's payload: JSON text as SQLite hands it, or parsed as PostgreSQL does. */
function payloadOf<T>(job: WaitingJobRow): T | null {
  return (typeof job.payload === 'string' ? JSON.parse(job.payload) : job.payload) as T | null;
}

/** A row of pageDigestEvents, as either store reads it. */
export interface DigestEventRow {
  digest_id: string;
  workflow: string;
  opened_at: number | string;
  closes_at: number | string;
  event_id: string;
}

export function toDigestEventRef(row: DigestEventRow): DigestEventRef {
  return {
    digestId: row.digest_id,
    workflow: row.workflow,
    openedAt: Number(row.opened_at),
    closesAt: Number(row.closes_at),
    eventId: row.event_id,
  };
}

export function toWaitingJobRef(row: WaitingJobRow): WaitingJobRef {
  return {
    id: Number(row.id),
    kind: row.kind,
    runAt: Number(row.run_at),
    payload:
      row.payload === null || row.payload === undefined ? null : payloadOf<Record<string, unknown>>(row),
  };
}

/** Where scrubWaitingEvents starts: before every ready job of the first lane. */
export const FIRST_WAITING: WaitingJobsCursor = { lane: LANES[0], runAt: -1, id: 0 };

/** What waiting jobs hold of an erased subscriber (waitingFor). */
export interface WaitingFor {
  /** Events the jobs will fan out or deliver, whose `to` may name them. */
  eventIds: string[];
  /**
   * Deliver jobs naming them in their page, and status webhooks naming them, with the payload
   * that no longer does.
   */
  rewrites: { id: number; payload: Record<string, unknown> }[];
  /** Ready jobs that act for them alone, to delete (FOR_ONE_SUBSCRIBER). */
  drops: number[];
}

/**
 * What waiting jobs (src/pipeline's fanout and deliver payloads) still hold of the subscriber:
 * every event of a fanout, and a deliver page's event when the page names them — that page then
 * loses their id, so a new subscriber of the same id is never sent the old event; the ready
 * jobs that act for them alone; and status webhooks about them, which go out naming the erased id
 * (the tenant's endpoint still hears what happened to the message, as GET /v1/messages/{id} shows
 * it). Other kinds carry no event for a recipient.
 */
export function waitingFor(
  jobs: readonly WaitingJobRow[],
  subscriberId: string,
  erasedId: string,
  /**
   * Only status webhooks about messages made before this id, and sends still waiting for those
   * messages (scrubWaitingEvents `webhooksOnly`).
   */
  webhooksAbout?: AfterMessages,
): WaitingFor {
  const ids = new Set<string>();
  const rewrites: WaitingFor['rewrites'] = [];
  const drops: number[] = [];
  for (const job of jobs) {
    const webhook = job.kind === ENDPOINT_EVENT;
    if (webhooksAbout && job.kind === 'send') {
      if (waitingSendOf(job, webhooksAbout)) drops.push(Number(job.id));
      continue;
    }
    if (webhooksAbout && !webhook) continue;
    const oneSubscriber = FOR_ONE_SUBSCRIBER.has(job.kind);
    const zoneRelease = job.kind === ZONE_RELEASE;
    if (job.kind !== 'fanout' && job.kind !== 'deliver' && !oneSubscriber && !webhook && !zoneRelease)
      continue;
    const payload = payloadOf<{
      eventId?: unknown;
      eventIds?: unknown;
      subscriberId?: unknown;
      subscriberIds?: unknown;
      event?: unknown;
      after?: unknown;
    }>(job);
    if (!payload) continue;
    if (zoneRelease) {
      if (payload.after === subscriberId)
        rewrites.push({ id: Number(job.id), payload: { ...payload, after: null } });
      continue;
    }
    if (webhook) {
      if (webhooksAbout && !aboutMessageBefore(payload, webhooksAbout.messagesBefore)) continue;
      // A running one may go out as it was read; a retry of it carries the erased id.
      const scrubbed = scrubbedEndpointEvent(payload, subscriberId, erasedId);
      if (scrubbed) rewrites.push({ id: Number(job.id), payload: scrubbed });
      continue;
    }
    if (oneSubscriber) {
      // A running one finishes: it was claimed before the erasure began.
      if (job.state === 'ready' && payload.subscriberId === subscriberId) drops.push(Number(job.id));
      continue;
    }
    if (job.kind === 'deliver') {
      const page = Array.isArray(payload.subscriberIds) ? (payload.subscriberIds as unknown[]) : [];
      if (!page.includes(subscriberId)) continue;
      rewrites.push({
        id: Number(job.id),
        payload: { ...payload, subscriberIds: page.filter((id) => id !== subscriberId) },
      });
    }
    const named = Array.isArray(payload.eventIds) ? payload.eventIds : [payload.eventId];
    for (const id of named) if (typeof id === 'string') ids.add(id);
  }
  return { eventIds: [...ids], rewrites, drops };
}

/**
 * Where scrubWaitingEvents goes on after reading `rows` of `from.lane` with `limit`: after the
 * last row, or the next lane's start when the lane had no more; null after the last lane.
 */
export function nextWaiting(
  from: WaitingJobsCursor,
  rows: readonly WaitingJobRow[],
  limit: number,
): WaitingJobsCursor | null {
  const last = rows.at(-1);
  if (rows.length === limit && last)
    return { lane: from.lane, runAt: Number(last.run_at), id: Number(last.id) };
  const lane = LANES[LANES.indexOf(from.lane) + 1];
  return lane ? { ...FIRST_WAITING, lane } : null;
}

/**
 * Where the erasure's walk over a tenant's rate counters starts: past the scopes that begin with a
 * control character — the daily cap's (dailyCapScope, deleted by its exact key) and integration
 * send slots (src/pipeline/throttle.ts, nobody's) — at the first character a workflow key may
 * begin with (keys hold no control character or whitespace).
 */
export const FIRST_RULE_SCOPE = '!';

/**
 * The rule a rate counter's scope belongs to (src/policy/rate-limit.ts ruleScope: workflow, layer,
 * window, limit, joined by U+001F), its subscriber's counters within it, and where the next rule's
 * scopes begin. Ids and workflow keys hold no control character, so U+001F only ever separates;
 * U+0020 is the first character past it, so `scope < rule + U+0020` holds exactly the rule's own
 * scope and those it prefixes. No bound holds U+0000, which PostgreSQL text refuses.
 */
export function rateCountersOf(scope: string, subscriberId: string): { own: string; next: string } {
  const parts = scope.split('\u001f');
  // A scope not made by ruleScope (none is past FIRST_RULE_SCOPE): passed over alone.
  if (parts.length < 4) return { own: '', next: `${scope}\u0001` };
  const rule = parts.slice(0, 4).join('\u001f');
  return { own: `${rule}\u001f${subscriberId}`, next: `${rule}\u0020` };
}
