import type { Lane } from '../shared/model.ts';
import { type AcceptEvent, EVENTS_PER_FIRST_JOB, type JobSpec } from './port.ts';

/**
 * Groups the first jobs of the events accepted in one call: events that share tenant, kind, lane
 * and run time get one job per {@link EVENTS_PER_FIRST_JOB}, payload `{ eventIds }` in accept order.
 */
export class FirstJobs {
  private readonly groups = new Map<string, { spec: Omit<JobSpec, 'payload'>; eventIds: string[] }>();

  add(event: AcceptEvent, lane: Lane): void {
    const key = `${event.tenantId}\u0000${event.job.kind}\u0000${lane}\u0000${event.job.runAt}`;
    let group = this.groups.get(key);
    if (!group) {
      group = {
        spec: { tenantId: event.tenantId, kind: event.job.kind, lane, runAt: event.job.runAt },
        eventIds: [],
      };
      this.groups.set(key, group);
    }
    group.eventIds.push(event.id);
  }

  specs(): JobSpec[] {
    const out: JobSpec[] = [];
    for (const { spec, eventIds } of this.groups.values()) {
      for (let i = 0; i < eventIds.length; i += EVENTS_PER_FIRST_JOB)
        out.push({ ...spec, payload: { eventIds: eventIds.slice(i, i + EVENTS_PER_FIRST_JOB) } });
    }
    return out;
  }
}
