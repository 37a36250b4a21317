import { createHmac } from 'node:crypto';
import { ACKED, DONE, type JobHandler, type JobResult, retryAfterError } from '../queue/handler.ts';
import { ERASURE_CLOCK_MARGIN_MS } from '../store/personal-data.ts';
import type { ChannelNotice, ErasureRequest, Job, JobSpec, Store, WaitingJobsCursor } from '../store/port.ts';

/** The job kind that erases a subscriber's messages, batch after batch. */
export const ERASE_JOB = 'erase-subscriber';
/**
 * Messages per transaction: a subscriber with a million messages never holds the store for long
 * (on SQLite a batch of 100 holds the writer for a few milliseconds).
 */
export const ERASE_BATCH = 100;
/** Batches per job run; then the job queues itself again, so its lease never has to cover hours. */
const BATCHES_PER_RUN = 50;
/**
 * An erasure keeps trying through any failure for about three weeks (retries back off to 15
 * minutes apart), inside the month GDPR allows. With the default 8 attempts, a fault of a few
 * minutes (any but the store being unreachable, which spends no attempt) left it dead, with the
 * subscriber's messages half erased and the plain id kept in the dead job.
 */
const ERASE_MAX_ATTEMPTS = 2_000;
/** Waiting jobs read per transaction when looking for events still to reach the subscriber. */
const WAITING_PAGE = 100;
/** Rate-limit rules whose counters of the subscriber one transaction deletes (two seeks each). */
const RULES_PAGE = 200;

/**
 * What an erasure job carries from run to run: whose, and how far it got. Its parts, in order:
 * the events waiting jobs will still fan out or deliver to them (no phase yet; from `waiting`) —
 * first, before any of those jobs runs and leaves its event behind — then the messages, then the
 * queue once more (`requeued`), then the skipped steps, then the events they were the actor of
 * (`actors`: the first batch went with the erasure's first transaction), then the rate-limit
 * counters (`counters`, from the scope `rules` names); and where writers run side by side (not
 * SQLite's single writer), the messages once more when ERASURE_CLOCK_MARGIN_MS have passed since
 * the erasure (`late`): a delivery's write that read the subscriber just before the erasure and
 * was still running as it committed did not see it (src/store/postgres/messages.ts), and commits
 * under the old id.
 */
interface ErasurePayload extends Pick<ErasureRequest, 'subscriberId' | 'erasedId' | 'before'> {
  phase?: 'messages' | 'requeued' | 'skipped' | 'actors' | 'counters' | 'late';
  waiting?: WaitingJobsCursor;
  rules?: string;
}

/**
 * What is kept of an erased subscriber names them by this: a keyed hash (HMAC-SHA-256 under a key
 * derived from the master secret) of tenant and id. Whoever holds the secret can still prove an
 * opt-out of a given id; a copy of the database alone cannot tell whose it was.
 */
export function erasedSubscriberId(key: Buffer, tenantId: string, subscriberId: string): string {
  const hash = createHmac('sha256', key).update(`${tenantId}\n${subscriberId}`).digest('base64url');
  return `erased:${hash.slice(0, 32)}`;
}

function eraseJob(tenantId: string, payload: ErasurePayload): JobSpec {
  return {
    tenantId,
    kind: ERASE_JOB,
    // Erasure is due within a month (GDPR): it never competes with anyone's notifications.
    lane: 'bulk',
    // Two DELETEs of one subscriber take turns.
    partitionKey: `${tenantId}:${payload.subscriberId}:erase`,
    payload,
    maxAttempts: ERASE_MAX_ATTEMPTS,
  };
}

/**
 * `DELETE /v1/subscribers/{id}`: in one transaction the profile, preferences, devices, topic
 * memberships, inbox log and open digests go, the consent log keeps only the hashed id, and the
 * first batch of messages is erased; a durable job erases the rest (resuming after a crash where
 * it stopped: erased rows no longer carry the id). `notice` is sent to the other processes by the
 * same commit. Idempotent: a repeat finds nothing left to delete. Answers whether the tenant had
 * a profile of that id.
 */
