import { checkTextPart } from '../channels/email/content.ts';
import {
  readSuppressions,
  type SubscriberSuppressions,
  sendsToAddresses,
  suppressionFor,
} from '../feedback/suppressions.ts';
import type { InboxChange, InboxFeed } from '../inbox/feed.ts';
import { inboxItemView } from '../inbox/item-view.ts';
import { withoutScriptLinks } from '../inbox/links.ts';
import { type DailyCapLayer, dailyCapLayer } from '../policy/daily-cap.ts';
import { type DigestScope, digestWindowMs, storedDigestKey } from '../policy/digest.ts';
import { plan, routingOf } from '../policy/plan.ts';
import { erasedSubscriberId } from '../privacy/erasure.ts';
import type { JobContext, JobHandler, JobResult } from '../queue/handler.ts';
import { ACKED, retryAfterError } from '../queue/handler.ts';
import { newId } from '../shared/ids.ts';
import type {
  DevicePlatform,
  DeviceRecord,
  EventRecord,
  Lane,
  LayoutRecord,
  MessageRecord,
  PreferenceChoices,
  SkippedStep,
  SubscriberRecord,
  TimelineEntry,
  WorkflowDefinition,
  WorkflowRecord,
} from '../shared/model.ts';
import { isPaused, PLATFORMS_OF_CHANNEL } from '../shared/model.ts';
import { iso } from '../shared/time.ts';
import { ConsentChangedSinceRead } from '../store/consent-guard.ts';
import type { DigestJobPayload, DigestJoin, Job, JobSpec, MessageAck, NewMessage } from '../store/port.ts';
import { WorkflowPausedSinceRead } from '../store/workflow-pause.ts';
import { evaluateCondition } from '../templates/condition.ts';
import { MESSAGE_BUDGET_MS } from '../templates/engine.ts';
import { wrapInLayout } from '../templates/layout.ts';
import {
  type CompiledStep,
  MAX_FIELD_CHARS,
  type RenderScope,
  renderFields,
  TemplateCompileError,
  TemplateTimeout,
} from '../templates/render.ts';
import {
  PAUSE_AFTER_TIMEOUTS,
  PAUSED_FOR_TIMEOUTS,
  RenderLedger,
  type WorkflowRenders,
} from '../templates/render-ledger.ts';
import { writeUnlessChoicesChanged } from './consent-since-build.ts';
import { JOB_KINDS, notifyLanes, type PipelineDeps, sendJob } from './deps.ts';
import type { FallbackBuild } from './fallback.ts';
import { fallbackJob, fallbackTimers } from './fallback-timers.ts';
import { attachLayouts } from './layouts.ts';
import { templateLinks } from './links.ts';
import { deliveryPartsChanges, eventKey, fallbackPartsOf } from './open-parts.ts';
import { withPauseOfNow } from './pause-of-now.ts';
import { PinnedWorkflows } from './pinned-workflow.ts';
import { anyRateLimited, applyRateLimits, type RateDecisions, type TargetSpan } from './rate-limits.ts';
import { recipientLocale, subscriberScope } from './recipient-render.ts';
import { awaitsSchedule, scheduledEntry, splitBySchedule } from './schedule.ts';
import { variantIndex } from './variants.ts';

/** One event to deliver to some of its recipients. */
export interface DeliveryTarget {
  event: EventRecord;
  workflow: WorkflowRecord;
  subscriberIds: string[];
  /** Only these channel steps (by index): the rest of a delivery deferred after a slow render. */
  steps?: number[];
  /**
   * The instant a scheduled event's delivery to these recipients was due (schedule.ts): set, its
   * messages are built; unset on an event with a schedule, the recipients are split by instant.
   */
  at?: number;
  /**
   * A digest's close: its messages belong to `event` (the oldest live one) and their templates
   * also see `count` and `events`. Without it, a digest workflow's recipients join their digest.
   */
  digest?: { id: string; scope: DigestScope; eventIds: readonly string[] };
  /** A fallback step decided by its job (src/pipeline/fallback.ts): built, unlike in a delivery. */
  fallback?: FallbackBuild;
  /** Per email step with a `layout`: the version it is wrapped in, null when there is none (layouts.ts). */
  layouts?: ReadonlyMap<number, LayoutRecord | null>;
  /** The job whose part of the event's work this is (open-parts.ts); kept by what it defers. */
  job?: number;
}

/** What an inbox item shows of the event data: the workflow's `inboxData` (default all of it). */
function inboxData(definition: WorkflowDefinition, data: Record<string, unknown>): Record<string, unknown> {
  const keep = definition.inboxData;
  if (keep === undefined || keep === 'all') return data;
  // No prototype: a key named `__proto__` is kept as data like any other.
  const shown: Record<string, unknown> = Object.create(null);
  if (keep === 'none') return shown;
  for (const key of keep) if (Object.hasOwn(data, key)) shown[key] = data[key];
  return shown;
}

/** What one tenant's recipients in a batch chose, and the tenant's zone for those without one. */
export interface TenantConsent {
  preferences: ReadonlyMap<string, PreferenceChoices>;
  defaultTimezone: string;
  /** Suppressed addresses (bounces, complaints, STOP) of the tenant's recipients in the batch. */
  suppressions?: SubscriberSuppressions;
}

const NO_CHOICES: TenantConsent = { preferences: new Map(), defaultTimezone: 'UTC' };

/** One tenant's recipients' active devices in a batch, by subscriber id, each one's oldest first. */
export type TenantDevices = ReadonlyMap<string, readonly DeviceRecord[]>;

const NO_DEVICES: TenantDevices = new Map();
/** The meta of every message that goes to no device: shared (and frozen), so stores serialise it once. */
const NO_META = Object.freeze({});

/** Why a paused workflow's message was not sent, for its timeline. */
function pausedDetail(workflow: WorkflowRecord): string {
  return workflow.pausedReason ?? 'workflow paused (its definition says "paused": true)';
}

/** Why a digest key could not be rendered: the detail and reason its recipient's messages fail with. */
interface KeyFailure {
  detail: string;
  reason: 'template_error' | 'template_timeout';
}

