import { afterEach, describe, expect, it } from 'vitest';
import { ERASE_JOB, erasureHandler, startErasure } from '../../../src/privacy/erasure.ts';
import { idFloor } from '../../../src/shared/ids.ts';
import { POSTGRES_CAPABILITIES } from '../../../src/store/capabilities.ts';
import { ERASURE_CLOCK_MARGIN_MS } from '../../../src/store/personal-data.ts';
import type { Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';
import { messageRecord } from '../../helpers/message-record.ts';

const KEY = Buffer.alloc(32, 3);
let store: Store | null = null;
afterEach(async () => {
  await store?.close();
  store = null;
});

/** A real store that answers as one whose writers run side by side (PostgreSQL's capabilities). */
function sideBySide(real: Store): Store {
  return new Proxy(real, {
    get: (target, name, receiver) =>
      name === 'capabilities' ? POSTGRES_CAPABILITIES : Reflect.get(target, name, receiver),
  });
}

const written = (id: string, createdAt: number) => ({
  record: messageRecord({
    tenantId: 't1',
    id,
    eventId: `evt_${id}`,
    subscriberId: 'u1',
    channel: 'email',
    status: 'sent',
    content: { subject: 'Secret', text: 'for u1' },
    createdAt,
  }),
  followUp: null,
});

async function runDue(on: Store, now: number) {
  const jobs = await on.claimJobs({
    owner: 'w',
    now,
    leaseMs: 60_000,
    quotas: [{ lane: 'bulk', limit: 10 }],
  });
  expect(jobs.map((job) => job.kind)).toEqual([ERASE_JOB]);
  return erasureHandler(on, () => now).run(jobs, { owner: 'w' });
}

describe('an erasure where writers run side by side', () => {
  it('erases the messages once more a margin after the DELETE: a write under way as it committed is caught', async () => {
    const real = openSqliteStore({ file: ':memory:' });
    store = real;
    const on = sideBySide(real);
    await real.ensureTenant('t1', 't1');
    await real.upsertSubscriber('t1', 'u1', { email: 'u1@example.com' }, 1);
    const at = Date.now();
    await real.createMessages([written('msg_a', at - 1000)]);
    await startErasure(on, KEY, 't1', 'u1', at);

    // Everything there is erased, then the job waits for the margin.
    expect((await runDue(on, at)).map((r) => r.kind)).toEqual(['acked']);
    expect((await real.getMessage('t1', 'msg_a'))!.subscriberId).toMatch(/^erased:/);
    // A delivery that read u1 before the erasure commits its message only now, under the old id.
    await real.createMessages([written('msg_b', at - 500)]);
    const queued = await real.claimJobs({
      owner: 'peek',
      now: at + ERASURE_CLOCK_MARGIN_MS - 1,
      leaseMs: 1,
      quotas: [{ lane: 'bulk', limit: 10 }],
    });
    expect(queued).toEqual([]);

    expect(await runDue(on, at + ERASURE_CLOCK_MARGIN_MS + 1_000)).toEqual([{ kind: 'done' }]);
    const late = await real.getMessage('t1', 'msg_b');
    expect(late!.subscriberId).toMatch(/^erased:/);
    expect(late!.content).toEqual({});
  });
});

describe('an erasure job', () => {
  it("ends by deleting the subscriber's rate-limit counters, which name them", async () => {
    const real = openSqliteStore({ file: ':memory:' });
    store = real;
    await real.ensureTenant('t1', 't1');
    await real.upsertSubscriber('t1', 'u1', { email: 'u1@example.com' }, 1);
    const at = Date.now();
    const counters = ['u1', 'u2'].map((id) => ({
      scope: ['welcome', 'subscriber', '86400000', '1', id].join('\u001f'),
      limit: 1,
      windowEnd: at + 86_400_000,
    }));
    const takeBoth = () =>
      real.takeRateCounts('t1', counters, [
        { shared: [0], parts: [[]] },
        { shared: [1], parts: [[]] },
      ]);
    expect(await takeBoth()).toEqual([[-1], [-1]]);
    await startErasure(real, KEY, 't1', 'u1', at);
    expect(await runDue(real, at)).toEqual([{ kind: 'done' }]);
    // u1's counter is gone (a new u1 starts from zero); u2's is still full.
    expect(await takeBoth()).toEqual([[-1], [1]]);
  });
});

describe('an erasure job and status webhooks', () => {
  it('reads the queue again after the messages: a webhook queued meanwhile names the erased id', async () => {
    const real = openSqliteStore({ file: ':memory:' });
    store = real;
    await real.ensureTenant('t1', 't1');
    await real.upsertSubscriber('t1', 'u1', { email: 'u1@example.com' }, 1);
    const at = Date.now();
    // A send finishing while the messages are being erased queues its status webhook then.
    let queued = false;
    const during = new Proxy(real, {
      get(target, name, receiver) {
        if (name !== 'eraseMessages') return Reflect.get(target, name, receiver);
        return async (...args: Parameters<Store['eraseMessages']>) => {
          if (!queued) {
            queued = true;
            const webhook = (webhookId: string, messageId: string | undefined) => ({
              tenantId: 't1',
              kind: 'endpoint_event',
              lane: 'normal' as const,
              payload: {
                endpointId: 'e1',
                webhookId,
                event: {
                  type: 'message.sent',
                  timestamp: 't',
                  data: { messageId, subscriberId: 'u1', error: 'x' },
                },
              },
            });
            await target.enqueueJobs([
              // About one of their messages (made before the erasure)…
              webhook('whmsg_old', `${idFloor('msg', at - 1)}0000000000000001`),
              // …and about a new subscriber of the same id (made after it), or about no message.
              webhook('whmsg_new', `${idFloor('msg', at + 60_000)}0000000000000001`),
              webhook('whmsg_none', undefined),
            ]);
          }
          return target.eraseMessages(...args);
        };
      },
    });
    await startErasure(real, KEY, 't1', 'u1', at);
    expect(await runDue(during, at)).toEqual([{ kind: 'done' }]);
    expect(queued).toBe(true);
    const webhooks = await real.claimJobs({
      owner: 'w',
      // Queued by the real clock, a moment after `at`.
      now: Date.now() + 1_000,
      leaseMs: 1000,
      quotas: [{ lane: 'normal', limit: 10 }],
    });
    const named = Object.fromEntries(
      webhooks.map((job) => {
        const { webhookId, event } = job.payload as {
          webhookId: string;
          event: { data: Record<string, unknown> };
        };
        return [webhookId, event.data];
      }),
    );
    expect(named.whmsg_old!.subscriberId).toMatch(/^erased:/);
    expect(named.whmsg_old).not.toHaveProperty('error');
    // Left as they were: by then the id may be someone else's.
    expect(named.whmsg_new).toMatchObject({ subscriberId: 'u1', error: 'x' });
    expect(named.whmsg_none).toMatchObject({ subscriberId: 'u1', error: 'x' });
  });
});
