import type { DeviceTarget, MessageMeta, OutboundMessage, SendOutcome } from '../channels/port.ts';
import { retryDelay } from '../policy/backoff.ts';
import { plan, routingOf } from '../policy/plan.ts';
import { changePreferences } from '../privacy/consent.ts';
import { forPlatform } from '../providers/registry.ts';
import { ACKED, DONE, type JobHandler, type JobResult, retryAfterError } from '../queue/handler.ts';
import {
  type DeviceRecord,
  FINAL_STATUSES,
  isPaused,
  type MessageReason,
  type MessageRecord,
  type MessageStatus,
  type SubscriberRecord,
  UNSENT_STATUSES,
  type WorkflowRecord,
} from '../shared/model.ts';
import { iso } from '../shared/time.ts';
import { retryWhileUnavailable } from '../store/errors.ts';
import type { Job, JobSpec, MessageUpdate } from '../store/port.ts';
import {
  JOB_KINDS,
  notifyLanes,
  type PipelineDeps,
  SEND_BACKOFF,
  SEND_MAX_ATTEMPTS,
  SEND_MAX_RETRY_AFTER_MS,
  sendJob,
} from './deps.ts';
import { sendWithFailover } from './failover.ts';
import { fallbackAfterSettled } from './fallback-timers.ts';
import { unsubscribeLink } from './links.ts';
import { MessageWrites } from './message-writes.ts';
import { type BatchReads, readForSends, readsAfterSending } from './send-batch.ts';
import { suppressIfOnline } from './skip-if-online.ts';
import { trackedEmailContent } from './tracking.ts';

const NO_SUBSCRIBER = { email: null, phone: null, timezone: null };

/** How long a send's status write is retried through a store outage (within a job's default lease). */
const RECORD_THROUGH_OUTAGE_MS = 20_000;

interface SendPayload {
  messageId: string;
  /**
   * Set when this send waited for a slot of that integration's rate limit: its first run goes
   * without another (its retries take slots of their own).
   */
  slotOf?: string;
}

/** The one-click unsubscribe link an email carries in its headers (src/pipeline/links.ts). */
function emailUnsubscribeLink(
  links: PipelineDeps['links'],
  message: MessageRecord,
  workflow: WorkflowRecord | null,
  subscriber: SubscriberRecord | null,
): string | undefined {
  if (!links || message.channel !== 'email') return undefined;
  return unsubscribeLink(links, {
    ...message,
    category: workflow?.definition.category,
    subscriberCreatedAt: subscriber?.createdAt,
  });
}

/**
 * What a send adds to the message for its provider: its content as it goes out (email: tracked),
 * device, unread count (push), attempt, unsubscribe link.
 */
interface SendExtras {
  content: Record<string, string>;
  device: DeviceRecord | null;
  unreadCount: number | undefined;
  attempt: number;
  unsubscribeUrl: string | undefined;
  leftQueue: () => void;
}

function deviceTarget(device: DeviceRecord): DeviceTarget {
  const target: DeviceTarget = { id: device.id, platform: device.platform, token: device.token };
  if (device.subscription) target.subscription = device.subscription;
  return target;
}

function outbound(
  message: MessageRecord,
  subscriber: SubscriberRecord | null,
  extras: SendExtras,
): OutboundMessage {
  const sent: OutboundMessage = {
    tenantId: message.tenantId,
    messageId: message.id,
    eventId: message.eventId,
    workflow: message.workflow,
    channel: message.channel,
    subscriber: {
      id: message.subscriberId,
      // Read through: only the address the channel uses is opened (src/store/rows.ts).
      get email() {
        return subscriber?.email ?? null;
      },
      get phone() {
        return subscriber?.phone ?? null;
      },
      locale: subscriber?.locale ?? null,
      timezone: subscriber?.timezone ?? null,
    },
    content: extras.content,
    data: message.data,
    attempt: extras.attempt,
  };
  if (extras.device) sent.device = deviceTarget(extras.device);
  if (extras.unreadCount !== undefined) sent.unreadCount = extras.unreadCount;
  if (extras.unsubscribeUrl) sent.unsubscribeUrl = extras.unsubscribeUrl;
  if (extras.leftQueue) sent.leftQueue = extras.leftQueue;
  return sent;
}

