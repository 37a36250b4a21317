import { afterEach, describe, expect, it } from 'vitest';
import { InboxFeed } from '../../../src/inbox/feed.ts';
import { deliverHandler } from '../../../src/pipeline/deliver.ts';
import { ProviderRegistry } from '../../../src/providers/registry.ts';
import { JobSignal } from '../../../src/queue/signal.ts';
import type { Lane, MessageRecord } from '../../../src/shared/model.ts';
import type { Job, Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';
import { TemplateCache } from '../../../src/templates/render.ts';

const DAY = 86_400_000;
let store: Store | null = null;
afterEach(async () => {
  await store?.close();
  store = null;
});

/**
 * A real SQLite store with one in-app workflow and an event to `a` and `b`, whose event reads
 * (each deliver batch starts with one) are written to `log`, as the feed's rings are.
 */
async function setUp(log: string[], beforeWrite?: (records: MessageRecord[]) => void) {
  const real = openSqliteStore({ file: ':memory:' });
  store = real;
  await real.ensureTenant('t1', 't1');
  await real.putWorkflow('t1', 'news', { channels: [{ channel: 'in_app', template: { title: 'Hi' } }] }, 1);
  await real.acceptEvents(
    [
      {
        tenantId: 't1',
        id: 'evt_1',
        input: { workflow: 'news', to: ['a', 'b'] },
        idempotencyKey: null,
        payloadHash: null,
        now: Date.now(),
        inlineSubscribers: [],
        subscriberIds: ['a', 'b'],
        job: { kind: 'fanout', runAt: null },
      },
    ],
    DAY,
  );
  const logged = new Proxy(real, {
    get(target, name, receiver) {
      if (name === 'createMessages' && beforeWrite)
        return (...args: Parameters<Store['createMessages']>) => {
          beforeWrite(args[0].map((m) => m.record));
          return target.createMessages(...args);
        };
      if (name === 'getEvents')
        return (refs: Parameters<Store['getEvents']>[0]) => {
          log.push('build');
          return target.getEvents(refs);
        };
      return Reflect.get(target, name, receiver);
    },
  });
  const inboxFeed = new InboxFeed();
  inboxFeed.tap((changes) => {
    for (const change of changes) log.push(`ring ${change.subscriberId}`);
  });
  return deliverHandler({
    store: logged,
    signal: new JobSignal(),
    templates: new TemplateCache(),
    providers: new ProviderRegistry(real, []),
    inboxFeed,
  });
}

const deliverJob = (id: number, subscriberId: string, lane: Lane): Job => ({
  id,
  tenantId: 't1',
  kind: 'deliver',
  lane,
  partitionKey: null,
  payload: { eventId: 'evt_1', subscriberIds: [subscriberId] },
  attempts: 0,
  maxAttempts: 5,
  runAt: 0,
  createdAt: 0,
});

describe('deliver batches on SQLite', () => {
  it('asks the worker to run its normal-lane batches one after another, and no others', async () => {
    const handler = await setUp([]);
    expect(handler.serialLanes).toEqual(['normal']);
  });

  it('a bulk batch writes page by page: a page that fails is retried alone, the pages written stay done', async () => {
    const log: string[] = [];
    const handler = await setUp(log, (records) => {
      if (records.some((r) => r.subscriberId === 'b')) throw new Error('disk full');
    });
    let yields = 0;
    const context = {
      owner: 'w1',
      yieldToUrgent: async () => {
        yields++;
      },
    };
    // b's page fails: a's, written before it in one batch and after it in another, stays written once.
    const first = await handler.run([deliverJob(1, 'b', 'bulk'), deliverJob(2, 'a', 'bulk')], context);
    expect(first.map((r) => r.kind)).toEqual(['retry', 'acked']);
    const second = await handler.run([deliverJob(3, 'a', 'bulk'), deliverJob(4, 'b', 'bulk')], context);
    expect(second.map((r) => r.kind)).toEqual(['acked', 'retry']);
    expect(log.filter((l) => l.startsWith('ring'))).toEqual(['ring a']);
    // Between the reads, each page's build and its write.
    expect(yields).toBeGreaterThanOrEqual(6);
  });
});
