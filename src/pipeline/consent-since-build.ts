import type { PreferenceChoices } from '../shared/model.ts';
import { ConsentChangedSinceRead } from '../store/consent-guard.ts';
import type { NewMessage, Store } from '../store/port.ts';

/** How many times a delivery write is made again for consent changes that left its recipients' choices alone. */
const REWRITES = 3;

/**
 * A delivery's write (`write`: createMessages of `messages`), made again when the store refused it
 * for a change of preferences since the build (ConsentChangedSinceRead) that left the choices of
 * every recipient it delivers to as the build read them (`choicesRead`): another subscriber's
 * PATCH or STOP. Those messages then carry the version read here, before the choices
 * were read again. A change to one of the recipients' own choices leaves the error to the caller,
 * which builds the delivery again (src/pipeline/deliver.ts); so does one that keeps coming.
 */
export async function writeUnlessChoicesChanged(
  store: Pick<Store, 'choicesVersions' | 'getPreferencesFor'>,
  messages: readonly NewMessage[],
  choicesRead: (tenantId: string, subscriberId: string) => PreferenceChoices | null,
  write: () => Promise<string[]>,
): Promise<string[]> {
  for (let rewrites = 0; ; rewrites++) {
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof ConsentChangedSinceRead) || rewrites >= REWRITES) throw error;
      const moved = new Set(error.tenantIds);
      const delivered = messages.filter(
        (m) => m.choicesVersion !== undefined && moved.has(m.record.tenantId),
      );
      // The version first: the choices read after it are at least as new.
      const versions = await store.choicesVersions([...moved]);
      for (const tenantId of moved) {
        const ids = [
          ...new Set(
            delivered.filter((m) => m.record.tenantId === tenantId).map((m) => m.record.subscriberId),
          ),
        ];
        const now = await store.getPreferencesFor(tenantId, ids);
        for (const id of ids)
          if (JSON.stringify(now.get(id) ?? null) !== JSON.stringify(choicesRead(tenantId, id))) throw error;
      }
      for (const message of delivered) message.choicesVersion = versions.get(message.record.tenantId);
    }
  }
}
