import type { NewMessage } from './port.ts';

/** A workflow by its tenant and key. */
export interface WorkflowRef {
  tenantId: string;
  key: string;
}

/**
 * A delivery write refused whole (createMessages): a workflow it writes messages of as live is
 * paused now — a pause that answered after the delivery read the workflow and before this write.
 * Nothing of the write was made and none of its jobs completed; the delivery builds again with
 * the workflow's pause (src/pipeline/deliver.ts).
 */
export class WorkflowPausedSinceRead extends Error {
  override name = 'WorkflowPausedSinceRead';

  constructor(readonly workflows: readonly WorkflowRef[]) {
    super(`workflow paused since the delivery read it: ${workflows.map((w) => w.key).join(', ')}`);
  }
}

/**
 * The workflows a delivery write must find not paused: those of its messages not cancelled for
 * `workflow_paused` (built from a workflow read as live), each once. Hot path: a batch's messages
 * come a workflow at a time, so a message of the workflow before costs two comparisons.
 */
export function workflowsBuiltLive(messages: readonly NewMessage[]): WorkflowRef[] {
  const refs: WorkflowRef[] = [];
  const seen = new Set<string>();
  let lastTenant: string | null = null;
  let lastKey: string | null = null;
  for (const { record } of messages) {
    if (record.reason === 'workflow_paused') continue;
    if (record.workflow === lastKey && record.tenantId === lastTenant) continue;
    lastTenant = record.tenantId;
    lastKey = record.workflow;
    const id = `${record.tenantId}\u0000${record.workflow}`;
    if (seen.has(id)) continue;
    seen.add(id);
    refs.push({ tenantId: record.tenantId, key: record.workflow });
  }
  return refs;
}
