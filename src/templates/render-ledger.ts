import type { WorkflowRecord } from '../shared/model.ts';
import { MESSAGE_BUDGET_MS } from './engine.ts';
import type { RenderClock } from './render.ts';

/**
 * Rendering runs synchronously on the worker thread that delivers every tenant's messages, so
 * one tenant's slow templates would hold up everyone's deliveries. Within one delivery batch a
 * tenant's renders share a time budget, and a workflow whose render ran past the per-message
 * budget renders nothing more in that batch: what is left is deferred to a job of its own, so
 * other tenants' work runs in between. Across batches, a workflow whose renders keep timing out is
 * paused (WorkflowStore.countRenderTimeouts).
 */

/** LiquidJS time one tenant's renders may take in one batch before the rest wait for a later one. */
export const TENANT_BATCH_BUDGET_MS = 2 * MESSAGE_BUDGET_MS;
/** Render timeouts in a row (no clean delivery in between) that pause a workflow. */
export const PAUSE_AFTER_TIMEOUTS = 20;
export const PAUSED_FOR_TIMEOUTS = `paused by Tidings: ${PAUSE_AFTER_TIMEOUTS} renders in a row ran past the ${MESSAGE_BUDGET_MS} ms template budget; a PUT of the workflow unpauses it`;

/** One tenant's render time in this batch. */
class TenantRenders implements RenderClock {
  liquidMs = 0;
}

/** How one workflow's renders went in this batch. */
export class WorkflowRenders {
  /** Timed-out renders since the last clean delivery in this batch (all of them if none). */
  timeouts = 0;
  /** A delivery of this batch rendered every step within budget before those timeouts. */
  afterSuccess = false;
  /** A render timed out: nothing more of this workflow renders in this batch. */
  tripped = false;

  constructor(
    readonly workflow: WorkflowRecord,
    readonly clock: RenderClock,
  ) {}

  /** Whether the next render of this workflow must wait for a later batch. */
  exhausted(): boolean {
    return this.tripped || this.clock.liquidMs >= TENANT_BATCH_BUDGET_MS;
  }

  timedOut(): void {
    this.timeouts++;
    this.tripped = true;
  }

  /** One recipient's steps all rendered (or failed for reasons other than time). */
  cleanDelivery(): void {
    this.timeouts = 0;
    this.afterSuccess = true;
  }

  /** Whether the store's count of timeouts in a row changes with this batch. */
  changesCount(): boolean {
    return this.timeouts > 0 || (this.afterSuccess && this.workflow.renderTimeouts > 0);
  }
}

/** The render accounting of one delivery batch. */
export class RenderLedger {
  private readonly tenants = new Map<string, TenantRenders>();
  private readonly workflows = new Map<string, WorkflowRenders>();

  of(workflow: WorkflowRecord): WorkflowRenders {
    const key = `${workflow.tenantId}\u0000${workflow.key}`;
    let renders = this.workflows.get(key);
    if (!renders) {
      let tenant = this.tenants.get(workflow.tenantId);
      if (!tenant) {
        tenant = new TenantRenders();
        this.tenants.set(workflow.tenantId, tenant);
      }
      renders = new WorkflowRenders(workflow, tenant);
      this.workflows.set(key, renders);
    }
    return renders;
  }

  /** The workflows whose count of timeouts in a row the store must hear about. */
  changed(): WorkflowRenders[] {
    return [...this.workflows.values()].filter((renders) => renders.changesCount());
  }
}