export async function startErasure(
  store: Pick<Store, 'beginErasure'>,
  key: Buffer,
  tenantId: string,
  subscriberId: string,
  now: number,
  notice?: ChannelNotice,
): Promise<boolean> {
  const payload: ErasurePayload = {
    subscriberId,
    erasedId: erasedSubscriberId(key, tenantId, subscriberId),
    before: now,
  };
  return store.beginErasure(
    { tenantId, ...payload, now, batch: ERASE_BATCH },
    (before) => eraseJob(tenantId, { ...payload, before }),
    notice,
  );
}

/** One batch of the erasure's current part; answers the payload to go on with, or null when done. */
async function eraseOneBatch(
  store: Store,
  tenantId: string,
  payload: ErasurePayload,
  now: number,
): Promise<ErasurePayload | null> {
  const { phase, waiting, rules, ...who } = payload;
  const request = { tenantId, ...who, now, batch: ERASE_BATCH };
  switch (phase) {
    case undefined: {
      const next = await store.scrubWaitingEvents(request, waiting ?? null, WAITING_PAGE);
      return next ? { ...who, waiting: next } : { ...who, phase: 'messages' };
    }
    case 'messages':
      return (await store.eraseMessages(request)) < ERASE_BATCH ? { ...who, phase: 'requeued' } : payload;
    case 'requeued': {
      // Once more through the queue, for status webhooks about their messages only: messages not
      // yet erased during the first pass queued them under the plain id (sends finishing, bounces,
      // receipts); from here on they cannot. And for the sends still waiting for those messages
      // (cancelled now), whose partition keys name them. Nothing else, and nothing about a later
      // message: by now a new subscriber may hold the id.
      const next = await store.scrubWaitingEvents(request, waiting ?? null, WAITING_PAGE, true);
      return next ? { ...who, phase: 'requeued', waiting: next } : { ...who, phase: 'skipped' };
    }
    case 'skipped':
      return (await store.eraseSkippedSteps(request)) < ERASE_BATCH ? { ...who, phase: 'actors' } : payload;
    case 'actors':
      return (await store.eraseActorEvents(request)) < ERASE_BATCH ? { ...who, phase: 'counters' } : payload;
    case 'counters': {
      const next = await store.eraseRateCounters(request, rules ?? null, RULES_PAGE);
      if (next !== null) return { ...who, phase: 'counters', rules: next };
      return store.capabilities.singleWriter ? null : { ...who, phase: 'late' };
    }
    case 'late':
      return (await store.eraseMessages(request)) < ERASE_BATCH ? null : payload;
  }
}

/** When a late pass may run: once writes that began before the erasure have surely committed. */
const lateFrom = (payload: ErasurePayload) => payload.before + ERASURE_CLOCK_MARGIN_MS;

/** Runs erasure jobs: up to BATCHES_PER_RUN batches, then the job queues itself to go on. */
export function erasureHandler(store: Store, clock: () => number = Date.now): JobHandler {
  const runOne = async (job: Job, owner: string): Promise<JobResult> => {
    let payload: ErasurePayload | null = job.payload as ErasurePayload;
    try {
      for (let batch = 0; batch < BATCHES_PER_RUN; batch++) {
        if (payload.phase === 'late' && clock() < lateFrom(payload)) break;
        payload = await eraseOneBatch(store, job.tenantId, payload, clock());
        if (!payload) {
          // What the database's own files still hold of the rows rewritten (SQLite's log) goes too.
          await store.settleErasure();
          return DONE;
        }
        // Other work gets the event loop (and the SQLite writer) between batches.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const next = eraseJob(job.tenantId, payload);
      if (payload.phase === 'late') next.runAt = Math.max(clock(), lateFrom(payload));
      await store.completeJobs(owner, [job.id], [next]);
      return ACKED;
    } catch (error) {
      return retryAfterError(error);
    }
  };
  return {
    kind: ERASE_JOB,
    batchSize: 1,
    async run(jobs, context) {
      const results: JobResult[] = [];
      for (const job of jobs) results.push(await runOne(job, context.owner));
      return results;
    },
  };
}
