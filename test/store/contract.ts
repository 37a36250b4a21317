import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { storedDigestKey } from '../../src/policy/digest.ts';
import { LEGACY_SEALED_SETTING, sealLegacyData } from '../../src/security/personal-data-key.ts';
import { newId } from '../../src/shared/ids.ts';
import type { MessageRecord } from '../../src/shared/model.ts';
import { ConsentChangedSinceRead } from '../../src/store/consent-guard.ts';
import type {
  AcceptEvent,
  DeviceInput,
  DigestJobPayload,
  DigestJoin,
  JobSpec,
  Store,
} from '../../src/store/port.ts';
import { WorkflowPausedSinceRead } from '../../src/store/workflow-pause.ts';
import { messageRecord } from '../helpers/message-record.ts';
import { listingContract } from './contract-listing.ts';
import { sizedPagesContract } from './contract-sized-pages.ts';
import { personalDataContract } from './personal-data-contract.ts';

const T = 'ten_a';
const OTHER = 'ten_b';
const DAY = 86_400_000;

function job(over: Partial<JobSpec> = {}): JobSpec {
  return { tenantId: T, kind: 'test', lane: 'normal', payload: { n: 1 }, ...over };
}

function acceptable(over: Partial<AcceptEvent> & { id: string }): AcceptEvent {
  return {
    tenantId: T,
    input: { workflow: 'welcome', to: ['u1'] },
    idempotencyKey: null,
    payloadHash: 'h1',
    now: 1_000_000,
    inlineSubscribers: [],
    subscriberIds: [],
    job: { kind: 'fanout', runAt: null },
    ...over,
  };
}

function message(over: Partial<MessageRecord> & { id: string }): MessageRecord {
  return messageRecord({
    tenantId: T,
    eventId: 'evt_1',
    content: { title: 'Hi', body: 'There' },
    data: { a: 1 },
    timeline: [{ at: '2026-01-01T00:00:00.000Z', status: 'delivered' }],
    ...over,
  });
}

/**
 * The behaviour every Store adapter must have. Each adapter's test file calls this with a
 * factory that returns a fresh, empty, migrated store.
 */
/**
 * Reads everything a store's database holds, bypassing the store: every row of every table as
 * text and, for a SQLite file, the raw bytes of the file and its WAL.
 */
export interface RawAccess {
  dump(store: Store): Promise<string>;
  /** Runs SQL both dialects read alike (literals only) straight on the database, bypassing the store. */
  exec(store: Store, sql: string): Promise<void>;
}

