import type { Lane } from '../shared/model.ts';
import { type AcceptEvent, EVENTS_PER_FIRST_JOB, type JobSpec } from './port.ts';

interface Group {
  spec: Omit<JobSpec, 'payload' | 'runAt'>;
  /** Null: as soon as accepted, i.e. at the earliest acceptance time in the group. */
  runAt: number | null;
  acceptedAt: number;
  eventIds: string[];
}

/**
 * Groups the first jobs of the events accepted in one call: events that share tenant, kind, lane
 * and run time get one job per {@link EVENTS_PER_FIRST_JOB}, payload `{ eventIds }` in accept order.
 */
export class FirstJobs {
  private readonly groups = new Map<string, Group>();

  add(event: AcceptEvent, lane: Lane): void {
    const { kind, runAt } = event.job;
    const key = `${event.tenantId}\u0000${kind}\u0000${lane}\u0000${runAt}`;
    const group = this.groups.get(key);
    if (group) {
      group.acceptedAt = Math.min(group.acceptedAt, event.now);
      group.eventIds.push(event.id);
    } else {
      const spec = { tenantId: event.tenantId, kind, lane };
      this.groups.set(key, { spec, runAt, acceptedAt: event.now, eventIds: [event.id] });
    }
  }

  specs(): JobSpec[] {
    const out: JobSpec[] = [];
    for (const { spec, runAt, acceptedAt, eventIds } of this.groups.values()) {
      for (let i = 0; i < eventIds.length; i += EVENTS_PER_FIRST_JOB) {
        const payload = { eventIds: eventIds.slice(i, i + EVENTS_PER_FIRST_JOB) };
        out.push({ ...spec, runAt: runAt ?? acceptedAt, payload });
      }
    }
    return out;
  }
}
