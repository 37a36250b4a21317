import { describe, expect, it } from 'vitest';
import type { MessageRecord } from '../../src/shared/model.ts';
import type { SizedPage, Store } from '../../src/store/port.ts';
import { messageRecord } from '../helpers/message-record.ts';

/** A page's bound in these tests: rows of LARGE characters, two of which pass it. */
const MAX = 1000;
const LARGE = 600;
const large = (fill: string) => fill.repeat(LARGE);

/** A page as its keys, and whether more remain. */
const keysOf = <T>(page: SizedPage<T>, key: (row: T) => string | number) => ({
  keys: page.rows.map(key),
  more: page.more,
});

/**
 * SizedPages (the lists whose rows may each be as large as a request body), run inside
 * runStoreContract with its fresh store: tenants `T` and `OTHER` exist, and `T` has the workflow
 * `welcome`. Every list stops at the row that would take its page past maxBytes, whatever the
 * order of small and large rows: a few small rows first do not make it read more.
 */
export function sizedPagesContract(storeOf: () => Store, T: string, OTHER: string): void {
  describe('sized pages', () => {
    /** Messages of `u1` (in-app items), created oldest first: ids msg_00… sort as they come. */
    async function createMessages(contents: MessageRecord['content'][], over: Partial<MessageRecord> = {}) {
      const store = storeOf();
      const ids: string[] = [];
      for (const [i, content] of contents.entries()) {
        const id = `msg_${String(i).padStart(2, '0')}`;
        ids.push(id);
        const record = messageRecord({ tenantId: T, id, content, eventAt: 1000 + i, ...over });
        await store.createMessages([{ record, followUp: null }]);
      }
      return ids;
    }

    it('pages messages newest first, stopping before the message that would pass maxBytes', async () => {
      const store = storeOf();
      // Two large messages, then three small ones: the newest (small) come first.
      await createMessages([{ a: large('a') }, { b: large('b') }, { c: 'c' }, { d: 'd' }, { e: 'e' }]);
      const page = (over: { beforeId?: string; limit?: number; maxBytes?: number } = {}) =>
        store
          .pageMessages({ tenantId: T, limit: 50, maxBytes: MAX, ...over })
          .then((p) => keysOf(p, (m) => m.id));
      // The small ones and one large fit; the second large one would pass maxBytes.
      expect(await page()).toEqual({ keys: ['msg_04', 'msg_03', 'msg_02', 'msg_01'], more: true });
      expect(await page({ beforeId: 'msg_01' })).toEqual({ keys: ['msg_00'], more: false });
      // A message larger than maxBytes alone is a page of its own, never an empty one.
      expect(await page({ beforeId: 'msg_02', maxBytes: 10 })).toEqual({ keys: ['msg_01'], more: true });
      expect(await page({ beforeId: 'msg_01', maxBytes: 10 })).toEqual({ keys: ['msg_00'], more: false });
      // `limit` still bounds a page of small ones; a page that ends the list exactly says so.
      expect(await page({ limit: 2 })).toEqual({ keys: ['msg_04', 'msg_03'], more: true });
      expect(await page({ limit: 2, beforeId: 'msg_02', maxBytes: 10_000 })).toEqual({
        keys: ['msg_01', 'msg_00'],
        more: false,
      });
      expect(await page({ beforeId: 'msg_00' })).toEqual({ keys: [], more: false });
      expect(await store.pageMessages({ tenantId: OTHER, limit: 50, maxBytes: MAX })).toEqual({
        rows: [],
        more: false,
      });
      // Whole records, as listMessages answers them.
      const [first] = (await store.pageMessages({ tenantId: T, limit: 1, maxBytes: MAX })).rows;
      expect(first).toEqual((await store.listMessages({ tenantId: T, limit: 1 }))[0]);
    });

    it("sizes a message's data too, and pages messages by listMessages' filters", async () => {
      const store = storeOf();
      await createMessages([{ a: 'a' }, { b: 'b' }, { c: 'c' }], { data: { blob: large('d') } });
      await store.createMessages([
        {
          record: messageRecord({ tenantId: T, id: 'msg_09', subscriberId: 'u2', status: 'dead' }),
          followUp: null,
        },
      ]);
      const page = (over: Partial<Parameters<Store['pageMessages']>[0]>) =>
        store
          .pageMessages({ tenantId: T, limit: 50, maxBytes: MAX, ...over })
          .then((p) => keysOf(p, (m) => m.id));
      expect(await page({ subscriberId: 'u1' })).toEqual({ keys: ['msg_02'], more: true });
      expect(await page({ subscriberId: 'u1', maxBytes: 10_000 })).toEqual({
        keys: ['msg_02', 'msg_01', 'msg_00'],
        more: false,
      });
      expect(await page({ status: 'dead' })).toEqual({ keys: ['msg_09'], more: false });
      expect(await page({ subscriberId: 'u2', channel: 'email' })).toEqual({ keys: [], more: false });
      expect(await page({ eventId: 'evt_msg_01' })).toEqual({ keys: ['msg_01'], more: false });
    });

    it('pages inbox items newest first by event time, stopping before the item that would pass maxBytes', async () => {
      const store = storeOf();
      await createMessages([{ a: large('a') }, { b: large('b') }, { c: 'c' }, { d: 'd' }]);
      const page = (before: { eventAt: number; id: string } | null, over: { limit?: number } = {}) =>
        store
          .pageInbox({
            tenantId: T,
            subscriberId: 'u1',
            before,
            limit: 50,
            archived: false,
            maxBytes: MAX,
            ...over,
          })
          .then((p) => keysOf(p, (m) => m.id));
      expect(await page(null)).toEqual({ keys: ['msg_03', 'msg_02', 'msg_01'], more: true });
      expect(await page({ eventAt: 1001, id: 'msg_01' })).toEqual({ keys: ['msg_00'], more: false });
      expect(await page(null, { limit: 1 })).toEqual({ keys: ['msg_03'], more: true });
      // An item of the cursor's event time comes after it by id, the cursor's second part.
      expect(await page({ eventAt: 1002, id: 'msg_03' })).toEqual({ keys: ['msg_02', 'msg_01'], more: true });
      expect(
        await store.pageInbox({
          tenantId: T,
          subscriberId: 'u1',
          before: null,
          limit: 50,
          archived: false,
          status: 'read',
          maxBytes: MAX,
        }),
      ).toEqual({ rows: [], more: false });
      expect(
        (
          await store.pageInbox({
            tenantId: T,
            subscriberId: 'u1',
            before: null,
            limit: 2,
            archived: false,
            maxBytes: MAX,
          })
        ).rows,
      ).toEqual(
        await store.listInbox({ tenantId: T, subscriberId: 'u1', before: null, limit: 2, archived: false }),
      );
    });

    it('pages workflows in key order and their versions newest first, stopping before maxBytes', async () => {
      const store = storeOf();
      const big = { channels: [], note: large('n') };
      const small = { channels: [] };
      for (const [key, definition] of [
        ['w1', big],
        ['w2', small],
        ['w3', big],
        ['w4', big],
      ] as const)
        await store.putWorkflow(T, key, definition, 2);
      await store.putWorkflow(OTHER, 'w0', big, 2);
      const workflows = (after: string | null, limit = 50) =>
        store.pageWorkflows(T, { after, limit, maxBytes: MAX }).then((p) => keysOf(p, (w) => w.key));
      // w1 (large) and w2 (small); w3 would pass maxBytes. `welcome` (small) sorts last.
      expect(await workflows(null)).toEqual({ keys: ['w1', 'w2'], more: true });
      expect(await workflows('w2')).toEqual({ keys: ['w3'], more: true });
      expect(await workflows('w3')).toEqual({ keys: ['w4', 'welcome'], more: false });
      expect(await workflows(null, 1)).toEqual({ keys: ['w1'], more: true });
      expect((await store.pageWorkflows(T, { after: 'w3', limit: 1, maxBytes: MAX })).rows).toEqual(
        await store.listWorkflows(T, { after: 'w3', limit: 1 }),
      );

      for (const definition of [big, big, small, small]) await store.putWorkflow(T, 'many', definition, 3);
      const versions = (before: number | null, limit = 50) =>
        store
          .pageWorkflowVersions(T, 'many', { before, limit, maxBytes: MAX })
          .then((p) => keysOf(p, (v) => v.version));
      expect(await versions(null)).toEqual({ keys: [4, 3, 2], more: true });
      expect(await versions(2)).toEqual({ keys: [1], more: false });
      expect(await versions(4, 1)).toEqual({ keys: [3], more: true });
      // A cursor past any version (up to 15 digits) reads from the newest.
      expect(await versions(999_999_999_999_999, 2)).toEqual({ keys: [4, 3], more: true });
      expect(
        await store.pageWorkflowVersions(T, 'missing', { before: null, limit: 5, maxBytes: MAX }),
      ).toEqual({
        rows: [],
        more: false,
      });
      expect(
        (await store.pageWorkflowVersions(T, 'many', { before: null, limit: 2, maxBytes: MAX })).rows,
      ).toEqual(await store.listWorkflowVersions(T, 'many', { before: null, limit: 2 }));
    });

    it('pages sandbox captures newest first, of a channel or all, stopping before maxBytes', async () => {
      const store = storeOf();
      for (const [id, channel, subject] of [
        ['cap_a', 'email', large('a')],
        ['cap_b', 'email', large('b')],
        ['cap_c', 'sms', 'c'],
        ['cap_d', 'email', 'd'],
      ] as const)
        await store.saveSandboxCapture({
          id,
          tenantId: T,
          messageId: `msg_${id}`,
          channel,
          to: 'a@x.io',
          content: { subject },
          createdAt: 1,
        });
      const captures = (over: { channel?: 'email' | 'sms'; beforeId?: string; limit?: number } = {}) =>
        store
          .pageSandboxCaptures({ tenantId: T, limit: 50, maxBytes: MAX, ...over })
          .then((p) => keysOf(p, (c) => c.id));
      expect(await captures()).toEqual({ keys: ['cap_d', 'cap_c', 'cap_b'], more: true });
      expect(await captures({ beforeId: 'cap_b' })).toEqual({ keys: ['cap_a'], more: false });
      expect(await captures({ channel: 'sms' })).toEqual({ keys: ['cap_c'], more: false });
      expect(await captures({ channel: 'email', beforeId: 'cap_d', limit: 1 })).toEqual({
        keys: ['cap_b'],
        more: true,
      });
      expect((await store.pageSandboxCaptures({ tenantId: T, limit: 1, maxBytes: MAX })).rows).toEqual(
        await store.listSandboxCaptures(T, 1),
      );
      expect(await store.pageSandboxCaptures({ tenantId: OTHER, limit: 5, maxBytes: MAX })).toEqual({
        rows: [],
        more: false,
      });
    });
  });
}