/** A recipient's digest key, rendered ('' when the digest has none), or why it failed. */
function renderDigestKey(
  compiled: CompiledStep | null,
  scope: RenderScope,
  renders: WorkflowRenders,
): string | KeyFailure {
  if (compiled === null) return '';
  try {
    // A key stored before a rule refused it (e.g. one that loads files) fails like a template.
    if (compiled instanceof TemplateCompileError) throw compiled;
    return renderFields(compiled, scope, renders.clock, MESSAGE_BUDGET_MS).key ?? '';
  } catch (error) {
    if (error instanceof TemplateTimeout) {
      renders.timedOut();
      return { detail: `digest key: ${error.message}`, reason: 'template_timeout' };
    }
    const detail = `digest key error: ${(error as Error).message.split('\n')[0]}`;
    return { detail, reason: 'template_error' };
  }
}

/**
 * Builds the messages of each (event, subscriber): one per workflow channel, rendered. The
 * in-app message *is* the inbox row (delivered at once); every other channel is queued with a
 * send job on the recipient's partition, which the store commits in the same transaction as the
 * inbox row — so the inbox row always exists before any push, SMS or email goes out.
 *
 * A paused workflow's messages are created `cancelled` (reason `workflow_paused`) and nothing is
 * rendered or sent. Renders are accounted in `ledger`: once the workflow may render no more in
 * this batch, what is left of the target goes to `deferred`, to be delivered by a later job.
 *
 * A step with an `if` has it evaluated first, before routing and rendering: false creates no
 * message and goes to `skipped` instead; a condition that fails to evaluate fails the message
 * (`template_error`, or `template_timeout` past the budget, which it shares with the render).
 *
 * A workflow with a digest creates no message for its recipients: each joins the digest of its
 * rendered key (`joins`, the event view's `skipped` saying so), to be sent at the window's close
 * by the `digest` job, which builds that close's messages here again with `target.digest` set.
 *
 * Push and web push steps make one message per active device of the step's platforms (rendered
 * once, `meta.deviceId` on each); a recipient with none gets one `suppressed` message with reason
 * `no_device` — checked before consent, as plan() checks addresses (the fixable problem first).
 */
