import { afterEach, describe, expect, it, vi } from 'vitest';
import { previewWorkflow } from '../../../src/pipeline/preview.ts';
import {
  PAUSE_MS,
  PreviewPacing,
  SLOW_STEP_MEMORY_MS,
  SLOW_STEP_MS,
} from '../../../src/pipeline/preview-pacing.ts';
import type { SubscriberRecord, WorkflowDefinition, WorkflowRecord } from '../../../src/shared/model.ts';
import { TemplateCache } from '../../../src/templates/render.ts';

/**
 * A preview step yields with a pause after a slow step (so other requests get the few turns of
 * the event loop they need), decided per tenant: one tenant's slow previews used to make every
 * other tenant's previews pause too, the last step's time being one value for the whole thread.
 */

/** A clock the test moves: each step takes what the test says. */
function steppedClock() {
  let now = 0;
  return { clock: () => now, advance: (ms: number) => (now += ms) };
}

describe('PreviewPacing', () => {
  it("leaves the event loop free after anyone's slow step, and pauses a tenant's steps after its own slow step only", () => {
    const { clock, advance } = steppedClock();
    const pacing = new PreviewPacing(clock);
    pacing.step('slow_tenant', () => advance(SLOW_STEP_MS));
    // Right after a slow step, whoever is next leaves the loop free for the rest of the pause.
    expect(pacing.waitBefore('slow_tenant')).toBe(PAUSE_MS);
    expect(pacing.waitBefore('fast_tenant')).toBe(PAUSE_MS);
    advance(4);
    expect(pacing.waitBefore('fast_tenant')).toBe(PAUSE_MS - 4);
    advance(PAUSE_MS);
    // Then another tenant's steps run after one turn; the slow tenant's own still pause.
    expect(pacing.waitBefore('fast_tenant')).toBe(0);
    expect(pacing.waitBefore('slow_tenant')).toBe(PAUSE_MS);
    pacing.step('fast_tenant', () => advance(1));
    expect(pacing.waitBefore('fast_tenant')).toBe(0);
    // A fast step of its own ends the pauses; a slow one brings them back.
    pacing.step('slow_tenant', () => advance(SLOW_STEP_MS - 1));
    expect(pacing.waitBefore('slow_tenant')).toBe(0);
    pacing.step('slow_tenant', () => advance(50));
    expect(pacing.waitBefore('slow_tenant')).toBe(PAUSE_MS);
  });

  it('forgets a slow step once the event loop has had a while free, and a step that throws counts', () => {
    const { clock, advance } = steppedClock();
    const pacing = new PreviewPacing(clock);
    expect(() =>
      pacing.step('t1', () => {
        advance(SLOW_STEP_MS);
        throw new Error('render failed');
      }),
    ).toThrow('render failed');
    expect(pacing.waitBefore('t1')).toBe(PAUSE_MS);
    advance(SLOW_STEP_MEMORY_MS);
    expect(pacing.waitBefore('t1')).toBe(0);
  });

  it('remembers recent slow steps only, however many tenants preview', () => {
    const { clock, advance } = steppedClock();
    const pacing = new PreviewPacing(clock);
    for (let i = 0; i < 10_000; i++) pacing.step(`tenant_${i}`, () => advance(SLOW_STEP_MS));
    // Each slow step took SLOW_STEP_MS: only those that ended in the last SLOW_STEP_MEMORY_MS stay.
    expect(pacing.size).toBe(SLOW_STEP_MEMORY_MS / SLOW_STEP_MS);
    expect(pacing.waitBefore('tenant_9999')).toBe(PAUSE_MS);
    advance(PAUSE_MS);
    expect(pacing.waitBefore('tenant_0')).toBe(0);
    pacing.step('late', () => advance(SLOW_STEP_MEMORY_MS));
    expect(pacing.size).toBe(1);
  });
});

describe('previewWorkflow', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  // A render that runs into its budget (and its one retry): a slow step however fast the machine.
  const SLOW = '{% for i in (1..400) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}done';
  const templates = new TemplateCache();
  const workflow = (tenantId: string, title: string): WorkflowRecord => ({
    tenantId,
    key: 'paced',
    definition: { channels: [{ channel: 'in_app', template: { title } }] } as WorkflowDefinition,
    version: 1,
    createdAt: 0,
    updatedAt: 0,
    pausedReason: null,
    renderTimeouts: 0,
  });
  const preview = (record: WorkflowRecord) => {
    const subscriber: SubscriberRecord = {
      tenantId: record.tenantId,
      id: 'sub',
      email: null,
      phone: null,
      locale: null,
      timezone: null,
      data: {},
      createdAt: 0,
      updatedAt: 0,
    };
    return previewWorkflow(templates, {
      workflow: record,
      subscriber,
      data: {},
      locale: null,
      defaultTimezone: 'UTC',
      now: 0,
      layouts: new Map(),
    });
  };
  /** The pauses (timers of PAUSE_MS) a preview waited for before its steps. */
  async function pausesOf(record: WorkflowRecord): Promise<number> {
    const timers = vi.spyOn(globalThis, 'setTimeout');
    try {
      await preview(record);
      return timers.mock.calls.filter(([, ms]) => ms === PAUSE_MS).length;
    } finally {
      timers.mockRestore();
    }
  }

  it("does not pause one tenant's fast preview for another tenant's slow one once the loop has had its pause", async () => {
    const slow = await preview(workflow('ten_slow', SLOW));
    expect(slow[0]!.error?.reason).toBe('template_timeout');
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS + 5));
    expect(await pausesOf(workflow('ten_fast', 'Hello'))).toBe(0);
    // The slow tenant's own next preview does pause before its step.
    expect(await pausesOf(workflow('ten_slow', 'Hello'))).toBe(1);
  });
});
