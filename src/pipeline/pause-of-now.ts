import { isPaused, type WorkflowRecord } from '../shared/model.ts';
import type { Store } from '../store/port.ts';
import type { DeliveryTarget } from './deliver.ts';

/**
 * `targets` with their workflows' pause as it is now (the current workflow's, as PinnedWorkflows
 * gives a pinned version): read once per workflow, after a write refused for a pause since the
 * targets were read. Only a pause is taken: the version, and the layouts attached, stay.
 */
export async function withPauseOfNow(
  store: Pick<Store, 'getWorkflow'>,
  targets: DeliveryTarget[],
): Promise<DeliveryTarget[]> {
  const current = new Map<string, WorkflowRecord | null>();
  const out: DeliveryTarget[] = [];
  for (const target of targets) {
    const { tenantId, key } = target.workflow;
    const id = `${tenantId}\u0000${key}`;
    let read = current.get(id);
    if (read === undefined) {
      read = await store.getWorkflow(tenantId, key);
      current.set(id, read);
    }
    out.push(read && isPaused(read) ? { ...target, workflow: pausedAs(target.workflow, read) } : target);
  }
  return out;
}

/** `workflow` (maybe a pinned version) paused as `current` is. */
function pausedAs(workflow: WorkflowRecord, current: WorkflowRecord): WorkflowRecord {
  const definition =
    current.definition.paused === true ? { ...workflow.definition, paused: true } : workflow.definition;
  return { ...workflow, definition, pausedReason: current.pausedReason };
}