export function buildMessages(
  deps: Pick<PipelineDeps, 'templates' | 'links'>,
  target: DeliveryTarget,
  subscribers: SubscriberRecord[],
  now: number,
  ledger: RenderLedger = new RenderLedger(),
  deferred: DeliveryTarget[] = [],
  consent: TenantConsent = NO_CHOICES,
  skipped: SkippedStep[] = [],
  joins: DigestJoin[] = [],
  devices: TenantDevices = NO_DEVICES,
): NewMessage[] {
  const { event, workflow } = target;
  /** A step that makes no message for this recipient, named in the event view with why. */
  const skip = (subscriberId: string, step: number, channel: SkippedStep['channel'], reason: string) =>
    skipped.push({
      tenantId: event.tenantId,
      eventId: event.id,
      subscriberId,
      step,
      channel,
      reason,
      createdAt: now,
    });
  const steps = workflow.definition.channels;
  const paused = isPaused(workflow);
  // `conditions` is null unless some step has an `if`: workflows without any pay one null check per step.
  const compiledWorkflow = deps.templates.compiled(workflow);
  const { conditions, digestKey, usesLinks, readsAddresses } = compiledWorkflow;
  const eventLocale = event.payload.locale ?? null;
  const renders = ledger.of(workflow);
  const routing = routingOf(workflow);
  const category = workflow.definition.category;
  const accepted: TimelineEntry = {
    at: iso(event.createdAt),
    status: 'accepted',
    detail: `event ${event.id}`,
  };
  // What happened before routing: acceptance, and the schedule that held the delivery until `at`.
  const head = target.at === undefined ? [accepted] : [accepted, scheduledEntry(event, target.at)];
  const fallback = target.fallback;
  if (fallback && !fallback.stopped) head.push(fallback.because);
  // A digest's close names what it gathered in its messages' meta: a fallback step after one of
  // them renders the same digest (fallback.ts reads it back).
  const digestMeta = target.digest ? digestMessageMeta(target.digest) : null;
  let checkedHtml: Set<string> | undefined;
  const at = iso(now);
  const data = (event.payload.data ?? {}) as Record<string, unknown>;
  const inAppData = inboxData(workflow.definition, data);
  // Every recipient of a step gets the same timeline so far: build it once per step (the store
  // also serialises it once).
  const timelines = steps.map((step) => {
    const rendered: TimelineEntry = { at, status: 'rendered', detail: `${step.channel} content` };
    const routed: TimelineEntry = {
      at,
      status: 'routed',
      detail: `workflow ${workflow.key} v${workflow.version}, ${step.channel}`,
    };
    const last: TimelineEntry =
      step.channel === 'in_app'
        ? { at, status: 'delivered', detail: 'inbox item written' }
        : { at, status: 'queued', detail: `${event.priority} lane` };
    return { routed, rendered, ready: [...head, routed, rendered, last] };
  });
  const cancelled: TimelineEntry = { at, status: 'cancelled', detail: pausedDetail(workflow) };
  const messages: NewMessage[] = [];
  // The A/B variant of the step being built (its name goes into meta.variant), or null.
  let variant: string | null = null;
  // Hot path (one iteration per recipient and channel): records are built whole, in one shape,
  // rather than spread from a shared base, which V8 handles far more slowly.
  const record = (
    subscriberId: string,
    channel: MessageRecord['channel'],
    status: MessageRecord['status'],
    provider: string | null,
    content: Record<string, string>,
    timeline: TimelineEntry[],
    lastError: string | null,
    reason: MessageRecord['reason'],
    deviceId: string | null = null,
  ): MessageRecord => ({
    tenantId: event.tenantId,
    id: newId('msg', now),
    eventId: event.id,
    subscriberId,
    channel,
    workflow: workflow.key,
    status,
    provider,
    content,
    data: channel === 'in_app' ? inAppData : data,
    timeline,
    eventAt: event.createdAt,
    createdAt: now,
    updatedAt: now,
    seenAt: null,
    readAt: null,
    archivedAt: null,
    lastError,
    reason,
    deviceId,
    providerMessageId: null,
    meta: withDigest(
      variant === null ? (deviceId === null ? NO_META : { deviceId }) : metaWithVariant(deviceId, variant),
      digestMeta,
    ),
  });
  const failure = (
    subscriberId: string,
    index: number,
    status: 'failed' | 'cancelled' | 'suppressed',
    detail: string,
    reason: MessageRecord['reason'],
  ): NewMessage => {
    const entry: TimelineEntry = reason === 'workflow_paused' ? cancelled : { at, status, detail };
    const timeline = [...head, timelines[index]!.routed, entry];
    // An in-app message that failed or was cancelled is no inbox item: the inbox lists and counts none.
    return {
      record: record(subscriberId, steps[index]!.channel, status, null, {}, timeline, detail, reason),
      followUp: null,
    };
  };
  const only = target.steps ? new Set(target.steps) : null;
  // A digest workflow's recipients join their digest instead; its close (target.digest) sends.
  const digest = workflow.definition.digest;
  const digestSteps = steps.flatMap((step, index) =>
    step.fallback || (only && !only.has(index)) ? [] : [{ step: index, channel: step.channel }],
  );
  // A fallback step follows a message already sent (a digest's, too): it never joins a digest,
  // nor does a delivery of fallback steps only (a deferred one), which a digest would not send.
  const windowMs =
    digest && !target.digest && !target.fallback && !paused && digestSteps.length > 0
      ? digestWindowMs(digest.window)
      : null;
  for (let s = 0; s < subscribers.length; s++) {
    const subscriber = subscribers[s]!;
    const scope: RenderScope = {
      data,
      subscriber: subscriberScope(subscriber, readsAddresses),
      actor: event.payload.actor ?? null,
    };
    if (usesLinks) {
      const linkTarget = {
        tenantId: event.tenantId,
        subscriberId: subscriber.id,
        subscriberCreatedAt: subscriber.createdAt,
        workflow: workflow.key,
        category,
      };
      scope.links = templateLinks(deps.links, linkTarget, now);
    }
    const digestScope = target.digest?.scope ?? target.fallback?.digest;
    if (digestScope) {
      scope.count = digestScope.count;
      scope.events = digestScope.events;
    }
    if (windowMs !== null) {
      if (renders.exhausted()) {
        deferred.push({ ...target, subscriberIds: subscribers.slice(s).map((other) => other.id) });
        return messages;
      }
      const key = renderDigestKey(digestKey, scope, renders);
      if (typeof key === 'string') {
        joins.push({
          tenantId: event.tenantId,
          workflow: workflow.key,
          subscriberId: subscriber.id,
          key, // as rendered: buildDeliveries stores its hash (storedDigestKey)
          eventId: event.id,
          digestId: newId('dig', now),
          now,
          windowMs,
          job: { kind: JOB_KINDS.digest, lane: event.priority },
          steps: digestSteps,
        });
        renders.cleanDelivery();
      } else {
        // A key that cannot be rendered fails the recipient's messages, as a broken template does.
        for (const { step } of digestSteps)
          messages.push(failure(subscriber.id, step, 'failed', key.detail, key.reason));
      }
      continue;
    }
    const choices = consent.preferences.get(subscriber.id) ?? null;
    // Decided once per (workflow version, locale): the steps in the recipient's locale.
    const { localized, renderLocale } = recipientLocale(
      deps.templates,
      workflow,
      eventLocale,
      subscriber,
      consent.defaultTimezone,
      now,
      compiledWorkflow,
    );
    let timedOut = false;
    // A recipient gets one message per channel and event (and device): a later step on a channel
    // an earlier one took is skipped, and named so (two steps on one channel with `if`s that
    // exclude each other pick one; without them the second never sends).
    const stepOf = steps.length > 1 ? new Map<string, number>() : null;
    /** How many messages there were when the step before began. */
    let madeBefore = messages.length;
    for (let index = 0; index < steps.length; index++) {
      const step = steps[index]!;
      // The step before made a message, of any status (failed, cancelled, deferred…): its channel
      // is taken for this recipient.
      if (stepOf && index > 0 && messages.length > madeBefore)
        stepOf.set(steps[index - 1]!.channel, index - 1);
      madeBefore = messages.length;
      let arm = 0;
      variant = null;
      if (step.variants) {
        arm = variantIndex(step, subscriber.id, workflow.key);
        variant = step.variants[arm]?.name ?? null;
      }
      // Fallback steps are escalations: their own jobs build them later, if earlier channels got no receipt.
      if ((step.fallback && !fallback) || (only && !only.has(index))) continue;
      // Decided before the step's condition is rendered: whatever it says, no second message of
      // the channel can be made.
      const earlier = stepOf?.get(step.channel);
      if (earlier !== undefined) {
        const reason = `step ${earlier} already made this recipient's ${step.channel} message (one per channel)`;
        skip(subscriber.id, index, step.channel, reason);
        continue;
      }
      if (paused) {
        messages.push(failure(subscriber.id, index, 'cancelled', cancelled.detail!, 'workflow_paused'));
        continue;
      }
      if (renders.exhausted()) {
        // This workflow renders no more in this batch: the rest of this delivery waits for a later one.
        const left = steps.flatMap((_, i) => (i >= index && (!only || only.has(i)) ? [i] : []));
        // (A scheduled delivery's rest keeps its `at`: it is not split again.)
        deferred.push({ ...target, subscriberIds: [subscriber.id], steps: left });
        const others = subscribers.slice(s + 1).map((other) => other.id);
        if (others.length > 0) deferred.push({ ...target, subscriberIds: others });
        return messages;
      }
      let budget = MESSAGE_BUDGET_MS;
      const condition = conditions?.[index];
      if (condition) {
        const started = performance.now();
        try {
          // One stored before a rule refused it fails its messages, like a broken template.
          if (condition instanceof TemplateCompileError) throw condition;
          if (!evaluateCondition(condition, scope, budget)) {
            skip(subscriber.id, index, step.channel, `condition false: ${step.if}`);
            continue;
          }
        } catch (error) {
          if (error instanceof TemplateTimeout) {
            renders.timedOut();
            timedOut = true;
            const detail = `condition (if: ${step.if}): ${error.message}`;
            messages.push(failure(subscriber.id, index, 'failed', detail, 'template_timeout'));
            continue;
          }
          const detail = `condition error (if: ${step.if}): ${(error as Error).message.split('\n')[0]}`;
          messages.push(failure(subscriber.id, index, 'failed', detail, 'template_error'));
          continue;
        } finally {
          const spent = performance.now() - started;
          renders.clock.liquidMs += spent;
          budget -= spent;
        }
      }
      if (fallback?.stopped) {
        messages.push(failure(subscriber.id, index, 'cancelled', fallback.because.detail!, 'receipt'));
        continue;
      }
      // Push and web push go to devices: one message each, or one `no_device` when there is none.
      const platforms = PLATFORMS_OF_CHANNEL[step.channel];
      let targets: readonly DeviceRecord[] | null = null;
      if (platforms) {
        targets = devicesOn(devices.get(subscriber.id), platforms);
        if (targets.length === 0) {
          const detail = `no active ${platforms.join(' or ')} device`;
          messages.push(failure(subscriber.id, index, 'suppressed', detail, 'no_device'));
          continue;
        }
      }
      const decision = plan({
        channel: step.channel,
        lane: event.priority,
        workflow: routing,
        subscriber,
        preferences: choices,
        defaultTimezone: consent.defaultTimezone,
        suppression: suppressionFor(consent.suppressions, subscriber.id, step.channel),
        now,
      });
      if (decision.kind === 'suppress') {
        messages.push(failure(subscriber.id, index, 'suppressed', decision.detail, decision.reason));
        continue;
      }
      let content: Record<string, string>;
      try {
        const fields = localized.steps[index]![arm]!;
        // A template stored before a rule refused it (e.g. one that loads files) fails its message.
        if (fields instanceof TemplateCompileError) throw fields;
        content = renderFields(fields, scope, renders.clock, budget, renderLocale);
        if (step.layout !== undefined && step.channel === 'email' && target.layouts)
          content = framed(content, step.layout, target.layouts.get(index));
        if (step.channel === 'email') {
          checkedHtml ??= new Set();
          checkTextPart(content, checkedHtml);
        }
      } catch (error) {
        if (error instanceof TemplateTimeout) {
          renders.timedOut();
          timedOut = true;
          messages.push(failure(subscriber.id, index, 'failed', error.message, 'template_timeout'));
          continue;
        }
        const detail = `template error: ${(error as Error).message.split('\n')[0]}`;
        messages.push(failure(subscriber.id, index, 'failed', detail, 'template_error'));
        continue;
      }
      if (step.channel === 'in_app') {
        messages.push({
          record: record(
            subscriber.id,
            'in_app',
            'delivered',
            'inbox',
            withoutScriptLinks(content),
            timelines[index]!.ready,
            null,
            null,
          ),
          followUp: null,
        });
        continue;
      }
      if (decision.kind === 'defer') {
        // Quiet hours: rendered now (with the version and data of now), sent when the window ends.
        const { routed, rendered } = timelines[index]!;
        const held: TimelineEntry = { at, status: 'deferred', detail: decision.detail };
        const timeline = [...head, routed, rendered, held];
        for (const deviceId of deviceIds(targets)) {
          const waiting = record(
            subscriber.id,
            step.channel,
            'deferred',
            null,
            content,
            timeline,
            null,
            null,
            deviceId,
          );
          messages.push({ record: waiting, followUp: sendJob(waiting, event.priority, decision.until) });
        }
        continue;
      }
      for (const deviceId of deviceIds(targets)) {
        const queued = record(
          subscriber.id,
          step.channel,
          'queued',
          null,
          content,
          timelines[index]!.ready,
          null,
          null,
          deviceId,
        );
        messages.push({ record: queued, followUp: sendJob(queued, event.priority, now) });
      }
    }
    if (!paused && !timedOut) renders.cleanDelivery();
  }
  return messages;
}

