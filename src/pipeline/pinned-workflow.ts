import type { EventRecord, WorkflowRecord } from '../shared/model.ts';
import type { PipelineDeps } from './deps.ts';

/**
 * The workflows a batch renders with: an event renders with the version that was current when it
 * was accepted (API.md "Templates": also when it is sent later), so the current workflow is read
 * once per key and batch, and an older version once per (key, version) and process (versions
 * never change). What is decided now rather than at acceptance comes from the current workflow:
 * whether it is paused (the kill switch stops old events too) and Tidings' own pause.
 */
export class PinnedWorkflows {
  private readonly current = new Map<string, WorkflowRecord | null>();
  private readonly pinned = new Map<string, WorkflowRecord | null>();

  constructor(private readonly deps: Pick<PipelineDeps, 'store' | 'templates'>) {}

  /** The workflow `event` renders with; null when the workflow (or its version) is gone. */
  async of(event: EventRecord): Promise<WorkflowRecord | null> {
    const key = `${event.tenantId}\u0000${event.workflow}`;
    let current = this.current.get(key);
    if (current === undefined) {
      current = await this.deps.store.getWorkflow(event.tenantId, event.workflow);
      this.current.set(key, current);
    }
    const version = event.workflowVersion;
    // Events accepted before versions existed render with the current one.
    if (current === null || version === null || version === current.version) return current;
    const pinnedKey = `${key}\u0000${version}`;
    let pinned = this.pinned.get(pinnedKey);
    if (pinned === undefined) {
      pinned = await this.readVersion(current, version);
      this.pinned.set(pinnedKey, pinned);
    }
    return pinned;
  }

  private async readVersion(current: WorkflowRecord, version: number): Promise<WorkflowRecord | null> {
    const { tenantId, key } = current;
    let saved = this.deps.templates.version(tenantId, key, version);
    if (!saved) {
      const read = await this.deps.store.getWorkflowVersion(tenantId, key, version);
      if (!read) return null;
      this.deps.templates.keepVersion(read);
      saved = read;
    }
    const definition = { ...saved.definition };
    if (current.definition.paused === true) definition.paused = true;
    else delete definition.paused;
    return { ...current, version, definition, renderTimeouts: 0 };
  }
}
