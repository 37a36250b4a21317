import { ENDPOINT_MAX_ATTEMPTS } from '../policy/endpoint-retries.ts';
import { newId } from '../shared/ids.ts';
import type { MessageRecord } from '../shared/model.ts';
import { iso } from '../shared/time.ts';
import type { JobSpec, NewMessage, Store, WebhookEndpointRecord } from '../store/port.ts';
import {
  type EndpointEventBody,
  type EndpointEventType,
  type MessageEventFacts,
  messageEventData,
  messageEventType,
  type PING,
} from './events.ts';

/** The job that delivers one event to one endpoint (src/webhooks/deliver.ts). */
export const ENDPOINT_EVENT_JOB = 'endpoint_event';

export interface EndpointEventPayload {
  endpointId: string;
  /** `webhook-id`: made once, when the event is queued, so every retry carries the same. */
  webhookId: string;
  event: EndpointEventBody;
}

/** How long a tenant's endpoint list is reused before it is read again (other processes' PUTs). */
/** As for integrations (src/providers/registry.ts): a change reaches other processes within a second. */
const LIST_TTL_MS = 500;
const NONE: readonly JobSpec[] = Object.freeze([]);

interface Listening {
  id: string;
  events: ReadonlySet<string>;
}

/** The job for one event to one endpoint. */
export function endpointEventJob(
  tenantId: string,
  endpointId: string,
  type: EndpointEventType | typeof PING,
  data: Record<string, unknown>,
  now: number,
): JobSpec {
  const payload: EndpointEventPayload = {
    endpointId,
    webhookId: newId('whmsg', now),
    event: { type, timestamp: iso(now), data },
  };
  // No partition key: events of one endpoint go out side by side (receivers order by `timestamp`).
  return { tenantId, kind: ENDPOINT_EVENT_JOB, lane: 'normal', payload, maxAttempts: ENDPOINT_MAX_ATTEMPTS };
}

/**
 * Turns status changes into outbound webhook jobs, one per enabled endpoint subscribed to the
 * event. Callers queue the jobs in the transaction that writes the change. A tenant's endpoints
 * are read at most once per {@link LIST_TTL_MS} (and again after a change in this process), so a
 * tenant without endpoints costs a map lookup per status change.
 */
export class WebhookEmitter {
  private readonly lists = new Map<string, { at: number; endpoints: Promise<Listening[]> }>();
  private readonly invalidationListeners = new Set<(tenantId: string) => void>();

  constructor(private readonly store: Pick<Store, 'listWebhookEndpoints'>) {}

  /** The jobs for `type` with `data`: one per endpoint of the tenant listening to it. */
  async jobsFor(
    tenantId: string,
    type: EndpointEventType,
    data: Record<string, unknown>,
    now: number,
  ): Promise<JobSpec[]> {
    const endpoints = await this.listening(tenantId, now);
    if (endpoints.length === 0) return NONE as JobSpec[];
    return endpoints
      .filter((endpoint) => endpoint.events.has(type))
      .map((endpoint) => endpointEventJob(tenantId, endpoint.id, type, data, now));
  }

  /** The jobs for a message whose status becomes `facts.status` (none for statuses no event names). */
  async forMessage(
    message: Pick<MessageRecord, 'tenantId' | 'id' | 'eventId' | 'subscriberId' | 'channel' | 'workflow'>,
    facts: MessageEventFacts,
    now: number,
  ): Promise<JobSpec[]> {
    const type = messageEventType(facts.status);
    if (type === null) return NONE as JobSpec[];
    return this.jobsFor(message.tenantId, type, messageEventData(message, facts), now);
  }

  /**
   * Sets `events` on new messages created in a status receivers hear about (in-app `delivered`,
   * `failed`). Each tenant's endpoints are looked up once per batch: a batch of a tenant without
   * endpoints costs one map lookup, not a lookup and an event body per message.
   */
  async forNewMessages(messages: NewMessage[], now: number): Promise<void> {
    const byTenant = new Map<string, Listening[]>();
    for (const created of messages) {
      const { record } = created;
      const type = messageEventType(record.status);
      if (type === null) continue;
      let endpoints = byTenant.get(record.tenantId);
      if (endpoints === undefined) {
        endpoints = await this.listening(record.tenantId, now);
        byTenant.set(record.tenantId, endpoints);
      }
      const listening = endpoints.filter((endpoint) => endpoint.events.has(type));
      if (listening.length === 0) continue;
      const data = messageEventData(record, {
        status: record.status,
        reason: record.reason,
        provider: record.provider,
        error: record.lastError,
      });
      created.events = listening.map((endpoint) =>
        endpointEventJob(record.tenantId, endpoint.id, type, data, now),
      );
    }
  }

  /** Forget a tenant's endpoints (after a PUT or DELETE in this process); listeners pass it on. */
  invalidate(tenantId: string): void {
    this.lists.delete(tenantId);
    for (const listener of this.invalidationListeners) listener(tenantId);
  }

  /** Hear about invalidations, to pass them on to the emitters of worker threads. */
  onInvalidate(listener: (tenantId: string) => void): void {
    this.invalidationListeners.add(listener);
  }

  /** Forget without telling listeners (an invalidation that came from them). */
  forget(tenantId: string): void {
    this.lists.delete(tenantId);
  }

  private listening(tenantId: string, now: number): Promise<Listening[]> {
    const cached = this.lists.get(tenantId);
    if (cached && now - cached.at < LIST_TTL_MS && now >= cached.at) return cached.endpoints;
    // One read shared by every status change waiting on it.
    const endpoints = this.store.listWebhookEndpoints(tenantId).then(enabledListening);
    this.lists.set(tenantId, { at: now, endpoints });
    endpoints.catch(() => {
      if (this.lists.get(tenantId)?.endpoints === endpoints) this.lists.delete(tenantId);
    });
    return endpoints;
  }
}

function enabledListening(endpoints: WebhookEndpointRecord[]): Listening[] {
  return endpoints
    .filter((endpoint) => endpoint.enabled)
    .map((endpoint) => ({ id: endpoint.id, events: new Set(endpoint.events) }));
}