/** An email's html in its layout; a layout that is gone fails the message (template_error). */
export function framed(
  content: Record<string, string>,
  key: string,
  layout: LayoutRecord | null | undefined,
): Record<string, string> {
  if (!layout) throw new Error(`layout "${key}" does not exist`);
  if (content.html === undefined) return content;
  const html = wrapInLayout(layout, content.html);
  if (html.length > MAX_FIELD_CHARS)
    throw new Error(`html in layout "${key}" is more than ${MAX_FIELD_CHARS} characters`);
  return { ...content, html };
}

function metaWithVariant(deviceId: string | null, variant: string): Record<string, string> {
  return deviceId === null ? { variant } : { deviceId, variant };
}

/**
 * What a digest's message says of it in `meta`: `digestCount` (every event gathered) and
 * `digestEvents`, the ids of those its templates saw as `events` (oldest first, space-separated).
 */
export interface DigestMeta {
  digestCount: number;
  digestEvents: string;
}

function digestMessageMeta(digest: NonNullable<DeliveryTarget['digest']>): DigestMeta {
  return { digestCount: digest.scope.count, digestEvents: digest.eventIds.join(' ') };
}

function withDigest(meta: MessageRecord['meta'], digest: DigestMeta | null): MessageRecord['meta'] {
  return digest === null ? meta : { ...meta, ...digest };
}

/** A recipient's devices on the step's platforms (those of a channel are few: a filter beats a map). */
function devicesOn(
  all: readonly DeviceRecord[] | undefined,
  platforms: readonly DevicePlatform[],
): readonly DeviceRecord[] {
  if (!all) return [];
  return all.filter((device) => platforms.includes(device.platform));
}

/** The devices a step's messages go to: one message each, or one message to no device. */
function deviceIds(targets: readonly DeviceRecord[] | null): readonly (string | null)[] {
  return targets ? targets.map((device) => device.id) : TO_NO_DEVICE;
}

/** Every message of a channel without devices: shared, so the hot path allocates nothing for it. */
const TO_NO_DEVICE: readonly (string | null)[] = Object.freeze([null]);

