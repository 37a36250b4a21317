import { afterEach, describe, expect, it } from 'vitest';
import { InboxFeed } from '../../../src/inbox/feed.ts';
import { deliverHandler } from '../../../src/pipeline/deliver.ts';
import { erasedSubscriberId } from '../../../src/privacy/erasure.ts';
import { ProviderRegistry } from '../../../src/providers/registry.ts';
import { JobSignal } from '../../../src/queue/signal.ts';
import type { Job, Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';
import { TemplateCache } from '../../../src/templates/render.ts';

const DAY = 86_400_000;
const KEY = Buffer.alloc(32, 7);
let store: Store | null = null;
afterEach(async () => {
  await store?.close();
  store = null;
});

/** Erases `subscriberId` as DELETE /v1/subscribers/{id} begins it (its job left queued). */
const erase = async (on: Store, subscriberId: string): Promise<void> => {
  await on.beginErasure(
    {
      tenantId: 't1',
      subscriberId,
      erasedId: erasedSubscriberId(KEY, 't1', subscriberId),
      before: Date.now(),
      now: Date.now(),
      batch: 100,
    },
    { tenantId: 't1', kind: 'erase-subscriber', lane: 'bulk', payload: {} },
  );
};

/**
 * A real SQLite store with an in-app workflow and two events: `evt_alone` to `a`, `evt_both` to
 * `a` and `b`, each with data about its recipients. `beforeWrite` runs between a delivery's build
 * and its write.
 */
async function setUp(beforeWrite?: (on: Store) => Promise<void>) {
  const real = openSqliteStore({ file: ':memory:' });
  store = real;
  await real.ensureTenant('t1', 't1');
  await real.putWorkflow(
    't1',
    'news',
    { channels: [{ channel: 'in_app', template: { title: 'Hi {{ data.note }}' } }] },
    1,
  );
  const accepted = (id: string, to: string[]) => ({
    tenantId: 't1',
    id,
    input: { workflow: 'news', to, data: { note: `about ${to.join(' and ')}` } },
    idempotencyKey: null,
    payloadHash: null,
    now: Date.now(),
    inlineSubscribers: [],
    subscriberIds: to,
    job: { kind: 'fanout' as const, runAt: null },
  });
  await real.acceptEvents([accepted('evt_alone', ['a']), accepted('evt_both', ['a', 'b'])], DAY);
  let hooked = false;
  const withHook = new Proxy(real, {
    get(target, name, receiver) {
      if (name === 'createMessages' && beforeWrite && !hooked)
        return async (...args: Parameters<Store['createMessages']>) => {
          hooked = true;
          await beforeWrite(real);
          return target.createMessages(...args);
        };
      return Reflect.get(target, name, receiver);
    },
  });
  return deliverHandler({
    store: withHook,
    signal: new JobSignal(),
    templates: new TemplateCache(),
    providers: new ProviderRegistry(real, []),
    inboxFeed: new InboxFeed(),
    erasureKey: KEY,
  });
}

const deliverJob = (id: number, eventId: string, subscriberIds: string[]): Job => ({
  id,
  tenantId: 't1',
  kind: 'deliver',
  lane: 'normal',
  partitionKey: null,
  payload: { eventId, subscriberIds },
  attempts: 0,
  maxAttempts: 5,
  runAt: 0,
  createdAt: 0,
});

const context = { owner: 'w1' };

describe('a delivery meeting an erasure', () => {
  it('that began before it: the recipient gets nothing and the events no longer name them', async () => {
    const handler = await setUp();
    await erase(store!, 'a');
    await handler.run([deliverJob(1, 'evt_alone', ['a']), deliverJob(2, 'evt_both', ['a', 'b'])], context);
    const erased = erasedSubscriberId(KEY, 't1', 'a');
    const alone = await store!.getEvent('t1', 'evt_alone');
    expect(alone!.payload).toMatchObject({ to: [{ subscriberId: erased }], data: {} });
    // b's data stays: the application sent it to b as well.
    const both = await store!.getEvent('t1', 'evt_both');
    expect(both!.payload).toMatchObject({
      to: [{ subscriberId: erased }, 'b'],
      data: { note: 'about a and b' },
    });
    expect(JSON.stringify(alone!.payload)).not.toContain('"a"');
    const messages = await store!.listMessages({ tenantId: 't1', limit: 10 });
    expect(messages.map((m) => m.subscriberId)).toEqual(['b']);
  });

  it('that commits between its build and its write: nothing is written for them, and the event no longer names them', async () => {
    const handler = await setUp((on) => erase(on, 'a'));
    await handler.run([deliverJob(1, 'evt_both', ['a', 'b'])], context);
    const messages = await store!.listMessages({ tenantId: 't1', limit: 10 });
    expect(messages.map((m) => m.subscriberId)).toEqual(['b']);
    const both = await store!.getEvent('t1', 'evt_both');
    expect(both!.payload).toMatchObject({ to: [{ subscriberId: erasedSubscriberId(KEY, 't1', 'a') }, 'b'] });
  });
});
