import { ACKED, DONE, type JobHandler, type JobResult } from '../queue/handler.ts';
import type { Job, JobSpec } from '../store/port.ts';
import { commitDeliveries, type DeliveryTarget, loadTargets } from './deliver.ts';
import { DELIVER_CHUNK, JOB_KINDS, notifyLanes, type PipelineDeps } from './deps.ts';
import { chunk, directSubscriberIds, topicKeys } from './recipients.ts';

/** Topic members read per fanout run; a bigger topic continues in a follow-up job, so no run is long. */
const MEMBERS_PER_RUN = 10_000;
const MEMBER_PAGE = 1_000;

interface FanoutPayload {
  eventId: string;
  /** Where a paged topic fanout resumes. */
  cursor?: { topic: number; after: string | null };
}

/**
 * `fanout` jobs: resolve an event's recipients. A short list of subscriber ids is delivered in
 * the same job (one write for the whole claimed batch); topics and long lists become `deliver`
 * jobs of {@link DELIVER_CHUNK} recipients, paged so a million-member topic never loads at once.
 */
export function fanoutHandler(deps: PipelineDeps): JobHandler {
  async function page(
    job: Job,
    target: Omit<DeliveryTarget, 'subscriberIds'>,
    payload: FanoutPayload,
    owner: string,
  ) {
    const { event } = target;
    const deliverJob = (subscriberIds: string[]): JobSpec => ({
      tenantId: event.tenantId,
      kind: JOB_KINDS.deliver,
      lane: event.priority,
      payload: { eventId: event.id, subscriberIds },
    });
    const followUps: JobSpec[] = [];
    if (!payload.cursor)
      followUps.push(...chunk(directSubscriberIds(event.payload.to), DELIVER_CHUNK).map(deliverJob));
    const topics = topicKeys(event.payload.to);
    let { topic, after } = payload.cursor ?? { topic: 0, after: null };
    let budget = MEMBERS_PER_RUN;
    while (topic < topics.length && budget > 0) {
      const wanted = Math.min(MEMBER_PAGE, budget);
      const members = await deps.store.topicMembersPage(event.tenantId, topics[topic]!, after, wanted);
      followUps.push(...chunk(members, DELIVER_CHUNK).map(deliverJob));
      budget -= members.length;
      if (members.length < wanted) {
        topic++;
        after = null;
      } else {
        after = members.at(-1)!;
      }
    }
    if (topic < topics.length) {
      const cursor = { topic, after };
      followUps.push({
        tenantId: event.tenantId,
        kind: JOB_KINDS.fanout,
        lane: event.priority,
        payload: { eventId: event.id, cursor },
      });
    }
    await deps.store.completeJobs(owner, [job.id], followUps);
    notifyLanes(deps.signal, followUps);
  }

  return {
    kind: JOB_KINDS.fanout,
    batchSize: 64,
    async run(jobs, context) {
      const payloads = jobs.map((job) => job.payload as FanoutPayload);
      const loaded = await loadTargets(
        deps,
        jobs.map((job, i) => ({ tenantId: job.tenantId, eventId: payloads[i]!.eventId })),
      );
      const results: JobResult[] = [];
      const inline: DeliveryTarget[] = [];
      const inlineJobIds: number[] = [];
      for (const [i, job] of jobs.entries()) {
        const target = loaded[i];
        const payload = payloads[i]!;
        if (!target) {
          results.push(DONE);
          continue;
        }
        const direct = directSubscriberIds(target.event.payload.to);
        if (
          !payload.cursor &&
          direct.length <= DELIVER_CHUNK &&
          topicKeys(target.event.payload.to).length === 0
        ) {
          inline.push({ ...target, subscriberIds: direct });
          inlineJobIds.push(job.id);
        } else {
          await page(job, target, payload, context.owner);
        }
        results.push(ACKED);
      }
      if (inline.length > 0)
        await commitDeliveries(deps, inline, { owner: context.owner, jobIds: inlineJobIds });
      return results;
    },
  };
}