/** The device platforms the steps of a target send to (none for most workflows: then no read at all). */
function platformsOf(target: DeliveryTarget, into: Set<DevicePlatform>): void {
  target.workflow.definition.channels.forEach((step, index) => {
    if ((step.fallback && !target.fallback) || (target.steps && !target.steps.includes(index))) return;
    for (const platform of PLATFORMS_OF_CHANNEL[step.channel] ?? []) into.add(platform);
  });
}

/**
 * Loads the subscribers of each target and builds all their messages. Recipients were created at
 * ingest (or when they joined a topic); one erased since then simply gets nothing. Answers what
 * was left for a later job too (see buildMessages).
 */
async function buildDeliveries(
  deps: PipelineDeps,
  targets: DeliveryTarget[],
  now: number,
  ledger: RenderLedger = new RenderLedger(),
  /** Rate-limit decisions of an earlier build of the same delivery (its write was refused). */
  rates: RateDecisions = new Map(),
): Promise<{
  messages: NewMessage[];
  deferred: DeliveryTarget[];
  skipped: SkippedStep[];
  joins: DigestJoin[];
  /** The events (eventKey) this build made a message, skipped step or digest join for. */
  madeFor: Set<string>;
  /** Recipients no longer there (erased since the event was accepted), with their events. */
  gone: GoneRecipient[];
  /** The choices the build read, by tenant and subscriber (null: none made). */
  choicesRead: (tenantId: string, subscriberId: string) => PreferenceChoices | null;
}> {
  // One read per tenant for the whole batch, not one per target.
  const wanted = new Map<string, Set<string>>();
  const platforms = new Map<string, Set<DevicePlatform>>();
  for (const target of targets) {
    const tenantId = target.event.tenantId;
    const ids = wanted.get(tenantId) ?? new Set<string>();
    for (const id of target.subscriberIds) ids.add(id);
    wanted.set(tenantId, ids);
    const tenantPlatforms = platforms.get(tenantId) ?? new Set<DevicePlatform>();
    platformsOf(target, tenantPlatforms);
    platforms.set(tenantId, tenantPlatforms);
  }
  // Before the choices below: a change that answers after this read refuses the write of what
  // they decided (NewMessage.choicesVersion).
  const versions = await deps.store.choicesVersions([...wanted.keys()]);
  const found = new Map<string, SubscriberRecord>();
  const consent = new Map<string, TenantConsent>();
  const caps = new Map<string, DailyCapLayer>();
  const devices = new Map<string, Map<string, DeviceRecord[]>>();
  for (const [tenantId, ids] of wanted) {
    const list = [...ids];
    const onPlatforms = [...(platforms.get(tenantId) ?? [])];
    if (onPlatforms.length > 0)
      devices.set(tenantId, bySubscriber(await deps.store.activeDevicesOf(tenantId, list, onPlatforms)));
    const tenantSubscribers = await deps.store.getSubscribers(tenantId, list);
    for (const subscriber of tenantSubscribers) found.set(`${tenantId}\u0000${subscriber.id}`, subscriber);
    // Read at delivery, never cached: a PATCH (or a bounce) holds for every delivery that starts after it.
    const toAddresses = targets.some((t) => t.event.tenantId === tenantId && sendsToAddresses(t.workflow));
    const [preferences, settings, suppressions] = await Promise.all([
      deps.store.getPreferencesFor(tenantId, list),
      deps.store.getTenantSettings(tenantId),
      toAddresses ? readSuppressions(deps.store, tenantId, tenantSubscribers) : undefined,
    ]);
    consent.set(tenantId, { preferences, defaultTimezone: settings.defaultTimezone, suppressions });
    const cap = dailyCapLayer(settings.dailyCap, settings.defaultTimezone, now);
    if (cap) caps.set(tenantId, cap);
  }
  const messages: NewMessage[] = [];
  const deferred: DeliveryTarget[] = [];
  const skipped: SkippedStep[] = [];
  const joins: DigestJoin[] = [];
  const madeFor = new Set<string>();
  // Rate limits and caps cost nothing unless a workflow of the batch has one or a tenant caps its subscribers.
  const spans: TargetSpan[] | null = caps.size > 0 || anyRateLimited(targets) ? [] : null;
  const build = (target: DeliveryTarget, subscribers: SubscriberRecord[], choices?: TenantConsent) => {
    const start = messages.length;
    const made = start + skipped.length + joins.length;
    const tenantDevices = devices.get(target.event.tenantId);
    messages.push(
      ...buildMessages(
        deps,
        target,
        subscribers,
        now,
        ledger,
        deferred,
        choices,
        skipped,
        joins,
        tenantDevices,
      ),
    );
    spans?.push({ tenantId: target.event.tenantId, workflow: target.workflow, start, end: messages.length });
    if (messages.length + skipped.length + joins.length > made) madeFor.add(eventKey(target.event));
  };
  const gone: GoneRecipient[] = [];
  for (const target of targets) {
    const { tenantId, id: eventId } = target.event;
    const subscribers = target.subscriberIds.flatMap((id) => {
      const subscriber = found.get(`${tenantId}\u0000${id}`);
      if (!subscriber) gone.push({ tenantId, subscriberId: id, eventId });
      return subscriber ? [subscriber] : [];
    });
    const choices = consent.get(target.event.tenantId);
    if (!awaitsSchedule(target)) {
      build(target, subscribers, choices);
      continue;
    }
    // A scheduled event: recipients already due are delivered now, the others by a job at their instant.
    const defaultTimezone = choices?.defaultTimezone ?? NO_CHOICES.defaultTimezone;
    for (const due of splitBySchedule(target, subscribers, defaultTimezone)) {
      if (due.target.at! <= now) build(due.target, due.subscribers, choices);
      else deferred.push(due.target);
    }
  }
  if (spans) await applyRateLimits(deps.store, spans, messages, now, caps, rates);
  // An erasure that commits between these reads and the write must not get messages back: the
  // write checks each recipient is still the one read here (NewMessage.subscriberCreatedAt).
  for (const message of messages) {
    const { tenantId, subscriberId } = message.record;
    message.subscriberCreatedAt = found.get(`${tenantId}\u0000${subscriberId}`)?.createdAt;
    // An in-app item is delivered by the write itself: a PATCH that answered before it must hold
    // (guarantee 7). Other channels decide again at their send.
    if (message.record.channel === 'in_app' && message.record.status === 'delivered')
      message.choicesVersion = versions.get(tenantId);
  }
  // A key as rendered may be an address or a name: the store gets its keyed hash.
  for (const join of joins) join.key = storedDigestKey(join.key, deps.store.personalData);
  const choicesRead = (tenantId: string, subscriberId: string) =>
    consent.get(tenantId)?.preferences.get(subscriberId) ?? null;
  return { messages, deferred, skipped, joins, madeFor, gone, choicesRead };
}

