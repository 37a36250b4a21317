import { describe, expect, it } from 'vitest';
import { forgetPageWorkflows, pageWorkflows } from '../../../src/preference-page/workflow-summaries.ts';
import type { WorkflowRecord } from '../../../src/shared/model.ts';

function countingStore(workflows: () => Partial<WorkflowRecord>[]) {
  const store = {
    reads: 0,
    async listWorkflows() {
      store.reads++;
      return workflows() as WorkflowRecord[];
    },
  };
  return store;
}

const big = (key: string, category: string) => ({
  key,
  definition: {
    name: key.toUpperCase(),
    category,
    channels: [{ channel: 'email' as const, template: { subject: 's', text: 'x'.repeat(10_000) } }],
  },
});

describe('the preference page workflows', () => {
  it('are read once per tenant and 10 s, kept slim, and read again after a change here', async () => {
    let all = [big('a', 'news')];
    const store = countingStore(() => all);
    expect(await pageWorkflows(store, 't1', 1_000)).toEqual([
      { key: 'a', definition: { name: 'A', category: 'news', channels: [{ channel: 'email' }] } },
    ]);
    await pageWorkflows(store, 't1', 5_000);
    expect(store.reads).toBe(1);
    await pageWorkflows(store, 't2', 5_000);
    expect(store.reads).toBe(2);
    await pageWorkflows(store, 't1', 11_000);
    expect(store.reads).toBe(3);

    all = [...all, big('b', 'social')];
    forgetPageWorkflows(store, 't1');
    expect((await pageWorkflows(store, 't1', 11_001)).map((w) => w.key)).toEqual(['a', 'b']);
    expect(store.reads).toBe(4);
    // Another store (another server in this process) has its own.
    const other = countingStore(() => []);
    expect(await pageWorkflows(other, 't1', 11_002)).toEqual([]);
  });

  it('does not keep a failed read', async () => {
    let fail = true;
    const store = {
      async listWorkflows() {
        if (fail) throw new Error('down');
        return [] as WorkflowRecord[];
      },
    };
    await expect(pageWorkflows(store, 't1', 1_000)).rejects.toThrow('down');
    fail = false;
    expect(await pageWorkflows(store, 't1', 1_001)).toEqual([]);
  });
});
