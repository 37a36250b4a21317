import type { JobHandler } from '../queue/handler.ts';
import { ACKED } from '../queue/handler.ts';
import { newId } from '../shared/ids.ts';
import type {
  EventRecord,
  MessageRecord,
  SubscriberRecord,
  TimelineEntry,
  WorkflowRecord,
} from '../shared/model.ts';
import { iso } from '../shared/time.ts';
import type { MessageAck, NewMessage } from '../store/port.ts';
import { renderFields, TemplateCompileError } from '../templates/render.ts';
import { JOB_KINDS, notifyLanes, type PipelineDeps, sendJob } from './deps.ts';

/** One event to deliver to some of its recipients. */
export interface DeliveryTarget {
  event: EventRecord;
  workflow: WorkflowRecord;
  subscriberIds: string[];
}

function subscriberScope(subscriber: SubscriberRecord): Record<string, unknown> {
  const { tenantId: _tenant, ...rest } = subscriber;
  return { ...rest.data, ...rest, subscriberId: subscriber.id };
}

/**
 * Builds the messages of each (event, subscriber): one per workflow channel, rendered. The
 * in-app message *is* the inbox row (delivered at once); every other channel is queued with a
 * send job on the recipient's partition, which the store commits in the same transaction as the
 * inbox row — so the inbox row always exists before any push, SMS or email goes out.
 */
export function buildMessages(
  deps: Pick<PipelineDeps, 'templates'>,
  target: DeliveryTarget,
  subscribers: SubscriberRecord[],
  now: number,
): NewMessage[] {
  const { event, workflow } = target;
  const steps = workflow.definition.channels;
  const compiled = deps.templates.steps(workflow);
  const accepted: TimelineEntry = {
    at: iso(event.createdAt),
    status: 'accepted',
    detail: `event ${event.id}`,
  };
  const at = iso(now);
  const data = (event.payload.data ?? {}) as Record<string, unknown>;
  // Every recipient of a step gets the same timeline so far: build it once per step (the store
  // also serialises it once).
  const rendered: TimelineEntry = { at, status: 'rendered' };
  const timelines = steps.map((step) => {
    const routed: TimelineEntry = {
      at,
      status: 'routed',
      detail: `workflow ${workflow.key} v${workflow.version}, ${step.channel}`,
    };
    const last: TimelineEntry =
      step.channel === 'in_app'
        ? { at, status: 'delivered', detail: 'inbox item written' }
        : { at, status: 'queued', detail: `${event.priority} lane` };
    return { routed, ready: [accepted, routed, rendered, last] };
  });
  const messages: NewMessage[] = [];
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
    data,
    timeline,
    eventAt: event.createdAt,
    createdAt: now,
    updatedAt: now,
    seenAt: null,
    readAt: null,
    archivedAt: null,
    lastError,
    reason,
  });
  for (const subscriber of subscribers) {
    const scope = { data, subscriber: subscriberScope(subscriber), actor: event.payload.actor ?? null };
    for (let index = 0; index < steps.length; index++) {
      const step = steps[index]!;
      // Fallback steps are escalations: they are sent later only if earlier channels got no receipt.
      if (step.fallback) continue;
      const { routed, ready } = timelines[index]!;
      let content: Record<string, string>;
      try {
        const fields = compiled[index]!;
        // A template stored before a rule refused it (e.g. one that loads files) fails its message.
        if (fields instanceof TemplateCompileError) throw fields;
        content = renderFields(fields, scope);
      } catch (error) {
        const reason = `template error: ${(error as Error).message.split('\n')[0]}`;
        const failed: TimelineEntry = { at, status: 'failed', detail: reason };
        messages.push({
          record: record(
            subscriber.id,
            step.channel,
            'failed',
            null,
            {},
            [accepted, routed, failed],
            reason,
            'template_error',
          ),
          followUp: null,
        });
        continue;
      }
      if (step.channel === 'in_app') {
        messages.push({
          record: record(subscriber.id, 'in_app', 'delivered', 'inbox', content, ready, null, null),
          followUp: null,
        });
        continue;
      }
      const queued = record(subscriber.id, step.channel, 'queued', null, content, ready, null, null);
      messages.push({ record: queued, followUp: sendJob(queued, event.priority, now) });
    }
  }
  return messages;
}

