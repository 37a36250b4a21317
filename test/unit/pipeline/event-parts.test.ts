import { afterEach, describe, expect, it } from 'vitest';
import { eventDocument } from '../../../src/api/event-document.ts';
import { InboxFeed } from '../../../src/inbox/feed.ts';
import { deliverHandler } from '../../../src/pipeline/deliver.ts';
import { DELIVER_CHUNK, type PipelineDeps } from '../../../src/pipeline/deps.ts';
import { fanoutHandler } from '../../../src/pipeline/fanout.ts';
import { ProviderRegistry } from '../../../src/providers/registry.ts';
import type { JobHandler } from '../../../src/queue/handler.ts';
import { JobSignal } from '../../../src/queue/signal.ts';
import type { EventInput } from '../../../src/shared/model.ts';
import type { Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';
import { TemplateCache } from '../../../src/templates/render.ts';

// An event's status, as GET /v1/events/{id} writes it, while its work is only partly done: the
// jobs are claimed and run here one at a time, as a busy worker would get to them, on a real store.

const DAY = 86_400_000;
const HOUR = 3_600_000;
let store: Store | null = null;
afterEach(async () => {
  await store?.close();
  store = null;
});

async function setUp() {
  const real = openSqliteStore({ file: ':memory:' });
  store = real;
  await real.ensureTenant('t1', 't1');
  await real.putWorkflow('t1', 'news', { channels: [{ channel: 'in_app', template: { title: 'Hi' } }] }, 1);
  const deps: PipelineDeps = {
    store: real,
    signal: new JobSignal(),
    templates: new TemplateCache(),
    providers: new ProviderRegistry(real, []),
    inboxFeed: new InboxFeed(),
    erasureKey: Buffer.alloc(32, 7),
  };
  const handlers: Record<string, JobHandler> = { fanout: fanoutHandler(deps), deliver: deliverHandler(deps) };
  const accept = (id: string, input: Omit<EventInput, 'workflow'>, now = Date.now()) =>
    real.acceptEvents(
      [
        {
          tenantId: 't1',
          id,
          input: { workflow: 'news', ...input },
          idempotencyKey: null,
          payloadHash: null,
          now,
          inlineSubscribers: [],
          subscriberIds: input.to.filter((to) => typeof to === 'string'),
          job: { kind: 'fanout', runAt: null },
        },
      ],
      DAY,
    );
  /** Claims one due job of `kind` and runs it; answers whether there was one. */
  const runOne = async (kind: string): Promise<boolean> => {
    const [job, ...others] = await real.claimJobs({
      owner: 'w1',
      now: Date.now(),
      leaseMs: 60_000,
      quotas: [{ lane: 'normal', limit: 1 }],
    });
    expect(others).toEqual([]);
    if (!job) return false;
    expect(job.kind).toBe(kind);
    await handlers[kind]!.run([job], { owner: 'w1' });
    return true;
  };
  const status = async (eventId: string) => {
    const event = await real.getEvent('t1', eventId);
    let text = '';
    for await (const piece of await eventDocument(real, event!)) text += piece;
    const view = JSON.parse(text);
    return { status: view.status as string, messages: view.messages.length as number };
  };
  return { real, accept, runOne, status };
}

describe("an event's status while its work is partly done", () => {
  it('a topic paged over several deliver jobs is processing until the last one ran, however final the first ones’ messages', async () => {
    const { real, accept, runOne, status } = await setUp();
    await real.upsertTopic('t1', 'all', null, Date.now());
    const members = Array.from(
      { length: 2 * DELIVER_CHUNK + 1 },
      (_, i) => `m_${String(i).padStart(3, '0')}`,
    );
    expect(await real.addTopicMembers('t1', 'all', members, Date.now())).toBe(members.length);
    await accept('evt_topic', { to: [{ topic: 'all' }] });
    // The first job hands a topic on to a paged fanout job of its own, which queues the pages.
    expect(await runOne('fanout')).toBe(true);
    expect(await status('evt_topic')).toEqual({ status: 'accepted', messages: 0 });
    expect(await runOne('fanout')).toBe(true);
    expect(await status('evt_topic')).toEqual({ status: 'accepted', messages: 0 });
    // Each page's in-app messages are delivered as they are written.
    expect(await runOne('deliver')).toBe(true);
    expect(await status('evt_topic')).toEqual({ status: 'processing', messages: DELIVER_CHUNK });
    expect(await runOne('deliver')).toBe(true);
    expect(await status('evt_topic')).toEqual({ status: 'processing', messages: 2 * DELIVER_CHUNK });
    expect(await runOne('deliver')).toBe(true);
    expect(await status('evt_topic')).toEqual({ status: 'completed', messages: members.length });
    expect(await runOne('deliver')).toBe(false);
  });

  it('a schedule that made some messages now and left others for later is processing until those ran', async () => {
    const { real, accept, runOne, status } = await setUp();
    await real.upsertSubscriber('t1', 'here', { timezone: 'UTC' }, Date.now());
    await real.upsertSubscriber('t1', 'tokyo', { timezone: 'Asia/Tokyo' }, Date.now());
    // Accepted two hours ago for an hour ago on a UTC clock: due now in UTC, fourteen hours from now in Tokyo.
    const localTime = new Date(Date.now() - HOUR).toISOString().slice(11, 16);
    await accept('evt_local', { to: ['here', 'tokyo'], schedule: { localTime } }, Date.now() - 2 * HOUR);
    expect(await runOne('fanout')).toBe(true);
    expect(await status('evt_local')).toEqual({ status: 'processing', messages: 1 });
    const event = await real.getEvent('t1', 'evt_local');
    expect(event).toMatchObject({ openParts: 1, countsEveryPart: true });
  });

  it('an event delivered by its first job alone writes nothing more than its messages', async () => {
    const { real, accept, runOne, status } = await setUp();
    await accept('evt_one', { to: ['a', 'b'] });
    expect(await runOne('fanout')).toBe(true);
    expect(await status('evt_one')).toEqual({ status: 'completed', messages: 2 });
    expect(await real.getEvent('t1', 'evt_one')).toMatchObject({ openParts: 1, countsEveryPart: false });
  });
});