interface GoneRecipient {
  tenantId: string;
  subscriberId: string;
  eventId: string;
}

/**
 * The recipients of messages the write left out because their subscriber was erased after the
 * build read them (NewMessage.subscriberCreatedAt): gone, as those the build did not find. Only
 * messages not written are looked at (a repeat of a delivery writes none either), so a delivery
 * whose messages were all written reads nothing more.
 */
async function erasedSinceBuild(
  deps: PipelineDeps,
  messages: readonly NewMessage[],
  created: ReadonlySet<string>,
): Promise<GoneRecipient[]> {
  const left = new Map<string, NewMessage[]>();
  for (const message of messages) {
    if (message.subscriberCreatedAt === undefined || created.has(message.record.id)) continue;
    const list = left.get(message.record.tenantId) ?? [];
    list.push(message);
    left.set(message.record.tenantId, list);
  }
  const gone: GoneRecipient[] = [];
  for (const [tenantId, list] of left) {
    const still = new Map(
      (await deps.store.getSubscribers(tenantId, [...new Set(list.map((m) => m.record.subscriberId))])).map(
        (subscriber) => [subscriber.id, subscriber.createdAt],
      ),
    );
    for (const { record, subscriberCreatedAt } of list)
      if (still.get(record.subscriberId) !== subscriberCreatedAt)
        gone.push({ tenantId, subscriberId: record.subscriberId, eventId: record.eventId });
  }
  return gone;
}

/**
 * Recipients are created with their event, so one the build did not find was erased since. Its
 * erasure reaches an event through the event's jobs and messages; this delivery was the event's
 * last job and makes it no message, so the event is scrubbed here, as the erasure would have.
 */
async function scrubForGone(deps: PipelineDeps, gone: readonly GoneRecipient[]): Promise<void> {
  if (gone.length === 0 || !deps.erasureKey) return;
  const events = new Map<string, { tenantId: string; subscriberId: string; eventIds: string[] }>();
  for (const { tenantId, subscriberId, eventId } of gone) {
    const key = `${tenantId}\u0000${subscriberId}`;
    const entry = events.get(key) ?? { tenantId, subscriberId, eventIds: [] };
    entry.eventIds.push(eventId);
    events.set(key, entry);
  }
  for (const { tenantId, subscriberId, eventIds } of events.values()) {
    const erasedId = erasedSubscriberId(deps.erasureKey, tenantId, subscriberId);
    await deps.store.scrubEventsOf({ tenantId, subscriberId, erasedId }, eventIds);
  }
}

function bySubscriber(devices: DeviceRecord[]): Map<string, DeviceRecord[]> {
  const map = new Map<string, DeviceRecord[]>();
  for (const device of devices) {
    const list = map.get(device.subscriberId);
    if (list) list.push(device);
    else map.set(device.subscriberId, [device]);
  }
  return map;
}

/**
 * Loads events and the workflow version each renders with, once per distinct key (a batch of a
 * topic's deliver jobs shares one event); answers null where either is gone.
 */
export async function loadTargets(
  deps: PipelineDeps,
  items: { tenantId: string; eventId: string }[],
): Promise<(Omit<DeliveryTarget, 'subscriberIds'> | null)[]> {
  const events = new Map<string, EventRecord>();
  const refs = new Map(items.map((item) => [`${item.tenantId}\u0000${item.eventId}`, item]));
  for (const event of await deps.store.getEvents(
    [...refs.values()].map((item) => ({ tenantId: item.tenantId, id: item.eventId })),
  ))
    events.set(`${event.tenantId}\u0000${event.id}`, event);
  const workflows = new PinnedWorkflows(deps);
  const out: (Omit<DeliveryTarget, 'subscriberIds'> | null)[] = [];
  for (const item of items) {
    const event = events.get(`${item.tenantId}\u0000${item.eventId}`) ?? null;
    if (!event || event.status === 'cancelled') {
      out.push(null);
      continue;
    }
    const workflow = await workflows.of(event);
    out.push(workflow ? { event, workflow } : null);
  }
  return out;
}

/**
 * The jobs that deliver what a batch left for later: other batches (other tenants) run first. A
 * scheduled delivery runs at its instant; once that has passed, it queues as of `now` like any
 * other, so an earlier run time does not put it ahead of other tenants' work.
 *
 * A fallback step left for later goes back to its own `fallback` job, one per recipient and
 * step, due now: a `deliver` job would skip it (a delivery never builds fallback steps), and the
 * job decides it again when it runs — a receipt that came meanwhile stops it, its `because`
 * entry is of then, and a digest before it is read again (fallback.ts).
 */
function deferredJobs(target: DeliveryTarget, now: number): JobSpec[] {
  if (target.fallback) {
    const steps = target.workflow.definition.channels;
    const left = (target.steps ?? steps.map((_, i) => i)).filter((i) => steps[i]?.fallback);
    const { tenantId, id: eventId, priority } = target.event;
    return target.subscriberIds.flatMap((subscriberId) =>
      left.map((step) => fallbackJob({ tenantId, eventId, subscriberId }, step, priority, now)),
    );
  }
  return [deferredJob(target, now)];
}