/**
 * Loads the subscribers of each target and builds all their messages. Recipients were created at
 * ingest (or when they joined a topic); one erased since then simply gets nothing.
 */
export async function buildDeliveries(
  deps: PipelineDeps,
  targets: DeliveryTarget[],
  now: number,
): Promise<NewMessage[]> {
  // One read per tenant for the whole batch, not one per target.
  const wanted = new Map<string, Set<string>>();
  for (const target of targets) {
    const ids = wanted.get(target.event.tenantId) ?? new Set<string>();
    for (const id of target.subscriberIds) ids.add(id);
    wanted.set(target.event.tenantId, ids);
  }
  const found = new Map<string, SubscriberRecord>();
  for (const [tenantId, ids] of wanted) {
    for (const subscriber of await deps.store.getSubscribers(tenantId, [...ids]))
      found.set(`${tenantId}\u0000${subscriber.id}`, subscriber);
  }
  const messages: NewMessage[] = [];
  for (const target of targets) {
    const subscribers = target.subscriberIds.flatMap((id) => {
      const subscriber = found.get(`${target.event.tenantId}\u0000${id}`);
      return subscriber ? [subscriber] : [];
    });
    messages.push(...buildMessages(deps, target, subscribers, now));
  }
  return messages;
}

/**
 * Loads events and workflows for jobs, once per distinct key (a batch of a topic's deliver jobs
 * shares one event); answers null where either is gone.
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
  const workflows = new Map<string, WorkflowRecord | null>();
  const out: (Omit<DeliveryTarget, 'subscriberIds'> | null)[] = [];
  for (const item of items) {
    const event = events.get(`${item.tenantId}\u0000${item.eventId}`) ?? null;
    if (!event || event.status === 'cancelled') {
      out.push(null);
      continue;
    }
    const key = `${event.tenantId}\u0000${event.workflow}`;
    if (!workflows.has(key)) workflows.set(key, await deps.store.getWorkflow(event.tenantId, event.workflow));
    const workflow = workflows.get(key) ?? null;
    out.push(workflow ? { event, workflow } : null);
  }
  return out;
}

/** Creates the messages for `targets` and completes `jobIds` in one transaction, then wakes senders. */
export async function commitDeliveries(
  deps: PipelineDeps,
  targets: DeliveryTarget[],
  ack: MessageAck,
): Promise<void> {
  const messages = await buildDeliveries(deps, targets, Date.now());
  const created = new Set(await deps.store.createMessages(messages, ack));
  deps.inboxFeed.publish(
    messages.flatMap(({ record }) =>
      record.channel === 'in_app' && created.has(record.id)
        ? [
            {
              type: 'item.created',
              tenantId: record.tenantId,
              subscriberId: record.subscriberId,
              itemId: record.id,
            },
          ]
        : [],
    ),
  );
  notifyLanes(deps.signal, [...messages.map((m) => m.followUp), ...(ack.followUps ?? [])]);
}

interface DeliverPayload {
  eventId: string;
  subscriberIds: string[];
}

/** `deliver` jobs: one page of an event's recipients each; a batch of jobs is written in one transaction. */
export function deliverHandler(deps: PipelineDeps): JobHandler {
  return {
    kind: JOB_KINDS.deliver,
    batchSize: 32,
    async run(jobs, context) {
      const payloads = jobs.map((job) => ({ tenantId: job.tenantId, ...(job.payload as DeliverPayload) }));
      const loaded = await loadTargets(deps, payloads);
      const targets: DeliveryTarget[] = [];
      loaded.forEach((target, i) => {
        if (target) targets.push({ ...target, subscriberIds: payloads[i]!.subscriberIds });
      });
      await commitDeliveries(deps, targets, { owner: context.owner, jobIds: jobs.map((job) => job.id) });
      return jobs.map(() => ACKED);
    },
  };
}
