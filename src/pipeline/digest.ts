import { type DigestEvent, digestScope, OldestEvents } from '../policy/digest.ts';
import { ACKED, type JobHandler } from '../queue/handler.ts';
import type { EventRecord } from '../shared/model.ts';
import type { ClosedDigest, DigestJobPayload } from '../store/port.ts';
import { commitDeliveries, type DeliveryTarget } from './deliver.ts';
import { JOB_KINDS, type PipelineDeps } from './deps.ts';
import { PinnedWorkflows } from './pinned-workflow.ts';

/** Events read per store call at a close. */
const CLOSE_READ_CHUNK = 100;

/**
 * What a closed digest sends: the messages of its oldest live event (so the (event, subscriber,
 * channel) uniqueness makes a close run again harmless), their templates seeing `count` and
 * `events` of every live event. Null when nothing is left to send: every event was cancelled (or
 * is gone), or so is the workflow.
 */
async function closingTarget(
  deps: PipelineDeps,
  digest: ClosedDigest,
  steps: number[] | undefined,
): Promise<DeliveryTarget | null> {
  // A chunk of events at a time, keeping the oldest: a digest may gather thousands, each with its data.
  const live = new OldestEvents<EventRecord>();
  for (let from = 0; from < digest.eventIds.length; from += CLOSE_READ_CHUNK) {
    const chunk = digest.eventIds.slice(from, from + CLOSE_READ_CHUNK);
    const events = await deps.store.getEvents(chunk.map((id) => ({ tenantId: digest.tenantId, id })));
    // A cancelled event is left out: it neither counts nor shows.
    live.add(events.filter((event) => event.status !== 'cancelled'));
  }
  const first = live.oldest[0];
  if (!first) return null;
  // The close renders with the version its oldest live event was accepted under.
  const workflow = await new PinnedWorkflows(deps).of(first);
  if (!workflow) return null;
  const gathered: DigestEvent[] = live.oldest.map((event) => ({
    id: event.id,
    createdAt: event.createdAt,
    data: (event.payload.data ?? {}) as Record<string, unknown>,
  }));
  const target: DeliveryTarget = {
    event: first,
    workflow,
    subscriberIds: [digest.subscriberId],
    digest: {
      id: digest.id,
      scope: digestScope(gathered, live.count),
      eventIds: gathered.map((event) => event.id),
    },
  };
  if (steps) target.steps = steps;
  return target;
}

/**
 * `digest` jobs: one per window, due at its close (queued by the join that opened it). Closing
 * comes first, so an event from here on opens the next window; then the close's messages go
 * through the normal delivery path — preferences, quiet hours, rate limits and the daily cap
 * apply to them as to any message — and the digest rows are deleted in the transaction that
 * writes them and completes the job.
 */
export function digestHandler(deps: PipelineDeps): JobHandler {
  return {
    kind: JOB_KINDS.digest,
    batchSize: 16,
    bulkBatchSize: 4,
    async run(jobs, context) {
      const targets: DeliveryTarget[] = [];
      const finished: { tenantId: string; id: string }[] = [];
      for (const job of jobs) {
        const payload = job.payload as DigestJobPayload;
        const digest = await deps.store.closeDigest(job.tenantId, payload.digestId);
        // Gone: an earlier run wrote its messages.
        if (!digest) continue;
        const target = await closingTarget(deps, digest, payload.steps);
        if (target) targets.push(target);
        else finished.push({ tenantId: digest.tenantId, id: digest.id });
      }
      await commitDeliveries(
        deps,
        targets,
        { owner: context.owner, jobIds: jobs.map((job) => job.id) },
        { finished },
      );
      return jobs.map(() => ACKED);
    },
  };
}
