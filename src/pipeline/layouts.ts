import type { LayoutRecord } from '../shared/model.ts';
import type { Store } from '../store/port.ts';
import { layoutAt } from '../templates/layout.ts';
import type { DeliveryTarget } from './deliver.ts';

/**
 * Finds the layout version each email step with a `layout` wraps its html in — the one current
 * when the target's event was accepted — reading each layout's versions once per batch (most
 * workflows have no layout: then nothing is read). Null for a layout that does not exist.
 */
export async function attachLayouts(store: Pick<Store, 'listLayoutVersions'>, targets: DeliveryTarget[]) {
  const read = new Map<string, Promise<LayoutRecord[]>>();
  for (const target of targets) {
    const steps = target.workflow.definition.channels;
    if (!steps.some((step) => step.layout !== undefined)) continue;
    const layouts = new Map<number, LayoutRecord | null>();
    for (const [index, step] of steps.entries()) {
      if (step.layout === undefined || step.channel !== 'email') continue;
      const id = `${target.event.tenantId}\u0000${step.layout}`;
      let versions = read.get(id);
      if (!versions) {
        versions = store.listLayoutVersions(target.event.tenantId, step.layout);
        read.set(id, versions);
      }
      layouts.set(index, layoutAt(await versions, target.event.createdAt));
    }
    target.layouts = layouts;
  }
}
