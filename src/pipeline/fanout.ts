import { ACKED, type JobHandler } from '../queue/handler.ts';
import type { Job, JobSpec } from '../store/port.ts';
import { commitDeliveries, type DeliveryTarget, loadTargets } from './deliver.ts';
import { DELIVER_CHUNK, JOB_KINDS, notifyLanes, type PipelineDeps } from './deps.ts';
import { fanoutPageChange } from './open-parts.ts';
import { chunk, directSubscriberIds, topicKeys } from './recipients.ts';

/** Topic members read per fanout run; a bigger topic continues in a follow-up job, so no run is long. */
const MEMBERS_PER_RUN = 10_000;
const MEMBER_PAGE = 1_000;

/**
 * Either the events accepted together (their first job, see AcceptEvent.job), or one event whose
 * recipients are paged (with where its topic fanout resumes).
 */
interface FanoutPayload {
  eventIds?: string[];
  eventId?: string;
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
    // Every follow-up is a part of the event's work; this page was one (open-parts.ts). A topic
    // with no members, say, queues none: the event has nothing left to run.
    await deps.store.completeJobs(
      owner,
      [job.id],
      followUps,
      fanoutPageChange(event, job.id, followUps.length),
    );
    notifyLanes(deps.signal, followUps);
  }

  /** A short list of subscriber ids and no topic: delivered in the fanout run itself. */
  function inlineable(target: Omit<DeliveryTarget, 'subscriberIds'>): string[] | null {
    const to = target.event.payload.to;
    const direct = directSubscriberIds(to);
    return direct.length <= DELIVER_CHUNK && topicKeys(to).length === 0 ? direct : null;
  }

  async function runBatch(jobs: Job[], context: { owner: string }) {
    const payloads = jobs.map((job) => job.payload as FanoutPayload);
    const refs = jobs.flatMap((job, i) => {
      const payload = payloads[i]!;
      const ids = payload.eventIds ?? (payload.eventId ? [payload.eventId] : []);
      return ids.map((eventId) => ({ tenantId: job.tenantId, eventId }));
    });
    const loaded = await loadTargets(deps, refs);
    const inline: DeliveryTarget[] = [];
    const ackIds: number[] = [];
    const followUps: JobSpec[] = [];
    let next = 0;
    for (const [i, job] of jobs.entries()) {
      const payload = payloads[i]!;
      if (payload.eventIds) {
        // Events accepted together: the short ones now, each of the others in a paged job of its own.
        for (const target of loaded.slice(next, next + payload.eventIds.length)) {
          if (!target) continue;
          const direct = inlineable(target);
          if (direct) inline.push({ ...target, subscriberIds: direct, job: job.id });
          else
            followUps.push({
              tenantId: target.event.tenantId,
              kind: JOB_KINDS.fanout,
              lane: target.event.priority,
              payload: { eventId: target.event.id },
            });
        }
        next += payload.eventIds.length;
        ackIds.push(job.id);
        continue;
      }
      const target = payload.eventId ? loaded[next++] : null;
      const direct = target && !payload.cursor ? inlineable(target) : null;
      if (!target) ackIds.push(job.id);
      else if (direct) {
        inline.push({ ...target, subscriberIds: direct, job: job.id });
        ackIds.push(job.id);
      } else await page(job, target, payload, context.owner);
    }
    await commitDeliveries(deps, inline, { owner: context.owner, jobIds: ackIds, followUps });
    return jobs.map(() => ACKED);
  }

  /**
   * The events of one first job failed together (the worker already ran its batch one job at a
   * time): give each event a job of its own, so the one that cannot be delivered retries and
   * dead-letters alone while the others go out now. (Had the failed run committed, the job would
   * no longer be ours, and nothing is queued.)
   */
  async function split(job: Job, eventIds: string[], owner: string) {
    const singles: JobSpec[] = eventIds.map((eventId) => ({
      tenantId: job.tenantId,
      kind: JOB_KINDS.fanout,
      lane: job.lane,
      payload: { eventId },
    }));
    await deps.store.completeJobs(owner, [job.id], singles);
    notifyLanes(deps.signal, singles);
  }

  return {
    kind: JOB_KINDS.fanout,
    // A job names up to EVENTS_PER_FIRST_JOB events: this bounds one write to a few hundred.
    batchSize: 4,
    async run(jobs, context) {
      try {
        return await runBatch(jobs, context);
      } catch (error) {
        const eventIds = jobs.length === 1 ? (jobs[0]!.payload as FanoutPayload).eventIds : undefined;
        if (!eventIds || eventIds.length < 2) throw error;
        await split(jobs[0]!, eventIds, context.owner);
        return [ACKED];
      }
    },
  };
}
