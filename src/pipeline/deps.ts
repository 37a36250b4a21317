import type { InboxFeed } from '../inbox/feed.ts';
import type { BackoffOptions } from '../policy/backoff.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { JobSignal } from '../queue/signal.ts';
import { type Lane, type MessageRecord, sendPartition } from '../shared/model.ts';
import type { JobSpec, Store } from '../store/port.ts';
import type { DeliveryTally } from '../telemetry/delivery-tally.ts';
import type { TemplateCache } from '../templates/render.ts';
import type { WebhookEmitter } from '../webhooks/emit.ts';
import type { LinkKeys } from './links.ts';

/** What the job handlers are built from: ports only, no SQL and no HTTP. */
export interface PipelineDeps {
  store: Store;
  signal: JobSignal;
  templates: TemplateCache;
  providers: ProviderRegistry;
  /** Told about every new inbox item, after its commit (realtime streams listen). */
  inboxFeed: InboxFeed;
  /**
   * Where links in messages point (one-click unsubscribe, the preference page) and their signing
   * keys; without it emails carry no unsubscribe header and templates' `links` are empty.
   */
  links?: LinkKeys;
  /**
   * Outbound status webhooks: status changes queue events for the tenant's endpoints, and the
   * keyring opens their signing secrets. Without it no event is queued or delivered.
   */
  webhooks?: { emitter: WebhookEmitter; keyring: readonly Buffer[] };
  /** Counts messages, provider answers and delivery latency for /metrics; without it nothing is counted. */
  tally?: DeliveryTally;
  /**
   * Keys the erased ids (Keys.erasure): a delivery that finds a recipient erased scrubs its event
   * as the erasure would have. Without it such an event keeps them until the retention.
   */
  erasureKey?: Buffer;
}

export const JOB_KINDS = {
  fanout: 'fanout',
  deliver: 'deliver',
  send: 'send',
  digest: 'digest',
  fallback: 'fallback',
} as const;

/** Recipients per deliver job: big enough to batch writes, small enough to retry cheaply. */
export const DELIVER_CHUNK = 100;
export const SEND_MAX_ATTEMPTS = 8;
/**
 * API.md: a provider's Retry-After of at most 5 min is the next delay. A longer one (a daily
 * quota's "come back tomorrow") is not waited out: the send waits 5 min, the backoff's cap (a
 * provider asking for a pause is not tried again within seconds).
 */
export const SEND_MAX_RETRY_AFTER_MS = 5 * 60_000;
/** API.md: a send's backoff starts at 1 s and doubles up to a 5 min cap (with full jitter). */
export const SEND_BACKOFF: BackoffOptions = Object.freeze({ baseMs: 1_000, capMs: 5 * 60_000 });

/**
 * The job that sends one message. One recipient's sends on one channel and lane share a
 * partition, so they leave one at a time, in event order.
 */
export function sendJob(
  message: Pick<MessageRecord, 'tenantId' | 'id' | 'subscriberId' | 'channel'>,
  lane: Lane,
  runAt?: number,
  /** The send holds a reserved slot of this integration's rate limit (src/pipeline/throttle.ts). */
  slotOf?: string,
): JobSpec {
  return {
    tenantId: message.tenantId,
    kind: JOB_KINDS.send,
    lane,
    partitionKey: sendPartition(message.tenantId, message.subscriberId, message.channel, lane),
    payload: slotOf === undefined ? { messageId: message.id } : { messageId: message.id, slotOf },
    runAt,
    maxAttempts: SEND_MAX_ATTEMPTS,
  };
}

/** Wakes the workers for the lanes of jobs just committed. */
export function notifyLanes(signal: JobSignal, jobs: Iterable<Pick<JobSpec, 'lane'> | null>): void {
  const lanes = new Set<JobSpec['lane']>();
  for (const job of jobs) if (job) lanes.add(job.lane);
  for (const lane of lanes) signal.notify(lane);
}
