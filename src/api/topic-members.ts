import type { Store } from '../store/port.ts';

/**
 * Ids written per store call. One call is one transaction, and on SQLite it runs on the API
 * thread: the 10,000 ids a request may name, written at once, held every other caller for
 * 0.3–0.55 s (creating the unknown subscribers too); 500 hold it some 15–30 ms.
 */
export const MEMBERS_PER_WRITE = 500;

/**
 * Adds `subscriberIds` to the topic `key` a chunk at a time, giving the event loop back between
 * chunks; answers how many became members, or null when the topic does not exist (or was deleted
 * while the chunks were written: the rest are then not written).
 *
 * Each chunk commits on its own, so a failure part way (the database gone) leaves the chunks
 * before it written; adding is idempotent, so the same request again adds the rest.
 */
export async function addTopicMembersInChunks(
  store: Pick<Store, 'addTopicMembers'>,
  tenantId: string,
  key: string,
  subscriberIds: readonly string[],
  now: number,
): Promise<number | null> {
  // An id named twice is added once: written once, too.
  const ids = [...new Set(subscriberIds)];
  let added = 0;
  for (let start = 0; start < ids.length; start += MEMBERS_PER_WRITE) {
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const chunk = await store.addTopicMembers(
      tenantId,
      key,
      ids.slice(start, start + MEMBERS_PER_WRITE),
      now,
    );
    if (chunk === null) return null;
    added += chunk;
  }
  return added;
}