/** The job that delivers a digest's close or a delivery (scheduled or not) left for later. */
function deferredJob(target: DeliveryTarget, now: number): JobSpec {
  if (target.digest) {
    // The rest of a digest's close: the digest job again, for the steps left.
    const closing: DigestJobPayload = { digestId: target.digest.id };
    if (target.steps) closing.steps = target.steps;
    const job: JobSpec = {
      tenantId: target.event.tenantId,
      kind: JOB_KINDS.digest,
      lane: target.event.priority,
      payload: closing,
    };
    // A scheduled event's close is split by its schedule again (in the recipient's zone as it is
    // now, which may have moved since the join): one not yet due runs at its instant, not at once
    // and again until then.
    if (target.at !== undefined && target.at > now) job.runAt = target.at;
    return job;
  }
  const payload: DeliverPayload = { eventId: target.event.id, subscriberIds: target.subscriberIds };
  if (target.steps) payload.steps = target.steps;
  const job: JobSpec = {
    tenantId: target.event.tenantId,
    kind: JOB_KINDS.deliver,
    lane: target.event.priority,
    payload,
  };
  if (target.at !== undefined) {
    payload.at = target.at;
    if (target.at > now) job.runAt = target.at;
  }
  return job;
}

/** Tells the store how each workflow's renders went, pausing one whose renders keep timing out. */
async function countRenderTimeouts(deps: PipelineDeps, ledger: RenderLedger): Promise<void> {
  for (const renders of ledger.changed()) {
    const { tenantId, key, version } = renders.workflow;
    await deps.store.countRenderTimeouts(
      tenantId,
      key,
      version,
      { timeouts: renders.timeouts, afterSuccess: renders.afterSuccess },
      { at: PAUSE_AFTER_TIMEOUTS, reason: PAUSED_FOR_TIMEOUTS },
    );
  }
}

/**
 * Creates the messages for `targets` and completes `jobIds` in one transaction, then wakes
 * senders. The same transaction joins digests, and deletes the digests whose close this writes
 * in full (`finished` names those with nothing left to send); a close deferred part-way stays
 * until its last part is written. An event this write made nothing for has its open parts
 * counted in it too (open-parts.ts), so one whose recipients were all gone reads completed.
 *
 * A workflow paused after the targets were read and before the write (the kill switch, or Tidings'
 * own pause) makes the store refuse the write whole (WorkflowPausedSinceRead): the delivery is
 * built again with the pause as it is now, its messages cancelled `workflow_paused` as when the
 * pause was read first. So is one whose in-app recipient's choices changed since the build read
 * them (ConsentChangedSinceRead, src/pipeline/consent-since-build.ts). After REBUILDS such builds
 * the error is the job's (it runs again).
 */
export async function commitDeliveries(
  deps: PipelineDeps,
  targets: DeliveryTarget[],
  ack: MessageAck,
  options: CommitOptions = {},
): Promise<void> {
  await attachLayouts(deps.store, targets);
  let built = targets;
  let written: WrittenDeliveries;
  // Shared by the builds: a build again does not count its recipients against rate limits twice.
  const rates: RateDecisions = new Map();
  for (let rebuilds = 0; ; rebuilds++) {
    try {
      written = await writeDeliveries(deps, built, ack, options, rates);
      break;
    } catch (error) {
      if (rebuilds >= REBUILDS) throw error;
      if (error instanceof WorkflowPausedSinceRead) built = await withPauseOfNow(deps.store, built);
      // A recipient's choices changed since the build read them: the build reads them again.
      else if (!(error instanceof ConsentChangedSinceRead)) throw error;
    }
  }
  const { messages, created, followUps, joins, gone, inboxSeqs, ledger, now } = written;
  countCreated(deps, built, messages, created, now);
  gone.push(...(await erasedSinceBuild(deps, messages, created)));
  deps.inboxFeed.publish(newInboxItems(deps.inboxFeed, messages, created, inboxSeqs ?? NO_SEQS));
  // Joins may have queued a digest's close job: idle workers re-read when the next job is due.
  notifyLanes(deps.signal, [...messages.map((m) => m.followUp), ...followUps, ...joins.map((j) => j.job)]);
  await countRenderTimeouts(deps, ledger);
  // Last: the write above is committed and announced whatever this meets.
  await scrubForGone(deps, gone);
}

export interface CommitOptions {
  /** Digests this write closes besides those of `targets` (digest.ts: a window that sent nothing). */
  finished?: { tenantId: string; id: string }[];
  /** A bulk batch's yield point between its build and its write (JobContext.yieldToUrgent). */
  yieldToUrgent?: () => Promise<void>;
}

/**
 * How many times a delivery is built again after a write refused for a pause or a recipient's
 * consent change since its read: each build reads them anew, so only a workflow paused and
 * unpaused again and again while it builds (or choices changing as often) gets past them.
 */
const REBUILDS = 3;

/** What one build and write of a delivery made, for what follows its commit. */
interface WrittenDeliveries {
  messages: NewMessage[];
  created: Set<string>;
  followUps: JobSpec[];
  joins: DigestJoin[];
  gone: GoneRecipient[];
  inboxSeqs: Map<string, number> | undefined;
  ledger: RenderLedger;
  now: number;
}

/** Builds the messages of `targets` and writes them in one transaction (see commitDeliveries). */
async function writeDeliveries(
  deps: PipelineDeps,
  targets: DeliveryTarget[],
  ack: MessageAck,
  options: CommitOptions,
  rates: RateDecisions,
): Promise<WrittenDeliveries> {
  const { finished = [], yieldToUrgent } = options;
  const ledger = new RenderLedger();
  const now = Date.now();
  const { messages, deferred, skipped, joins, madeFor, gone, choicesRead } = await buildDeliveries(
    deps,
    targets,
    now,
    ledger,
    rates,
  );
  // Built, not yet written: a bulk batch lets critical work take the thread and the writer first.
  await yieldToUrgent?.();
  await deps.webhooks?.emitter.forNewMessages(messages, now);
  const followUps = [
    ...(ack.followUps ?? []),
    ...deferred.flatMap((target) => deferredJobs(target, now)),
    ...fallbackTimers(targets, messages, skipped, deferred, now),
  ];
  // An event none of whose recipients got anything counts its parts, and so does one that waits
  // for a fallback step (open-parts.ts).
  const parts = [
    ...(ack.parts ?? []),
    ...deliveryPartsChanges(targets, deferred, madeFor, fallbackPartsOf(followUps)),
  ];
  const pending = new Set(deferred.flatMap((target) => (target.digest ? [target.digest.id] : [])));
  const closed = [...finished];
  for (const target of targets)
    if (target.digest && !pending.has(target.digest.id))
      closed.push({ tenantId: target.event.tenantId, id: target.digest.id });
  // Log numbers are only of use to streams of this process (newInboxItems): none, none read back.
  const inboxSeqs = deps.inboxFeed.hasAudience() ? new Map<string, number>() : undefined;
  const created = new Set(
    await writeUnlessChoicesChanged(deps.store, messages, choicesRead, () =>
      deps.store.createMessages(
        messages,
        { ...ack, followUps, parts },
        skipped,
        { joins, finished: closed },
        inboxSeqs,
      ),
    ),
  );
  return { messages, created, followUps, joins, gone, inboxSeqs, ledger, now };
}

