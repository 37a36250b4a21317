import { afterEach, describe, expect, it } from 'vitest';
import { InboxFeed } from '../../../src/inbox/feed.ts';
import { JOB_KINDS, sendJob } from '../../../src/pipeline/deps.ts';
import { sendHandler } from '../../../src/pipeline/send.ts';
import { ProviderRegistry } from '../../../src/providers/registry.ts';
import { JobSignal } from '../../../src/queue/signal.ts';
import { newId } from '../../../src/shared/ids.ts';
import type { MessageRecord } from '../../../src/shared/model.ts';
import type { Store } from '../../../src/store/port.ts';
import { openSqliteStore } from '../../../src/store/sqlite/index.ts';
import { TemplateCache } from '../../../src/templates/render.ts';

let store: Store | null = null;

afterEach(async () => {
  await store?.close();
  store = null;
});

/** A queued email as the deliver job leaves it, with its send job. */
function queuedEmail(tenantId: string, subscriberId: string, workflow: string) {
  const now = Date.now();
  const record: MessageRecord = {
    tenantId,
    id: newId('msg', now),
    eventId: newId('evt', now),
    subscriberId,
    channel: 'email',
    workflow,
    status: 'queued',
    provider: null,
    content: { subject: 'News', text: 'News' },
    data: {},
    timeline: [{ at: new Date(now).toISOString(), status: 'queued', detail: 'normal lane' }],
    eventAt: now,
    createdAt: now,
    updatedAt: now,
    seenAt: null,
    readAt: null,
    archivedAt: null,
    lastError: null,
    reason: null,
  };
  // Partition keys do not name the tenant: t2's sends go in another lane, so that the same
  // subscriber id in both tenants can be claimed in one batch.
  return { record, followUp: sendJob(record, tenantId === 't1' ? 'normal' : 'high', now) };
}

/** Counts the calls a store gets by method name, passing every call through. */
function counting(inner: Store): { store: Store; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(name), (calls.get(String(name)) ?? 0) + 1);
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

describe('send: one batch of sends, read once', () => {
  it('decides each message by its own tenant, workflow, subscriber and choices, reading each once per batch', async () => {
    const real = openSqliteStore({ file: ':memory:' });
    store = real;
    const now = Date.now();
    const email = (channel: 'email') => ({ channel, template: { subject: 'News', text: 'News' } });
    for (const tenant of ['t1', 't2']) {
      await real.ensureTenant(tenant, tenant);
      await real.putWorkflow(tenant, 'news', { channels: [email('email')] }, now);
      await real.upsertSubscriber(tenant, 'alice', { email: `alice@${tenant}.example` }, now);
      await real.upsertSubscriber(tenant, 'dave', { email: `dave@${tenant}.example` }, now);
    }
    await real.putWorkflow('t1', 'alerts', { channels: [email('email')] }, now);
    await real.putWorkflow('t2', 'alerts', { channels: [email('email')] }, now);
    await real.upsertSubscriber('t1', 'bob', { email: 'bob@t1.example' }, now);
    await real.upsertSubscriber('t1', 'erin', {}, now);

    const batch = [
      queuedEmail('t1', 'alice', 'news'), // opts out after it was queued → suppressed
      queuedEmail('t1', 'bob', 'news'), // → sent
      queuedEmail('t2', 'alice', 'news'), // t1's alice opted out, not t2's → sent
      queuedEmail('t1', 'dave', 'alerts'), // paused in t1 → cancelled
      queuedEmail('t2', 'dave', 'alerts'), // not paused in t2 → sent
      queuedEmail('t1', 'erin', 'news'), // no address → suppressed
    ];
    await real.createMessages(batch);
    // Once its sends are queued, the same key is paused in t1 only.
    await real.putWorkflow('t1', 'alerts', { paused: true, channels: [email('email')] }, now);
    await real.patchPreferences('t1', 'alice', { channels: { email: false } }, Date.now());
    const jobs = await real.claimJobs({
      owner: 'test',
      now: Date.now() + 1,
      leaseMs: 30_000,
      quotas: [
        { lane: 'high', limit: 16 },
        { lane: 'normal', limit: 16 },
      ],
    });
    expect(jobs.map((job) => job.kind)).toEqual(Array(batch.length).fill(JOB_KINDS.send));

    const { store: watched, calls } = counting(real);
    const handler = sendHandler({
      store: watched,
      signal: new JobSignal(),
      templates: new TemplateCache(),
      providers: new ProviderRegistry(real, Buffer.alloc(32)),
      inboxFeed: new InboxFeed(),
    });
    const results = await handler.run(jobs, { owner: 'test' });
    // A sent message's job ends with its `sent` record (acked); the others are the worker's to complete.
    const resultOf = new Map(
      jobs.map((job, i) => [(job.payload as { messageId: string }).messageId, results[i]?.kind]),
    );
    expect(batch.map(({ record }) => resultOf.get(record.id))).toEqual([
      'done',
      'acked',
      'acked',
      'done',
      'acked',
      'done',
    ]);
    expect(await real.countJobs()).toMatchObject({ leased: 3 });

    const outcome = async ({ record }: (typeof batch)[number]) => {
      const message = await real.getMessage(record.tenantId, record.id);
      return `${record.tenantId}/${record.subscriberId}/${record.workflow}: ${message?.status} ${message?.reason ?? ''}`.trim();
    };
    expect(await Promise.all(batch.map(outcome))).toEqual([
      't1/alice/news: suppressed opted_out',
      't1/bob/news: sent',
      't2/alice/news: sent',
      't1/dave/alerts: cancelled workflow_paused',
      't2/dave/alerts: sent',
      't1/erin/news: suppressed no_address',
    ]);
    // Per tenant: one settings read, one preferences read, one subscribers read; per (tenant,
    // workflow) one workflow read — never one of each per message.
    expect(calls.get('getTenantSettings')).toBe(2);
    expect(calls.get('getPreferencesFor')).toBe(2);
    expect(calls.get('getSubscribers')).toBe(2);
    expect(calls.get('getWorkflow')).toBe(4);
    // The messages too: one read per tenant.
    expect(calls.get('getMessages')).toBe(2);
    // Their events' cancels: one read per tenant.
    expect(calls.get('cancelledEvents')).toBe(2);
    // The consent versions: once before the batch's reads, once after the three `sending`
    // records (committed together); unmoved, so nothing above was read again.
    expect(calls.get('consentVersions')).toBe(2);
    expect(calls.get('getEvents') ?? 0).toBe(0);
    expect(calls.get('getMessage') ?? 0).toBe(0);
    expect(calls.get('getPreferences') ?? 0).toBe(0);
    expect(calls.get('getSubscriber') ?? 0).toBe(0);
  });
});