export function runStoreContract(name: string, makeStore: () => Promise<Store>, raw?: RawAccess): void {
  const rawDump = raw?.dump;
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await makeStore();
      await store.ensureTenant(T, 'A');
      await store.ensureTenant(OTHER, 'B');
      await store.putWorkflow(T, 'welcome', { channels: [] }, 1);
    });
    afterEach(async () => {
      await store.close();
    });
    /** One subscriber's logged inbox changes after `afterSeq`, as a stream reads them. */
    const loggedChanges = async (tenantId: string, subscriberId: string, afterSeq: number, limit: number) =>
      (await store.catchUpInboxes(tenantId, [{ subscriberId, afterSeq }], limit))[0]!.changes.map(
        (c) => c.change,
      );

    describe('personal data', () => personalDataContract(() => store));

    describe('settings, tenants and keys', () => {
      it('keeps the first value written for a setting', async () => {
        expect(await store.settingOnce('secret', 'one')).toBe('one');
        expect(await store.settingOnce('secret', 'two')).toBe('one');
      });

      it('answers its readiness probe', async () => {
        await expect(store.probe()).resolves.toBeUndefined();
      });

      it('reads a setting, and replaces or removes it only while it holds the expected value', async () => {
        expect(await store.getSetting('canary')).toBeNull();
        await store.settingOnce('canary', 'one');
        expect(await store.getSetting('canary')).toBe('one');
        expect(await store.replaceSetting('canary', 'stale', 'two')).toBe(false);
        expect(await store.replaceSetting('canary', 'one', 'two')).toBe(true);
        expect(await store.getSetting('canary')).toBe('two');
        expect(await store.replaceSetting('canary', 'one', null)).toBe(false);
        expect(await store.replaceSetting('canary', 'two', null)).toBe(true);
        expect(await store.getSetting('canary')).toBeNull();
      });

      it('finds a tenant by key hash and replaces keys by label', async () => {
        await store.addApiKey({ tenantId: T, hash: 'h-old', prefix: 'tdk_a', label: 'default' });
        expect(await store.tenantForKeyHash('h-old')).toBe(T);
        await store.addApiKey({ tenantId: T, hash: 'h-new', prefix: 'tdk_b', label: 'default' }, true);
        expect(await store.tenantForKeyHash('h-old')).toBeNull();
        expect(await store.tenantForKeyHash('h-new')).toBe(T);
        expect(await store.countApiKeys(T, 'default')).toBe(1);
        expect(await store.tenantExists(OTHER)).toBe(true);
        expect(await store.tenantExists('nope')).toBe(false);
      });

      it('lists tenants in id order, a page at a time', async () => {
        await store.ensureTenant('ten_c', 'C');
        const first = await store.listTenants(null, 2);
        expect(first.map((t) => t.id)).toEqual([T, OTHER]);
        expect(first[0]).toEqual({ id: T, name: 'A', createdAt: expect.any(Number) });
        expect((await store.listTenants(OTHER, 2)).map((t) => t.id)).toEqual(['ten_c']);
      });

      it('gives keys ids, lists them without their hashes and revokes them by id', async () => {
        const id = await store.addApiKey({ tenantId: T, hash: 'h-1', prefix: 'tdk_a', label: 'ci' });
        expect(id).toMatch(/^key_/);
        await store.addApiKey({ id: 'key_given', tenantId: OTHER, hash: 'h-2', prefix: 'tdk_b', label: 'x' });
        expect(
          await store.addFirstApiKey({ tenantId: T, hash: 'h-3', prefix: 'tdk_c', label: 'default' }),
        ).toBe(true);
        // Keys made in the same millisecond have no order between them: find the first by its id.
        const keys = await store.listApiKeys(T);
        expect(keys).toHaveLength(2);
        expect(keys.find((k) => k.id === id)).toEqual({
          id,
          tenantId: T,
          prefix: 'tdk_a',
          label: 'ci',
          createdAt: expect.any(Number),
        });
        const other = keys.find((k) => k.id !== id)!;
        expect(other).toMatchObject({
          id: expect.stringMatching(/^key_/),
          label: 'default',
          prefix: 'tdk_c',
        });
        expect((await store.listApiKeys(null)).map((k) => k.id).sort()).toEqual(
          [id, other.id, 'key_given'].sort(),
        );

        // Scoped to a tenant, another tenant's key id is not found (and stays).
        expect(await store.revokeApiKey('key_given', T)).toBe(false);
        expect(await store.tenantForKeyHash('h-2')).toBe(OTHER);
        expect(await store.revokeApiKey(id, T)).toBe(true);
        expect(await store.tenantForKeyHash('h-1')).toBeNull();
        expect(await store.revokeApiKey(id, T)).toBe(false);
        expect(await store.revokeApiKey('key_given', null)).toBe(true);
        expect(await store.listApiKeys(OTHER)).toEqual([]);
      });
    });

    describe('sealed integration credentials', () => {
      const integration = (tenantId: string, id: string, sealedCredentials: string | null) =>
        store.putIntegration(
          {
            tenantId,
            id,
            channel: 'email',
            provider: 'smtp',
            priority: 1,
            config: {},
            sealedCredentials,
            enabled: true,
          },
          5_000,
        );

      it("lists every tenant's sealed credentials and re-seals those still holding the old value", async () => {
        await integration(T, 'smtp', 'v2.k1.a');
        await integration(OTHER, 'smtp', 'v2.k1.b');
        await integration(T, 'plain', null);
        expect(await store.listSealedCredentials()).toEqual([
          { tenantId: T, integrationId: 'smtp', sealed: 'v2.k1.a' },
          { tenantId: OTHER, integrationId: 'smtp', sealed: 'v2.k1.b' },
        ]);
        // The second change lost a race with a PUT: it must not overwrite the new credentials.
        await integration(OTHER, 'smtp', 'v2.k2.put');
        const changed = await store.resealCredentials([
          { tenantId: T, integrationId: 'smtp', from: 'v2.k1.a', to: 'v2.k2.a' },
          { tenantId: OTHER, integrationId: 'smtp', from: 'v2.k1.b', to: 'v2.k2.b' },
        ]);
        expect(changed).toBe(1);
        expect((await store.getIntegration(T, 'smtp'))?.sealedCredentials).toBe('v2.k2.a');
        expect((await store.getIntegration(T, 'smtp'))?.updatedAt).toBe(5_000);
        expect((await store.getIntegration(OTHER, 'smtp'))?.sealedCredentials).toBe('v2.k2.put');
        expect(await store.resealCredentials([])).toBe(0);
      });
    });

    describe('accepting events', () => {
      it('stores the event and its first job together', async () => {
        const [result] = await store.acceptEvents([acceptable({ id: 'evt_1' })], DAY);
        expect(result).toEqual({ ok: true, eventId: 'evt_1', duplicate: false, lane: 'normal' });
        const event = await store.getEvent(T, 'evt_1');
        expect(event).toMatchObject({
          id: 'evt_1',
          workflow: 'welcome',
          status: 'accepted',
          createdAt: 1_000_000,
        });
        expect(event?.payload).toEqual({ workflow: 'welcome', to: ['u1'] });
        expect(await store.countJobs()).toEqual({ ready: 1, leased: 0, dead: 0 });
      });

      it("queues the first job in the event's lane, else the workflow's, and answers it", async () => {
        await store.putWorkflow(T, 'mfa', { priority: 'critical', channels: [] }, 1);
        const results = await store.acceptEvents(
          [
            acceptable({ id: 'evt_1', input: { workflow: 'mfa', to: ['u1'] } }),
            acceptable({ id: 'evt_2', input: { workflow: 'mfa', to: ['u1'], priority: 'bulk' } }),
            acceptable({ id: 'evt_3' }),
          ],
          DAY,
        );
        expect(results.map((r) => r.ok && !r.duplicate && r.lane)).toEqual(['critical', 'bulk', 'normal']);
        expect((await store.getEvent(T, 'evt_1'))?.priority).toBe('critical');
        const claimed = await store.claimJobs({
          owner: 'w',
          now: Date.now() + 10,
          leaseMs: 1000,
          quotas: [
            { lane: 'critical', limit: 5 },
            { lane: 'bulk', limit: 5 },
            { lane: 'normal', limit: 5 },
          ],
        });
        expect(claimed.map((j) => [j.lane, j.payload])).toEqual([
          ['critical', { eventIds: ['evt_1'] }],
          ['bulk', { eventIds: ['evt_2'] }],
          ['normal', { eventIds: ['evt_3'] }],
        ]);
      });

      it('queues one first job per hundred events accepted together, only for those accepted', async () => {
        const later = Date.now() + 60_000;
        await store.acceptEvents(
          [acceptable({ id: 'evt_old', idempotencyKey: 'k', payloadHash: 'h1' })],
          DAY,
        );
        const ids = Array.from({ length: 250 }, (_, i) => `evt_${String(i).padStart(3, '0')}`);
        const results = await store.acceptEvents(
          [
            // Accepted a millisecond apart, as a bulk request's events are: still one group.
            ...ids.map((id, i) => acceptable({ id, now: 1_000_000 + (i % 2) })),
            acceptable({ id: 'evt_dup', idempotencyKey: 'k', payloadHash: 'h1' }),
            acceptable({ id: 'evt_nowf', input: { workflow: 'nope', to: ['u1'] } }),
            acceptable({ id: 'evt_later', job: { kind: 'fanout', runAt: later } }),
            acceptable({ id: 'evt_bulk', input: { workflow: 'welcome', to: ['u1'], priority: 'bulk' } }),
          ],
          DAY,
        );
        expect(results.filter((r) => r.ok && !r.duplicate)).toHaveLength(252);
        const claim = (now: number) =>
          store.claimJobs({
            owner: 'w',
            now,
            leaseMs: 1000,
            quotas: [
              { lane: 'normal', limit: 50 },
              { lane: 'bulk', limit: 50 },
            ],
          });
        // Jobs without a run time are due from the earliest acceptance in their group.
        const due = (await claim(1_000_000)).map((j) => (j.payload as { eventIds: string[] }).eventIds);
        expect(due.map((list) => list.length).sort((a, b) => a - b)).toEqual([1, 1, 50, 100, 100]);
        expect(due.filter((list) => list.length > 1).flat()).toEqual(ids);
        expect(due.flat().sort()).toEqual([...ids, 'evt_bulk', 'evt_old'].sort());
        const scheduled = (await claim(later)).map((j) => j.payload);
        expect(scheduled).toEqual([{ eventIds: ['evt_later'] }]);
      });

      it('rejects an unknown workflow without writing anything', async () => {
        const [result] = await store.acceptEvents(
          [acceptable({ id: 'evt_1', input: { workflow: 'nope', to: ['u1'] } })],
          DAY,
        );
        expect(result).toEqual({ ok: false, code: 'workflow_not_found' });
        expect(await store.getEvent(T, 'evt_1')).toBeNull();
        expect((await store.countJobs()).ready).toBe(0);
      });

      it('answers a repeated idempotency key with the first event, within the window only', async () => {
        const first = acceptable({ id: 'evt_1', idempotencyKey: 'k' });
        const again = acceptable({ id: 'evt_2', idempotencyKey: 'k' });
        const changed = acceptable({ id: 'evt_3', idempotencyKey: 'k', payloadHash: 'h2' });
        const results = await store.acceptEvents([first, again, changed], DAY);
        expect(results).toEqual([
          { ok: true, eventId: 'evt_1', duplicate: false, lane: 'normal' },
          { ok: true, eventId: 'evt_1', duplicate: true },
          { ok: false, code: 'idempotency_key_reused', eventId: 'evt_1' },
        ]);
        expect(await store.getEvent(T, 'evt_2')).toBeNull();
        expect((await store.countJobs()).ready).toBe(1);
        const later = acceptable({ id: 'evt_4', idempotencyKey: 'k', now: 1_000_000 + DAY + 1 });
        expect(await store.acceptEvents([later], DAY)).toEqual([
          { ok: true, eventId: 'evt_4', duplicate: false, lane: 'normal' },
        ]);
      });

      it('answers a mixed batch in order and loads many events at once', async () => {
        const results = await store.acceptEvents(
          [
            acceptable({ id: 'evt_z', idempotencyKey: 'z' }),
            acceptable({ id: 'evt_x', input: { workflow: 'missing', to: ['u1'] } }),
            acceptable({ id: 'evt_a', idempotencyKey: 'a' }),
            acceptable({ id: 'evt_n' }),
            acceptable({ id: 'evt_z2', idempotencyKey: 'z' }),
          ],
          DAY,
        );
        expect(results).toEqual([
          { ok: true, eventId: 'evt_z', duplicate: false, lane: 'normal' },
          { ok: false, code: 'workflow_not_found' },
          { ok: true, eventId: 'evt_a', duplicate: false, lane: 'normal' },
          { ok: true, eventId: 'evt_n', duplicate: false, lane: 'normal' },
          { ok: true, eventId: 'evt_z', duplicate: true },
        ]);
        const loaded = await store.getEvents([
          { tenantId: T, id: 'evt_n' },
          { tenantId: T, id: 'evt_x' },
          { tenantId: OTHER, id: 'evt_a' },
          { tenantId: T, id: 'evt_z' },
        ]);
        expect(loaded.map((e) => e.id).sort()).toEqual(['evt_n', 'evt_z']);
        // Three events accepted, one tenant, one lane, one run time: one first job names them all.
        expect((await store.countJobs()).ready).toBe(1);
      });

      it('purges idempotency keys stored before a time, oldest first, in batches', async () => {
        await store.acceptEvents(
          [0, 1, 2, 3].map((n) => acceptable({ id: `evt_${n}`, idempotencyKey: `k${n}`, now: 1_000 + n })),
          DAY,
        );
        expect(await store.purgeIdempotencyKeys(1_003, 2)).toBe(2);
        expect(await store.purgeIdempotencyKeys(1_003, 2)).toBe(1);
        expect(await store.purgeIdempotencyKeys(1_003, 2)).toBe(0);
        // k3 still answers; k0 is free again.
        const again = await store.acceptEvents(
          [
            acceptable({ id: 'evt_a', idempotencyKey: 'k3', now: 2_000 }),
            acceptable({ id: 'evt_b', idempotencyKey: 'k0', now: 2_000 }),
          ],
          DAY,
        );
        expect(again).toEqual([
          { ok: true, eventId: 'evt_3', duplicate: true },
          { ok: true, eventId: 'evt_b', duplicate: false, lane: 'normal' },
        ]);
      });

      it('keeps the first bulk response per (tenant, key) within the window, then purges it', async () => {
        const first = { tenantId: T, key: 'b1', bodyHash: 'h1', response: { results: [{ eventId: 'e1' }] } };
        expect(await store.getBulkResponse(T, 'b1', 0)).toBeNull();
        expect(await store.saveBulkResponse({ ...first, createdAt: 1_000 }, DAY)).toEqual({
          ...first,
          createdAt: 1_000,
        });
        // A second save within the window (a concurrent duplicate, or another body) leaves the first.
        const second = { ...first, bodyHash: 'h2', response: { results: [] }, createdAt: 2_000 };
        expect(await store.saveBulkResponse(second, DAY)).toEqual({ ...first, createdAt: 1_000 });
        expect(await store.getBulkResponse(T, 'b1', 999)).toEqual({ ...first, createdAt: 1_000 });
        // Not seen past the window, and another tenant's key is its own.
        expect(await store.getBulkResponse(T, 'b1', 1_000)).toBeNull();
        expect(await store.getBulkResponse(OTHER, 'b1', 0)).toBeNull();
        const other = { ...second, tenantId: OTHER };
        expect(await store.saveBulkResponse(other, DAY)).toEqual(other);
        // Past the window the key is taken over by the next save.
        const later = { ...second, createdAt: 1_000 + DAY };
        expect(await store.saveBulkResponse(later, DAY)).toEqual(later);
        expect(await store.purgeBulkResponses(1_000 + DAY, 5)).toBe(1);
        expect(await store.purgeBulkResponses(1_000 + DAY + 1, 5)).toBe(1);
        expect(await store.getBulkResponse(T, 'b1', 0)).toBeNull();
      });

      it('replays a bulk response with its keys in the order they were saved', async () => {
        // Keys JSONB would reorder (shorter first, then bytewise): a replay must be the first answer.
        const response = {
          results: [{ error: { code: 'validation_failed', message: 'bad', details: [{ path: '/to' }] } }],
        };
        const saved = { tenantId: T, key: 'order', bodyHash: 'h', response, createdAt: 1_000 };
        await store.saveBulkResponse(saved, DAY);
        const read = await store.getBulkResponse(T, 'order', 0);
        expect(JSON.stringify(read?.response)).toBe(JSON.stringify(response));
        const again = await store.saveBulkResponse({ ...saved, createdAt: 2_000 }, DAY);
        expect(JSON.stringify(again.response)).toBe(JSON.stringify(response));
      });

      it('answers which of many topic keys exist for the tenant, in one call', async () => {
        await store.upsertTopic(T, 'on-call', null, 1);
        await store.upsertTopic(OTHER, 'ops', null, 1);
        expect(await store.knownTopics(T, [])).toEqual([]);
        expect((await store.knownTopics(T, ['ops', 'on-call', 'nope'])).sort()).toEqual(['on-call']);
        expect(await store.knownTopics(OTHER, ['ops', 'on-call'])).toEqual(['ops']);
      });

      it('scopes idempotency keys to the tenant', async () => {
        await store.putWorkflow(OTHER, 'welcome', { channels: [] }, 1);
        const results = await store.acceptEvents(
          [
            acceptable({ id: 'evt_1', idempotencyKey: 'k' }),
            acceptable({ id: 'evt_2', tenantId: OTHER, idempotencyKey: 'k' }),
          ],
          DAY,
        );
        expect(results.map((r) => r.ok && r.duplicate)).toEqual([false, false]);
        expect(await store.getEvent(OTHER, 'evt_1')).toBeNull();
      });

      it('cancels an event and only its unsent messages (dead letters too)', async () => {
        await store.acceptEvents([acceptable({ id: 'evt_1' })], DAY);
        await store.createMessages([
          {
            record: message({ id: 'msg_1', eventId: 'evt_1', channel: 'email', status: 'queued' }),
            followUp: null,
          },
          {
            record: message({ id: 'msg_2', eventId: 'evt_1', channel: 'sms', status: 'sent' }),
            followUp: null,
          },
          { record: message({ id: 'msg_3', eventId: 'evt_1' }), followUp: null },
          // A dead letter was never sent either: a replay after the cancel must not send it.
          {
            record: message({ id: 'msg_4', eventId: 'evt_1', channel: 'push', status: 'dead' }),
            followUp: null,
          },
        ]);
        expect(await store.cancelEvent(T, 'evt_1', 9)).toBe(2);
        expect((await store.getMessage(T, 'msg_4'))?.status).toBe('cancelled');
        expect((await store.getEvent(T, 'evt_1'))?.status).toBe('cancelled');
        const cancelled = await store.getMessage(T, 'msg_1');
        expect(cancelled?.status).toBe('cancelled');
        expect(cancelled?.timeline.at(-1)?.status).toBe('cancelled');
        expect((await store.getMessage(T, 'msg_2'))?.status).toBe('sent');
        expect((await store.getMessage(T, 'msg_3'))?.status).toBe('delivered');
      });

      it("answers which of a tenant's events are cancelled, and nothing of another tenant's", async () => {
        await store.putWorkflow(OTHER, 'welcome', { channels: [] }, 1);
        await store.acceptEvents(
          [
            acceptable({ id: 'evt_1' }),
            acceptable({ id: 'evt_2' }),
            acceptable({ id: 'evt_3', tenantId: OTHER }),
          ],
          DAY,
        );
        await store.cancelEvent(T, 'evt_1', 9);
        await store.cancelEvent(OTHER, 'evt_3', 9);
        expect(await store.cancelledEvents(T, ['evt_1', 'evt_2', 'evt_3', 'evt_missing'])).toEqual(['evt_1']);
        expect(await store.cancelledEvents(OTHER, ['evt_1', 'evt_3'])).toEqual(['evt_3']);
        expect(await store.cancelledEvents(T, [])).toEqual([]);
      });

      it('cancels by cancellationKey: every keyed event of the tenant and their unsent messages, once', async () => {
        await store.putWorkflow(OTHER, 'welcome', { channels: [] }, 1);
        const keyed = (id: string, cancellationKey?: string, tenantId = T) =>
          acceptable({ id, tenantId, input: { workflow: 'welcome', to: ['u1'], cancellationKey } });
        await store.acceptEvents(
          [
            keyed('evt_1', 'order 42/reminders'),
            keyed('evt_2', 'order 42/reminders'),
            keyed('evt_3', 'order 43/reminders'),
            // The key's name and value inside data are data, not a key.
            acceptable({
              id: 'evt_4',
              input: { workflow: 'welcome', to: ['u1'], data: { cancellationKey: 'order 42/reminders' } },
            }),
            keyed('evt_5', 'order 42/reminders', OTHER),
          ],
          DAY,
        );
        const queued = (id: string, eventId: string, over: Partial<MessageRecord> = {}) => ({
          record: message({ id, eventId, channel: 'email', status: 'queued', ...over }),
          followUp: null,
        });
        await store.createMessages([
          queued('msg_1', 'evt_1'),
          queued('msg_2', 'evt_1', { channel: 'sms', status: 'sent' }),
          queued('msg_3', 'evt_1', { channel: 'in_app', status: 'delivered' }),
          queued('msg_4', 'evt_2', { status: 'deferred' }),
          queued('msg_5', 'evt_3'),
          queued('msg_6', 'evt_4'),
          queued('msg_7', 'evt_5', { tenantId: OTHER }),
        ]);

        expect(await store.cancelEventsByKey(T, 'order 42/reminders', 9)).toEqual({ events: 2, messages: 2 });
        for (const id of ['evt_1', 'evt_2']) expect((await store.getEvent(T, id))?.status).toBe('cancelled');
        for (const id of ['msg_1', 'msg_4']) {
          const cancelled = await store.getMessage(T, id);
          expect(cancelled?.status).toBe('cancelled');
          expect(cancelled?.updatedAt).toBe(9);
          expect(cancelled?.timeline.at(-1)).toEqual({
            at: new Date(9).toISOString(),
            status: 'cancelled',
            detail: 'cancelled with its events by cancellationKey "order 42/reminders"',
          });
        }
        expect((await store.getMessage(T, 'msg_2'))?.status).toBe('sent');
        expect((await store.getMessage(T, 'msg_3'))?.status).toBe('delivered');
        // Another key, no key, and another tenant's event with the same key: untouched.
        for (const id of ['evt_3', 'evt_4']) expect((await store.getEvent(T, id))?.status).toBe('accepted');
        for (const id of ['msg_5', 'msg_6']) expect((await store.getMessage(T, id))?.status).toBe('queued');
        expect((await store.getEvent(OTHER, 'evt_5'))?.status).toBe('accepted');
        expect((await store.getMessage(OTHER, 'msg_7'))?.status).toBe('queued');

        // A repeat cancels nothing new; an event accepted later with the key is not affected.
        expect(await store.cancelEventsByKey(T, 'order 42/reminders', 10)).toEqual({
          events: 0,
          messages: 0,
        });
        await store.acceptEvents([keyed('evt_6', 'order 42/reminders')], DAY);
        expect((await store.getEvent(T, 'evt_6'))?.status).toBe('accepted');
        // A key no event carries is not an error.
        expect(await store.cancelEventsByKey(T, 'nobody', 11)).toEqual({ events: 0, messages: 0 });
      });

      it('writes no message of a cancelled event: a delivery that read the event before the cancel writes nothing after it', async () => {
        await store.acceptEvents(
          [acceptable({ id: 'evt_1', input: { workflow: 'welcome', to: ['u1'], cancellationKey: 'k' } })],
          DAY,
        );
        await store.acceptEvents([acceptable({ id: 'evt_2' })], DAY);
        expect(await store.cancelEventsByKey(T, 'k', 5)).toEqual({ events: 1, messages: 0 });
        const created = await store.createMessages([
          { record: message({ id: 'msg_1', eventId: 'evt_1', channel: 'in_app' }), followUp: null },
          {
            record: message({ id: 'msg_2', eventId: 'evt_1', channel: 'email', status: 'queued' }),
            followUp: null,
          },
          { record: message({ id: 'msg_3', eventId: 'evt_2', channel: 'in_app' }), followUp: null },
        ]);
        expect(created).toEqual(['msg_3']);
        expect(await store.getMessage(T, 'msg_1')).toBeNull();
        expect(await store.getMessage(T, 'msg_2')).toBeNull();
        expect(await store.cancelEventsByKey(T, 'k', 6)).toEqual({ events: 0, messages: 0 });
      });

      it('refuses whole a write of messages built from a workflow paused since: nothing of it is made, its jobs stay leased', async () => {
        await store.acceptEvents([acceptable({ id: 'evt_1' })], DAY);
        await store.enqueueJobs([job()]);
        const claimed = await store.claimJobs({
          owner: 'w1',
          now: Date.now() + 10,
          leaseMs: 60_000,
          quotas: [{ lane: 'normal', limit: 10 }],
        });
        const leased = claimed.find((j) => j.tenantId === T && j.kind === 'test')!.id;
        // As a delivery that read the workflow paused writes them.
        const pausedMessage = (id: string, channel: MessageRecord['channel']) =>
          message({
            id,
            channel,
            status: 'cancelled',
            provider: null,
            content: {},
            reason: 'workflow_paused',
          });
        // A delivery built while `welcome` was live: an inbox item, an email with its send job, a
        // skipped step, a digest join, its job's completion with a follow-up and a part.
        const built = (status: 'live' | 'paused') => [
          status === 'live'
            ? { record: message({ id: 'msg_1', channel: 'in_app' }), followUp: null }
            : { record: pausedMessage('msg_1', 'in_app'), followUp: null },
          status === 'live'
            ? {
                record: message({ id: 'msg_2', channel: 'email', status: 'queued', provider: null }),
                followUp: job({ kind: 'send' }),
              }
            : { record: pausedMessage('msg_2', 'email'), followUp: null },
        ];
        const ack = {
          owner: 'w1',
          jobIds: [leased],
          followUps: [job({ kind: 'after' })],
          parts: [{ jobId: leased, tenantId: T, eventId: 'evt_1', by: -1 }],
        };
        const skipped = [
          {
            tenantId: T,
            eventId: 'evt_1',
            subscriberId: 'u1',
            step: 2,
            channel: 'sms' as const,
            reason: 'condition false',
            createdAt: 1000,
          },
        ];
        const joins: DigestJoin[] = [
          {
            tenantId: T,
            workflow: 'digested',
            subscriberId: 'u1',
            key: 'k',
            eventId: 'evt_1',
            digestId: 'dig_1',
            now: 1000,
            windowMs: 60_000,
            job: { kind: 'digest', lane: 'normal' },
            steps: [{ step: 3, channel: 'in_app' }],
          },
        ];
        const jobsBefore = await store.countJobs();
        // Paused after the delivery read it, before its write (the kill switch).
        await store.putWorkflow(T, 'welcome', { channels: [], paused: true }, 2);
        for (const digests of [undefined, { joins }]) {
          const inboxSeqs = new Map<string, number>();
          const refused = store.createMessages(built('live'), ack, skipped, digests, inboxSeqs);
          await expect(refused).rejects.toBeInstanceOf(WorkflowPausedSinceRead);
          await expect(refused).rejects.toMatchObject({ workflows: [{ tenantId: T, key: 'welcome' }] });
          expect(inboxSeqs.size).toBe(0);
        }
        expect(await store.getMessage(T, 'msg_1')).toBeNull();
        expect(await store.getMessage(T, 'msg_2')).toBeNull();
        expect(await loggedChanges(T, 'u1', 0, 10)).toEqual([]);
        expect(await store.listSkippedSteps(T, 'evt_1', 10)).toEqual([]);
        expect(await store.countJobs()).toEqual(jobsBefore);
        expect((await store.getEvent(T, 'evt_1'))?.openParts).toBe(1);

        // Built again with the pause: written, and the job completed by it.
        expect(await store.createMessages(built('paused'), ack, skipped, { joins })).toEqual([
          'msg_1',
          'msg_2',
        ]);
        expect(await loggedChanges(T, 'u1', 0, 10)).toEqual([]);
        expect(await store.listSkippedSteps(T, 'evt_1', 10)).toHaveLength(2);
        expect((await store.getEvent(T, 'evt_1'))?.openParts).toBe(0);
        // The job is done; its follow-up and the digest's close job are queued.
        expect(await store.countJobs()).toEqual({
          ...jobsBefore,
          ready: jobsBefore.ready + 2,
          leased: jobsBefore.leased - 1,
        });

        // Only that tenant's workflow: another's of the same key is live.
        await store.putWorkflow(OTHER, 'welcome', { channels: [] }, 3);
        const other = message({ id: 'msg_3', tenantId: OTHER, eventId: 'evt_3' });
        expect(await store.createMessages([{ record: other, followUp: null }])).toEqual(['msg_3']);
        // Paused by Tidings (renders that kept timing out) holds the same.
        const slow = await store.putWorkflow(T, 'slow', { channels: [] }, 4);
        const pause = { at: 1, reason: 'renders kept timing out' };
        await store.countRenderTimeouts(T, 'slow', slow.version, { timeouts: 1, afterSuccess: false }, pause);
        const late = message({ id: 'msg_4', eventId: 'evt_4', workflow: 'slow' });
        await expect(store.createMessages([{ record: late, followUp: null }])).rejects.toMatchObject({
          workflows: [{ tenantId: T, key: 'slow' }],
        });
        // Unpaused again before the write: written.
        await store.putWorkflow(T, 'welcome', { channels: [] }, 5);
        const again = message({ id: 'msg_5', eventId: 'evt_5' });
        expect(await store.createMessages([{ record: again, followUp: null }])).toEqual(['msg_5']);
        expect(await store.getMessage(T, 'msg_4')).toBeNull();
      });

      it('refuses whole a write delivering messages built on a consent version the tenant has moved past', async () => {
        await store.acceptEvents([acceptable({ id: 'evt_1' })], DAY);
        await store.enqueueJobs([job()]);
        const claimed = await store.claimJobs({
          owner: 'w1',
          now: Date.now() + 10,
          leaseMs: 60_000,
          quotas: [{ lane: 'normal', limit: 10 }],
        });
        const leased = claimed.find((j) => j.tenantId === T && j.kind === 'test')!.id;
        const ack = { owner: 'w1', jobIds: [leased], followUps: [job({ kind: 'after' })] };
        const versionOf = async (tenantId: string) =>
          (await store.choicesVersions([tenantId])).get(tenantId)!;
        const read = await versionOf(T);
        // An inbox item, delivered by the write, and an email (decided again at its send).
        const built = (choicesVersion: number) => [
          { record: message({ id: 'msg_1', channel: 'in_app' }), followUp: null, choicesVersion },
          {
            record: message({ id: 'msg_2', channel: 'email', status: 'queued', provider: null }),
            followUp: null,
          },
        ];
        const jobsBefore = await store.countJobs();
        // A PATCH answered after the build read the choices, before its write.
        await store.patchPreferences(T, 'u1', { channels: { in_app: false } }, 2);
        for (const digests of [undefined, { finished: [{ tenantId: T, id: 'dig_none' }] }]) {
          const inboxSeqs = new Map<string, number>();
          const refused = store.createMessages(built(read), ack, [], digests, inboxSeqs);
          await expect(refused).rejects.toBeInstanceOf(ConsentChangedSinceRead);
          await expect(refused).rejects.toMatchObject({ tenantIds: [T] });
          expect(inboxSeqs.size).toBe(0);
        }
        expect(await store.getMessage(T, 'msg_1')).toBeNull();
        expect(await store.getMessage(T, 'msg_2')).toBeNull();
        expect(await loggedChanges(T, 'u1', 0, 10)).toEqual([]);
        expect(await store.countJobs()).toEqual(jobsBefore);

        // Written once built on the version as it is now; another tenant's moves change nothing
        // here, nor do consent changes that decide no in-app item (a suppression, a workflow put).
        await store.patchPreferences(OTHER, 'u1', { channels: { in_app: false } }, 3);
        const now = await versionOf(T);
        await store.suppressAddress({
          tenantId: T,
          channel: 'email',
          addressHash: 'h-x',
          reason: 'hard_bounce',
          detail: '550',
          createdAt: 4,
        });
        await store.putWorkflow(T, 'other', { channels: [] }, 4);
        expect(await versionOf(T)).toBe(now);
        expect(await store.createMessages(built(now), ack)).toEqual(['msg_1', 'msg_2']);
        expect(await store.countJobs()).toEqual({
          ...jobsBefore,
          ready: jobsBefore.ready + 1,
          leased: jobsBefore.leased - 1,
        });
        // Messages without a version (nothing delivered by the write) are not checked.
        const email = message({
          id: 'msg_3',
          eventId: 'evt_3',
          channel: 'email',
          status: 'queued',
          provider: null,
        });
        expect(await store.createMessages([{ record: email, followUp: null }])).toEqual(['msg_3']);
      });

      it("changes an event's open parts with the jobs that complete them, only while the owner holds them all", async () => {
        await store.putWorkflow(OTHER, 'welcome', { channels: [] }, 1);
        await store.acceptEvents([acceptable({ id: 'evt_1' }), acceptable({ id: 'evt_2' })], DAY);
        await store.acceptEvents([acceptable({ id: 'evt_1', tenantId: OTHER })], DAY);
        const openParts = async (tenantId: string, id: string) =>
          (await store.getEvent(tenantId, id))?.openParts;
        const countsEveryPart = async (tenantId: string, id: string) =>
          (await store.getEvent(tenantId, id))?.countsEveryPart;
        // A new event has one open part: its first job; parts that make messages are not counted yet.
        expect(await openParts(T, 'evt_1')).toBe(1);
        expect(await countsEveryPart(T, 'evt_1')).toBe(false);
        await store.enqueueJobs([job(), job()]);
        const claimed = await store.claimJobs({
          owner: 'w1',
          now: Date.now() + 10,
          leaseMs: 60_000,
          quotas: [{ lane: 'normal', limit: 10 }],
        });
        const ours = claimed.filter((j) => j.tenantId === T);
        const first = ours.find((j) => j.kind === 'fanout')?.id;
        const [a, b] = ours.filter((j) => j.kind === 'test').map((j) => j.id);
        expect(ours).toHaveLength(3);
        // Its first job stays queued: a part's change needs only the job that makes it.
        await store.acceptEvents([acceptable({ id: 'evt_3' })], DAY);
        const change = (jobId: number, eventId: string, by: number, tenantId = T) => ({
          jobId,
          tenantId,
          eventId,
          by,
        });
        // A fanout page that queued three parts: changes of one event in one write add up.
        await store.completeJobs(
          'w1',
          [a!],
          [job(), job(), job()],
          [change(a!, 'evt_1', 3), change(a!, 'evt_1', -1)],
        );
        expect(await openParts(T, 'evt_1')).toBe(3);
        // The first change written counts every part of the event from then on; only its own.
        expect(await countsEveryPart(T, 'evt_1')).toBe(true);
        expect(await countsEveryPart(T, 'evt_2')).toBe(false);
        // A delivery write: beside a message and a skipped step (of another event), with its ack.
        await store.createMessages(
          [{ record: message({ id: 'msg_1', eventId: 'evt_9' }), followUp: null }],
          { owner: 'w1', jobIds: [b!], parts: [change(b!, 'evt_1', -3), change(b!, 'evt_2', -1)] },
          [
            {
              tenantId: T,
              eventId: 'evt_9',
              subscriberId: 'u1',
              step: 0,
              channel: 'email',
              reason: 'condition false',
              createdAt: 1000,
            },
          ],
        );
        expect(await openParts(T, 'evt_1')).toBe(0);
        expect(await openParts(T, 'evt_2')).toBe(0);
        expect(await store.listSkippedSteps(T, 'evt_9', 10)).toHaveLength(1);
        // The same event id of another tenant is its own.
        expect(await openParts(OTHER, 'evt_1')).toBe(1);
        // A job this owner no longer holds changes nothing, through either write.
        await store.completeJobs('w2', [first!], [], [change(first!, 'evt_1', 5)]);
        await store.createMessages([], {
          owner: 'w2',
          jobIds: [first!],
          parts: [change(first!, 'evt_2', 5)],
        });
        expect(await openParts(T, 'evt_1')).toBe(0);
        expect(await openParts(T, 'evt_2')).toBe(0);
        // Held in part (another took a job over): the follow-ups go, and each change goes with its
        // own job; the lost job's change waits for that job's run elsewhere, or it would count twice.
        const otherFirst = claimed.find((j) => j.tenantId === OTHER)!.id;
        await store.completeJobs(
          'w1',
          [first!, 999_999],
          [job()],
          [change(first!, 'evt_1', 4), change(999_999, 'evt_1', -4), change(first!, 'evt_3', 0)],
        );
        await store.createMessages([], {
          owner: 'w1',
          jobIds: [otherFirst, 999_998],
          parts: [change(999_998, 'evt_2', 4), change(otherFirst, 'evt_1', 2, OTHER)],
        });
        expect(await openParts(T, 'evt_1')).toBe(4);
        expect(await openParts(T, 'evt_2')).toBe(0);
        expect(await openParts(OTHER, 'evt_1')).toBe(3);
        expect(await countsEveryPart(OTHER, 'evt_1')).toBe(true);
        // A change of nothing still marks its event: a part that made messages and handed the rest on to one more.
        expect(await openParts(T, 'evt_3')).toBe(1);
        expect(await countsEveryPart(T, 'evt_3')).toBe(true);
        // Both held jobs are done; queued: the page's three follow-ups, the partly held write's and evt_3's first job.
        expect(await store.countJobs()).toMatchObject({ leased: 0, ready: 5 });
      });

      it('counts each fallback job as an open part of its event, from its insert until it is done or dead', async () => {
        // Apart: each with a first job of its own.
        for (const ids of [['evt_1', 'evt_4'], ['evt_2'], ['evt_3']])
          await store.acceptEvents(
            ids.map((id) => acceptable({ id })),
            DAY,
          );
        const parts = async (id: string) => {
          const event = await store.getEvent(T, id);
          return { open: event?.openParts, every: event?.countsEveryPart };
        };
        const fallback = (eventId: string): JobSpec =>
          job({ kind: 'fallback', lane: 'bulk', payload: { eventId, subscriberId: 'u1', step: 1 } });
        const claimFallbacks = async (owner: string) =>
          store.claimJobs({
            owner,
            now: Date.now() + 10,
            leaseMs: 60_000,
            quotas: [{ lane: 'bulk', limit: 10 }],
          });
        // evt_1 was delivered by its first job alone (no change written): its count of 1 is stale.
        // A send that settles queues the fallback: the event's one open part, counted from now on.
        await store.enqueueJobs([fallback('evt_1')]);
        expect(await parts('evt_1')).toEqual({ open: 1, every: true });
        // Another device's send queues another.
        await store.enqueueJobs([fallback('evt_1')]);
        expect(await parts('evt_1')).toEqual({ open: 2, every: true });
        const [done, dying] = await claimFallbacks('w1');
        // Leased, it is still open; completed, its part is closed; dead after its retries, too.
        expect(await parts('evt_1')).toEqual({ open: 2, every: true });
        await store.completeJobs('w1', [done!.id]);
        expect(await parts('evt_1')).toEqual({ open: 1, every: true });
        await store.deadJob('w1', dying!.id, 'kept failing');
        expect(await parts('evt_1')).toEqual({ open: 0, every: true });
        // A fallback completed by another owner's write (its lease lost) closes nothing.
        await store.enqueueJobs([fallback('evt_1')]);
        const [again] = await claimFallbacks('w1');
        await store.completeJobs('w2', [again!.id]);
        expect(await parts('evt_1')).toEqual({ open: 1, every: true });
        // A fallback that fires later again: its job completed with the next one queued.
        await store.completeJobs('w1', [again!.id], [fallback('evt_1')]);
        expect(await parts('evt_1')).toEqual({ open: 1, every: true });

        // A delivery write queueing fallbacks: its own change (here its part closed) counts first,
        // then each fallback opens its part; through either write that completes jobs.
        const firsts = await store.claimJobs({
          owner: 'w1',
          now: Date.now() + 10,
          leaseMs: 60_000,
          quotas: [{ lane: 'normal', limit: 10 }],
        });
        const firstOf = (id: string) =>
          firsts.find((j) => (j.payload as { eventIds: string[] }).eventIds.includes(id));
        const [first2, first3] = [firstOf('evt_2'), firstOf('evt_3')];
        const change = (jobId: number, eventId: string, by: number) => ({ jobId, tenantId: T, eventId, by });
        await store.completeJobs('w1', [first2!.id], [fallback('evt_2')], [change(first2!.id, 'evt_2', -1)]);
        expect(await parts('evt_2')).toEqual({ open: 1, every: true });
        // A part handed on to one more job (a change of 0) and two fallbacks: three open parts.
        await store.createMessages([], {
          owner: 'w1',
          jobIds: [first3!.id],
          followUps: [job(), fallback('evt_3'), fallback('evt_3')],
          parts: [change(first3!.id, 'evt_3', 0)],
        });
        expect(await parts('evt_3')).toEqual({ open: 3, every: true });

        if (raw) {
          // Events accepted before every part was counted keep reading by their messages.
          await raw.exec(
            store,
            `UPDATE events SET counts_every_part = NULL WHERE tenant_id = '${T}' AND id = 'evt_4'`,
          );
          await store.enqueueJobs([fallback('evt_4')]);
          const before = await parts('evt_4');
          expect(before).toEqual({ open: 1, every: false });
          const [legacy] = (await claimFallbacks('w3')).filter(
            (j) => (j.payload as { eventId: string }).eventId === 'evt_4',
          );
          await store.completeJobs('w3', [legacy!.id]);
          expect(await parts('evt_4')).toEqual(before);
          // A part never opened is never closed: the count does not go below 0.
          await store.enqueueJobs([fallback('evt_2')]);
          await raw.exec(store, `UPDATE events SET open_parts = 0 WHERE tenant_id = '${T}' AND id = 'evt_2'`);
          const stale = (await claimFallbacks('w4')).filter(
            (j) => (j.payload as { eventId: string }).eventId === 'evt_2',
          );
          await store.completeJobs(
            'w4',
            stale.map((j) => j.id),
          );
          expect(await parts('evt_2')).toEqual({ open: 0, every: true });
        }
      });

      it('upserts inline subscribers and creates unknown plain ids with the event', async () => {
        await store.upsertSubscriber(T, 'known', { email: 'k@example.com' }, 1);
        await store.acceptEvents(
          [
            acceptable({
              id: 'evt_1',
              inlineSubscribers: [{ id: 'u7', email: 'a@example.com' }],
              subscriberIds: ['known', 'fresh'],
            }),
          ],
          DAY,
        );
        expect(await store.getSubscriber(T, 'u7')).toMatchObject({
          id: 'u7',
          email: 'a@example.com',
          phone: null,
        });
        expect(await store.getSubscriber(T, 'fresh')).toMatchObject({ id: 'fresh', email: null });
        expect(await store.getSubscriber(T, 'known')).toMatchObject({ email: 'k@example.com' });
        const many = await store.getSubscribers(T, ['known', 'nobody', 'fresh']);
        expect(many.map((s) => s.id).sort()).toEqual(['fresh', 'known']);
        expect(await store.getSubscribers(OTHER, ['known'])).toEqual([]);
      });
    });

    describe('subscribers and topics', () => {
      it('merges upserts: given fields are set, absent ones kept, null clears', async () => {
        await store.upsertSubscriber(T, 'u1', { email: 'a@x.io', phone: '+1555', data: { plan: 'pro' } }, 10);
        const updated = await store.upsertSubscriber(T, 'u1', { phone: null, timezone: 'Asia/Tokyo' }, 20);
        expect(updated).toMatchObject({
          email: 'a@x.io',
          phone: null,
          timezone: 'Asia/Tokyo',
          data: { plan: 'pro' },
        });
        expect(updated.createdAt).toBe(10);
        expect(updated.updatedAt).toBe(20);
        expect(await store.getSubscriber(OTHER, 'u1')).toBeNull();
      });

      it('creates unknown subscribers empty when loading many', async () => {
        await store.upsertSubscriber(T, 'known', { email: 'k@x.io' }, 1);
        const loaded = await store.loadOrCreateSubscribers(T, ['known', 'fresh'], 5);
        expect(loaded.map((s) => [s.id, s.email])).toEqual([
          ['known', 'k@x.io'],
          ['fresh', null],
        ]);
        expect(await store.getSubscriber(T, 'fresh')).not.toBeNull();
      });

      it('pages topic members in id order and removes members', async () => {
        await store.upsertTopic(T, 'ops', 'Ops', 1);
        expect(await store.getTopic(T, 'ops')).toEqual({ key: 'ops', name: 'Ops', createdAt: 1 });
        await store.upsertTopic(T, 'ops', null, 9);
        expect(await store.getTopic(T, 'ops')).toEqual({ key: 'ops', name: 'Ops', createdAt: 1 });
        expect(await store.getTopic(OTHER, 'ops')).toBeNull();
        expect(await store.addTopicMembers(T, 'ops', ['c', 'a', 'b', 'a'], 2)).toBe(3);
        expect(await store.addTopicMembers(T, 'ops', ['b'], 3)).toBe(0);
        expect(await store.topicMembersPage(T, 'ops', null, 2)).toEqual(['a', 'b']);
        expect(await store.topicMembersPage(T, 'ops', 'b', 2)).toEqual(['c']);
        expect(await store.countTopicMembers(T, 'ops')).toBe(3);
        expect(await store.removeTopicMember(T, 'ops', 'b')).toBe(true);
        expect(await store.removeTopicMember(T, 'ops', 'b')).toBe(false);
        expect(await store.topicMembersPage(T, 'ops', null, 10)).toEqual(['a', 'c']);
        expect(await store.getSubscriber(T, 'c')).not.toBeNull();
      });

      it('adds no members to a topic that does not exist', async () => {
        // The API adds a request's ids in chunks; a topic deleted between two must not keep the rest.
        expect(await store.addTopicMembers(T, 'gone', ['ghost'], 1)).toBeNull();
        expect(await store.countTopicMembers(T, 'gone')).toBe(0);
        expect(await store.getSubscriber(T, 'ghost')).toBeNull();
      });
    });

    describe('devices', () => {
      const APNS = 'a'.repeat(64);
      const apns = (over: Partial<DeviceInput> = {}): DeviceInput => ({
        tenantId: T,
        subscriberId: 'u1',
        id: 'phone',
        platform: 'apns',
        token: APNS,
        subscription: null,
        ...over,
      });
      const browser = (endpoint: string, over: Partial<DeviceInput> = {}): DeviceInput => ({
        tenantId: T,
        subscriberId: 'u1',
        id: 'browser',
        platform: 'webpush',
        token: '',
        subscription: { endpoint, keys: { p256dh: 'BP', auth: 'au' } },
        ...over,
      });

      it('upserts a device, creating its subscriber, and lists, gets and deletes it per tenant', async () => {
        const put = await store.upsertDevice(apns({ subscriberId: 'fresh' }), 10, 100);
        // As JSON: a stored device opens its token when read (a prototype accessor, see rows.ts).
        expect(JSON.parse(JSON.stringify(put))).toEqual({
          ok: true,
          device: {
            tenantId: T,
            subscriberId: 'fresh',
            id: 'phone',
            platform: 'apns',
            token: APNS,
            subscription: null,
            active: true,
            deactivatedAt: null,
            reason: null,
            createdAt: 10,
            updatedAt: 10,
          },
        });
        expect(await store.getSubscriber(T, 'fresh')).not.toBeNull();
        await store.upsertDevice(browser('https://push.example/a', { subscriberId: 'fresh' }), 11, 100);
        expect((await store.listDevices(T, 'fresh')).map((d) => d.id)).toEqual(['phone', 'browser']);
        expect(await store.getDevice(T, 'fresh', 'browser')).toMatchObject({
          platform: 'webpush',
          token: '',
          subscription: { endpoint: 'https://push.example/a', keys: { p256dh: 'BP', auth: 'au' } },
        });
        expect(await store.listDevices(OTHER, 'fresh')).toEqual([]);
        expect(await store.getDevice(OTHER, 'fresh', 'phone')).toBeNull();
        expect(await store.deleteDevice(OTHER, 'fresh', 'phone')).toBe(false);
        expect(await store.deleteDevice(T, 'fresh', 'phone')).toBe(true);
        expect(await store.deleteDevice(T, 'fresh', 'phone')).toBe(false);
        expect((await store.listDevices(T, 'fresh')).map((d) => d.id)).toEqual(['browser']);
      });

      it('deactivates a device only while it holds the token the message went to; a re-PUT reactivates it', async () => {
        await store.upsertDevice(apns(), 10, 100);
        const sentTo = {
          tenantId: T,
          subscriberId: 'u1',
          id: 'phone',
          platform: 'apns' as const,
          token: APNS,
          subscription: null,
        };
        expect(await store.deactivateDevice({ ...sentTo, token: 'b'.repeat(64) }, 'unregistered', 20)).toBe(
          false,
        );
        expect(await store.deactivateDevice(sentTo, 'unregistered', 20)).toBe(true);
        expect(await store.deactivateDevice(sentTo, 'bad_token', 21)).toBe(false);
        expect(await store.getDevice(T, 'u1', 'phone')).toMatchObject({
          active: false,
          deactivatedAt: 20,
          reason: 'unregistered',
          createdAt: 10,
        });
        expect(await store.activeDevicesOf(T, ['u1'], ['apns', 'fcm'])).toEqual([]);
        // The app registered again (same id, a fresh token): active, the old reason gone, createdAt kept.
        const again = await store.upsertDevice(apns({ token: 'c'.repeat(64) }), 30, 100);
        expect(again.ok && again.device).toMatchObject({
          active: true,
          deactivatedAt: null,
          reason: null,
          token: 'c'.repeat(64),
          createdAt: 10,
          updatedAt: 30,
        });
        // A report about the old token does not touch the new one.
        expect(await store.deactivateDevice(sentTo, 'expired', 40)).toBe(false);
        expect((await store.getDevice(T, 'u1', 'phone'))?.active).toBe(true);
      });

      it('moves a token PUT under another subscriber (or another id) there, so one address is one device', async () => {
        await store.upsertDevice(apns({ subscriberId: 'alice' }), 10, 100);
        await store.upsertDevice(browser('https://push.example/x', { subscriberId: 'alice' }), 10, 100);
        await store.upsertDevice(apns({ subscriberId: 'bob', id: 'bobs-phone' }), 20, 100);
        expect((await store.listDevices(T, 'alice')).map((d) => d.id)).toEqual(['browser']);
        expect((await store.listDevices(T, 'bob')).map((d) => d.id)).toEqual(['bobs-phone']);
        await store.upsertDevice(
          browser('https://push.example/x', { subscriberId: 'alice', id: 'renamed' }),
          30,
          100,
        );
        expect((await store.listDevices(T, 'alice')).map((d) => d.id)).toEqual(['renamed']);
        // Another tenant's device with the same token is another device.
        await store.upsertDevice(apns({ tenantId: OTHER, subscriberId: 'carol' }), 40, 100);
        expect(await store.listDevices(T, 'bob')).toHaveLength(1);
        expect(await store.listDevices(OTHER, 'carol')).toHaveLength(1);
      });

      it('leaves a token raced for by several subscribers with exactly one of them, and racing new devices within the limit', async () => {
        const racers = Array.from({ length: 12 }, (_, i) => `r${i + 1}`);
        const results = await Promise.all(
          racers.map((subscriberId) => store.upsertDevice(apns({ subscriberId, id: 'phone' }), 1, 100)),
        );
        expect(results.every((r) => r.ok)).toBe(true);
        const holders = (await Promise.all(racers.map((id) => store.listDevices(T, id)))).flat();
        expect(holders).toHaveLength(1);
        const many = await Promise.all(
          [1, 2, 3, 4, 5].map((n) =>
            store.upsertDevice(apns({ subscriberId: 'busy', id: `d${n}`, token: `${n}`.repeat(64) }), n, 3),
          ),
        );
        expect(many.filter((r) => r.ok)).toHaveLength(3);
        expect(await store.listDevices(T, 'busy')).toHaveLength(3);
      });

      it('refuses a new device beyond the limit, but not a re-PUT or a replaced token', async () => {
        for (const n of [1, 2])
          expect((await store.upsertDevice(apns({ id: `d${n}`, token: `${n}`.repeat(64) }), n, 2)).ok).toBe(
            true,
          );
        expect(await store.upsertDevice(apns({ id: 'd3', token: '3'.repeat(64) }), 3, 2)).toEqual({
          ok: false,
          code: 'device_limit',
          limit: 2,
        });
        expect((await store.upsertDevice(apns({ id: 'd2', token: '4'.repeat(64) }), 4, 2)).ok).toBe(true);
        // The same token under a new id replaces the device that held it.
        expect((await store.upsertDevice(apns({ id: 'd5', token: '4'.repeat(64) }), 5, 2)).ok).toBe(true);
        expect((await store.listDevices(T, 'u1')).map((d) => d.id)).toEqual(['d1', 'd5']);
      });

      it('reads the active devices of many subscribers on some platforms at once', async () => {
        await store.upsertDevice(apns({ subscriberId: 'u1' }), 1, 100);
        await store.upsertDevice(
          apns({ subscriberId: 'u1', id: 'tablet', platform: 'fcm', token: 'fcm:1' }),
          2,
          100,
        );
        await store.upsertDevice(browser('https://push.example/1', { subscriberId: 'u1' }), 3, 100);
        await store.upsertDevice(apns({ subscriberId: 'u2', id: 'p2', token: 'd'.repeat(64) }), 4, 100);
        await store.upsertDevice(apns({ subscriberId: 'u3', id: 'p3', token: 'e'.repeat(64) }), 5, 100);
        await store.deactivateDevice(
          {
            tenantId: T,
            subscriberId: 'u2',
            id: 'p2',
            platform: 'apns',
            token: 'd'.repeat(64),
            subscription: null,
          },
          'bad_token',
          6,
        );
        const push = await store.activeDevicesOf(T, ['u1', 'u2', 'nobody'], ['apns', 'fcm']);
        expect(push.map((d) => [d.subscriberId, d.id])).toEqual([
          ['u1', 'phone'],
          ['u1', 'tablet'],
        ]);
        const web = await store.activeDevicesOf(T, ['u1', 'u3'], ['webpush']);
        expect(web.map((d) => d.id)).toEqual(['browser']);
        expect(await store.activeDevicesOf(OTHER, ['u1'], ['apns'])).toEqual([]);
        expect(await store.activeDevicesOf(T, [], ['apns'])).toEqual([]);
      });
    });

    describe('preferences and tenant settings', () => {
      it('answers null for a subscriber who made no choices, and the stored choices once they did', async () => {
        await store.upsertSubscriber(T, 'u1', {}, 1);
        expect(await store.getPreferences(T, 'u1')).toBeNull();
        const saved = await store.patchPreferences(T, 'u1', { channels: { sms: false } }, 5);
        expect(saved).toEqual({ channels: { sms: false }, categories: {}, workflows: {}, quietHours: null });
        expect(await store.getPreferences(T, 'u1')).toEqual(saved);
        expect(await store.getPreferences(OTHER, 'u1')).toBeNull();
      });

      it('merges patches key by key, and null withdraws a choice', async () => {
        await store.patchPreferences(
          T,
          'u1',
          {
            channels: { sms: false, email: true },
            categories: { marketing: { email: false }, news: { push: false } },
            workflows: { digest: { enabled: false } },
            quietHours: { start: '22:00', end: '07:00' },
          },
          1,
        );
        const merged = await store.patchPreferences(
          T,
          'u1',
          {
            channels: { email: null, push: false },
            categories: { marketing: { sms: false }, news: { push: null } },
            workflows: { weekly: { enabled: true } },
          },
          2,
        );
        expect(merged).toEqual({
          channels: { sms: false, push: false },
          categories: { marketing: { email: false, sms: false } },
          workflows: { digest: { enabled: false }, weekly: { enabled: true } },
          quietHours: { start: '22:00', end: '07:00' },
        });
        const cleared = await store.patchPreferences(
          T,
          'u1',
          { categories: { marketing: null }, workflows: { digest: null }, quietHours: null },
          3,
        );
        expect(cleared).toEqual({
          channels: { sms: false, push: false },
          categories: {},
          workflows: { weekly: { enabled: true } },
          quietHours: null,
        });
        expect(await store.getPreferences(T, 'u1')).toEqual(cleared);
      });

      it('refuses a patch that would grow the choices past maxKeys, writing nothing; without it, no limit', async () => {
        const keys = (from: number, n: number) =>
          Object.fromEntries(Array.from({ length: n }, (_, i) => [`c${from + i}`, { email: false }]));
        await store.patchPreferences(T, 'capped', { categories: keys(0, 3) }, 1, undefined, 3);
        await expect(
          store.patchPreferences(
            T,
            'capped',
            { categories: keys(3, 1), channels: { sms: false } },
            2,
            undefined,
            3,
          ),
        ).rejects.toMatchObject({ name: 'PreferenceKeysExceeded', field: 'categories', count: 4, max: 3 });
        const after = (await store.getPreferences(T, 'capped'))!;
        expect(Object.keys(after.categories)).toHaveLength(3);
        expect(after.channels).toEqual({});
        // A patch that does not grow the count is taken at the limit (or over it, from before).
        const changed = await store.patchPreferences(
          T,
          'capped',
          { categories: { c0: { sms: false } } },
          3,
          undefined,
          3,
        );
        expect(changed.categories.c0).toEqual({ email: false, sms: false });
        // Without maxKeys (an opt-out by link or STOP) it is never refused.
        const opted = await store.patchPreferences(T, 'capped', { categories: keys(3, 2) }, 4);
        expect(Object.keys(opted.categories)).toHaveLength(5);
      });

      it('keeps names like __proto__ as plain keys', async () => {
        const saved = await store.patchPreferences(
          T,
          'u1',
          { categories: { ['__proto__']: { email: false } }, workflows: { constructor: { enabled: false } } },
          1,
        );
        expect(Object.keys(saved.categories)).toEqual(['__proto__']);
        const read = (await store.getPreferences(T, 'u1'))!;
        expect(Object.getPrototypeOf(read.categories)).toBe(Object.prototype);
        expect(Object.entries(read.categories)).toEqual([['__proto__', { email: false }]]);
        expect(read.workflows).toEqual({ constructor: { enabled: false } });
      });

      it('creates an unknown subscriber empty with their first choices', async () => {
        await store.patchPreferences(T, 'newcomer', { channels: { email: false } }, 7);
        expect(await store.getSubscriber(T, 'newcomer')).toMatchObject({
          id: 'newcomer',
          email: null,
          createdAt: 7,
        });
        expect(await store.getSubscriber(OTHER, 'newcomer')).toBeNull();
      });

      it('loads a batch of subscribers’ choices in one call, only for those who made any', async () => {
        expect(await store.getPreferencesFor(T, [])).toEqual(new Map());
        expect(await store.getPreferencesFor(T, ['a', 'b'])).toEqual(new Map());
        await store.patchPreferences(T, 'a', { channels: { email: false } }, 1);
        await store.patchPreferences(T, 'c', { quietHours: { start: '23:00', end: '06:30' } }, 1);
        await store.patchPreferences(OTHER, 'b', { channels: { sms: false } }, 1);
        const ids = ['a', 'b', 'c', ...Array.from({ length: 1000 }, (_, i) => `x${i}`)];
        const found = await store.getPreferencesFor(T, ids);
        expect([...found.keys()].sort()).toEqual(['a', 'c']);
        expect(found.get('a')!.channels).toEqual({ email: false });
        expect(found.get('c')!.quietHours).toEqual({ start: '23:00', end: '06:30' });
        expect(await store.getPreferencesFor(T, ['a'])).toEqual(new Map([['a', found.get('a')]]));
        expect(await store.getPreferencesFor(T, ['b'])).toEqual(new Map());
      });

      it('pages through the tenant’s subscribers with quiet hours, with their own zone, a fixed number of rows a page', async () => {
        const night = { start: '22:00', end: '07:00' };
        await store.patchPreferences(T, 'a', { quietHours: night }, 1);
        await store.patchPreferences(T, 'b', { channels: { email: false } }, 1);
        await store.patchPreferences(T, 'c', { quietHours: night }, 1);
        await store.patchPreferences(T, 'd', { quietHours: night }, 1);
        await store.patchPreferences(T, 'd', { quietHours: null }, 2);
        await store.patchPreferences(T, 'e', { quietHours: { start: '01:00', end: '02:00' } }, 1);
        await store.upsertSubscriber(T, 'c', { timezone: 'Asia/Tokyo' }, 3);
        await store.patchPreferences(OTHER, 'aa', { quietHours: night }, 1);
        // Two rows a page: a, b | c, d | e.
        const first = await store.quietHoursPage(T, null, 2);
        expect(first).toEqual({
          subscribers: [{ subscriberId: 'a', quietHours: night, timezone: null }],
          next: 'b',
        });
        const second = await store.quietHoursPage(T, first.next, 2);
        expect(second).toEqual({
          subscribers: [{ subscriberId: 'c', quietHours: night, timezone: 'Asia/Tokyo' }],
          next: 'd',
        });
        expect(await store.quietHoursPage(T, second.next, 2)).toEqual({
          subscribers: [{ subscriberId: 'e', quietHours: { start: '01:00', end: '02:00' }, timezone: null }],
          next: null,
        });
        expect((await store.quietHoursPage(T, null, 10)).subscribers.map((s) => s.subscriberId)).toEqual([
          'a',
          'c',
          'e',
        ]);
        expect(await store.quietHoursPage('nobody', null, 10)).toEqual({ subscribers: [], next: null });
      });

      it('answers subscribers with the same stored choices one shared, frozen answer', async () => {
        for (const id of ['a', 'b']) await store.patchPreferences(T, id, { channels: { email: false } }, 1);
        await store.patchPreferences(T, 'c', { channels: { email: true } }, 1);
        const found = await store.getPreferencesFor(T, ['a', 'b', 'c']);
        expect(found.get('a')).toBe(found.get('b'));
        expect(found.get('c')!.channels).toEqual({ email: true });
        // Shared between recipients: whoever changed one would change the others' choices.
        expect(() => {
          found.get('a')!.channels.email = true;
        }).toThrow(TypeError);
        expect(found.get('b')!.channels).toEqual({ email: false });
      });

      it('keeps every one of concurrent patches of different keys', async () => {
        await store.upsertSubscriber(T, 'u1', {}, 1);
        const channels = ['email', 'sms', 'push', 'chat', 'webpush'] as const;
        await Promise.all(
          channels.map((channel, i) =>
            store.patchPreferences(T, 'u1', { channels: { [channel]: false } }, 10 + i),
          ),
        );
        await Promise.all(
          channels.map((channel, i) =>
            store.patchPreferences(T, 'fresh', { categories: { [`c${i}`]: { [channel]: false } } }, 20 + i),
          ),
        );
        expect((await store.getPreferences(T, 'u1'))!.channels).toEqual(
          Object.fromEntries(channels.map((c) => [c, false])),
        );
        expect(Object.keys((await store.getPreferences(T, 'fresh'))!.categories).sort()).toEqual([
          'c0',
          'c1',
          'c2',
          'c3',
          'c4',
        ]);
      });

      it('answers default tenant settings until set, per tenant', async () => {
        const tokyo = { defaultTimezone: 'Asia/Tokyo', dailyCap: null, inboxTabs: {} };
        expect(await store.getTenantSettings(T)).toEqual({
          defaultTimezone: 'UTC',
          dailyCap: null,
          inboxTabs: {},
        });
        expect(await store.patchTenantSettings(T, { defaultTimezone: 'Asia/Tokyo' }, 1)).toEqual(tokyo);
        expect(await store.getTenantSettings(T)).toEqual(tokyo);
        expect(await store.patchTenantSettings(T, {}, 2)).toEqual(tokyo);
        expect(await store.getTenantSettings(OTHER)).toEqual({
          defaultTimezone: 'UTC',
          dailyCap: null,
          inboxTabs: {},
        });
      });

      it('sets the daily cap beside the zone, keeps it through other patches, and removes it with null', async () => {
        const capped = { defaultTimezone: 'UTC', dailyCap: { perSubscriber: 20 }, inboxTabs: {} };
        expect(
          await store.patchTenantSettings(T, { dailyCap: { perSubscriber: 20 }, inboxTabs: {} }, 1),
        ).toEqual(capped);
        expect(await store.getTenantSettings(T)).toEqual(capped);
        expect(await store.patchTenantSettings(T, { defaultTimezone: 'Asia/Tokyo' }, 2)).toEqual({
          defaultTimezone: 'Asia/Tokyo',
          dailyCap: { perSubscriber: 20 },
          inboxTabs: {},
        });
        expect(await store.getTenantSettings(OTHER)).toEqual({
          defaultTimezone: 'UTC',
          dailyCap: null,
          inboxTabs: {},
        });
        expect(await store.patchTenantSettings(T, { dailyCap: null, inboxTabs: {} }, 3)).toEqual({
          defaultTimezone: 'Asia/Tokyo',
          dailyCap: null,
          inboxTabs: {},
        });
        expect(await store.getTenantSettings(T)).toEqual({
          defaultTimezone: 'Asia/Tokyo',
          dailyCap: null,
          inboxTabs: {},
        });
      });

      it('moves a tenant’s consent version with every change consent depends on, and with nothing else', async () => {
        const version = async (tenantId: string) => (await store.consentVersions([tenantId])).get(tenantId)!;
        const choices = async () => (await store.choicesVersions([T])).get(T)!;
        /** Runs `change` and answers whether it moved T's version (OTHER's never moves). */
        const moved = async (change: () => Promise<unknown>) => {
          const [before, other, choicesBefore] = [await version(T), await version(OTHER), await choices()];
          await change();
          expect(await version(OTHER)).toBe(other);
          const after = await version(T);
          // The choices version moves with preferences alone, and then with the version.
          if ((await choices()) !== choicesBefore) expect(after).not.toBe(before);
          return after !== before;
        };
        /** Runs `change` and answers whether it moved T's choices version. */
        const movesChoices = async (change: () => Promise<unknown>) => {
          const before = await choices();
          await change();
          return (await choices()) !== before;
        };
        expect(await store.consentVersions(['nobody', OTHER])).toEqual(
          new Map([
            ['nobody', 0],
            [OTHER, 0],
          ]),
        );
        await store.upsertSubscriber(T, 'u1', { email: 'u1@example.com' }, 1);
        expect(await moved(() => store.patchPreferences(T, 'u1', { channels: { email: false } }, 2))).toBe(
          true,
        );
        expect(await moved(() => store.patchPreferences(T, 'u1', { channels: { sms: false } }, 3))).toBe(
          true,
        );
        expect(
          await movesChoices(() => store.patchPreferences(T, 'u1', { channels: { push: false } }, 3)),
        ).toBe(true);
        expect(await movesChoices(() => store.patchTenantSettings(T, { defaultTimezone: 'UTC' }, 3))).toBe(
          false,
        );
        expect(await movesChoices(() => store.putWorkflow(T, 'news', { channels: [] }, 3))).toBe(false);
        expect(await moved(() => store.patchTenantSettings(T, { defaultTimezone: 'Asia/Tokyo' }, 4))).toBe(
          true,
        );
        expect(await moved(() => store.putWorkflow(T, 'news', { channels: [] }, 5))).toBe(true);
        expect(await moved(() => store.putWorkflow(T, 'news', { paused: true, channels: [] }, 6))).toBe(true);
        const bounce = {
          tenantId: T,
          channel: 'email' as const,
          addressHash: 'h-consent',
          reason: 'hard_bounce' as const,
          detail: '550 user unknown',
          createdAt: 7,
        };
        expect(await moved(() => store.suppressAddress(bounce))).toBe(true);
        expect(await moved(() => store.liftSuppression(T, 'email', 'h-consent', 'hard_bounce'))).toBe(true);
        expect(await moved(() => store.deleteWorkflow(T, 'news', 8))).toBe(true);
        // Render timeouts counted below the pause change nothing consent reads; the pause does.
        const slow = await store.putWorkflow(T, 'slow', { channels: [] }, 9);
        const pause = { at: 3, reason: 'renders kept timing out' };
        const count = (timeouts: number) =>
          store.countRenderTimeouts(T, 'slow', slow.version, { timeouts, afterSuccess: false }, pause);
        expect(await moved(() => count(2))).toBe(false);
        expect(await moved(() => count(1))).toBe(true);
        // Neither subscribers nor messages are consent.
        expect(await moved(() => store.upsertSubscriber(T, 'u2', { email: 'u2@example.com' }, 10))).toBe(
          false,
        );
        expect(await moved(() => store.getPreferencesFor(T, ['u1']))).toBe(false);
      });

      it('replaces inbox tabs as a whole and keeps them through other patches', async () => {
        const tabs = { social: ['social', 'mentions'], money: ['billing'] };
        expect((await store.patchTenantSettings(T, { inboxTabs: tabs }, 1)).inboxTabs).toEqual(tabs);
        expect((await store.patchTenantSettings(T, { defaultTimezone: 'Asia/Tokyo' }, 2)).inboxTabs).toEqual(
          tabs,
        );
        expect((await store.patchTenantSettings(T, { inboxTabs: { all: ['x'] } }, 3)).inboxTabs).toEqual({
          all: ['x'],
        });
        expect((await store.getTenantSettings(OTHER)).inboxTabs).toEqual({});
      });
    });

    describe('rate counters', () => {
      it('takes rate counters up to their limits, counting shared ones once per take, per tenant', async () => {
        const counters = [
          { scope: 'wf\u001fsubscriber', limit: 2, windowEnd: 1_000 },
          { scope: 'wf\u001femail', limit: 3, windowEnd: 1_000 },
          { scope: 'wf\u001fsms', limit: 1, windowEnd: 1_000 },
        ];
        // One recipient, two channels: the shared counter counts once, each channel its own.
        const take = { shared: [0], parts: [[1], [2]] };
        expect(await store.takeRateCounts(T, counters, [take])).toEqual([[-1, -1]]);
        // sms is full (index 2); email still goes, so the shared counter counts again.
        expect(await store.takeRateCounts(T, counters, [take, take])).toEqual([
          [-1, 2],
          [0, 0],
        ]);
        expect(await store.takeRateCounts(OTHER, counters, [take])).toEqual([[-1, -1]]);
        // A later window starts from zero.
        const later = counters.map((c) => ({ ...c, windowEnd: 2_000 }));
        expect(await store.takeRateCounts(T, later, [take])).toEqual([[-1, -1]]);
      });

      it('counts only what was granted when a batch does not fit, whatever the other counters had room for', async () => {
        // A store may add a batch's takes first and decide take by take only when a counter passes
        // its limit: then nothing of the refused takes may stay counted, on any counter.
        const roomy = { scope: 'wf\u001fsubscriber\u001fu1', limit: 10, windowEnd: 1_000 };
        const tight = { scope: 'wf\u001fsubscriber\u001fu1\u001fsms', limit: 1, windowEnd: 1_000 };
        const take = { shared: [0], parts: [[1]] };
        expect(await store.takeRateCounts(T, [roomy, tight], [take, take, take])).toEqual([[-1], [1], [1]]);
        // roomy counted the granted take alone: 9 more fit, then none.
        const alone = { shared: [0], parts: [[]] };
        const nine = Array.from({ length: 9 }, () => alone);
        expect(await store.takeRateCounts(T, [roomy], nine)).toEqual(nine.map(() => [-1]));
        expect(await store.takeRateCounts(T, [roomy], [alone])).toEqual([[0]]);
        // A batch whose every counter has room is granted whole, and counted whole.
        const fresh = [
          { scope: 'wf\u001ftenant', limit: 3, windowEnd: 1_000 },
          { scope: 'wf\u001fsubscriber\u001fu2', limit: 2, windowEnd: 1_000 },
        ];
        const both = { shared: [0, 1], parts: [[], []] };
        expect(await store.takeRateCounts(T, fresh, [both, both])).toEqual([
          [-1, -1],
          [-1, -1],
        ]);
        expect(await store.takeRateCounts(T, fresh, [both])).toEqual([[1, 1]]);
        expect(await store.takeRateCounts(T, [fresh[0]!], [alone])).toEqual([[-1]]);
        expect(await store.takeRateCounts(T, [fresh[0]!], [alone])).toEqual([[0]]);
      });

      it('counts every counter of a large batch (a store may read and write them a chunk at a time)', async () => {
        // 150 recipients, one counter each: more than one statement's worth in the SQLite store.
        const counters = Array.from({ length: 150 }, (_, i) => ({
          scope: `wf\u001fsubscriber\u001fu${i}`,
          limit: 2,
          windowEnd: 1_000,
        }));
        const takes = counters.map((_, i) => ({ shared: [i], parts: [[]] }));
        const granted = counters.map(() => [-1]);
        expect(await store.takeRateCounts(T, counters, takes)).toEqual(granted);
        expect(await store.takeRateCounts(T, counters, takes)).toEqual(granted);
        // Every one of them was written back: the third take finds each full.
        expect(await store.takeRateCounts(T, counters, takes)).toEqual(counters.map((_, i) => [i]));
      });

      it('never grants past a limit when takes race', async () => {
        const counters = [{ scope: 'wf\u001ftenant', limit: 3, windowEnd: 1_000 }];
        const answers = await Promise.all(
          Array.from({ length: 8 }, () => store.takeRateCounts(T, counters, [{ shared: [0], parts: [[]] }])),
        );
        expect(answers.flat(2).filter((a) => a === -1)).toHaveLength(3);
      });

      it('purges rate counters whose window ended, in batches', async () => {
        const take = { shared: [0], parts: [[]] };
        const ended = [{ scope: 'old', limit: 1, windowEnd: 100 }];
        const current = [{ scope: 'new', limit: 1, windowEnd: 500 }];
        await store.takeRateCounts(T, ended, [take]);
        await store.takeRateCounts(OTHER, ended, [take]);
        await store.takeRateCounts(T, current, [take]);
        expect(await store.takeRateCounts(T, ended, [take])).toEqual([[0]]);
        expect(await store.purgeRateCounters(99, 10)).toBe(0);
        expect(await store.purgeRateCounters(100, 1)).toBe(1);
        expect(await store.purgeRateCounters(100, 10)).toBe(1);
        // Gone: the same window counts from zero again; the current counter was kept.
        expect(await store.takeRateCounts(T, ended, [take])).toEqual([[-1]]);
        expect(await store.takeRateCounts(T, current, [take])).toEqual([[0]]);
      });

      it('purges every ended counter over repeated calls and never one still in its window', async () => {
        const counter = (i: number) => ({
          scope: `wf\u001fsubscriber\u001fu${String(i).padStart(3, '0')}`,
          limit: 2,
          // Every other counter's window ended at 100; the others run to 500.
          windowEnd: i % 2 === 0 ? 100 : 500,
        });
        const counters = Array.from({ length: 240 }, (_, i) => counter(i));
        await store.takeRateCounts(
          T,
          counters,
          counters.map((_, i) => ({ shared: [i], parts: [[]] })),
        );
        let purged = 0;
        for (let call = 0; call < 20; call++) {
          const n = await store.purgeRateCounters(100, 50);
          expect(n).toBeLessThanOrEqual(50);
          purged += n;
        }
        expect(purged).toBe(120);
        // Every counter still in its window kept its count (1 of 2): one more fits, then none.
        const current = counters.filter((_, i) => i % 2 === 1);
        const each = current.map((_, i) => ({ shared: [i], parts: [[]] }));
        expect(await store.takeRateCounts(T, current, each)).toEqual(current.map(() => [-1]));
        expect(await store.takeRateCounts(T, current, each)).toEqual(current.map((_, i) => [i]));
      });

      it("adds a lagging worker's take to the newer window it finds stored", async () => {
        const take = { shared: [0], parts: [[]] };
        const newer = [{ scope: 'wf\u001fsubscriber\u001fu1', limit: 5, windowEnd: 1_000 }];
        expect(await store.takeRateCounts(T, newer, [take, take])).toEqual([[-1], [-1]]);
        // Its clock says the window ends at 900: the stored window (to 1,000) and its count hold.
        expect(await store.takeRateCounts(T, [{ ...newer[0]!, windowEnd: 900 }], [take])).toEqual([[-1]]);
        // 3 of 5 are taken in the window to 1,000: two more fit, then none.
        expect(await store.takeRateCounts(T, newer, [take, take, take])).toEqual([[-1], [-1], [0]]);
      });

      it('counts a counter read again in its window on top of its stored count, and an ended one from zero', async () => {
        const take = { shared: [0], parts: [[]] };
        const inWindow = [{ scope: 'wf\u001ftenant', limit: 3, windowEnd: 1_000 }];
        for (let i = 0; i < 3; i++) expect(await store.takeRateCounts(T, inWindow, [take])).toEqual([[-1]]);
        expect(await store.takeRateCounts(T, inWindow, [take])).toEqual([[0]]);
        // A worker whose clock lags (an earlier window end) still sees the full newer window.
        const lagging = [{ ...inWindow[0]!, windowEnd: 900 }];
        expect(await store.takeRateCounts(T, lagging, [take])).toEqual([[0]]);
        // The window ended and nothing purged the row: the next window starts from zero.
        const next = [{ ...inWindow[0]!, windowEnd: 2_000 }];
        expect(await store.takeRateCounts(T, next, [take, take, take, take])).toEqual([
          [-1],
          [-1],
          [-1],
          [0],
        ]);
      });

      it('reserves send slots: now while the window has room, then the start of the next window with room', async () => {
        const reserve = (tenant: string, now: number) => store.reserveSendSlot(tenant, 'int', now, 2, 1000);
        expect(await reserve(T, 10_500)).toBe(10_500);
        expect(await reserve(T, 10_600)).toBe(10_600);
        expect(await reserve(T, 10_700)).toBe(11_000);
        expect(await reserve(T, 10_700)).toBe(11_000);
        expect(await reserve(T, 10_800)).toBe(12_000);
        // Another tenant's integration of the same id has its own slots.
        expect(await reserve(OTHER, 10_800)).toBe(10_800);
        // Once the reserved windows are past, it is now again.
        expect(await reserve(T, 20_250)).toBe(20_250);
        // Racing reservations never put more than the limit into one window.
        const slots = await Promise.all(Array.from({ length: 9 }, () => reserve(T, 30_100)));
        const perWindow = new Map<number, number>();
        for (const slot of slots)
          perWindow.set(Math.floor(slot / 1000), (perWindow.get(Math.floor(slot / 1000)) ?? 0) + 1);
        expect([...perWindow.values()].every((n) => n <= 2)).toBe(true);
        expect(Math.max(...slots)).toBe(34_000);
        // Slot rows are counters: purged once their window ended.
        expect(await store.purgeRateCounters(35_000, 100)).toBeGreaterThanOrEqual(1);
        expect(await reserve(T, 35_000)).toBe(35_000);
      });
    });

    describe('workflows and integrations', () => {
      it('versions workflows on every put', async () => {
        const second = await store.putWorkflow(T, 'welcome', { name: 'W', channels: [] }, 2);
        expect(second.version).toBe(2);
        expect((await store.getWorkflow(T, 'welcome'))?.definition.name).toBe('W');
        expect(await store.getWorkflow(OTHER, 'welcome')).toBeNull();
        expect((await store.listWorkflows(T)).map((w) => w.key)).toEqual(['welcome']);
        for (const key of ['a', 'b', 'c']) await store.putWorkflow(T, key, { channels: [] }, 3);
        const keys = (after: string | null, limit: number) =>
          store.listWorkflows(T, { after, limit }).then((ws) => ws.map((w) => w.key));
        expect(await keys(null, 2)).toEqual(['a', 'b']);
        expect(await keys('b', 2)).toEqual(['c', 'welcome']);
        expect(await keys('welcome', 2)).toEqual([]);
      });

      it('keeps every version immutable, lists them newest first, per tenant', async () => {
        await store.putWorkflow(T, 'welcome', { name: 'two', channels: [] }, 2);
        await store.putWorkflow(OTHER, 'welcome', { name: 'other', channels: [] }, 3);
        const first = await store.getWorkflowVersion(T, 'welcome', 1);
        expect(first).toEqual({
          tenantId: T,
          key: 'welcome',
          version: 1,
          definition: { channels: [] },
          createdAt: 1,
        });
        expect((await store.getWorkflowVersion(T, 'welcome', 2))?.definition.name).toBe('two');
        expect(await store.getWorkflowVersion(T, 'welcome', 3)).toBeNull();
        expect(await store.getWorkflowVersion(OTHER, 'welcome', 2)).toBeNull();
        const listed = await store.listWorkflowVersions(T, 'welcome');
        expect(listed.map((v) => [v.version, v.definition.name ?? null, v.createdAt])).toEqual([
          [2, 'two', 2],
          [1, null, 1],
        ]);
        expect(await store.listWorkflowVersions(T, 'missing')).toEqual([]);
        // A page: below a version, at most `limit`.
        await store.putWorkflow(T, 'welcome', { name: 'three', channels: [] }, 3);
        const page = (before: number | null, limit: number) =>
          store.listWorkflowVersions(T, 'welcome', { before, limit }).then((vs) => vs.map((v) => v.version));
        expect(await page(null, 2)).toEqual([3, 2]);
        expect(await page(2, 2)).toEqual([1]);
        expect(await page(1, 2)).toEqual([]);
      });

      it('goes on from the last version when a deleted workflow is saved again', async () => {
        await store.putWorkflow(T, 'welcome', { name: 'two', channels: [] }, 2);
        await store.deleteWorkflow(T, 'welcome', 3);
        const again = await store.putWorkflow(T, 'welcome', { name: 'three', channels: [] }, 4);
        expect(again.version).toBe(3);
        expect((await store.getWorkflowVersion(T, 'welcome', 3))?.definition.name).toBe('three');
        expect((await store.getWorkflowVersion(T, 'welcome', 2))?.definition.name).toBe('two');
      });

      it("counts a workflow's messages per A/B variant and status, leaving out those without a variant", async () => {
        const m = (id: string, status: MessageRecord['status'], variant?: string, workflow = 'welcome') => ({
          record: message({
            id,
            eventId: `evt_${id}`,
            workflow,
            status,
            meta: variant === undefined ? {} : { variant },
          }),
          followUp: null,
        });
        await store.createMessages([
          m('m1', 'delivered', 'a'),
          m('m2', 'delivered', 'a'),
          m('m3', 'read', 'a'),
          m('m4', 'delivered', 'b'),
          m('m5', 'delivered'),
          m('m6', 'delivered', 'a', 'other'),
        ]);
        expect(await store.variantCounts(T, 'welcome')).toEqual([
          { variant: 'a', status: 'delivered', count: 2 },
          { variant: 'a', status: 'read', count: 1 },
          { variant: 'b', status: 'delivered', count: 1 },
        ]);
        expect(await store.variantCounts(OTHER, 'welcome')).toEqual([]);
      });

      it('numbers layout versions per tenant and key and lists them newest first', async () => {
        const one = await store.putLayout(
          T,
          'brand',
          { kind: 'html', source: 'a {{ content }}', html: 'a {{ content }}' },
          5,
        );
        expect(one).toEqual({
          tenantId: T,
          key: 'brand',
          version: 1,
          kind: 'html',
          source: 'a {{ content }}',
          html: 'a {{ content }}',
          createdAt: 5,
        });
        await store.putLayout(T, 'brand', { kind: 'mjml', source: '<mjml/>', html: 'b {{ content }}' }, 6);
        await store.putLayout(T, 'brand', { kind: 'html', source: 'd', html: 'd {{ content }}' }, 9);
        await store.putLayout(OTHER, 'brand', { kind: 'html', source: 'c', html: 'c {{ content }}' }, 7);
        // The version current when an event was accepted: the newest made by then, else the oldest.
        const at = async (when: number, tenantId = T) => {
          const layout = await store.layoutAt(tenantId, 'brand', when);
          return layout && [layout.version, layout.kind, layout.html];
        };
        expect(await at(4)).toEqual([1, 'html', 'a {{ content }}']);
        expect(await at(5)).toEqual([1, 'html', 'a {{ content }}']);
        expect(await at(6)).toEqual([2, 'mjml', 'b {{ content }}']);
        expect(await at(8)).toEqual([2, 'mjml', 'b {{ content }}']);
        expect(await at(Number.MAX_SAFE_INTEGER)).toEqual([3, 'html', 'd {{ content }}']);
        expect(await at(100, OTHER)).toEqual([1, 'html', 'c {{ content }}']);
        expect(await store.layoutAt(T, 'none', 100)).toBeNull();
        expect(await store.hasLayout(T, 'brand')).toBe(true);
        expect(await store.hasLayout(T, 'none')).toBe(false);
        expect(await store.hasLayout('nobody', 'brand')).toBe(false);
      });

      it('records on each event the workflow version current when it was accepted', async () => {
        await store.acceptEvents([acceptable({ id: 'evt_1' })], DAY);
        await store.putWorkflow(T, 'welcome', { name: 'two', channels: [] }, 2);
        await store.acceptEvents([acceptable({ id: 'evt_2' }), acceptable({ id: 'evt_3' })], DAY);
        const events = await store.getEvents([
          { tenantId: T, id: 'evt_1' },
          { tenantId: T, id: 'evt_2' },
          { tenantId: T, id: 'evt_3' },
        ]);
        expect(events.map((e) => [e.id, e.workflowVersion]).sort()).toEqual([
          ['evt_1', 1],
          ['evt_2', 2],
          ['evt_3', 2],
        ]);
        expect((await store.getEvent(T, 'evt_1'))?.workflowVersion).toBe(1);
      });

      it('counts render timeouts in a row, pauses at the threshold, and a put starts clean', async () => {
        const pause = { at: 5, reason: 'renders kept timing out' };
        const v1 = await store.putWorkflow(T, 'slow', { channels: [] }, 1);
        expect(v1).toMatchObject({ pausedReason: null, renderTimeouts: 0 });
        const count = (timeouts: number, afterSuccess: boolean, version = v1.version) =>
          store.countRenderTimeouts(T, 'slow', version, { timeouts, afterSuccess }, pause);

        expect(await count(3, false)).toMatchObject({ renderTimeouts: 3, pausedReason: null });
        // A success in between starts the count again: 2, not 5.
        expect(await count(2, true)).toMatchObject({ renderTimeouts: 2, pausedReason: null });
        expect(await count(0, true)).toMatchObject({ renderTimeouts: 0, pausedReason: null });
        expect(await count(4, false)).toMatchObject({ renderTimeouts: 4, pausedReason: null });
        expect(await count(1, false)).toMatchObject({ renderTimeouts: 5, pausedReason: pause.reason });
        // Already paused: the reason stays the first one.
        expect(
          await store.countRenderTimeouts(
            T,
            'slow',
            v1.version,
            { timeouts: 1, afterSuccess: false },
            {
              at: 1,
              reason: 'other',
            },
          ),
        ).toMatchObject({ pausedReason: pause.reason });
        expect(await store.getWorkflow(T, 'slow')).toMatchObject({ pausedReason: pause.reason });
        expect(await store.getWorkflow(OTHER, 'slow')).toBeNull();
        expect(
          await store.countRenderTimeouts(OTHER, 'slow', 1, { timeouts: 9, afterSuccess: false }, pause),
        ).toBeNull();

        // A new definition unpauses and starts clean; counts for the old version no longer land.
        const v2 = await store.putWorkflow(T, 'slow', { channels: [] }, 2);
        expect(v2).toMatchObject({ version: v1.version + 1, pausedReason: null, renderTimeouts: 0 });
        expect(await count(9, false, v1.version)).toBeNull();
        expect(await store.getWorkflow(T, 'slow')).toMatchObject({ pausedReason: null, renderTimeouts: 0 });
        expect(await store.listWorkflows(T)).toContainEqual(
          expect.objectContaining({ key: 'slow', pausedReason: null, renderTimeouts: 0 }),
        );
      });

      it('lists integrations by priority, per channel', async () => {
        const base = { tenantId: T, config: {}, sealedCredentials: 'sealed', enabled: true } as const;
        await store.putIntegration({ ...base, id: 'b', channel: 'email', provider: 'smtp', priority: 2 }, 1);
        await store.putIntegration({ ...base, id: 'a', channel: 'email', provider: 'smtp', priority: 1 }, 1);
        await store.putIntegration(
          { ...base, id: 'w', channel: 'webhook', provider: 'webhook', priority: 1 },
          1,
        );
        expect((await store.listIntegrations(T, 'email')).map((i) => i.id)).toEqual(['a', 'b']);
        expect((await store.listIntegrations(T)).length).toBe(3);
        expect((await store.getIntegration(T, 'a'))?.sealedCredentials).toBe('sealed');
        expect(await store.listIntegrations(OTHER)).toEqual([]);
        expect((await store.getIntegration(T, 'a'))?.perSecond).toBeNull();
        await store.putIntegration(
          { ...base, id: 'a', channel: 'email', provider: 'smtp', priority: 1, perSecond: 7 },
          2,
        );
        expect((await store.getIntegration(T, 'a'))?.perSecond).toBe(7);
      });

      it('keeps the latest published circuit per integration; a late, older transition is dropped', async () => {
        const circuit = (integrationId: string, state: 'closed' | 'open' | 'half_open', at: number) => ({
          tenantId: T,
          integrationId,
          state,
          failures: state === 'closed' ? 0 : 10,
          openedAt: state === 'closed' ? null : at,
          updatedAt: at,
        });
        expect(await store.listCircuits(T)).toEqual([]);
        await store.putCircuit(circuit('primary', 'open', 1_700_000_000_000));
        await store.putCircuit(circuit('backup', 'closed', 1_700_000_000_001));
        await store.putCircuit({ ...circuit('primary', 'open', 5), tenantId: OTHER });
        expect(await store.listCircuits(T)).toEqual([
          circuit('backup', 'closed', 1_700_000_000_001),
          circuit('primary', 'open', 1_700_000_000_000),
        ]);
        await store.putCircuit(circuit('primary', 'half_open', 1_700_000_030_000));
        // Written late by another thread: older than what is stored, so it changes nothing.
        await store.putCircuit(circuit('primary', 'closed', 1_700_000_020_000));
        expect((await store.listCircuits(T)).find((c) => c.integrationId === 'primary')).toEqual(
          circuit('primary', 'half_open', 1_700_000_030_000),
        );
        expect(await store.listCircuits(OTHER)).toEqual([
          { ...circuit('primary', 'open', 5), tenantId: OTHER },
        ]);
        expect((await store.listCircuits(null)).length).toBe(3);
      });
    });

    describe('webhook endpoints', () => {
      const endpoint = (
        over: { id?: string; url?: string; sealedSecrets?: string; tenantId?: string } = {},
      ) => ({
        tenantId: T,
        id: 'hooks',
        url: 'https://example.com/hooks',
        events: ['message.sent', 'message.failed'],
        sealedSecrets: 'sealed-1',
        ...over,
      });

      it('creates, then updates keeping the secrets and enabling again; lists per tenant by id', async () => {
        const first = await store.putWebhookEndpoint(endpoint(), 10);
        expect(first.created).toBe(true);
        expect(first.endpoint).toEqual({
          ...endpoint(),
          enabled: true,
          disabledReason: null,
          createdAt: 10,
          updatedAt: 10,
        });
        expect(
          await store.disableWebhookEndpoint(T, 'hooks', 'https://example.com/hooks', 'HTTP 410 Gone', 15),
        ).toBe(true);
        expect(await store.getWebhookEndpoint(T, 'hooks')).toMatchObject({
          enabled: false,
          disabledReason: 'HTTP 410 Gone',
        });
        const again = await store.putWebhookEndpoint(
          {
            ...endpoint({ url: 'https://example.com/v2', sealedSecrets: 'ignored' }),
            events: ['message.dead'],
          },
          20,
        );
        expect(again.created).toBe(false);
        expect(again.endpoint).toMatchObject({
          url: 'https://example.com/v2',
          events: ['message.dead'],
          sealedSecrets: 'sealed-1',
          enabled: true,
          disabledReason: null,
          createdAt: 10,
          updatedAt: 20,
        });
        await store.putWebhookEndpoint(endpoint({ id: 'a-first' }), 30);
        await store.putWebhookEndpoint(endpoint({ tenantId: OTHER, id: 'theirs' }), 30);
        expect((await store.listWebhookEndpoints(T)).map((e) => e.id)).toEqual(['a-first', 'hooks']);
        expect((await store.listWebhookEndpoints(OTHER)).map((e) => e.id)).toEqual(['theirs']);
        expect(await store.getWebhookEndpoint(OTHER, 'hooks')).toBeNull();
      });

      it('disables only while the URL is the one that answered; deletes per tenant', async () => {
        await store.putWebhookEndpoint(endpoint(), 10);
        expect(await store.disableWebhookEndpoint(T, 'hooks', 'https://old.example.com/', 'gone', 11)).toBe(
          false,
        );
        expect(
          await store.disableWebhookEndpoint(OTHER, 'hooks', 'https://example.com/hooks', 'gone', 11),
        ).toBe(false);
        expect((await store.getWebhookEndpoint(T, 'hooks'))!.enabled).toBe(true);
        expect(await store.deleteWebhookEndpoint(OTHER, 'hooks')).toBe(false);
        expect(await store.deleteWebhookEndpoint(T, 'hooks')).toBe(true);
        expect(await store.deleteWebhookEndpoint(T, 'hooks')).toBe(false);
        expect(await store.getWebhookEndpoint(T, 'hooks')).toBeNull();
      });

      it('replaces secrets only while they are the ones read (racing rotations: one wins)', async () => {
        await store.putWebhookEndpoint(endpoint(), 10);
        const [a, b] = await Promise.all([
          store.replaceWebhookSecrets(T, 'hooks', 'sealed-1', 'sealed-a', 20),
          store.replaceWebhookSecrets(T, 'hooks', 'sealed-1', 'sealed-b', 20),
        ]);
        expect([a, b].filter(Boolean)).toHaveLength(1);
        expect((await store.getWebhookEndpoint(T, 'hooks'))!.sealedSecrets).toBe(a ? 'sealed-a' : 'sealed-b');
        expect(await store.replaceWebhookSecrets(OTHER, 'hooks', a ? 'sealed-a' : 'sealed-b', 'x', 30)).toBe(
          false,
        );
      });

      it('queues event jobs with a status change and with new messages only', async () => {
        const event = job({ kind: 'endpoint_event' });
        await store.createMessages([
          { record: message({ id: 'msg_1' }), followUp: null, events: [event, event] },
        ]);
        await store.createMessages([{ record: message({ id: 'msg_2' }), followUp: null, events: [event] }]);
        expect((await store.countJobs()).ready).toBe(2);
        await store.updateMessage(T, 'msg_1', { status: 'read', append: [], now: 2000, events: [event] });
        await store.updateMessage(T, 'gone', { status: 'read', append: [], now: 2000, events: [event] });
        expect((await store.countJobs()).ready).toBe(3);
      });
    });

    describe('messages and the inbox', () => {
      it('creates one message per (event, subscriber, channel) and queues follow-ups of new ones only', async () => {
        const followUp = job({ kind: 'send' });
        const created = await store.createMessages([
          { record: message({ id: 'msg_1' }), followUp: null },
          { record: message({ id: 'msg_2', channel: 'email', status: 'queued' }), followUp },
        ]);
        expect(created).toEqual(['msg_1', 'msg_2']);
        const again = await store.createMessages([
          { record: message({ id: 'msg_3', channel: 'email', status: 'queued' }), followUp },
        ]);
        expect(again).toEqual([]);
        expect((await store.countJobs()).ready).toBe(1);
        expect(await store.getMessage(T, 'msg_2')).toMatchObject({ channel: 'email', status: 'queued' });
        expect(await store.getMessage(OTHER, 'msg_2')).toBeNull();
      });

      it('reads many messages of one tenant at once, leaving out ids it has no message for', async () => {
        await store.createMessages([
          { record: message({ id: 'msg_1' }), followUp: null },
          { record: message({ id: 'msg_2', channel: 'email', status: 'queued' }), followUp: null },
          { record: message({ id: 'msg_3', tenantId: OTHER }), followUp: null },
        ]);
        expect(await store.getMessages(T, [])).toEqual([]);
        const read = await store.getMessages(T, ['msg_2', 'msg_gone', 'msg_1', 'msg_3']);
        const byId = new Map(read.map((m) => [m.id, m]));
        expect([...byId.keys()].sort()).toEqual(['msg_1', 'msg_2']);
        // The same records getMessage answers, one by one.
        expect(byId.get('msg_1')).toEqual(await store.getMessage(T, 'msg_1'));
        expect(byId.get('msg_2')).toEqual(await store.getMessage(T, 'msg_2'));
        expect(await store.getMessages(OTHER, ['msg_1', 'msg_3'])).toMatchObject([{ id: 'msg_3' }]);
      });

      it('completes the acknowledged job in the same transaction', async () => {
        await store.enqueueJobs([job()]);
        const [claimed] = await store.claimJobs({
          owner: 'w1',
          now: Date.now() + 10,
          leaseMs: 1000,
          quotas: [{ lane: 'normal', limit: 1 }],
        });
        await store.createMessages([{ record: message({ id: 'msg_1' }), followUp: null }], {
          owner: 'w1',
          jobIds: [claimed!.id],
        });
        expect(await store.countJobs()).toEqual({ ready: 0, leased: 0, dead: 0 });
      });

      it('records skipped steps with the messages, once per (event, subscriber, step), per tenant', async () => {
        const skip = (subscriberId: string, step: number, tenantId = T) => ({
          tenantId,
          eventId: 'evt_1',
          subscriberId,
          step,
          channel: 'email' as const,
          reason: 'condition false: data.amount > 100',
          createdAt: 1000,
        });
        await store.enqueueJobs([job()]);
        const [claimed] = await store.claimJobs({
          owner: 'w1',
          now: Date.now() + 10,
          leaseMs: 1000,
          quotas: [{ lane: 'normal', limit: 1 }],
        });
        const created = await store.createMessages(
          [{ record: message({ id: 'msg_1' }), followUp: null }],
          { owner: 'w1', jobIds: [claimed!.id] },
          [skip('u2', 1), skip('u1', 2), skip('u1', 1)],
        );
        expect(created).toEqual(['msg_1']);
        expect(await store.countJobs()).toEqual({ ready: 0, leased: 0, dead: 0 });
        // A delivery that runs again (a lost lease) records nothing twice; skips alone are written too.
        await store.createMessages([], undefined, [skip('u1', 1), { ...skip('u1', 2), reason: 'other' }]);
        await store.createMessages([], undefined, [skip('u1', 1, OTHER)]);
        const listed = await store.listSkippedSteps(T, 'evt_1', 100);
        expect(listed.map((s) => [s.subscriberId, s.step])).toEqual([
          ['u1', 1],
          ['u1', 2],
          ['u2', 1],
        ]);
        expect(listed[1]).toEqual(skip('u1', 2));
        expect(await store.listSkippedSteps(T, 'evt_1', 2)).toHaveLength(2);
        expect(await store.listSkippedSteps(T, 'evt_2', 100)).toEqual([]);
        expect(await store.listSkippedSteps(OTHER, 'evt_1', 100)).toHaveLength(1);
      });

      it('creates one message per device of a channel, idempotently, with its meta', async () => {
        const push = (id: string, deviceId: string | null) =>
          message({
            id,
            channel: 'push',
            status: 'queued',
            deviceId,
            meta: deviceId ? { deviceId } : {},
          });
        const created = await store.createMessages([
          { record: push('msg_1', 'phone'), followUp: null },
          { record: push('msg_2', 'tablet'), followUp: null },
        ]);
        expect(created).toEqual(['msg_1', 'msg_2']);
        // A delivery that runs again creates nothing twice; a device-less message is one more.
        expect(
          await store.createMessages([
            { record: push('msg_3', 'phone'), followUp: null },
            { record: push('msg_4', null), followUp: null },
            { record: push('msg_5', null), followUp: null },
          ]),
        ).toEqual(['msg_4']);
        expect(await store.getMessage(T, 'msg_2')).toMatchObject({
          deviceId: 'tablet',
          meta: { deviceId: 'tablet' },
          providerMessageId: null,
        });
        expect(await store.getMessage(T, 'msg_4')).toMatchObject({ deviceId: null, meta: {} });
      });

      it('stores the provider message id and merges meta on update', async () => {
        await store.createMessages([
          {
            record: message({
              id: 'msg_1',
              channel: 'push',
              status: 'queued',
              deviceId: 'phone',
              meta: { deviceId: 'phone' },
            }),
            followUp: null,
          },
        ]);
        await store.updateMessage(T, 'msg_1', { status: 'sending', append: [], now: 2 });
        expect(await store.getMessage(T, 'msg_1')).toMatchObject({
          providerMessageId: null,
          meta: { deviceId: 'phone' },
        });
        await store.updateMessage(T, 'msg_1', {
          status: 'sent',
          providerMessageId: 'apns-id-1',
          meta: { collapseId: 'c1', segments: 2, retried: false },
          append: [],
          now: 3,
        });
        await store.updateMessage(T, 'msg_1', { status: 'delivered', append: [], now: 4 });
        expect(await store.getMessage(T, 'msg_1')).toMatchObject({
          providerMessageId: 'apns-id-1',
          meta: { deviceId: 'phone', collapseId: 'c1', segments: 2, retried: false },
        });
      });

      it('appends to the timeline on update', async () => {
        await store.createMessages([
          { record: message({ id: 'msg_1', channel: 'email', status: 'queued' }), followUp: null },
        ]);
        const ok = await store.updateMessage(T, 'msg_1', {
          status: 'sent',
          provider: 'smtp',
          append: [
            { at: 'a', status: 'sending' },
            { at: 'b', status: 'sent', detail: '250 OK' },
          ],
          now: 5,
        });
        expect(ok).toBe(true);
        const updated = await store.getMessage(T, 'msg_1');
        expect(updated?.status).toBe('sent');
        expect(updated?.provider).toBe('smtp');
        expect(updated?.timeline.map((e) => e.status)).toEqual(['delivered', 'sending', 'sent']);
        expect(await store.updateMessage(OTHER, 'msg_1', { status: 'failed', append: [], now: 6 })).toBe(
          false,
        );
      });

      it('changes a message only from the statuses an update names, queuing its follow-up only then', async () => {
        await store.createMessages([
          { record: message({ id: 'msg_1', channel: 'email', status: 'queued' }), followUp: null },
          {
            record: message({ id: 'msg_2', eventId: 'evt_2', channel: 'email', status: 'cancelled' }),
            followUp: null,
          },
        ]);
        const sending = (id: string) => ({
          tenantId: T,
          id,
          update: {
            status: 'sending' as const,
            provider: 'smtp',
            append: [{ at: 'a', status: 'sending' as const }],
            now: 2,
            followUp: job(),
            onlyFrom: ['queued', 'deferred', 'sending'] as const,
          },
        });
        expect(await store.updateMessages([sending('msg_1'), sending('msg_2')])).toEqual([true, false]);
        expect(await store.getMessage(T, 'msg_1')).toMatchObject({ status: 'sending', provider: 'smtp' });
        const untouched = await store.getMessage(T, 'msg_2');
        expect(untouched).toMatchObject({ status: 'cancelled', provider: 'inbox', updatedAt: 1000 });
        expect(untouched?.timeline.map((e) => e.status)).toEqual(['delivered']);
        expect(await store.countJobs()).toMatchObject({ ready: 1 });
        // Two entries at once take the other statement: the same guard.
        expect(
          await store.updateMessage(T, 'msg_2', {
            status: 'queued',
            append: [
              { at: 'b', status: 'queued' },
              { at: 'c', status: 'queued' },
            ],
            now: 3,
            onlyFrom: ['queued'],
          }),
        ).toBe(false);
        expect((await store.getMessage(T, 'msg_2'))?.timeline).toHaveLength(1);
      });

      it('completes the jobs an update acknowledges with it, only those the owner still holds, message or not', async () => {
        await store.createMessages([
          { record: message({ id: 'msg_1', channel: 'push', status: 'sending' }), followUp: null },
        ]);
        await store.enqueueJobs([job(), job(), job(), job()]);
        const claimed = await store.claimJobs({
          owner: 'w1',
          now: Date.now() + 10,
          leaseMs: 30_000,
          quotas: [{ lane: 'normal', limit: 3 }],
        });
        expect(claimed).toHaveLength(3);
        const [mine, gone, other] = claimed.map((j) => j.id) as [number, number, number];
        const unclaimed = 1 + Math.max(mine, gone, other);
        const changed = await store.updateMessages([
          {
            tenantId: T,
            id: 'msg_1',
            update: {
              status: 'sent',
              append: [{ at: 'a', status: 'sent' }],
              now: 2,
              ack: { owner: 'w1', jobIds: [mine] },
            },
          },
          // The message is gone: its job ends all the same.
          {
            tenantId: T,
            id: 'msg_gone',
            update: { status: 'sent', append: [], now: 2, ack: { owner: 'w1', jobIds: [gone] } },
          },
          // Another owner's ack (a lease lost meanwhile) ends nothing: not a leased job, not a ready one.
          {
            tenantId: T,
            id: 'msg_1',
            update: { status: 'sent', append: [], now: 3, ack: { owner: 'w2', jobIds: [other, unclaimed] } },
          },
        ]);
        expect(changed).toEqual([true, false, true]);
        expect(await store.countJobs()).toEqual({ ready: 1, leased: 1, dead: 0 });
        expect(await store.getMessage(T, 'msg_1')).toMatchObject({ status: 'sent' });
        // One update on its own acknowledges too.
        await store.updateMessages([
          {
            tenantId: T,
            id: 'msg_1',
            update: { status: 'sent', append: [], now: 4, ack: { owner: 'w1', jobIds: [other] } },
          },
        ]);
        expect(await store.countJobs()).toEqual({ ready: 1, leased: 0, dead: 0 });
      });

      it('applies many updates in one call, in order, answering false for a message that is gone', async () => {
        await store.createMessages([
          { record: message({ id: 'msg_1', channel: 'push', status: 'queued' }), followUp: null },
          {
            record: message({ id: 'msg_2', channel: 'push', status: 'queued', subscriberId: 'sub_2' }),
            followUp: null,
          },
        ]);
        const jobsBefore = await store.countJobs();
        expect(await store.updateMessages([])).toEqual([]);
        const changed = await store.updateMessages([
          {
            tenantId: T,
            id: 'msg_1',
            update: { status: 'sending', provider: 'apns', append: [{ at: 'a', status: 'sending' }], now: 2 },
          },
          { tenantId: OTHER, id: 'msg_2', update: { status: 'failed', append: [], now: 2 } },
          {
            tenantId: T,
            id: 'msg_2',
            update: {
              status: 'deferred',
              reason: null,
              append: [{ at: 'b', status: 'deferred' }],
              now: 2,
              followUp: job({ kind: 'send', payload: { messageId: 'msg_2' } }),
            },
          },
          {
            tenantId: T,
            id: 'msg_1',
            update: {
              status: 'sent',
              providerMessageId: 'apns-id-1',
              meta: { collapseId: 'c1' },
              append: [{ at: 'c', status: 'sent', detail: 'APNs 200' }],
              now: 3,
            },
          },
          { tenantId: T, id: 'msg_gone', update: { status: 'sent', append: [], now: 3 } },
        ]);
        expect(changed).toEqual([true, false, true, true, false]);
        expect(await store.getMessage(T, 'msg_1')).toMatchObject({
          status: 'sent',
          provider: 'apns',
          providerMessageId: 'apns-id-1',
          meta: { collapseId: 'c1' },
          updatedAt: 3,
        });
        expect((await store.getMessage(T, 'msg_1'))?.timeline.map((e) => e.status)).toEqual([
          'delivered',
          'sending',
          'sent',
        ]);
        expect(await store.getMessage(T, 'msg_2')).toMatchObject({ status: 'deferred' });
        expect((await store.countJobs()).ready).toBe(jobsBefore.ready + 1);
      });

      it('keeps a message reason code: set on create and update, kept when not given, cleared with null', async () => {
        await store.createMessages([
          { record: message({ id: 'msg_1', status: 'failed', reason: 'template_error' }), followUp: null },
        ]);
        expect((await store.getMessage(T, 'msg_1'))?.reason).toBe('template_error');
        await store.updateMessage(T, 'msg_1', { status: 'failed', append: [], now: 2 });
        expect((await store.getMessage(T, 'msg_1'))?.reason).toBe('template_error');
        await store.updateMessage(T, 'msg_1', {
          status: 'failed',
          reason: 'blocked_target',
          append: [],
          now: 3,
        });
        expect((await store.getMessage(T, 'msg_1'))?.reason).toBe('blocked_target');
        await store.updateMessage(T, 'msg_1', { status: 'queued', reason: null, append: [], now: 4 });
        expect((await store.getMessage(T, 'msg_1'))?.reason).toBeNull();
      });

      it('replays a message only while it is dead, queueing its send once', async () => {
        await store.createMessages([{ record: message({ id: 'msg_1', status: 'dead' }), followUp: null }]);
        const replay = {
          status: 'queued' as const,
          lastError: null,
          append: [{ at: '2026-01-01T00:00:01.000Z', status: 'queued' as const, detail: 'replayed' }],
          now: 2000,
          followUp: job({ kind: 'send', payload: { messageId: 'msg_1' } }),
        };
        expect(await store.replayDeadMessage(T, 'msg_1', replay)).toBe(true);
        expect(await store.replayDeadMessage(T, 'msg_1', replay)).toBe(false);
        expect((await store.getMessage(T, 'msg_1'))?.timeline.map((e) => e.status)).toEqual([
          'delivered',
          'queued',
        ]);
        expect((await store.countJobs()).ready).toBe(1);
      });

      it('filters and pages messages newest first', async () => {
        await store.createMessages(
          ['msg_1', 'msg_2', 'msg_3'].map((id, i) => ({
            record: message({ id, eventId: `evt_${i}`, subscriberId: i === 2 ? 'u2' : 'u1' }),
            followUp: null,
          })),
        );
        expect((await store.listMessages({ tenantId: T, limit: 2 })).map((m) => m.id)).toEqual([
          'msg_3',
          'msg_2',
        ]);
        expect(
          (await store.listMessages({ tenantId: T, limit: 5, beforeId: 'msg_2' })).map((m) => m.id),
        ).toEqual(['msg_1']);
        expect(
          (await store.listMessages({ tenantId: T, limit: 5, subscriberId: 'u2' })).map((m) => m.id),
        ).toEqual(['msg_3']);
        expect(
          (await store.listMessages({ tenantId: T, limit: 5, eventId: 'evt_0' })).map((m) => m.id),
        ).toEqual(['msg_1']);
        expect(await store.listMessages({ tenantId: OTHER, limit: 5 })).toEqual([]);
      });

      it("pages an event's messages newest first, with only what the event's view shows", async () => {
        await store.createMessages(
          ['msg_1', 'msg_2', 'msg_3', 'msg_4'].map((id, i) => ({
            record: message({ id, eventId: i === 3 ? 'evt_other' : 'evt_1', subscriberId: `u${i}` }),
            followUp: null,
          })),
        );
        const first = await store.listEventMessages(T, 'evt_1', { limit: 2 });
        const [full] = await store.getMessages(T, ['msg_3']);
        const { id, subscriberId, channel, status, reason, provider, escalated, timeline } = full!;
        expect(first).toEqual([
          { id, subscriberId, channel, status, reason, provider, escalated, timeline },
          expect.objectContaining({ id: 'msg_2', subscriberId: 'u1' }),
        ]);
        expect(
          (await store.listEventMessages(T, 'evt_1', { limit: 5, beforeId: 'msg_2' })).map((m) => m.id),
        ).toEqual(['msg_1']);
        expect(await store.listEventMessages(OTHER, 'evt_1', { limit: 5 })).toEqual([]);
      });

      it('answers the recent messages that changed, oldest change first, within the window of ids', async () => {
        const minute = 60_000;
        const at = Date.UTC(2026, 0, 1);
        const old = newId('msg', at - 10 * minute);
        const recent = newId('msg', at - minute);
        const other = newId('msg', at - minute);
        const changedLater = newId('msg', at - 2 * minute);
        await store.createMessages([
          { record: message({ id: old, eventId: 'evt_old', updatedAt: at }), followUp: null },
          { record: message({ id: recent, eventId: 'evt_r', updatedAt: at - minute }), followUp: null },
          {
            record: message({ id: other, eventId: 'evt_o', workflow: 'other', updatedAt: at }),
            followUp: null,
          },
          {
            record: message({
              id: changedLater,
              eventId: 'evt_c',
              status: 'queued',
              channel: 'email',
              updatedAt: at - 2 * minute,
            }),
            followUp: null,
          },
          { record: message({ id: newId('msg', at), tenantId: OTHER, updatedAt: at }), followUp: null },
        ]);
        expect(
          await store.updateMessage(T, changedLater, {
            status: 'sent',
            reason: null,
            append: [{ at: new Date(at + 5).toISOString(), status: 'sent', detail: 'accepted' }],
            now: at + 5,
          }),
        ).toBe(true);
        const query = { tenantId: T, createdFrom: at - 5 * minute, changedFrom: at, limit: 10 };
        const changed = await store.messageChanges(query);
        // `old` was created before the window; `recent` last changed before `changedFrom`.
        expect(changed.map((m) => m.id)).toEqual([other, changedLater]);
        expect(changed[1]).toEqual({
          tenantId: T,
          id: changedLater,
          eventId: 'evt_c',
          subscriberId: 'u1',
          channel: 'email',
          workflow: 'welcome',
          status: 'sent',
          reason: null,
          lastError: null,
          timeline: [
            { at: '2026-01-01T00:00:00.000Z', status: 'delivered' },
            { at: new Date(at + 5).toISOString(), status: 'sent', detail: 'accepted' },
          ],
          createdAt: 1000,
          updatedAt: at + 5,
        });
        expect((await store.messageChanges({ ...query, workflow: 'other' })).map((m) => m.id)).toEqual([
          other,
        ]);
        expect((await store.messageChanges({ ...query, limit: 1 })).map((m) => m.id)).toEqual([other]);
        expect((await store.messageChanges({ ...query, changedFrom: at + 6 })).length).toBe(0);
        expect(
          (await store.messageChanges({ ...query, createdFrom: at - 11 * minute })).map((m) => m.id),
        ).toEqual([old, other, changedLater]);
      });

      it("reads a subscriber's deferred messages from a creation time on, oldest first, with their event's lane", async () => {
        const at = 1_800_000_000_000;
        await store.acceptEvents(
          [
            acceptable({ id: 'evt_bulk', input: { workflow: 'welcome', to: ['u1'], priority: 'bulk' } }),
            acceptable({ id: 'evt_high', input: { workflow: 'welcome', to: ['u1'], priority: 'high' } }),
          ],
          DAY,
        );
        const [old, first, second, sent, theirs] = [at - DAY, at, at + 1, at + 2, at + 3].map((ms) =>
          newId('msg', ms),
        );
        const deferred = (id: string, eventId: string, over: Partial<MessageRecord> = {}) => ({
          record: message({ id, eventId, status: 'deferred', channel: 'email', ...over }),
          followUp: null,
        });
        await store.createMessages([
          deferred(old!, 'evt_bulk'),
          deferred(first!, 'evt_high'),
          deferred(second!, 'evt_bulk', { channel: 'sms' }),
          deferred(sent!, 'evt_bulk', { channel: 'push', status: 'sent' }),
          deferred(theirs!, 'evt_bulk', { subscriberId: 'u2' }),
        ]);
        expect(await store.deferredMessages(T, 'u1', at, 10)).toEqual([
          { tenantId: T, id: first, subscriberId: 'u1', channel: 'email', lane: 'high' },
          { tenantId: T, id: second, subscriberId: 'u1', channel: 'sms', lane: 'bulk' },
        ]);
        expect((await store.deferredMessages(T, 'u1', at - DAY, 1)).map((m) => m.id)).toEqual([old]);
        expect(await store.deferredMessages(OTHER, 'u1', 0, 10)).toEqual([]);
      });

      it('lists the inbox by event time with a cursor and tracks read state', async () => {
        await store.createMessages(
          [1, 2, 3].map((n) => ({
            record: message({ id: `msg_${n}`, eventId: `evt_${n}`, eventAt: n === 3 ? 1 : n * 100 }),
            followUp: null,
          })),
        );
        const first = await store.listInbox({
          tenantId: T,
          subscriberId: 'u1',
          before: null,
          limit: 2,
          archived: false,
        });
        expect(first.map((m) => m.id)).toEqual(['msg_2', 'msg_1']);
        const last = first.at(-1)!;
        const second = await store.listInbox({
          tenantId: T,
          subscriberId: 'u1',
          before: { eventAt: last.eventAt, id: last.id },
          limit: 2,
          archived: false,
        });
        expect(second.map((m) => m.id)).toEqual(['msg_3']);
        expect(await store.countUnread(T, 'u1')).toBe(3);

        const read = await store.markInbox(T, 'u1', 'msg_1', 'read', 50);
        expect(read).toMatchObject({ readAt: 50, seenAt: 50, status: 'read' });
        expect(read?.timeline.at(-1)?.status).toBe('read');
        expect(await store.markInbox(T, 'u2', 'msg_2', 'read', 50)).toBeNull();
        expect(await store.countUnread(T, 'u1')).toBe(2);

        const archived = await store.markInbox(T, 'u1', 'msg_2', 'archive', 60);
        expect(archived).toMatchObject({ archivedAt: 60, readAt: 60 });
        const live = await store.listInbox({
          tenantId: T,
          subscriberId: 'u1',
          before: null,
          limit: 10,
          archived: false,
        });
        expect(live.map((m) => m.id)).toEqual(['msg_1', 'msg_3']);
        const gone = await store.listInbox({
          tenantId: T,
          subscriberId: 'u1',
          before: null,
          limit: 10,
          archived: true,
        });
        expect(gone.map((m) => m.id)).toEqual(['msg_2']);

        expect(await store.markAllInbox(T, 'u1', 'seen', 70)).toHaveLength(1);
        expect((await store.markAllInbox(T, 'u1', 'read', 80)).map((m) => [m.id, m.status])).toEqual([
          ['msg_3', 'read'],
        ]);
        expect(await store.countUnread(T, 'u1')).toBe(0);
        expect((await store.getMessage(T, 'msg_3'))?.status).toBe('read');
      });

      it('logs every inbox change per subscriber, numbered in order, for streams to replay', async () => {
        expect(await store.lastInboxChange(T, 'u1')).toBe(0);
        expect(await store.firstInboxChange(T, 'u1')).toBeNull();
        await store.createMessages([
          { record: message({ id: 'msg_1', eventId: 'evt_1' }), followUp: null },
          { record: message({ id: 'msg_2', eventId: 'evt_2' }), followUp: null },
          { record: message({ id: 'msg_3', eventId: 'evt_3', subscriberId: 'u2' }), followUp: null },
          // Not inbox items: no change.
          {
            record: message({ id: 'msg_4', eventId: 'evt_4', channel: 'email', status: 'queued' }),
            followUp: null,
          },
          { record: message({ id: 'msg_5', eventId: 'evt_5', status: 'failed' }), followUp: null },
        ]);
        // A delivery run again creates nothing and logs nothing.
        await store.createMessages([{ record: message({ id: 'msg_9', eventId: 'evt_1' }), followUp: null }]);
        await store.markInbox(T, 'u1', 'msg_1', 'read', 2000);
        expect(await store.markInbox(T, 'u2', 'msg_1', 'read', 2000)).toBeNull();
        expect(await store.markAllInbox(T, 'u1', 'read', 3000)).toHaveLength(1);
        // Nothing left to read: no change logged.
        expect(await store.markAllInbox(T, 'u1', 'read', 3100)).toEqual([]);
        await store.markAllInbox(T, 'u1', 'seen', 3200);
        const changes = await loggedChanges(T, 'u1', 0, 100);
        expect(changes.map((c) => [c.seq, c.type, c.itemId])).toEqual([
          [1, 'item.created', 'msg_1'],
          [2, 'item.created', 'msg_2'],
          [3, 'item.updated', 'msg_1'],
          [4, 'inbox.read-all', null],
        ]);
        expect(await store.lastInboxChange(T, 'u1')).toBe(4);
        expect((await loggedChanges(T, 'u1', 2, 1)).map((c) => c.seq)).toEqual([3]);
        expect((await loggedChanges(T, 'u2', 0, 10)).map((c) => [c.seq, c.itemId])).toEqual([[1, 'msg_3']]);
        expect(await loggedChanges(OTHER, 'u1', 0, 10)).toEqual([]);

        // Only changes older than the cut are purged; numbering goes on from the counter.
        expect(await store.purgeInboxChanges(2000, 100)).toBe(3);
        expect((await loggedChanges(T, 'u1', 0, 100)).map((c) => c.seq)).toEqual([3, 4]);
        // A stream resuming from before 3 has lost changes; u2's log is gone whole.
        expect(await store.firstInboxChange(T, 'u1')).toBe(3);
        expect(await store.firstInboxChange(T, 'u2')).toBeNull();
        expect(await store.lastInboxChange(T, 'u2')).toBe(1);
        await store.createMessages([{ record: message({ id: 'msg_6', eventId: 'evt_6' }), followUp: null }]);
        expect(await store.lastInboxChange(T, 'u1')).toBe(5);
        expect(await store.firstInboxChange(T, 'u1')).toBe(3);
      });

      it('catches many streams up at once: each cursor its changes with their items, and the unread count', async () => {
        await store.createMessages([
          { record: message({ id: 'msg_1', eventId: 'evt_1' }), followUp: null },
          { record: message({ id: 'msg_2', eventId: 'evt_2' }), followUp: null },
          { record: message({ id: 'msg_3', eventId: 'evt_3', subscriberId: 'u2' }), followUp: null },
          { record: message({ id: 'msg_4', eventId: 'evt_4' }), followUp: null },
        ]);
        await store.markInbox(T, 'u1', 'msg_1', 'read', 2000);
        await store.markAllInbox(T, 'u2', 'read', 3000);
        expect(await store.catchUpInboxes(T, [], 10)).toEqual([]);
        const caught = await store.catchUpInboxes(
          T,
          [
            { subscriberId: 'u1', afterSeq: 0 },
            { subscriberId: 'u2', afterSeq: 1 },
            // The same subscriber again, further on.
            { subscriberId: 'u1', afterSeq: 2 },
            { subscriberId: 'nobody', afterSeq: 0 },
          ],
          3,
        );
        expect(caught.map((c) => c.unreadCount)).toEqual([2, 0, 2, 0]);
        expect(
          caught[0]!.changes.map(({ change, item }) => [change.seq, change.type, change.itemId, item?.id]),
        ).toEqual([
          [1, 'item.created', 'msg_1', 'msg_1'],
          [2, 'item.created', 'msg_2', 'msg_2'],
          [3, 'item.created', 'msg_4', 'msg_4'],
        ]);
        // The item as it is now (read since), the same record getMessage answers.
        expect(caught[0]!.changes[0]!.item).toEqual(await store.getMessage(T, 'msg_1'));
        expect(caught[0]!.changes[0]!.item?.readAt).toBe(2000);
        expect(caught[1]!.changes.map(({ change, item }) => [change.seq, change.type, item])).toEqual([
          [2, 'inbox.read-all', null],
        ]);
        expect(caught[2]!.changes.map(({ change }) => [change.seq, change.type, change.itemId])).toEqual([
          [3, 'item.created', 'msg_4'],
          [4, 'item.updated', 'msg_1'],
        ]);
        expect(caught[3]!.changes).toEqual([]);
        // Another tenant's log is not read.
        const theirs = await store.catchUpInboxes(OTHER, [{ subscriberId: 'u1', afterSeq: 0 }], 10);
        expect(theirs).toEqual([{ changes: [], unreadCount: 0 }]);
      });

      it('answers the log number of each new inbox item it creates, as the log has it', async () => {
        await store.createMessages([{ record: message({ id: 'msg_0', eventId: 'evt_0' }), followUp: null }]);
        const seqs = new Map<string, number>();
        const created = await store.createMessages(
          [
            { record: message({ id: 'msg_1', eventId: 'evt_1' }), followUp: null },
            { record: message({ id: 'msg_2', eventId: 'evt_2', subscriberId: 'u2' }), followUp: null },
            { record: message({ id: 'msg_3', eventId: 'evt_3' }), followUp: null },
            // Not inbox items, and one already there: no number.
            {
              record: message({ id: 'msg_4', eventId: 'evt_4', channel: 'email', status: 'queued' }),
              followUp: null,
            },
            { record: message({ id: 'msg_9', eventId: 'evt_0' }), followUp: null },
          ],
          undefined,
          undefined,
          undefined,
          seqs,
        );
        expect(created).toEqual(['msg_1', 'msg_2', 'msg_3', 'msg_4']);
        const logged = [
          ...(await loggedChanges(T, 'u1', 1, 10)),
          ...(await loggedChanges(T, 'u2', 0, 10)),
        ].map((c) => [c.itemId, c.seq]);
        expect([...seqs].sort()).toEqual(logged.sort());
        expect(seqs.get('msg_2')).toBe(1);
        expect([seqs.get('msg_1'), seqs.get('msg_3')].sort()).toEqual([2, 3]);
      });

      it('numbers concurrent changes of one subscriber without a gap or a repeat', async () => {
        await store.createMessages(
          Array.from({ length: 10 }, (_, n) => ({
            record: message({ id: `msg_${n}`, eventId: `evt_${n}` }),
            followUp: null,
          })),
        );
        await Promise.all([
          ...Array.from({ length: 10 }, (_, n) => store.markInbox(T, 'u1', `msg_${n}`, 'seen', 5000)),
          ...Array.from({ length: 5 }, (_, n) =>
            store.createMessages([
              { record: message({ id: `new_${n}`, eventId: `e_${n}` }), followUp: null },
            ]),
          ),
        ]);
        const seqs = (await loggedChanges(T, 'u1', 0, 100)).map((c) => c.seq);
        expect(seqs).toEqual(Array.from({ length: 25 }, (_, n) => n + 1));
      });

      it('filters the inbox by status and category, counts unread per category, marks unread and clicks', async () => {
        await store.putWorkflow(T, 'social', { category: 'social', channels: [] }, 1);
        await store.createMessages([
          { record: message({ id: 'msg_1', eventId: 'evt_1', eventAt: 100 }), followUp: null },
          {
            record: message({ id: 'msg_2', eventId: 'evt_2', eventAt: 200, workflow: 'social' }),
            followUp: null,
          },
          {
            record: message({ id: 'msg_3', eventId: 'evt_3', eventAt: 300, workflow: 'social' }),
            followUp: null,
          },
        ]);
        const list = (over: Partial<Parameters<Store['listInbox']>[0]>) =>
          store
            .listInbox({ tenantId: T, subscriberId: 'u1', before: null, limit: 10, archived: false, ...over })
            .then((items) => items.map((m) => m.id));
        await store.markInbox(T, 'u1', 'msg_3', 'read', 400);
        expect(await list({ status: 'unread' })).toEqual(['msg_2', 'msg_1']);
        expect(await list({ status: 'read' })).toEqual(['msg_3']);
        expect(await list({ status: 'all' })).toEqual(['msg_3', 'msg_2', 'msg_1']);
        expect(await list({ categories: ['social'] })).toEqual(['msg_3', 'msg_2']);
        expect(await list({ categories: ['social'], status: 'unread' })).toEqual(['msg_2']);
        expect(await list({ categories: ['billing'] })).toEqual([]);
        expect(await store.countUnreadByCategory(T, 'u1')).toEqual(
          new Map<string | null, number>([
            [null, 1],
            ['social', 1],
          ]),
        );

        const unread = await store.markInbox(T, 'u1', 'msg_3', 'unread', 500);
        expect(unread).toMatchObject({ readAt: null, seenAt: 400 });
        expect(await store.countUnread(T, 'u1')).toBe(3);
        const clicked = await store.markInbox(T, 'u1', 'msg_2', 'click', 600, 'action 1: Reply');
        expect(clicked).toMatchObject({ status: 'clicked', readAt: 600 });
        expect(clicked?.timeline.at(-1)).toEqual({
          at: new Date(600).toISOString(),
          status: 'clicked',
          detail: 'action 1: Reply',
        });
        expect(await store.countUnread(T, 'u1')).toBe(2);
      });

      it('snoozes an item with its wake job, and wakes it as new only for the latest snooze', async () => {
        await store.createMessages([{ record: message({ id: 'msg_1' }), followUp: null }]);
        await store.markInbox(T, 'u1', 'msg_1', 'read', 1500);
        const wake = (until: number) => job({ kind: 'inbox-wake', runAt: until, payload: { until } });
        const snoozed = await store.snoozeInbox(T, 'u1', 'msg_1', 9000, wake(9000), 2000);
        expect(snoozed).toMatchObject({ snoozedUntil: 9000 });
        expect(await store.snoozeInbox(T, 'u2', 'msg_1', 9000, wake(9000), 2000)).toBeNull();
        expect((await store.countJobs()).ready).toBe(1);
        expect(
          await store.listInbox({
            tenantId: T,
            subscriberId: 'u1',
            before: null,
            limit: 10,
            archived: false,
          }),
        ).toEqual([]);
        // Snoozed again, later: the first wake finds nothing to do.
        await store.snoozeInbox(T, 'u1', 'msg_1', 12_000, wake(12_000), 2500);
        expect(await store.wakeSnoozed(T, 'msg_1', 9000, 9000)).toBeNull();
        const woken = await store.wakeSnoozed(T, 'msg_1', 12_000, 12_000);
        expect(woken).toMatchObject({ snoozedUntil: null, readAt: null, seenAt: null });
        expect(await store.wakeSnoozed(T, 'msg_1', 12_000, 12_001)).toBeNull();
        expect(await store.countUnread(T, 'u1')).toBe(1);
        const types = (await loggedChanges(T, 'u1', 0, 10)).map((c) => c.type);
        expect(types).toEqual([
          'item.created',
          'item.updated',
          'item.updated',
          'item.updated',
          'item.created',
        ]);
      });

      it('keeps one waiting wake job per item: a snooze again moves it, later or earlier', async () => {
        // Each snooze queued a job of its own, up to a year ahead: a subscriber snoozing one item
        // in a loop grew the jobs table without bound.
        await store.createMessages([
          { record: message({ id: 'msg_1' }), followUp: null },
          { record: message({ id: 'msg_2', eventId: 'evt_2' }), followUp: null },
        ]);
        const wake = (itemId: string, until: number) =>
          job({ kind: 'inbox-wake', runAt: until, payload: { itemId, until } });
        const quotas = [{ lane: 'normal' as const, limit: 10 }];
        const claim = (at: number) => store.claimJobs({ owner: 'w1', now: at, leaseMs: 60_000, quotas });
        for (const until of [9000, 50_000, 5000])
          await store.snoozeInbox(T, 'u1', 'msg_1', until, wake('msg_1', until), 2000);
        await store.snoozeInbox(T, 'u1', 'msg_2', 7000, wake('msg_2', 7000), 2000);
        expect(await store.countJobs()).toEqual({ ready: 2, leased: 0, dead: 0 });
        expect(await claim(4999)).toEqual([]);
        const [first, other] = await claim(7000);
        expect(first).toMatchObject({ runAt: 5000, payload: { itemId: 'msg_1', until: 5000 }, attempts: 1 });
        expect(other).toMatchObject({ runAt: 7000, payload: { itemId: 'msg_2', until: 7000 } });

        // A job waiting for its retry is moved too, its attempts starting again.
        await store.retryJob('w1', first!.id, 6000, 'boom');
        await store.snoozeInbox(T, 'u1', 'msg_1', 20_000, wake('msg_1', 20_000), 5500);
        expect(await claim(19_999)).toEqual([]);
        const [moved] = await claim(20_000);
        expect(moved).toMatchObject({ id: first!.id, payload: { until: 20_000 }, attempts: 1 });

        // One running is left to finish (its snooze is gone) beside a new one, moved in turn.
        await store.snoozeInbox(T, 'u1', 'msg_1', 30_000, wake('msg_1', 30_000), 6000);
        await store.snoozeInbox(T, 'u1', 'msg_1', 25_000, wake('msg_1', 25_000), 6000);
        expect(await store.countJobs()).toEqual({ ready: 1, leased: 2, dead: 0 });
        expect(await store.wakeSnoozed(T, 'msg_1', 20_000, 20_000)).toBeNull();
        await store.completeJobs('w1', [moved!.id, other!.id]);
        const [next] = await claim(25_000);
        expect(next).toMatchObject({ runAt: 25_000, payload: { itemId: 'msg_1', until: 25_000 } });
        expect(next!.id).not.toBe(first!.id);
        expect(await store.wakeSnoozed(T, 'msg_1', 25_000, 25_000)).toMatchObject({ snoozedUntil: null });

        // Snoozed again once woken (its job done): a job of its own.
        await store.completeJobs('w1', [next!.id]);
        await store.snoozeInbox(T, 'u1', 'msg_1', 40_000, wake('msg_1', 40_000), 26_000);
        expect(await store.countJobs()).toEqual({ ready: 1, leased: 0, dead: 0 });
      });

      it('knows who is online from unexpired presence rows of any holder', async () => {
        const ada = { tenantId: T, subscriberId: 'ada' };
        const bob = { tenantId: T, subscriberId: 'bob' };
        await store.holdPresence('p1', [ada, bob], 10_000);
        await store.holdPresence('p2', [ada], 5_000);
        expect(await store.isOnline(T, 'ada', 9_000)).toBe(true);
        expect(await store.isOnline(OTHER, 'ada', 9_000)).toBe(false);
        await store.releasePresence('p1', [ada]);
        expect(await store.isOnline(T, 'ada', 4_000)).toBe(true);
        expect(await store.isOnline(T, 'ada', 6_000)).toBe(false);
        await store.refreshPresence('p2', 20_000);
        expect(await store.isOnline(T, 'ada', 15_000)).toBe(true);
        expect(await store.isOnline(T, 'bob', 15_000)).toBe(false);
        expect(await store.purgePresence(15_000, 100)).toBe(1);
        await store.releasePresence('p2', null);
        expect(await store.isOnline(T, 'ada', 15_000)).toBe(false);
      });

      it('keeps sandbox captures per tenant', async () => {
        await store.saveSandboxCapture({
          id: 'cap_1',
          tenantId: T,
          messageId: 'msg_1',
          channel: 'email',
          to: 'a@x.io',
          content: { subject: 'S' },
          createdAt: 1,
        });
        expect(await store.listSandboxCaptures(T, 10)).toEqual([
          {
            id: 'cap_1',
            tenantId: T,
            messageId: 'msg_1',
            channel: 'email',
            to: 'a@x.io',
            content: { subject: 'S' },
            createdAt: 1,
          },
        ]);
        expect(await store.listSandboxCaptures(T, 10, 'sms')).toEqual([]);
        expect(await store.listSandboxCaptures(OTHER, 10)).toEqual([]);
      });

      it('pages sandbox captures newest first, after an id, of a channel or all', async () => {
        for (const [id, channel] of [
          ['cap_a', 'email'],
          ['cap_b', 'sms'],
          ['cap_c', 'email'],
        ] as const)
          await store.saveSandboxCapture({
            id,
            tenantId: T,
            messageId: `msg_${id}`,
            channel,
            to: 'a@x.io',
            content: { subject: id },
            createdAt: 1,
          });
        const ids = async (...args: [number, ('email' | 'sms')?, string?]) =>
          (await store.listSandboxCaptures(T, ...args)).map((c) => c.id);
        expect(await ids(2)).toEqual(['cap_c', 'cap_b']);
        expect(await ids(2, undefined, 'cap_b')).toEqual(['cap_a']);
        expect(await ids(10, 'email', 'cap_c')).toEqual(['cap_a']);
        expect(await ids(10, 'email', 'cap_a')).toEqual([]);
      });
    });

    describe('receipts and escalation', () => {
      const entry = (status: string) => ({
        at: '2026-01-01T00:00:05.000Z',
        status,
        detail: `${status} receipt`,
      });
      const FORWARD_TO_READ = ['queued', 'deferred', 'sending', 'sent', 'delivered'] as const;

      it('moves a message forward from the listed statuses only, with an entry and a follow-up, once', async () => {
        await store.createMessages([
          { record: message({ id: 'msg_p', channel: 'push', status: 'sent' }), followUp: null },
        ]);
        const write = {
          tenantId: T,
          id: 'msg_p',
          subscriberId: null,
          receipt: 'read' as const,
          from: [...FORWARD_TO_READ],
          entry: entry('read'),
          now: 5000,
          followUp: job({ kind: 'fallback' }),
        };
        const first = await store.recordReceipt(write);
        expect(first?.changed).toBe(true);
        expect(first?.message).toMatchObject({ status: 'read', updatedAt: 5000, escalated: false });
        expect(first?.message.timeline.at(-1)).toEqual(entry('read'));
        // Not an in-app message: no inbox marks.
        expect(first?.message.readAt).toBeNull();
        expect((await store.countJobs()).ready).toBe(1);
        // Already read: nothing changes, nothing is queued again.
        const again = await store.recordReceipt({ ...write, now: 6000 });
        expect(again?.changed).toBe(false);
        expect(again?.message.timeline).toHaveLength(2);
        expect(again?.message.updatedAt).toBe(5000);
        expect((await store.countJobs()).ready).toBe(1);
      });

      it("answers null for an unknown message, another tenant's, or another subscriber's", async () => {
        await store.createMessages([
          { record: message({ id: 'msg_1', status: 'delivered' }), followUp: null },
        ]);
        const write = {
          tenantId: T,
          id: 'msg_1',
          subscriberId: 'u2',
          receipt: 'read' as const,
          from: [...FORWARD_TO_READ],
          entry: entry('read'),
          now: 5000,
        };
        expect(await store.recordReceipt(write)).toBeNull();
        expect(await store.recordReceipt({ ...write, id: 'msg_none', subscriberId: null })).toBeNull();
        expect(await store.recordReceipt({ ...write, tenantId: OTHER, subscriberId: null })).toBeNull();
        expect((await store.getMessage(T, 'msg_1'))?.status).toBe('delivered');
        const own = await store.recordReceipt({ ...write, subscriberId: 'u1' });
        // An in-app message read by a receipt is read in the inbox too.
        expect(own?.message).toMatchObject({ status: 'read', readAt: 5000, seenAt: 5000 });
        expect(await store.countUnread(T, 'u1')).toBe(0);
      });

      it('keeps a receipt when a send answers after it', async () => {
        await store.createMessages([
          { record: message({ id: 'msg_s', channel: 'sms', status: 'sending' }), followUp: null },
        ]);
        await store.recordReceipt({
          tenantId: T,
          id: 'msg_s',
          subscriberId: null,
          receipt: 'delivered',
          from: ['sending'],
          entry: entry('delivered'),
          now: 5000,
        });
        const sent = { status: 'sent' as const, append: [{ at: 'x', status: 'sent' }], now: 6000 };
        expect(await store.updateMessage(T, 'msg_s', { ...sent, providerMessageId: 'SM1' })).toBe(true);
        const kept = await store.getMessage(T, 'msg_s');
        expect(kept).toMatchObject({ status: 'delivered', providerMessageId: 'SM1' });
        expect(kept?.timeline.map((e) => e.status)).toEqual(['delivered', 'delivered', 'sent']);
        // Anything else still applies (a bounce reported later, say).
        await store.updateMessage(T, 'msg_s', { status: 'bounced', append: [], now: 7000 });
        expect((await store.getMessage(T, 'msg_s'))?.status).toBe('bounced');
      });

      it('marks messages escalated once, with one timeline entry each', async () => {
        await store.createMessages([
          { record: message({ id: 'msg_1', channel: 'push', status: 'sent' }), followUp: null },
          {
            record: message({ id: 'msg_2', channel: 'push', status: 'failed', deviceId: 'd2' }),
            followUp: null,
          },
          { record: message({ id: 'msg_3', channel: 'email', status: 'sent' }), followUp: null },
        ]);
        const escalated = {
          at: '2026-01-01T00:00:09.000Z',
          status: 'escalated',
          detail: 'fallback sent: sms message msg_9',
        };
        expect(await store.markEscalated(T, ['msg_1', 'msg_2'], escalated, 9000)).toBe(2);
        expect(await store.markEscalated(T, ['msg_1', 'msg_2', 'msg_3'], escalated, 9500)).toBe(1);
        expect(await store.markEscalated(OTHER, ['msg_1'], escalated, 9500)).toBe(0);
        expect(await store.markEscalated(T, [], escalated, 9500)).toBe(0);
        const first = await store.getMessage(T, 'msg_1');
        expect(first).toMatchObject({ status: 'sent', escalated: true, updatedAt: 9000 });
        expect(first?.timeline.filter((e) => e.status === 'escalated')).toEqual([escalated]);
        expect((await store.listMessages({ tenantId: T, limit: 10 })).map((m) => m.escalated)).toEqual([
          true,
          true,
          true,
        ]);
      });
    });

    describe('digests', () => {
      const NOW = 1_000_000;
      /** A join of `eventId` to u1's digest of workflow w, key k (tenant T), opening digestId if it must. */
      const join = (eventId: string, digestId: string, over: Partial<DigestJoin> = {}): DigestJoin => ({
        tenantId: T,
        workflow: 'w',
        subscriberId: 'u1',
        key: 'k',
        eventId,
        digestId,
        now: NOW,
        windowMs: 60_000,
        job: { kind: 'digest', lane: 'high' },
        steps: [
          { step: 0, channel: 'in_app' },
          { step: 1, channel: 'email' },
        ],
        ...over,
      });
      /** Every ready digest job, claimed (they are due at the window's close). */
      const closeJobs = async (at = NOW + 60_000) =>
        (
          await store.claimJobs({
            owner: 'closer',
            now: at,
            leaseMs: 1000,
            quotas: [{ lane: 'high', limit: 100 }],
          })
        ).filter((j) => j.kind === 'digest');

      it('opens a window at the first join, queues one close job due at its end, and gathers later joins', async () => {
        await store.createMessages([], undefined, [], { joins: [join('evt_1', 'dig_1')] });
        // Joins of one write that meet the same digest (a batch) open it once.
        await store.createMessages([], undefined, [], {
          joins: [join('evt_2', 'dig_2', { now: NOW + 10 }), join('evt_3', 'dig_3', { now: NOW + 20 })],
        });
        // Another key, another subscriber, another tenant: digests of their own.
        await store.createMessages([], undefined, [], {
          joins: [
            join('evt_4', 'dig_4', { key: 'other' }),
            join('evt_5', 'dig_5', { subscriberId: 'u2' }),
            join('evt_6', 'dig_6', { tenantId: OTHER }),
          ],
        });
        expect(await closeJobs(NOW + 59_999)).toEqual([]);
        const jobs = await closeJobs();
        expect(jobs.map((j) => [j.tenantId, (j.payload as DigestJobPayload).digestId]).sort()).toEqual([
          [T, 'dig_1'],
          [T, 'dig_4'],
          [T, 'dig_5'],
          [OTHER, 'dig_6'],
        ]);
        expect(jobs.every((j) => j.runAt === NOW + 60_000)).toBe(true);
        // Each joined event's view says where its steps went.
        const reason = `digest: gathered into the digest closing at ${new Date(NOW + 60_000).toISOString()}`;
        expect(await store.listSkippedSteps(T, 'evt_3', 10)).toEqual([
          {
            tenantId: T,
            eventId: 'evt_3',
            subscriberId: 'u1',
            step: 0,
            channel: 'in_app',
            reason,
            createdAt: NOW + 20,
          },
          {
            tenantId: T,
            eventId: 'evt_3',
            subscriberId: 'u1',
            step: 1,
            channel: 'email',
            reason,
            createdAt: NOW + 20,
          },
        ]);
        expect(await store.closeDigest(T, 'dig_1')).toEqual({
          tenantId: T,
          id: 'dig_1',
          workflow: 'w',
          subscriberId: 'u1',
          key: 'k',
          openedAt: NOW,
          closesAt: NOW + 60_000,
          eventIds: ['evt_1', 'evt_2', 'evt_3'],
        });
        expect(await store.closeDigest(OTHER, 'dig_1')).toBeNull();
        expect((await store.closeDigest(OTHER, 'dig_6'))?.eventIds).toEqual(['evt_6']);
      });

      it('a closed digest takes no more joins: the next opens a new window; finishing deletes it', async () => {
        await store.createMessages([], undefined, [], { joins: [join('evt_1', 'dig_1')] });
        const closed = await store.closeDigest(T, 'dig_1');
        // Closing again (a close job run again) answers the same.
        expect(await store.closeDigest(T, 'dig_1')).toEqual(closed);
        await store.createMessages([], undefined, [], {
          joins: [join('evt_2', 'dig_2', { now: NOW + 70_000 })],
        });
        expect((await store.closeDigest(T, 'dig_1'))?.eventIds).toEqual(['evt_1']);
        expect((await closeJobs(NOW + 130_000)).map((j) => j.payload)).toEqual([
          { digestId: 'dig_1' },
          { digestId: 'dig_2' },
        ]);
        await store.createMessages(
          [{ record: message({ id: 'msg_1', eventId: 'evt_1' }), followUp: null }],
          undefined,
          [],
          {
            finished: [{ tenantId: T, id: 'dig_1' }],
          },
        );
        expect(await store.closeDigest(T, 'dig_1')).toBeNull();
        expect(await store.getMessage(T, 'msg_1')).not.toBeNull();
        expect((await store.closeDigest(T, 'dig_2'))?.eventIds).toEqual(['evt_2']);
      });

      it('an event joins once, and a run that lost its lease joins nothing', async () => {
        await store.enqueueJobs([job({ kind: 'deliver' })]);
        const [held] = await store.claimJobs({
          owner: 'w1',
          now: Date.now() + 10,
          leaseMs: 1000,
          quotas: [{ lane: 'normal', limit: 1 }],
        });
        // w2's lease is gone (the job is w1's now): its write joins nothing.
        await store.createMessages([], { owner: 'w2', jobIds: [held!.id] }, [], {
          joins: [join('evt_1', 'dig_x')],
        });
        expect(await store.closeDigest(T, 'dig_x')).toBeNull();
        expect(await store.listSkippedSteps(T, 'evt_1', 10)).toEqual([]);
        await store.createMessages([], { owner: 'w1', jobIds: [held!.id] }, [], {
          joins: [join('evt_1', 'dig_1')],
        });
        expect(await store.countJobs()).toEqual({ ready: 1, leased: 0, dead: 0 });
        // The same event again (a write without an ack): still one entry.
        await store.createMessages([], undefined, [], { joins: [join('evt_1', 'dig_2')] });
        expect((await store.closeDigest(T, 'dig_1'))?.eventIds).toEqual(['evt_1']);
        expect(await store.closeDigest(T, 'dig_2')).toBeNull();
      });
    });

    describe('jobs', () => {
      const now = () => Date.now() + 5;

      it('claims ready jobs by run_at and skips future ones', async () => {
        await store.enqueueJobs([
          job({ payload: 'later', runAt: Date.now() + 60_000 }),
          job({ payload: 'now' }),
        ]);
        const claimed = await store.claimJobs({
          owner: 'w1',
          now: now(),
          leaseMs: 1000,
          quotas: [{ lane: 'normal', limit: 10 }],
        });
        expect(claimed.map((j) => j.payload)).toEqual(['now']);
        expect(claimed[0]).toMatchObject({ attempts: 1, lane: 'normal', kind: 'test', tenantId: T });
        expect(await store.nextRunAt()).toBeGreaterThan(Date.now() + 50_000);
      });

      it('honours per-lane quotas in the order asked', async () => {
        await store.enqueueJobs([
          ...Array.from({ length: 5 }, () => job({ lane: 'bulk', payload: 'bulk' })),
          job({ lane: 'critical', payload: 'critical' }),
        ]);
        const claimed = await store.claimJobs({
          owner: 'w1',
          now: now(),
          leaseMs: 1000,
          quotas: [
            { lane: 'critical', limit: 3 },
            { lane: 'bulk', limit: 2 },
          ],
        });
        expect(claimed.map((j) => j.payload)).toEqual(['critical', 'bulk', 'bulk']);
      });

      it("shares a lane among tenants: one tenant's backlog does not hold back another's jobs", async () => {
        await store.enqueueJobs(Array.from({ length: 100 }, (_, i) => job({ tenantId: T, payload: i })));
        await store.enqueueJobs(Array.from({ length: 3 }, (_, i) => job({ tenantId: OTHER, payload: i })));
        const quotas = [{ lane: 'normal' as const, limit: 10 }];
        const claimed = await store.claimJobs({ owner: 'w1', now: now(), leaseMs: 1000, quotas });
        expect(claimed).toHaveLength(10);
        expect(claimed.filter((j) => j.tenantId === OTHER)).toHaveLength(3);
        expect(claimed.filter((j) => j.tenantId === T).map((j) => j.payload)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      });

      it("takes at most each tenant's cap of a lane, named or fresh, over both passes of a claim", async () => {
        const third = 'ten_c';
        await store.enqueueJobs(Array.from({ length: 20 }, (_, i) => job({ tenantId: T, payload: i })));
        await store.enqueueJobs(Array.from({ length: 20 }, (_, i) => job({ tenantId: OTHER, payload: i })));
        await store.enqueueJobs(Array.from({ length: 2 }, (_, i) => job({ tenantId: third, payload: i })));
        const caps = { fresh: 4, byTenant: { [T]: 3, [third]: 0 } };
        const quotas = [{ lane: 'normal' as const, limit: 15, caps }];
        const claimed = await store.claimJobs({ owner: 'w1', now: now(), leaseMs: 1000, quotas });
        const of = (tenant: string) => claimed.filter((j) => j.tenantId === tenant).map((j) => j.payload);
        expect(of(T)).toEqual([0, 1, 2]);
        expect(of(OTHER)).toEqual([0, 1, 2, 3]);
        expect(of(third)).toEqual([]);
        // Without caps the same lane is shared as before.
        const rest = await store.claimJobs({
          owner: 'w1',
          now: now(),
          leaseMs: 1000,
          quotas: [{ lane: 'normal', limit: 6 }],
        });
        expect(rest).toHaveLength(6);
        expect(rest.filter((j) => j.tenantId === third)).toHaveLength(2);
      });

      it("takes at most each tenant's bound across all lanes of a claim, lanes in the order asked", async () => {
        const third = 'ten_c';
        for (const lane of ['critical', 'high', 'normal'] as const) {
          await store.enqueueJobs(
            Array.from({ length: 6 }, (_, i) => job({ tenantId: T, lane, payload: `${lane}${i}` })),
          );
          await store.enqueueJobs(
            Array.from({ length: 6 }, (_, i) => job({ tenantId: OTHER, lane, payload: `${lane}${i}` })),
          );
        }
        await store.enqueueJobs([job({ tenantId: third, lane: 'normal', payload: 'normal0' })]);
        // Each lane alone would give each tenant 5: across the three, T may take 7, OTHER 2, a fresh tenant 4.
        const caps = { fresh: 5, byTenant: {} };
        const total = { fresh: 4, byTenant: { [T]: 7, [OTHER]: 2 } };
        const claimed = await store.claimJobs({
          owner: 'w1',
          now: now(),
          leaseMs: 1000,
          quotas: (['critical', 'high', 'normal'] as const).map((lane) => ({ lane, limit: 20, caps, total })),
        });
        const of = (tenant: string) => claimed.filter((j) => j.tenantId === tenant).map((j) => j.payload);
        expect(of(T)).toEqual([
          'critical0',
          'critical1',
          'critical2',
          'critical3',
          'critical4',
          'high0',
          'high1',
        ]);
        expect(of(OTHER)).toEqual(['critical0', 'critical1']);
        expect(of(third)).toEqual(['normal0']);
      });

      it('bounds each lane by its own total: a tenant at its bound for normal work still takes critical work', async () => {
        for (const lane of ['critical', 'normal'] as const)
          await store.enqueueJobs(
            Array.from({ length: 3 }, (_, i) => job({ tenantId: T, lane, payload: `${lane}${i}` })),
          );
        // T holds all the normal work it may (0 left) and has 2 left for critical work.
        const claimed = await store.claimJobs({
          owner: 'w1',
          now: now(),
          leaseMs: 1000,
          quotas: [
            { lane: 'critical', limit: 10, total: { fresh: 8, byTenant: { [T]: 2 } } },
            { lane: 'normal', limit: 10, total: { fresh: 6, byTenant: { [T]: 0 } } },
          ],
        });
        expect(claimed.map((j) => j.payload)).toEqual(['critical0', 'critical1']);
      });

      it('reaches every tenant in turn when more tenants have work than one claim serves', async () => {
        await store.enqueueJobs(
          Array.from({ length: 40 }, (_, i) => job({ tenantId: `ten_${String(i).padStart(2, '0')}` })),
        );
        const quotas = [{ lane: 'normal' as const, limit: 100 }];
        const first = await store.claimJobs({ owner: 'w1', now: now(), leaseMs: 1000, quotas });
        const second = await store.claimJobs({ owner: 'w1', now: now(), leaseMs: 1000, quotas });
        expect(first.length).toBeGreaterThan(0);
        expect(first.length + second.length).toBe(40);
        expect(new Set([...first, ...second].map((j) => j.tenantId)).size).toBe(40);
      });

      it('runs one job per partition at a time, oldest first', async () => {
        await store.enqueueJobs([
          job({ partitionKey: 'p', payload: 1 }),
          job({ partitionKey: 'p', payload: 2 }),
          job({ partitionKey: 'q', payload: 3 }),
        ]);
        const quotas = [{ lane: 'normal' as const, limit: 10 }];
        const first = await store.claimJobs({ owner: 'w1', now: now(), leaseMs: 1000, quotas });
        expect(first.map((j) => j.payload)).toEqual([1, 3]);
        expect(await store.claimJobs({ owner: 'w2', now: now(), leaseMs: 1000, quotas })).toEqual([]);
        await store.completeJobs('w1', [first[0]!.id]);
        const next = await store.claimJobs({ owner: 'w2', now: now(), leaseMs: 1000, quotas });
        expect(next.map((j) => j.payload)).toEqual([2]);
      });

      it('completes only jobs the owner still holds, with follow-ups atomically', async () => {
        await store.enqueueJobs([job()]);
        const quotas = [{ lane: 'normal' as const, limit: 10 }];
        const [claimed] = await store.claimJobs({ owner: 'w1', now: now(), leaseMs: 1000, quotas });
        await store.completeJobs('w2', [claimed!.id], [job({ payload: 'stolen' })]);
        expect(await store.countJobs()).toEqual({ ready: 0, leased: 1, dead: 0 });
        await store.completeJobs('w1', [claimed!.id], [job({ payload: 'next' })]);
        const follow = await store.claimJobs({ owner: 'w1', now: now(), leaseMs: 1000, quotas });
        expect(follow.map((j) => j.payload)).toEqual(['next']);
      });

      it('retries later, dead-letters, and lists dead jobs', async () => {
        await store.enqueueJobs([job({ maxAttempts: 2 })]);
        const quotas = [{ lane: 'normal' as const, limit: 10 }];
        const [first] = await store.claimJobs({ owner: 'w1', now: now(), leaseMs: 1000, quotas });
        await store.retryJob('w1', first!.id, Date.now() + 100_000, 'boom');
        expect(await store.claimJobs({ owner: 'w1', now: now(), leaseMs: 1000, quotas })).toEqual([]);
        const [second] = await store.claimJobs({
          owner: 'w1',
          now: Date.now() + 200_000,
          leaseMs: 1000,
          quotas,
        });
        expect(second!.attempts).toBe(2);
        await store.deadJob('w1', second!.id, 'still boom');
        expect(await store.countJobs()).toEqual({ ready: 0, leased: 0, dead: 1 });
        expect(await store.listDeadJobs(10)).toMatchObject([
          { id: first!.id, lastError: 'still boom', attempts: 2 },
        ]);
        expect(await store.deadJobsByKind(10)).toEqual([{ kind: first!.kind, dead: 1 }]);
      });

      it('gives back the attempt of a retry that failed for want of the store', async () => {
        await store.enqueueJobs([job({ maxAttempts: 2 })]);
        const quotas = [{ lane: 'normal' as const, limit: 10 }];
        const later = (ms: number) => ({ owner: 'w1', now: Date.now() + ms, leaseMs: 1000, quotas });
        const [first] = await store.claimJobs(later(0));
        expect(first!.attempts).toBe(1);
        await store.retryJob('w1', first!.id, Date.now(), 'connect ECONNREFUSED', { refundAttempt: true });
        const [second] = await store.claimJobs(later(10));
        expect(second!.attempts).toBe(1);
        await store.retryJob('w1', second!.id, Date.now(), 'boom');
        const [third] = await store.claimJobs(later(20));
        expect(third!.attempts).toBe(2);
      });

      it('releases expired leases and leases of a given owner', async () => {
        await store.enqueueJobs([job(), job()]);
        const quotas = [{ lane: 'normal' as const, limit: 1 }];
        const t = now();
        const [a] = await store.claimJobs({ owner: 'w1', now: t, leaseMs: 100, quotas });
        const [b] = await store.claimJobs({ owner: 'w2', now: t, leaseMs: 100, quotas });
        await store.extendLeases('w2', [b!.id], t + 10_000);
        expect(await store.leaseOwners()).toEqual(expect.arrayContaining(['w1', 'w2']));
        expect(await store.releaseExpiredLeases(t + 500)).toBe(1);
        const [again] = await store.claimJobs({ owner: 'w3', now: t + 600, leaseMs: 100, quotas });
        expect(again!.id).toBe(a!.id);
        expect(again!.attempts).toBe(2);
        expect(await store.releaseLeasesOf('w2')).toBe(1);
        expect(await store.countJobs()).toEqual({ ready: 1, leased: 1, dead: 0 });
      });

      it('releases the leases of an owner except the ones it keeps', async () => {
        await store.enqueueJobs([job(), job(), job()]);
        const quotas = [{ lane: 'normal' as const, limit: 3 }];
        const held = await store.claimJobs({ owner: 'w1', now: now(), leaseMs: 10_000, quotas });
        expect(held).toHaveLength(3);
        expect(await store.releaseLeasesOf('w1', [held[1]!.id])).toBe(2);
        expect(await store.countJobs()).toEqual({ ready: 2, leased: 1, dead: 0 });
        const again = await store.claimJobs({ owner: 'w2', now: now(), leaseMs: 10_000, quotas });
        expect(again.map((j) => j.id).sort()).toEqual([held[0]!.id, held[2]!.id].sort());
      });

      it('gives an attempt back with the leases it releases when asked (a worker stopping), not otherwise (a crash)', async () => {
        await store.enqueueJobs([job()]);
        const quotas = [{ lane: 'normal' as const, limit: 1 }];
        const [first] = await store.claimJobs({ owner: 'w1', now: now(), leaseMs: 10_000, quotas });
        expect(first!.attempts).toBe(1);
        expect(await store.releaseLeasesOf('w1', [], { refundAttempt: true })).toBe(1);
        const [second] = await store.claimJobs({ owner: 'w2', now: now(), leaseMs: 10_000, quotas });
        expect(second!.attempts).toBe(1);
        expect(await store.releaseLeasesOf('w2')).toBe(1);
        const [third] = await store.claimJobs({ owner: 'w3', now: now(), leaseMs: 10_000, quotas });
        expect(third!.attempts).toBe(2);
      });
    });
    describe('provider feedback', () => {
      const suppression = (over: Partial<Parameters<Store['suppressAddress']>[0]> = {}) => ({
        tenantId: T,
        channel: 'email' as const,
        addressHash: 'h-gone',
        reason: 'hard_bounce' as const,
        detail: '550 user unknown',
        createdAt: 5,
        ...over,
      });

      it('finds integrations by id across tenants, and messages by provider id within one', async () => {
        const base = {
          config: {},
          sealedCredentials: null,
          enabled: true,
          channel: 'sms',
          provider: 'twilio',
        } as const;
        await store.putIntegration({ ...base, tenantId: OTHER, id: 'texts', priority: 1 }, 1);
        await store.putIntegration({ ...base, tenantId: T, id: 'texts', priority: 1 }, 1);
        await store.putIntegration({ ...base, tenantId: T, id: 'other', priority: 2 }, 1);
        expect((await store.integrationsWithId('texts')).map((i) => i.tenantId)).toEqual([T, OTHER]);
        expect(await store.integrationsWithId('none')).toEqual([]);

        await store.createMessages([
          {
            record: message({ id: 'msg_p1', channel: 'sms', status: 'sent', providerMessageId: 'SM1' }),
            followUp: null,
          },
          {
            record: message({
              id: 'msg_p2',
              tenantId: OTHER,
              channel: 'sms',
              status: 'sent',
              providerMessageId: 'SM2',
            }),
            followUp: null,
          },
          {
            // Push providers report nothing back by their ids: never found by one.
            record: message({ id: 'msg_p3', channel: 'push', status: 'sent', providerMessageId: 'AP3' }),
            followUp: null,
          },
          {
            record: message({ id: 'msg_p4', channel: 'email', status: 'sent', providerMessageId: 'SES4' }),
            followUp: null,
          },
        ]);
        expect((await store.messageByProviderId(T, 'sms', 'SM1'))?.id).toBe('msg_p1');
        expect(await store.messageByProviderId(T, 'sms', 'SM2')).toBeNull();
        expect(await store.messageByProviderId(OTHER, 'sms', 'SM1')).toBeNull();
        expect((await store.messageByProviderId(T, 'email', 'SES4'))?.id).toBe('msg_p4');
        // An SMS provider's report never reaches an email with the same id, nor the reverse.
        expect(await store.messageByProviderId(T, 'email', 'SM1')).toBeNull();
        expect(await store.messageByProviderId(T, 'sms', 'SES4')).toBeNull();
        expect(await store.messageByProviderId(T, 'sms', 'AP3')).toBeNull();
        expect(await store.messageByProviderId(T, 'email', 'AP3')).toBeNull();
      });

      it('applies a feedback change only from the statuses it may replace', async () => {
        await store.createMessages([
          { record: message({ id: 'msg_f1', channel: 'email', status: 'sent' }), followUp: null },
        ]);
        const entry = { at: '2026-01-01T00:00:01.000Z', status: 'delivered', detail: 'SES: delivered' };
        const delivered = { status: 'delivered' as const, from: ['sent' as const], entry, now: 10 };
        expect(await store.applyFeedback(T, 'msg_f1', delivered)).toBe(true);
        expect(await store.applyFeedback(T, 'msg_f1', delivered)).toBe(false);
        expect(await store.applyFeedback(OTHER, 'msg_f1', delivered)).toBe(false);
        expect(await store.applyFeedback(T, 'msg_none', delivered)).toBe(false);
        const bounce = {
          status: 'bounced' as const,
          from: ['sent' as const, 'delivered' as const],
          reason: 'bad_address' as const,
          lastError: 'SES bounce Permanent',
          entry: { ...entry, status: 'bounced' },
          now: 11,
        };
        expect(await store.applyFeedback(T, 'msg_f1', bounce)).toBe(true);
        const complaint = {
          status: null,
          from: ['bounced' as const],
          entry: { ...entry, status: 'complaint' },
          now: 12,
        };
        expect(await store.applyFeedback(T, 'msg_f1', complaint)).toBe(true);
        const after = await store.getMessage(T, 'msg_f1');
        expect(after).toMatchObject({
          status: 'bounced',
          reason: 'bad_address',
          lastError: 'SES bounce Permanent',
          updatedAt: 12,
        });
        expect(after!.timeline.map((e) => e.status)).toEqual([
          'delivered',
          'delivered',
          'bounced',
          'complaint',
        ]);
      });

      it('suppresses an address once (the first reason stays), per tenant, and lifts only by its reason', async () => {
        expect(await store.suppressAddress(suppression())).toBe(true);
        expect(await store.suppressAddress(suppression({ reason: 'complaint', detail: 'later' }))).toBe(
          false,
        );
        expect(await store.suppressAddress(suppression({ channel: 'sms', reason: 'sms_stop' }))).toBe(true);
        expect(await store.suppressAddress(suppression({ tenantId: OTHER }))).toBe(true);
        const found = await store.suppressionsAmong(T, ['h-gone', 'h-other']);
        expect(found.sort((a, b) => a.channel.localeCompare(b.channel))).toEqual([
          suppression(),
          suppression({ channel: 'sms', reason: 'sms_stop' }),
        ]);
        expect(await store.suppressionsAmong(T, [])).toEqual([]);
        expect(await store.liftSuppression(T, 'email', 'h-gone', 'sms_stop')).toBe(false);
        expect(await store.liftSuppression(T, 'sms', 'h-gone', 'sms_stop')).toBe(true);
        expect((await store.suppressionsAmong(T, ['h-gone'])).map((s) => s.channel)).toEqual(['email']);
        expect(await store.suppressionsAmong(OTHER, ['h-gone'])).toHaveLength(1);
      });

      it('counts soft bounces once per message within the window', async () => {
        const count = (ref: string, at: number) =>
          store.countSoftBounce(T, 'email', 'h-full', ref, at, at - 100);
        expect(await count('m1', 1000)).toBe(1);
        expect(await count('m1', 1001)).toBe(1);
        expect(await count('m2', 1050)).toBe(2);
        // m1 (1000) falls out of a window starting at 1020.
        expect(await count('m3', 1120)).toBe(2);
        expect(await store.countSoftBounce(OTHER, 'email', 'h-full', 'm1', 1120, 0)).toBe(1);
      });

      it('finds the subscribers with a phone number', async () => {
        await store.upsertSubscriber(T, 'u-b', { phone: '+15550000001' }, 1);
        await store.upsertSubscriber(T, 'u-a', { phone: '+15550000001' }, 1);
        await store.upsertSubscriber(T, 'u-c', { phone: '+15550000002' }, 1);
        await store.upsertSubscriber(OTHER, 'u-d', { phone: '+15550000001' }, 1);
        expect(await store.subscribersWithPhone(T, '+15550000001')).toEqual(['u-a', 'u-b']);
        expect(await store.subscribersWithPhone(T, '+15559999999')).toEqual([]);
      });

      it('remembers applied provider reports per tenant', async () => {
        expect(await store.reportApplied(T, 'twilio:SM1')).toBe(false);
        await store.recordReport(T, 'twilio:SM1', 100);
        await store.recordReport(T, 'twilio:SM1', 300);
        await store.recordReport(T, 'twilio:SM2', 200);
        expect(await store.reportApplied(T, 'twilio:SM1')).toBe(true);
        expect(await store.reportApplied('other', 'twilio:SM1')).toBe(false);
        expect(await store.reportApplied(T, 'twilio:SM2')).toBe(true);
        expect(await store.reportApplied(T, 'twilio:SM3')).toBe(false);
      });
    });

    describe('personal data at rest', () => {
      // Distinctive values: if any of them is in the database, it was stored in clear.
      const EMAIL = 'Zephyrine.Quill-7731@Example.org';
      const PHONE = '+447700977310';
      const INLINE_EMAIL = 'inline.marmaduke.4412@example.net';
      const INLINE_PHONE = '+15550197744';
      const TOKEN = 'f00dfeed'.repeat(8);
      const ENDPOINT = 'https://push.example/endpoint-quokka-5521';
      const P256DH =
        'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM';

      async function writeEverything(): Promise<void> {
        await store.upsertSubscriber(T, 'zeph', { email: EMAIL, phone: PHONE, locale: 'en' }, 10);
        await store.acceptEvents(
          [
            acceptable({
              id: 'evt_pd',
              input: {
                workflow: 'welcome',
                to: ['zeph', { subscriberId: 'marm', email: INLINE_EMAIL, phone: INLINE_PHONE }],
              },
              inlineSubscribers: [{ id: 'marm', email: INLINE_EMAIL, phone: INLINE_PHONE }],
              subscriberIds: ['zeph'],
            }),
          ],
          DAY,
        );
        await store.upsertDevice(
          {
            tenantId: T,
            subscriberId: 'zeph',
            id: 'phone',
            platform: 'apns',
            token: TOKEN,
            subscription: null,
          },
          20,
          100,
        );
        await store.upsertDevice(
          {
            tenantId: T,
            subscriberId: 'zeph',
            id: 'browser',
            platform: 'webpush',
            token: '',
            subscription: { endpoint: ENDPOINT, keys: { p256dh: P256DH, auth: 'quokkaAuth5521' } },
          },
          20,
          100,
        );
        await store.saveSandboxCapture({
          id: 'cap_pd',
          tenantId: T,
          messageId: 'msg_pd',
          channel: 'email',
          to: INLINE_EMAIL,
          content: { subject: 'Hello' },
          createdAt: 30,
        });
      }

      it('hands every personal field back as written, and finds subscribers by phone and devices by token', async () => {
        await writeEverything();
        expect(await store.getSubscriber(T, 'zeph')).toMatchObject({
          email: EMAIL,
          phone: PHONE,
          locale: 'en',
        });
        expect(await store.getSubscriber(T, 'marm')).toMatchObject({
          email: INLINE_EMAIL,
          phone: INLINE_PHONE,
        });
        const [many] = await store.getSubscribers(T, ['marm']);
        expect([many?.email, many?.phone, many?.hasEmail, many?.hasPhone]).toEqual([
          INLINE_EMAIL,
          INLINE_PHONE,
          true,
          true,
        ]);
        const devices = await store.listDevices(T, 'zeph');
        expect(devices.map((d) => [d.id, d.token, d.subscription?.endpoint ?? null])).toEqual([
          ['browser', '', ENDPOINT],
          ['phone', TOKEN, null],
        ]);
        expect((await store.listSandboxCaptures(T, 10))[0]?.to).toBe(INLINE_EMAIL);
        // STOP names a phone number: found through its keyed hash, in any tenant only its own.
        expect(await store.subscribersWithPhone(T, PHONE)).toEqual(['zeph']);
        expect(await store.subscribersWithPhone(T, ` ${INLINE_PHONE} `)).toEqual(['marm']);
        expect(await store.subscribersWithPhone(OTHER, PHONE)).toEqual([]);
        // The same token under another subscriber moves there (its keyed hash is the unique key).
        await store.upsertDevice(
          {
            tenantId: T,
            subscriberId: 'marm',
            id: 'new-phone',
            platform: 'apns',
            token: TOKEN,
            subscription: null,
          },
          40,
          100,
        );
        expect((await store.listDevices(T, 'zeph')).map((d) => d.id)).toEqual(['browser']);
        expect((await store.activeDevicesOf(T, ['marm'], ['apns']))[0]?.token).toBe(TOKEN);
        // Clearing an address clears its hash too.
        await store.upsertSubscriber(T, 'zeph', { phone: null }, 50);
        expect(await store.subscribersWithPhone(T, PHONE)).toEqual([]);
        expect((await store.getSubscriber(T, 'zeph'))?.email).toBe(EMAIL);
      });

      it("keeps a subscriber's keyed address hashes beside the sealed address: the same for the same address, whatever its case", async () => {
        await writeEverything();
        await store.upsertSubscriber(T, 'twin', { email: EMAIL.toUpperCase() }, 60);
        const found = await store.getSubscribers(T, ['zeph', 'twin']);
        const zeph = found.find((s) => s.id === 'zeph');
        const twin = found.find((s) => s.id === 'twin');
        expect(zeph?.emailHash).toMatch(/^[0-9a-f]{64}$/);
        expect(twin?.emailHash).toBe(zeph?.emailHash);
        expect(twin?.phoneHash).toBeNull();
      });

      it('an inline recipient sent to again keeps its address; a changed or cleared one takes the change', async () => {
        await writeEverything();
        const again = (id: string, email: string | null, phone?: string) =>
          store.acceptEvents(
            [
              acceptable({
                id,
                input: { workflow: 'welcome', to: [{ subscriberId: 'marm', email: email ?? undefined }] },
                inlineSubscribers: [
                  { id: 'marm', email, ...(phone ? { phone } : {}) },
                  ...(phone ? [{ id: 'marm', locale: 'fr' }] : []),
                ],
              }),
            ],
            DAY,
          );
        await again('evt_pd2', INLINE_EMAIL);
        expect(await store.getSubscriber(T, 'marm')).toMatchObject({
          email: INLINE_EMAIL,
          phone: INLINE_PHONE,
        });
        await again('evt_pd3', EMAIL, '+15550100000');
        expect(await store.getSubscriber(T, 'marm')).toMatchObject({
          email: EMAIL,
          phone: '+15550100000',
          locale: 'fr',
        });
        expect(await store.subscribersWithPhone(T, '+15550100000')).toEqual(['marm']);
        await again('evt_pd4', null);
        const cleared = await store.getSubscriber(T, 'marm');
        expect([cleared?.email, cleared?.hasEmail, cleared?.emailHash]).toEqual([null, false, null]);
      });

      it('stores an event that names inline recipients by reference only: the address is in the subscriber row', async () => {
        await writeEverything();
        const event = await store.getEvent(T, 'evt_pd');
        expect(event?.payload.to).toEqual(['zeph', { subscriberId: 'marm' }]);
        expect(JSON.stringify(event?.payload)).not.toContain('pd1.');
        expect(await store.getSubscriber(T, 'marm')).toMatchObject({
          email: INLINE_EMAIL,
          phone: INLINE_PHONE,
        });
      });

      it('leaves an inline recipient sent to again unchanged untouched (updatedAt stays); a change is written', async () => {
        const send = (id: string, now: number, patch: Omit<AcceptEvent['inlineSubscribers'][number], 'id'>) =>
          store.acceptEvents(
            [
              acceptable({
                id,
                now,
                input: { workflow: 'welcome', to: [{ subscriberId: 'marm' }] },
                inlineSubscribers: [{ id: 'marm', ...patch }],
              }),
            ],
            DAY,
          );
        const full = { email: INLINE_EMAIL, phone: INLINE_PHONE, locale: 'fr', data: { plan: 'pro' } };
        await send('evt_u1', 100, full);
        // What another process (or this one after a restart) would have: no memo of the sealed address.
        store.personalData.forgetRecentValues();
        await send('evt_u2', 200, full);
        await send('evt_u3', 300, { email: INLINE_EMAIL });
        expect(await store.getSubscriber(T, 'marm')).toMatchObject({
          ...full,
          createdAt: 100,
          updatedAt: 100,
        });
        await send('evt_u4', 400, { ...full, locale: 'de' });
        expect(await store.getSubscriber(T, 'marm')).toMatchObject({ locale: 'de', updatedAt: 400 });
        await send('evt_u5', 500, { ...full, locale: 'de', data: { plan: 'free' } });
        expect(await store.getSubscriber(T, 'marm')).toMatchObject({
          data: { plan: 'free' },
          updatedAt: 500,
        });
        await send('evt_u6', 600, { email: EMAIL });
        expect(await store.getSubscriber(T, 'marm')).toMatchObject({ email: EMAIL, updatedAt: 600 });
        await send('evt_u7', 700, { phone: null });
        expect(await store.getSubscriber(T, 'marm')).toMatchObject({ phone: null, updatedAt: 700 });
        // Every event is stored, whether or not it changed its recipient.
        expect((await store.getEvents([2, 3, 5].map((n) => ({ tenantId: T, id: `evt_u${n}` })))).length).toBe(
          3,
        );
      });

      it('stores an address a PUT changes only in letter case as given; an inline recipient keeps the stored spelling', async () => {
        await store.upsertSubscriber(T, 'casey', { email: 'casey@example.com' }, 10);
        await store.upsertSubscriber(T, 'casey', { email: 'Casey@Example.com' }, 20);
        expect(await store.getSubscriber(T, 'casey')).toMatchObject({
          email: 'Casey@Example.com',
          updatedAt: 20,
        });
        await store.upsertSubscribers(T, [{ id: 'casey', email: 'CASEY@example.com' }], 30);
        expect(await store.getSubscriber(T, 'casey')).toMatchObject({
          email: 'CASEY@example.com',
          updatedAt: 30,
        });
        // An inline recipient is the same address by its keyed hash: the row is left as it is.
        await store.acceptEvents(
          [
            acceptable({
              id: 'evt_case',
              now: 40,
              input: { workflow: 'welcome', to: [{ subscriberId: 'casey' }] },
              inlineSubscribers: [{ id: 'casey', email: 'casey@example.com' }],
            }),
          ],
          DAY,
        );
        expect(await store.getSubscriber(T, 'casey')).toMatchObject({
          email: 'CASEY@example.com',
          updatedAt: 30,
        });
      });

      it("forgets an erased subscriber's address from the memo of sealed addresses", async () => {
        await writeEverything();
        const personal = store.personalData;
        const sealed = personal.sealAddress(INLINE_EMAIL);
        expect(personal.sealAddress(INLINE_EMAIL)).toBe(sealed);
        const erase = () =>
          store.beginErasure(
            { tenantId: T, subscriberId: 'marm', erasedId: 'erased:m', before: 50, now: 50, batch: 10 },
            { tenantId: T, kind: 'erase-subscriber', lane: 'bulk', payload: {} },
          );
        // It answers whether there was a profile to erase: a second erasure finds none.
        expect(await erase()).toBe(true);
        expect(await store.getSubscriber(T, 'marm')).toBeNull();
        expect(await erase()).toBe(false);
        const again = personal.sealAddress(INLINE_EMAIL);
        expect(again).not.toBe(sealed);
        expect(personal.open(again)).toBe(INLINE_EMAIL);
      });

      it.runIf(raw !== undefined)(
        'seals what an earlier version stored in clear, once: addresses, tokens and sandbox recipients, re-keying suppressions and devices',
        async () => {
          const sha = (text: string) => createHash('sha256').update(text).digest('hex');
          const subscription = JSON.stringify({ endpoint: ENDPOINT, keys: { p256dh: P256DH, auth: 'a' } });
          for (const sql of [
            `INSERT INTO subscribers (tenant_id, id, email, phone, data, created_at, updated_at)
               VALUES ('${T}', 'old', '${EMAIL}', '${PHONE}', '{}', 1, 1)`,
            `INSERT INTO devices (tenant_id, subscriber_id, id, platform, token, subscription, address_hash,
               created_at, updated_at) VALUES ('${T}', 'old', 'phone', 'apns', '${TOKEN}', NULL,
               '${sha(`apns\u0000${TOKEN}`)}', 1, 1)`,
            `INSERT INTO devices (tenant_id, subscriber_id, id, platform, token, subscription, address_hash,
               created_at, updated_at) VALUES ('${T}', 'old', 'browser', 'webpush', '', '${subscription}',
               '${sha(`webpush\u0000${ENDPOINT}`)}', 1, 1)`,
            `INSERT INTO sandbox_captures (tenant_id, id, message_id, channel, recipient, content, created_at)
               VALUES ('${T}', 'cap_old', 'msg_old', 'sms', '${PHONE}', '{}', 1)`,
            // Suppressions were keyed by an unkeyed SHA-256 of the normalised address.
            `INSERT INTO suppressions (tenant_id, channel, address_hash, reason, detail, created_at)
               VALUES ('${T}', 'email', '${sha(EMAIL.toLowerCase())}', 'hard_bounce', '550', 1)`,
            // Digest keys were stored as rendered.
            `INSERT INTO digests (tenant_id, id, workflow, subscriber_id, digest_key, opened_at, closes_at)
               VALUES ('${T}', 'dig_old', 'w', 'old', '${EMAIL}|${PHONE}', 1, 100)`,
          ])
            await raw!.exec(store, sql);
          // Readable before they are sealed.
          expect(await store.getSubscriber(T, 'old')).toMatchObject({ email: EMAIL, phone: PHONE });

          expect(await store.sealLegacyPersonalData()).toBe(4);
          expect(await store.rehashLegacyDigestKeys()).toBe(1);
          expect(await store.rehashLegacyDigestKeys()).toBe(0);
          expect(await store.sealLegacyPersonalData()).toBe(0);
          const old = await store.getSubscriber(T, 'old');
          expect(old).toMatchObject({ email: EMAIL, phone: PHONE });
          expect(await store.subscribersWithPhone(T, PHONE)).toEqual(['old']);
          // The suppression now answers to the subscriber's keyed hash.
          expect(
            (await store.suppressionsAmong(T, [old!.emailHash!])).map((x) => [x.channel, x.reason]),
          ).toEqual([['email', 'hard_bounce']]);
          const devices = await store.listDevices(T, 'old');
          expect(devices.map((d) => [d.id, d.token, d.subscription?.endpoint ?? null])).toEqual([
            ['browser', '', ENDPOINT],
            ['phone', TOKEN, null],
          ]);
          // The same token PUT again finds the device under its new keyed hash: still one device.
          await store.upsertDevice(
            {
              tenantId: T,
              subscriberId: 'other',
              id: 'p',
              platform: 'apns',
              token: TOKEN,
              subscription: null,
            },
            5,
            100,
          );
          expect((await store.listDevices(T, 'old')).map((d) => d.id)).toEqual(['browser']);
          expect((await store.listSandboxCaptures(T, 5))[0]?.to).toBe(PHONE);
          // The open digest answers to its key as a delivery stores it now: the next event joins it.
          const key = storedDigestKey(`${EMAIL}|${PHONE}`, store.personalData);
          await store.createMessages([], undefined, [], {
            joins: [
              {
                tenantId: T,
                workflow: 'w',
                subscriberId: 'old',
                key,
                eventId: 'evt_next',
                digestId: 'dig_new',
                now: 50,
                windowMs: 60_000,
                job: { kind: 'digest', lane: 'normal' },
                steps: [],
              },
            ],
          });
          expect((await store.closeDigest(T, 'dig_old'))?.eventIds).toEqual(['evt_next']);
          const dumped = await raw!.dump(store);
          for (const value of [EMAIL, PHONE, TOKEN, ENDPOINT])
            expect(dumped.includes(value), value).toBe(false);
        },
      );

      it.runIf(raw !== undefined)(
        'hashes the digest keys an installation sealed before digest keys were hashed, once, past a clash',
        async () => {
          const hashed = (rendered: string) => storedDigestKey(rendered, store.personalData);
          for (const sql of [
            `INSERT INTO digests (tenant_id, id, workflow, subscriber_id, digest_key, opened_at, closes_at)
               VALUES ('${T}', 'dig_plain', 'w', 'ada', '${EMAIL}', 1, 100)`,
            // One a new process opened for the same key meanwhile: the old one keeps its key.
            `INSERT INTO digests (tenant_id, id, workflow, subscriber_id, digest_key, opened_at, closes_at)
               VALUES ('${T}', 'dig_clash', 'w', 'bob', 'thread 9', 1, 100)`,
            `INSERT INTO digests (tenant_id, id, workflow, subscriber_id, digest_key, opened_at, closes_at)
               VALUES ('${T}', 'dig_new', 'w', 'bob', '${hashed('thread 9')}', 2, 100)`,
            // A rendered key that only looks like a hashed one is hashed too.
            `INSERT INTO digests (tenant_id, id, workflow, subscriber_id, digest_key, opened_at, closes_at)
               VALUES ('${T}', 'dig_lookalike', 'w', 'cy', 'k:not-a-hash', 1, 100)`,
          ])
            await raw!.exec(store, sql);
          // An installation that sealed its other values under an earlier version.
          await store.settingOnce(LEGACY_SEALED_SETTING, '1');
          expect(await sealLegacyData(store)).toBe(2);
          expect(await sealLegacyData(store)).toBe(0);
          await store.createMessages([], undefined, [], {
            joins: ['ada', 'cy'].map((subscriberId) => ({
              tenantId: T,
              workflow: 'w',
              subscriberId,
              key: hashed(subscriberId === 'ada' ? EMAIL : 'k:not-a-hash'),
              eventId: `evt_${subscriberId}`,
              digestId: `dig_next_${subscriberId}`,
              now: 50,
              windowMs: 60_000,
              job: { kind: 'digest', lane: 'normal' as const },
              steps: [],
            })),
          });
          expect((await store.closeDigest(T, 'dig_plain'))?.eventIds).toEqual(['evt_ada']);
          expect((await store.closeDigest(T, 'dig_lookalike'))?.eventIds).toEqual(['evt_cy']);
          expect((await raw!.dump(store)).includes(EMAIL)).toBe(false);
        },
      );

      it.runIf(rawDump !== undefined)(
        'never holds an email, phone, device token or web push endpoint in clear: not in any row, nor in the database files',
        async () => {
          await writeEverything();
          const raw = await rawDump!(store);
          expect(raw).toContain('zeph'); // the dump does see the rows
          for (const value of [EMAIL, PHONE, INLINE_EMAIL, INLINE_PHONE, TOKEN, ENDPOINT, P256DH]) {
            expect(raw.includes(value), value).toBe(false);
            expect(raw.toLowerCase().includes(value.toLowerCase()), value).toBe(false);
          }
          // Not even the distinctive part of one (a local part, a national number).
          for (const part of ['Zephyrine', 'marmaduke', '7700977310', 'quokka-5521', 'f00dfeedf00dfeed'])
            expect(raw.toLowerCase().includes(part.toLowerCase()), part).toBe(false);
        },
      );
      it.runIf(rawDump !== undefined)(
        "keeps nothing of an erased subscriber's messages in the database files: not in a row, a page's free space or the WAL",
        async () => {
          // Words only these messages hold, in content (long enough to spill to overflow pages),
          // data and error text; each message rewritten a few times first, as a send rewrites it.
          const CONTENT = 'wombat-erased-content-4417';
          const DATA = 'numbat-erased-data-9031';
          const ERROR = 'bilby-erased-error-2288';
          await store.upsertSubscriber(T, 'gone', {}, 1);
          const records = [1, 2, 3].map((n) =>
            messageRecord({
              id: newId('msg'),
              tenantId: T,
              subscriberId: 'gone',
              channel: 'email',
              status: 'queued',
              content: { subject: CONTENT, html: `<p>${CONTENT.repeat(n === 3 ? 400 : 1)}</p>` },
              data: { note: DATA },
              createdAt: 1000,
            }),
          );
          await store.createMessages(records.map((record) => ({ record, followUp: null })));
          for (const record of records)
            for (const status of ['sending', 'sent'] as const)
              await store.updateMessage(T, record.id, {
                status,
                lastError: ERROR,
                append: [{ at: '2026-01-01T00:00:00.000Z', status, detail: ERROR }],
                now: 2000,
              });
          expect(await rawDump!(store)).toContain(DATA); // the dump sees them before
          const request = {
            tenantId: T,
            subscriberId: 'gone',
            erasedId: 'erased:g',
            before: 5000,
            now: 5000,
            batch: 100,
          };
          await store.beginErasure(request, {
            tenantId: T,
            kind: 'erase-subscriber',
            lane: 'bulk',
            payload: {},
          });
          while ((await store.eraseMessages(request)) > 0);
          await store.settleErasure();
          const raw = await rawDump!(store);
          for (const word of [CONTENT, DATA, ERROR]) expect(raw.includes(word), word).toBe(false);
        },
      );
    });

    listingContract(() => store, T, OTHER);
    sizedPagesContract(() => store, T, OTHER);
  });
}