/**
 * The send's attempt number counted over the whole send, and of how many. A send that waited (a
 * rate limit, spent retry budgets) goes on as a new job holding only the attempts it had left
 * (`maxAttempts` = SEND_MAX_ATTEMPTS less those made), so the job's own count starts again at 1:
 * the attempts made before it are the difference. Without this a dead message said "gave up after
 * 3 attempts" when 8 were made.
 */
function sendAttempt(job: { attempts: number; maxAttempts: number }): { attemptNo: number; of: number } {
  const before = Math.max(0, SEND_MAX_ATTEMPTS - job.maxAttempts);
  return { attemptNo: before + job.attempts, of: before + job.maxAttempts };
}

/** The message of each send job, in the jobs' order (null: gone): one read per tenant of the batch. */
async function readMessages(
  store: PipelineDeps['store'],
  jobs: readonly Job[],
): Promise<(MessageRecord | null)[]> {
  const idsOf = new Map<string, string[]>();
  for (const job of jobs) {
    const ids = idsOf.get(job.tenantId);
    const id = (job.payload as SendPayload).messageId;
    if (ids) ids.push(id);
    else idsOf.set(job.tenantId, [id]);
  }
  const found = new Map<string, MessageRecord>();
  const key = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;
  await Promise.all(
    [...idsOf].map(async ([tenantId, ids]) => {
      for (const message of await store.getMessages(tenantId, ids))
        found.set(key(tenantId, message.id), message);
    }),
  );
  return jobs.map((job) => found.get(key(job.tenantId, (job.payload as SendPayload).messageId)) ?? null);
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

/**
 * `send` jobs: one message to its provider. Each attempt goes through the channel's integrations
 * in priority order, past open circuits and broken integrations (src/pipeline/failover.ts); the
 * answering adapter's outcome decides: sent, failed (permanent or bad address), or retried with
 * backoff and full jitter until attempts run out (dead letter, replayable).
 */
export function sendHandler(deps: PipelineDeps): JobHandler {
  const { store } = deps;
  // One commit for the status changes of many sends (see MessageWrites).
  const writes = new MessageWrites(store);
  // Consent as it stands once a `sending` record committed (see `begin`).
  const afterSending = readsAfterSending(store);

  async function recordStatus(
    message: MessageRecord,
    status: MessageStatus,
    detail: string,
    extra: {
      provider?: string;
      error?: string;
      reason?: MessageReason;
      providerMessageId?: string;
      meta?: MessageMeta;
      /** Queued with the change (a fallback step's job: src/pipeline/fallback-timers.ts). */
      followUp?: JobSpec;
      /** The send's job, completed with the change (the handler then answers ACKED). */
      ack?: MessageUpdate['ack'];
      /** Only from these statuses (a record before the provider call: see MessageUpdate). */
      onlyFrom?: MessageUpdate['onlyFrom'];
    } = {},
  ): Promise<boolean> {
    const now = Date.now();
    const changed = await writes.write(message.tenantId, message.id, {
      // The status change and its outbound webhook events commit together (src/webhooks/emit.ts).
      events: await deps.webhooks?.emitter.forMessage(message, { status, ...extra }, now),
      status,
      provider: extra.provider,
      lastError: extra.error ?? null,
      reason: extra.reason ?? null,
      providerMessageId: extra.providerMessageId,
      meta: extra.meta,
      append: [{ at: iso(now), status, detail }],
      now,
      followUp: extra.followUp,
      ack: extra.ack,
      onlyFrom: extra.onlyFrom,
    });
    if (changed) deps.tally?.message(message.channel, status);
    return changed;
  }

  /**
   * Whether the message may go to its provider, as `batch` read things: its event not cancelled,
   * its workflow there and not paused, its device active, and the subscriber's consent and quiet
   * hours letting it through (the plan). A message held back is settled here (cancelled,
   * suppressed, deferred: only while it is still unsent) and null is answered.
   * `afterBegin`: the message was just recorded `sending` and this is the check made again after
   * that record (see `begin` below).
   */
  async function clearToSend(
    job: Job,
    message: MessageRecord,
    batch: BatchReads,
    settleUnsent: typeof recordStatus,
    afterBegin: boolean,
  ): Promise<{
    workflow: WorkflowRecord;
    device: DeviceRecord | null;
    subscriber: SubscriberRecord | null;
  } | null> {
    const workflow = batch.workflow(message);
    // (A `sending` message run again after a crash may be with its provider already: left to finish.)
    if (message.status !== 'sending' && batch.eventCancelled(message)) {
      await settleUnsent(message, 'cancelled', 'event cancelled');
      return null;
    }
    // A workflow deleted since the message was queued sends nothing more (DELETE cancels what
    // waits; this catches a send already claimed when it ran).
    if (!workflow) {
      await settleUnsent(message, 'cancelled', `workflow ${message.workflow} was deleted`);
      return null;
    }
    // The kill switch holds sends queued before the pause too (a retry, a slow queue).
    if (isPaused(workflow)) {
      await settleUnsent(message, 'cancelled', `workflow ${workflow.key} is paused`, {
        reason: 'workflow_paused',
      });
      return null;
    }
    // A device message goes to that device only while it is active: one a provider reported dead
    // (or that was deleted) since the message was queued is skipped, like a recipient with no device.
    let device: DeviceRecord | null = null;
    if (message.deviceId) {
      // Active devices were read for the whole batch; one missing there is read again to say why.
      device =
        batch.device(message) ??
        (await store.getDevice(job.tenantId, message.subscriberId, message.deviceId));
      if (!device?.active) {
        const why = device ? `was deactivated (${device.reason ?? 'no reason given'})` : 'was removed';
        await settleUnsent(
          message,
          'suppressed',
          `device ${message.deviceId} ${why} since the message was queued`,
          {
            reason: 'no_device',
          },
        );
        return null;
      }
    }
    const subscriber = batch.subscriber(message);
    // Consent is decided again right before the provider: an opt-out (or quiet hours) that came
    // after the message was queued or deferred still holds it back.
    const decision = plan({
      channel: message.channel,
      lane: job.lane,
      workflow: routingOf(workflow),
      subscriber: subscriber ?? NO_SUBSCRIBER,
      preferences: batch.preferences(message),
      defaultTimezone: batch.defaultTimezone(message),
      suppression: batch.suppression(message),
      now: Date.now(),
    });
    if (decision.kind === 'suppress') {
      await settleUnsent(message, 'suppressed', decision.detail, { reason: decision.reason });
      return null;
    }
    if (decision.kind === 'defer') {
      // Already held until the same instant for the same reason, and this is not the send queued
      // for that instant (a release of held messages that changed nothing for this one): that send
      // stays, and nothing is written — a window toggled back and forth grew the timeline and the
      // queue each time.
      const last = message.timeline.at(-1);
      if (
        !afterBegin &&
        message.status === 'deferred' &&
        last?.status === 'deferred' &&
        last.detail === decision.detail &&
        job.runAt < decision.until
      )
        return null;
      const now = Date.now();
      await writes.write(message.tenantId, message.id, {
        status: 'deferred',
        reason: null,
        append: [{ at: iso(now), status: 'deferred', detail: decision.detail }],
        now,
        followUp: sendJob(message, job.lane, decision.until),
        onlyFrom: UNSENT_STATUSES,
      });
      return null;
    }
    return { workflow, device, subscriber };
  }

  async function sendOne(
    job: Job,
    owner: string,
    message: MessageRecord,
    batch: BatchReads,
  ): Promise<JobResult> {
    // The slot the send waited for is one send's: its first run takes it. A retry of the same job
    // (a provider asking for one) is another send, held to the limit like any: going without a
    // slot, a failing integration limited to 1/s was sent a retry every few milliseconds.
    const slotOf = job.attempts === 1 ? (job.payload as SendPayload).slotOf : undefined;
    const workflow = batch.workflow(message);
    // Every settled send (sent, or ended for good) queues the fallback step after it, if there is one.
    const record: typeof recordStatus = async (m, status, detail, extra = {}) => {
      const followUp = fallbackAfterSettled(workflow, m, status, job.lane, Date.now());
      // Written through a store outage of a few seconds: given up, the job would run again and a
      // provider that already took the message would get it twice (a PostgreSQL restart mid-send
      // sent every message in flight twice).
      const changed = await retryWhileUnavailable(
        () => recordStatus(m, status, detail, { ...extra, followUp }),
        RECORD_THROUGH_OUTAGE_MS,
      );
      if (changed && followUp) notifyLanes(deps.signal, [followUp]);
      return changed;
    };
    // Until the provider is called, the message may be cancelled (DELETE /v1/events, a workflow
    // deleted) between the batch's read and these records: they change it only while it still
    // waits, so a cancel that came first stands and nothing is sent.
    const settleUnsent: typeof recordStatus = (m, status, detail, extra = {}) =>
      record(m, status, detail, { ...extra, onlyFrom: UNSENT_STATUSES });
    const cleared = await clearToSend(job, message, batch, settleUnsent, false);
    if (!cleared) return DONE;
    let { device, subscriber } = cleared;
    if (await suppressIfOnline(store, message, cleared.workflow)) return DONE;
    const integrations = await deps.providers.forChannel(job.tenantId, message.channel);
    const { attemptNo, of } = sendAttempt(job);
    const attempt = `attempt ${attemptNo} of ${of}`;
    // Retried with backoff and full jitter until attempts run out: then dead, replayable.
    // `settle` is settleUnsent while no provider was called (a cancel that came first stands).
    const retryOrGiveUp = async (
      reason: string,
      retryAfterMs?: number,
      settle: typeof recordStatus = record,
    ): Promise<JobResult> => {
      if (job.attempts >= job.maxAttempts) {
        await settle(message, 'dead', `gave up after ${attemptNo} attempts: ${reason}`, {
          error: reason,
          reason: 'retries_exhausted',
        });
        return { kind: 'dead', error: reason };
      }
      // The backoff of the whole send's attempts: a send re-queued after waiting for a rate-limit
      // slot or a retry budget is a new job whose own count starts again at 1.
      const delayMs =
        retryAfterMs !== undefined
          ? Math.min(retryAfterMs, SEND_MAX_RETRY_AFTER_MS)
          : retryDelay(attemptNo, SEND_BACKOFF);
      await settle(message, 'queued', `${reason}; retry in ${seconds(delayMs)} (${attempt})`, {
        error: reason,
      });
      return { kind: 'retry', error: reason, delayMs };
    };
    // Every integration of the channel is disabled: none may send it, and the sandbox may not
    // either (the channel has integrations). The send waits for one to be enabled again, as for
    // an unreachable provider; given up, it is a dead letter to replay.
    if (integrations.length === 0)
      return retryOrGiveUp(
        `every ${message.channel} integration of the tenant is disabled`,
        undefined,
        settleUnsent,
      );
    const candidates = device ? forPlatform(integrations, device.platform) : integrations;
    // The device's platform is served only by disabled integrations: wait for one, as above.
    if (
      candidates.length === 0 &&
      (await deps.providers.hasDisabled(job.tenantId, message.channel, device!.platform))
    )
      return retryOrGiveUp(
        `every ${message.channel} integration serving ${device!.platform} devices is disabled`,
        undefined,
        settleUnsent,
      );
    if (candidates.length === 0) {
      // The tenant set up this channel for other platforms only: no retry can change that.
      const theirs = integrations.map((i) => `${i.integrationId} (${i.providerName})`).join(', ');
      const detail = `no ${message.channel} integration serves ${device!.platform} devices (the tenant has ${theirs})`;
      await settleUnsent(message, 'failed', detail, { error: detail, reason: 'no_address' });
      return DONE;
    }
    // The badge a push may show (`badge: "unread"`): read at send time, so it is current, and only
    // when the template asks for it.
    const unreadCount =
      (message.channel === 'push' || message.channel === 'webpush') &&
      message.content.badge?.trim() === 'unread'
        ? await store.countUnread(job.tenantId, message.subscriberId)
        : undefined;
    // A retry is a send whose last provider answer asked for one (its error is recorded). A send run
    // again after a crash (left `sending`, no error) or that waited for a slot is none: it must not
    // spend the integrations' retry budgets, or a restart with many sends in flight would hold
    // them back for the budget's window.
    const isRetry = message.lastError !== null && message.status !== 'sending';
    // Tracked once per attempt, whichever integration takes it (src/pipeline/tracking.ts).
    const content = trackedEmailContent(deps.links, cleared.workflow, message);
    // Integrations in priority order, past open circuits and broken integrations (failover.ts).
    const result = await sendWithFailover({
      circuits: deps.providers.circuits,
      store,
      tenantId: job.tenantId,
      candidates,
      lastTried: isRetry ? message.provider : null,
      isRetry,
      slotOf,
      async begin(via, after) {
        const passed = after ? ` (passed over ${after})` : '';
        const started = await settleUnsent(
          message,
          'sending',
          `${attempt} via ${via.integrationId}${passed}`,
          {
            provider: via.integrationId,
          },
        );
        if (!started) return false;
        // Consent is decided once more, as it stands after the `sending` record committed: a
        // PATCH, pause or suppression that returned while this message still read as waiting
        // (after the batch's reads) is seen here, and the message is settled without a provider
        // call. One that returns later found the message `sending` already.
        // The timeline says the provider named by `sending` was not called.
        const settleBeforeCall: typeof recordStatus = (m, status, detail, extra = {}) =>
          settleUnsent(m, status, `${detail} (seen before ${via.integrationId} was called)`, extra);
        const again = await clearToSend(
          job,
          message,
          await afterSending(message, batch),
          settleBeforeCall,
          true,
        );
        if (!again) return false;
        ({ device, subscriber } = again);
        return true;
      },
      async send(via, leftQueue) {
        try {
          const answer = await via.provider.send(
            outbound(message, subscriber, {
              content,
              device,
              unreadCount,
              attempt: attemptNo,
              unsubscribeUrl: emailUnsubscribeLink(deps.links, message, cleared.workflow, subscriber),
              leftQueue,
            }),
          );
          deps.tally?.providerRequest(via.providerName, answer.kind);
          return answer;
        } catch (error) {
          deps.tally?.providerRequest(via.providerName, 'error');
          throw error;
        }
      },
    });
    if (result.kind === 'withdrawn') return DONE;
    if (result.kind === 'throttled' || (result.kind === 'unavailable' && !result.tried)) {
      // Over the integration's rate limit (this send takes its reserved slot later, once), or every
      // integration's retry budget is spent (no provider was called): waiting is no attempt, but
      // earlier failed ones still count, so the send keeps what it has left.
      const now = Date.now();
      const detail =
        result.kind === 'throttled'
          ? `${result.via.integrationId} sends at most ${result.via.perSecond}/s; waits until ${iso(result.until)}`
          : `${result.reason}; waits until ${iso(result.until)}`;
      const slot = result.kind === 'throttled' ? result.via.integrationId : undefined;
      const waits = await writes.write(message.tenantId, message.id, {
        status: 'queued',
        append: [{ at: iso(now), status: 'queued', detail }],
        now,
        followUp: {
          ...sendJob(message, job.lane, result.until, slot),
          maxAttempts: job.maxAttempts - job.attempts + 1,
        },
        onlyFrom: UNSENT_STATUSES,
      });
      if (waits) deps.tally?.message(message.channel, 'queued');
      return DONE;
    }
    const via = result.kind === 'answered' ? result.via.integrationId : 'no integration';
    const outcome: SendOutcome =
      result.kind === 'answered' ? result.outcome : { kind: 'retryable', reason: result.reason };
    switch (outcome.kind) {
      case 'accepted': {
        const id = outcome.providerMessageId ? ` as ${outcome.providerMessageId}` : '';
        // The job ends in the same commit as its `sent` record: no write of its own afterwards.
        await record(message, 'sent', `${via} accepted${id}${outcome.detail ? `: ${outcome.detail}` : ''}`, {
          provider: via,
          providerMessageId: outcome.providerMessageId,
          meta: outcome.meta,
          ack: { owner, jobIds: [job.id] },
        });
        deps.tally?.latency(message.channel, job.lane, Date.now() - message.eventAt);
        return ACKED;
      }
      case 'bad_address': {
        // A dead token: deactivated at once, so this device's later messages are skipped, not sent.
        let deactivated = '';
        if (device && outcome.deactivate) {
          if (await store.deactivateDevice(device, outcome.deactivate, Date.now()))
            deactivated = `; device ${device.id} deactivated (${outcome.deactivate})`;
        }
        await record(message, 'failed', `bad address: ${outcome.reason}${deactivated}`, {
          error: outcome.reason,
          reason: 'bad_address',
        });
        return DONE;
      }
      case 'blocked_target':
        // The same host is refused on every attempt and by every process: fail now, never retry.
        await record(message, 'failed', `blocked target: ${outcome.reason}`, {
          error: outcome.reason,
          reason: 'blocked_target',
        });
        return DONE;
      case 'opted_out':
        // The provider keeps the recipient's STOP; Tidings keeps it too, so the next message for
        // this channel is suppressed before any provider call. (No preference row is created for
        // a subscriber erased meanwhile.)
        if (subscriber) {
          await changePreferences(store, {
            tenantId: message.tenantId,
            subscriberId: message.subscriberId,
            patch: { channels: { [message.channel]: false } },
            now: Date.now(),
            source: 'sms_stop',
            detail: `opted out at ${via} (message ${message.id}): ${outcome.reason}`,
          });
        }
        await record(message, 'suppressed', `opted out at ${via}: ${outcome.reason}`, {
          error: outcome.reason,
          reason: 'opted_out',
        });
        return DONE;
      case 'permanent':
        await record(message, 'failed', `refused by ${via}: ${outcome.reason}`, {
          error: outcome.reason,
          reason: 'provider_rejected',
          meta: outcome.meta,
        });
        return DONE;
      case 'retryable':
        return retryOrGiveUp(outcome.reason, outcome.retryAfterMs);
    }
  }

  return {
    kind: JOB_KINDS.send,
    // Sends of a batch go out together (HTTP/2 streams on one connection) and their status
    // changes share commits (MessageWrites); 64 amortises the batch's reads without holding many
    // jobs behind one slow answer.
    batchSize: 64,
    async run(jobs, { owner }) {
      // Reads first, for the whole batch: nothing is in flight yet, so a read that throws may fail
      // the batch (the worker runs its jobs again one at a time).
      // The consent versions first: every consent read below is at least as new.
      const [versions, messages] = await Promise.all([
        store.consentVersions([...new Set(jobs.map((job) => job.tenantId))]),
        readMessages(store, jobs),
      ]);
      // Already settled (a re-run after a crash, a cancel, a receipt): nothing to do.
      const live = messages.map((message) =>
        message && !FINAL_STATUSES.has(message.status) && message.status !== 'sent' ? message : null,
      );
      const batch = await readForSends(store, live, versions);
      // Each job settles on its own: one that throws must not fail the batch while the others'
      // sends are still in flight (they would run again, and send twice).
      return Promise.all(
        jobs.map((job, i) => {
          const message = live[i];
          return message ? sendOne(job, owner, message, batch).catch(retryAfterError) : DONE;
        }),
      );
    },
    async onDead(job, error) {
      const message = await store.getMessage(job.tenantId, (job.payload as SendPayload).messageId);
      if (message && !FINAL_STATUSES.has(message.status)) {
        const workflow = await store.getWorkflow(message.tenantId, message.workflow);
        await recordStatus(message, 'dead', `gave up: ${error}`, {
          error,
          reason: 'retries_exhausted',
          // Not over a cancel that landed since the read above.
          onlyFrom: UNSENT_STATUSES,
          followUp: fallbackAfterSettled(workflow, message, 'dead', job.lane, Date.now()),
        });
      }
    },
  };
}