/**
 * The inbox changes of a delivery commit: each new in-app item, with its log number and what a
 * stream shows of it, so open streams send it without reading it back (inbox/session.ts).
 */
function newInboxItems(
  inboxFeed: InboxFeed,
  messages: NewMessage[],
  created: ReadonlySet<string>,
  inboxSeqs: ReadonlyMap<string, number>,
): InboxChange[] {
  const changes: InboxChange[] = [];
  // Made only while a stream of this process listens (~3.6 µs an item): a broadcast nobody
  // watches pays nothing for it.
  const watched = inboxFeed.hasAudience();
  for (const { record } of messages) {
    if (record.channel !== 'in_app' || record.status !== 'delivered' || !created.has(record.id)) continue;
    const change: InboxChange = {
      type: 'item.created',
      tenantId: record.tenantId,
      subscriberId: record.subscriberId,
      itemId: record.id,
    };
    const seq = inboxSeqs.get(record.id);
    if (seq !== undefined && watched) {
      const unread = record.readAt === null && record.archivedAt === null && !record.snoozedUntil;
      change.logged = { seq, unread, view: JSON.stringify(inboxItemView(record)) };
    }
    changes.push(change);
  }
  // PostgreSQL numbers a batch's items by id, not in message order: a subscriber's rings in log
  // order let its streams send them without reading.
  if (watched) changes.sort((a, b) => ringSeq(a) - ringSeq(b));
  return changes;
}

const NO_SEQS: ReadonlyMap<string, number> = new Map();

const ringSeq = (change: InboxChange) => (change.type === 'item.created' ? (change.logged?.seq ?? 0) : 0);

/**
 * Counts the messages this commit created, by the status each was created with; an in-app message
 * delivered at once has gone out, so its latency since the event is observed here.
 */
function countCreated(
  deps: PipelineDeps,
  targets: DeliveryTarget[],
  messages: NewMessage[],
  created: ReadonlySet<string>,
  now: number,
): void {
  const { tally } = deps;
  if (!tally) return;
  let lanes: Map<string, Lane> | null = null;
  for (const { record } of messages) {
    if (!created.has(record.id)) continue;
    tally.message(record.channel, record.status);
    if (record.channel === 'in_app' && record.status === 'delivered') {
      lanes ??= new Map(targets.map((t) => [t.event.id, t.event.priority]));
      tally.latency(record.channel, lanes.get(record.eventId) ?? 'normal', now - record.eventAt);
    }
  }
}

interface DeliverPayload {
  eventId: string;
  subscriberIds: string[];
  /** Only these channel steps (a delivery deferred part-way). */
  steps?: number[];
  /** A scheduled event's delivery due at this instant (epoch ms): build its messages. */
  at?: number;
}

/** `deliver` jobs: one page of an event's recipients each; a batch of jobs is written in one transaction. */
export function deliverHandler(deps: PipelineDeps): JobHandler {
  const oneAtATime = deps.store.capabilities.singleWriter;
  return {
    kind: JOB_KINDS.deliver,
    batchSize: 32,
    bulkBatchSize: 4,
    // With one writer (SQLite), a worker's normal-lane batches each commit after their own build
    // (JobHandler.serialLanes). Critical and high batches never queue behind them, and the bulk
    // lane has its own pacing; PostgreSQL builds overlap their round trips.
    serialLanes: oneAtATime ? ['normal'] : [],
    run: deliverBatch,
  };

  async function deliverBatch(jobs: Job[], context: JobContext): Promise<JobResult[]> {
    const payloads = jobs.map((job) => ({ tenantId: job.tenantId, ...(job.payload as DeliverPayload) }));
    const loaded = await loadTargets(deps, payloads);
    await context.yieldToUrgent?.();
    const targets = loaded.map((target, i): DeliveryTarget | null => {
      if (!target) return null;
      const { subscriberIds, steps, at } = payloads[i]!;
      const delivery: DeliveryTarget = { ...target, subscriberIds, job: jobs[i]!.id };
      if (steps) delivery.steps = steps;
      if (at !== undefined) delivery.at = at;
      return delivery;
    });
    const { yieldToUrgent } = context;
    if (yieldToUrgent && oneAtATime) return commitPageByPage(jobs, targets, context.owner, yieldToUrgent);
    const present = targets.filter((target) => target !== null);
    const ack = { owner: context.owner, jobIds: jobs.map((job) => job.id) };
    await commitDeliveries(deps, present, ack, { yieldToUrgent });
    return jobs.map(() => ACKED);
  }

  /**
   * A bulk batch on the single writer (SQLite): each job's page is written in its own transaction
   * (its messages with its job's completion), so the writer is free between them for whatever
   * critical work waits. Each page answers for itself: one that fails is retried alone, not with
   * the pages already written, whose rate counts would be taken again.
   */
  async function commitPageByPage(
    jobs: Job[],
    targets: (DeliveryTarget | null)[],
    owner: string,
    yieldToUrgent: () => Promise<void>,
  ): Promise<JobResult[]> {
    const results: JobResult[] = [];
    for (const [i, job] of jobs.entries()) {
      const target = targets[i];
      try {
        await commitDeliveries(deps, target ? [target] : [], { owner, jobIds: [job.id] }, { yieldToUrgent });
        results.push(ACKED);
      } catch (error) {
        results.push(retryAfterError(error));
      }
    }
    return results;
  }
}
