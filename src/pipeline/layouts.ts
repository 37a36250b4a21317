import type { LayoutRecord } from '../shared/model.ts';
import type { Store } from '../store/port.ts';
import type { DeliveryTarget } from './deliver.ts';

/**
 * Finds the layout version each email step with a `layout` wraps its html in — the one current
 * when the target's event was accepted — reading each (layout, acceptance time) once per batch
 * (most workflows have no layout: then nothing is read). Null for a layout that does not exist.
 */
export async function attachLayouts(store: Pick<Store, 'layoutAt'>, targets: DeliveryTarget[]) {
  const read = new Map<string, Promise<LayoutRecord | null>>();
  for (const target of targets) {
    const steps = target.workflow.definition.channels;
    if (!steps.some((step) => step.layout !== undefined)) continue;
    const layouts = new Map<number, LayoutRecord | null>();
    const { tenantId, createdAt } = target.event;
    for (const [index, step] of steps.entries()) {
      if (step.layout === undefined || step.channel !== 'email') continue;
      const id = `${tenantId}\u0000${step.layout}\u0000${createdAt}`;
      let layout = read.get(id);
      if (!layout) {
        layout = store.layoutAt(tenantId, step.layout, createdAt);
        read.set(id, layout);
      }
      layouts.set(index, await layout);
    }
    target.layouts = layouts;
  }
}
