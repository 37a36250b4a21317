import { describe, expect, it } from 'vitest';
import type { MessageRecord } from '../../src/shared/model.ts';
import type { AcceptEvent, Store } from '../../src/store/port.ts';
import { messageRecord } from '../helpers/message-record.ts';

/**
 * Listing and removing (ListingStore), run inside runStoreContract with its fresh store: tenants
 * `T` and `OTHER` exist, and `T` has the workflow `welcome`.
 */
export function listingContract(storeOf: () => Store, T: string, OTHER: string): void {
  describe('listing and removing', () => {
    it('pages subscribers in id order, after a key, within the tenant', async () => {
      const store = storeOf();
      for (const id of ['c', 'a', 'b', 'd'])
        await store.upsertSubscriber(T, id, { email: `${id}@x.test` }, 1);
      await store.upsertSubscriber(OTHER, 'a0', {}, 1);
      const first = await store.listSubscribers(T, null, 3);
      expect(first.map((s) => s.id)).toEqual(['a', 'b', 'c']);
      expect(first[0]?.email).toBe('a@x.test');
      expect((await store.listSubscribers(T, 'c', 3)).map((s) => s.id)).toEqual(['d']);
      expect(await store.listSubscribers(T, 'd', 3)).toEqual([]);
      expect((await store.listSubscribers(OTHER, null, 10)).map((s) => s.id)).toEqual(['a0']);
    });

    it('pages topics and counts the members of many at once', async () => {
      const store = storeOf();
      for (const key of ['t2', 't1', 't3']) await store.upsertTopic(T, key, `n-${key}`, 5);
      await store.upsertTopic(OTHER, 't1', null, 5);
      await store.addTopicMembers(T, 't1', ['u1', 'u2'], 6);
      await store.addTopicMembers(OTHER, 't1', ['u1'], 6);
      expect(await store.listTopics(T, null, 2)).toEqual([
        { key: 't1', name: 'n-t1', createdAt: 5 },
        { key: 't2', name: 'n-t2', createdAt: 5 },
      ]);
      expect((await store.listTopics(T, 't2', 2)).map((t) => t.key)).toEqual(['t3']);
      const counts = await store.countTopicMembersOf(T, ['t1', 't2', 'nope']);
      expect([...counts]).toEqual([['t1', 2]]);
    });

    it('upserts many subscribers in one call, keeping fields an item leaves out', async () => {
      const store = storeOf();
      await store.upsertSubscriber(T, 'u1', { email: 'old@x.test', locale: 'de' }, 1);
      const written = await store.upsertSubscribers(
        T,
        [
          { id: 'u2', phone: '+15550000001' },
          { id: 'u1', email: 'new@x.test' },
          { id: 'u2', data: { plan: 'pro' } },
        ],
        7,
      );
      expect(written.map((s) => s.id)).toEqual(['u2', 'u1', 'u2']);
      const u1 = await store.getSubscriber(T, 'u1');
      expect(u1).toMatchObject({ email: 'new@x.test', locale: 'de', createdAt: 1, updatedAt: 7 });
      const u2 = await store.getSubscriber(T, 'u2');
      expect(u2).toMatchObject({ phone: '+15550000001', data: { plan: 'pro' }, createdAt: 7 });
      expect(await store.getSubscriber(OTHER, 'u2')).toBeNull();
    });

    it('deletes a workflow, cancelling only what it has not sent yet', async () => {
      const store = storeOf();
      await store.putWorkflow(T, 'other', { channels: [] }, 1);
      await store.putWorkflow(OTHER, 'welcome', { channels: [] }, 1);
      const event = (id: string, workflow: string, tenantId = T): AcceptEvent => ({
        tenantId,
        id,
        input: { workflow, to: ['u1'] },
        idempotencyKey: null,
        payloadHash: null,
        now: 1_000,
        inlineSubscribers: [],
        subscriberIds: [],
        job: { kind: 'fanout', runAt: null },
      });
      await store.acceptEvents(
        [
          event('evt_sent', 'welcome'),
          event('evt_waiting', 'welcome'),
          event('evt_scheduled', 'welcome'),
          event('evt_other', 'other'),
          event('evt_far', 'welcome', OTHER),
        ],
        86_400_000,
      );
      const msg = (id: string, eventId: string, over: Partial<MessageRecord> = {}) => ({
        record: messageRecord({
          tenantId: T,
          id,
          eventId,
          channel: 'email',
          status: 'queued',
          provider: null,
          ...over,
        }),
        followUp: null,
      });
      await store.createMessages([
        msg('m_sent', 'evt_sent', { status: 'sent' }),
        msg('m_sent_fallback', 'evt_sent', { channel: 'sms' }),
        msg('m_waiting', 'evt_waiting', { status: 'deferred' }),
        msg('m_other', 'evt_other', { workflow: 'other' }),
        msg('m_far', 'evt_far', { tenantId: OTHER }),
      ]);

      // evt_sent is a broadcast mid-way: it counts every part, three still to run.
      const [held] = (
        await store.claimJobs({
          owner: 'w1',
          now: 2_000,
          leaseMs: 60_000,
          quotas: [{ lane: 'normal', limit: 10 }],
        })
      ).filter((job) => job.tenantId === T);
      await store.completeJobs(
        'w1',
        [held!.id],
        [],
        [{ jobId: held!.id, tenantId: T, eventId: 'evt_sent', by: 2 }],
      );
      expect(await store.getEvent(T, 'evt_sent')).toMatchObject({ openParts: 3, countsEveryPart: true });

      expect(await store.deleteWorkflow(T, 'welcome', 9)).toEqual({ events: 2, messages: 2 });
      // Its parts left will find no workflow and make nothing: none is left to wait for.
      expect(await store.getEvent(T, 'evt_sent')).toMatchObject({ status: 'accepted', openParts: 0 });
      expect(await store.getWorkflow(T, 'welcome')).toBeNull();
      expect((await store.getEvent(T, 'evt_sent'))?.status).toBe('accepted');
      for (const id of ['evt_waiting', 'evt_scheduled'])
        expect((await store.getEvent(T, id))?.status).toBe('cancelled');
      for (const id of ['m_sent_fallback', 'm_waiting']) {
        const cancelled = await store.getMessage(T, id);
        expect(cancelled?.status).toBe('cancelled');
        expect(cancelled?.updatedAt).toBe(9);
        expect(cancelled?.timeline.at(-1)?.detail).toBe('cancelled: workflow "welcome" was deleted');
      }
      expect((await store.getMessage(T, 'm_sent'))?.status).toBe('sent');
      // Another workflow and another tenant's workflow of the same key: untouched.
      expect((await store.getMessage(T, 'm_other'))?.status).toBe('queued');
      expect((await store.getEvent(T, 'evt_other'))?.status).toBe('accepted');
      expect(await store.getWorkflow(OTHER, 'welcome')).not.toBeNull();
      expect((await store.getMessage(OTHER, 'm_far'))?.status).toBe('queued');
      expect((await store.getEvent(OTHER, 'evt_far'))?.status).toBe('accepted');
      // Gone: a second delete finds nothing, and new events for it are refused.
      expect(await store.deleteWorkflow(T, 'welcome', 10)).toBeNull();
      expect(await store.acceptEvents([event('evt_new', 'welcome')], 86_400_000)).toEqual([
        { ok: false, code: 'workflow_not_found' },
      ]);
    });

    it('deletes an integration with its circuit, within the tenant', async () => {
      const store = storeOf();
      const integration = (tenantId: string) => ({
        tenantId,
        id: 'mail',
        channel: 'email' as const,
        provider: 'sandbox',
        priority: 1,
        config: {},
        sealedCredentials: null,
        enabled: true,
      });
      await store.putIntegration(integration(T), 1);
      await store.putIntegration(integration(OTHER), 1);
      await store.putCircuit({
        tenantId: T,
        integrationId: 'mail',
        state: 'open',
        failures: 5,
        openedAt: 1,
        updatedAt: 1,
      });
      expect(await store.deleteIntegration(T, 'mail')).toBe(true);
      expect(await store.getIntegration(T, 'mail')).toBeNull();
      expect(await store.listCircuits(T)).toEqual([]);
      expect(await store.getIntegration(OTHER, 'mail')).not.toBeNull();
      expect(await store.deleteIntegration(T, 'mail')).toBe(false);
    });

    it('counts due ready jobs per lane, capped, with the oldest run time among them', async () => {
      const store = storeOf();
      const spec = (lane: 'high' | 'bulk', runAt: number) => ({
        tenantId: T,
        kind: 'test',
        lane,
        payload: {},
        runAt,
      });
      await store.enqueueJobs([spec('high', 100), spec('high', 50), spec('high', 5_000), spec('bulk', 300)]);
      await store.enqueueJobs([spec('bulk', 200), spec('bulk', 400)]);
      const stats = await store.queueStats(1_000, 10);
      expect(stats).toEqual([
        { lane: 'critical', due: 0, oldestRunAt: null },
        { lane: 'high', due: 2, oldestRunAt: 50 },
        { lane: 'normal', due: 0, oldestRunAt: null },
        { lane: 'bulk', due: 3, oldestRunAt: 200 },
      ]);
      // Capped: at most `cap` counted per lane.
      expect((await store.queueStats(1_000, 2)).find((s) => s.lane === 'bulk')?.due).toBe(2);
      // A leased job is being worked on: no backlog.
      await store.claimJobs({
        owner: 'w',
        now: 1_000,
        leaseMs: 10_000,
        quotas: [{ lane: 'high', limit: 10 }],
      });
      expect((await store.queueStats(1_000, 10)).find((s) => s.lane === 'high')).toEqual({
        lane: 'high',
        due: 0,
        oldestRunAt: null,
      });
    });

    it('deletes a topic and its memberships, not the subscribers', async () => {
      const store = storeOf();
      await store.upsertTopic(T, 'news', null, 1);
      await store.upsertTopic(OTHER, 'news', null, 1);
      await store.addTopicMembers(T, 'news', ['u1'], 1);
      await store.addTopicMembers(OTHER, 'news', ['u1'], 1);
      expect(await store.deleteTopic(T, 'news')).toBe(true);
      expect(await store.getTopic(T, 'news')).toBeNull();
      expect(await store.countTopicMembers(T, 'news')).toBe(0);
      expect(await store.getSubscriber(T, 'u1')).not.toBeNull();
      expect(await store.countTopicMembers(OTHER, 'news')).toBe(1);
      expect(await store.deleteTopic(T, 'news')).toBe(false);
      // A topic created again under the key starts empty.
      await store.upsertTopic(T, 'news', null, 2);
      expect(await store.countTopicMembers(T, 'news')).toBe(0);
    });
  });
}
