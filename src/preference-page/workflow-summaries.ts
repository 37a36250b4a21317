import type { Channel, WorkflowDefinition } from '../shared/model.ts';
import type { Store } from '../store/port.ts';

/** What the preference page reads of a workflow (model.ts): its key, name, category and channels. */
export interface PageWorkflow {
  key: string;
  definition: Pick<WorkflowDefinition, 'name' | 'category'> & { channels: readonly { channel: Channel }[] };
}

/** How long a tenant's page workflows are reused; a workflow saved in this process is seen at once. */
const TTL_MS = 10_000;
/** Tenants remembered per store: past this the memo starts again (a bound, not a policy). */
const MAX_TENANTS = 1_000;

type Memo = Map<string, { at: number; workflows: Promise<PageWorkflow[]> }>;
/** Per store: servers of one process (tests) keep apart. */
const memos = new WeakMap<object, Memo>();

function memoOf(store: object): Memo {
  let memo = memos.get(store);
  if (!memo) {
    memo = new Map();
    memos.set(store, memo);
  }
  return memo;
}

/**
 * The tenant's workflows as the preference page shows them, read at most once per TTL_MS per
 * tenant and kept slim. Subscribers open the page with only a token: each load read every
 * definition whole, so a tenant with large workflows held the API thread up to a second per
 * page, for every tenant's requests.
 */
export function pageWorkflows(
  store: Pick<Store, 'listWorkflows'>,
  tenantId: string,
  now = Date.now(),
): Promise<PageWorkflow[]> {
  const memo = memoOf(store);
  const known = memo.get(tenantId);
  if (known && now - known.at < TTL_MS && now >= known.at) return known.workflows;
  if (memo.size >= MAX_TENANTS) memo.clear();
  const workflows = store.listWorkflows(tenantId).then((all) =>
    all.map((workflow) => ({
      key: workflow.key,
      definition: {
        name: workflow.definition.name,
        category: workflow.definition.category,
        channels: workflow.definition.channels.map((step) => ({ channel: step.channel })),
      },
    })),
  );
  const entry = { at: now, workflows };
  memo.set(tenantId, entry);
  // A failed read is not kept: the next page load reads again.
  workflows.catch(() => {
    if (memo.get(tenantId) === entry) memo.delete(tenantId);
  });
  return workflows;
}

/** A workflow of the tenant was saved, rolled back or deleted here: the next page reads them again. */
export function forgetPageWorkflows(store: object, tenantId: string): void {
  memos.get(store)?.delete(tenantId);
}
