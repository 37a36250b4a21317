import type { LayoutRecord } from '../shared/model.ts';
import type { Store } from '../store/port.ts';
import type { DeliveryTarget } from './deliver.ts';

/**
 * Finds the layout version each email step with a `layout` wraps its html in — the one current
 * when the target's event was accepted. Per (tenant, layout) and batch, the newest version is
 * read once and serves every event accepted since it was made (nearly all of them); an older
 * event reads the version of its time (Store.layoutAt). Most workflows have no layout: then
 * nothing is read. Null for a layout that does not exist.
 */
export async function attachLayouts(store: Pick<Store, 'layoutAt'>, targets: DeliveryTarget[]) {
  const newest = new Map<string, Promise<LayoutRecord | null>>();
  const older = new Map<string, Promise<LayoutRecord | null>>();
  const memo = (
    map: Map<string, Promise<LayoutRecord | null>>,
    id: string,
    read: () => Promise<LayoutRecord | null>,
  ) => {
    let layout = map.get(id);
    if (!layout) {
      layout = read();
      map.set(id, layout);
    }
    return layout;
  };
  for (const target of targets) {
    const steps = target.workflow.definition.channels;
    if (!steps.some((step) => step.layout !== undefined)) continue;
    const layouts = new Map<number, LayoutRecord | null>();
    const { tenantId, createdAt } = target.event;
    for (const [index, step] of steps.entries()) {
      const key = step.layout;
      if (key === undefined || step.channel !== 'email') continue;
      const id = `${tenantId}\u0000${key}`;
      const current = await memo(newest, id, () => store.layoutAt(tenantId, key, Number.MAX_SAFE_INTEGER));
      layouts.set(
        index,
        current === null || current.createdAt <= createdAt
          ? current
          : await memo(older, `${id}\u0000${createdAt}`, () => store.layoutAt(tenantId, key, createdAt)),
      );
    }
    target.layouts = layouts;
  }
}
