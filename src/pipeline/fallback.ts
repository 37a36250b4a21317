import type { DigestScope } from '../policy/digest.ts';
import { decideFallback } from '../policy/fallback.ts';
import { ACKED, DONE, type JobHandler, type JobResult, retryAfterError } from '../queue/handler.ts';
import type { MessageRecord, TimelineEntry } from '../shared/model.ts';
import { iso } from '../shared/time.ts';
import type { Job } from '../store/port.ts';
import { commitDeliveries, type DeliveryTarget, loadTargets } from './deliver.ts';
import { JOB_KINDS, notifyLanes, type PipelineDeps } from './deps.ts';
import { type FallbackPayload, fallbackJob } from './fallback-timers.ts';

/**
 * How a fallback step's message is built (DeliveryTarget.fallback): `because` heads its
 * timeline — or, with `stopped`, it is created `cancelled` (reason `receipt`) with that entry.
 */
export interface FallbackBuild {
  because: TimelineEntry;
  stopped: boolean;
  /** After a digest's message: the digest its templates see again (`count`, `events`). */
  digest?: DigestScope;
}

/**
 * The digest a fallback step renders when the messages before it were a digest's (their meta
 * names it: DigestMeta): its count, and the data of the events its templates saw, read again.
 */
async function digestBefore(
  deps: PipelineDeps,
  tenantId: string,
  messages: readonly MessageRecord[],
): Promise<DigestScope | undefined> {
  const meta = messages.find((m) => typeof m.meta?.digestEvents === 'string')?.meta;
  if (!meta) return undefined;
  const ids = String(meta.digestEvents).split(' ').filter(Boolean);
  const read = new Map(
    (await deps.store.getEvents(ids.map((id) => ({ tenantId, id })))).map((e) => [e.id, e]),
  );
  // As the close left them out: an event cancelled since is not shown again.
  const events = ids.flatMap((id) => {
    const event = read.get(id);
    return event && event.status !== 'cancelled'
      ? [(event.payload.data ?? {}) as Record<string, unknown>]
      : [];
  });
  // A listed event cancelled (or gone) since no longer counts, as the close would not count it.
  const dropped = ids.length - events.length;
  return { count: Math.max(events.length, (Number(meta.digestCount) || 0) - dropped), events };
}

/**
 * `fallback` jobs (queued as fallback-timers.ts says): one fallback step of one (event,
 * subscriber), decided from that delivery's messages when the job fires (policy/fallback.ts).
 * Sending goes through the normal delivery path — the step's `if`, consent, quiet hours, rate
 * limits and the daily cap apply — and the job is completed in the transaction that writes the
 * message. That write also queues a confirmation of this job, at once: finding the message there,
 * it marks the previous step's messages `escalated` with an entry naming it (so a crash between
 * the two loses nothing, and a second device's job does the same harmlessly); finding none (the
 * step's `if` was false) it does nothing. A cancelled event (by
 * id or cancellationKey), a deleted workflow, or a step no longer a fallback: nothing is sent.
 */
export function fallbackHandler(deps: PipelineDeps): JobHandler {
  async function fire(job: Job, owner: string): Promise<JobResult> {
    const { eventId, subscriberId, step, confirm } = job.payload as FallbackPayload;
    const [loaded] = await loadTargets(deps, [{ tenantId: job.tenantId, eventId }]);
    if (!loaded) return DONE;
    const steps = loaded.workflow.definition.channels;
    if (!steps[step]?.fallback) return DONE;
    const messages = await deps.store.listMessages({
      tenantId: job.tenantId,
      eventId,
      subscriberId,
      limit: 200,
    });
    const now = Date.now();
    const decision = decideFallback(steps, step, messages, now);
    // The step was built (or skipped by its `if`): a confirmation never builds it again.
    if (confirm && decision.kind !== 'exists') return DONE;
    const ref = { tenantId: job.tenantId, eventId, subscriberId };
    const lane = loaded.event.priority;
    switch (decision.kind) {
      case 'wait':
        return DONE;
      case 'later': {
        const again = fallbackJob(ref, step, lane, decision.at);
        await deps.store.completeJobs(owner, [job.id], [again]);
        notifyLanes(deps.signal, [again]);
        return ACKED;
      }
      case 'exists': {
        if (decision.escalated.length > 0) {
          const names = decision.fallbacks.map((m) => `${m.channel} message ${m.id}`).join(', ');
          const entry: TimelineEntry = {
            at: iso(now),
            status: 'escalated',
            detail: `fallback sent: ${names}`,
          };
          await deps.store.markEscalated(job.tenantId, decision.escalated, entry, now);
        }
        return DONE;
      }
      case 'stop':
      case 'send': {
        const stopped = decision.kind === 'stop';
        const because: TimelineEntry = {
          at: iso(now),
          status: stopped ? 'cancelled' : 'fallback',
          detail: decision.detail,
        };
        const build: FallbackBuild = { because, stopped };
        const digest = stopped ? undefined : await digestBefore(deps, job.tenantId, messages);
        if (digest) build.digest = digest;
        const target: DeliveryTarget = {
          ...loaded,
          subscriberIds: [subscriberId],
          steps: [step],
          fallback: build,
        };
        // A scheduled event's recipients were split by instant long ago: this one is due now.
        if (loaded.event.payload.schedule) target.at = now;
        const followUps = stopped ? [] : [fallbackJob(ref, step, lane, now, true)];
        await commitDeliveries(deps, [target], { owner, jobIds: [job.id], followUps });
        return ACKED;
      }
    }
  }

  return {
    kind: JOB_KINDS.fallback,
    batchSize: 8,
    async run(jobs, context) {
      // One at a time: each is a handful of reads and one write, and settles before the next starts.
      const results: JobResult[] = [];
      for (const job of jobs) results.push(await fire(job, context.owner).catch(retryAfterError));
      return results;
    },
  };
}
