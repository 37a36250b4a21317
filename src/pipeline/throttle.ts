import type { ResolvedProvider } from '../providers/registry.ts';
import type { RateCounterStore } from '../store/port.ts';

/** Integration throughput limits are counted per second. */
const THROTTLE_WINDOW_MS = 1000;

/**
 * The slot scope of an integration. U+001E leads it: workflow counter scopes begin with a
 * workflow key, which holds no control character, so the two never meet.
 */
function integrationSlotScope(integrationId: string): string {
  return `\u001eintegration\u001f${integrationId}`;
}

/**
 * An integration's `rateLimit.perSecond` (API.md): sends beyond it wait, never dropped. Each send
 * reserves a place in the first second with room, in the store, so the limit holds across worker
 * threads and processes and a backlog is spread over the seconds ahead at once, each send
 * rescheduled exactly once (no thundering herd of retries every second). Answers null when the
 * send may go now, else when it may.
 */
export async function throttledUntil(
  store: Pick<RateCounterStore, 'reserveSendSlot'>,
  tenantId: string,
  chosen: Pick<ResolvedProvider, 'integrationId' | 'perSecond'>,
  now: number,
): Promise<number | null> {
  if (!chosen.perSecond) return null;
  const slot = await store.reserveSendSlot(
    tenantId,
    integrationSlotScope(chosen.integrationId),
    now,
    chosen.perSecond,
    THROTTLE_WINDOW_MS,
  );
  return slot > now ? slot : null;
}
