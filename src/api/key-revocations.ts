import type { Store } from '../store/port.ts';

/**
 * Key revocations heard across processes (API.md: a key is "revoked at once"). Each api process
 * caches key lookups briefly (auth.ts KEY_CACHE_TTL_MS); the PostgreSQL store announces every key
 * it deletes (a revocation by any process or the CLI, a key TIDINGS_API_KEY replaced) on its `keys`
 * channel with the delete's commit, and each api process drops its cached lookups when it hears
 * one, or when its listener reconnects (one may have been missed meanwhile). SQLite has no
 * channels: one process owns the file, and its revoking route clears its own cache.
 *
 * Answers what stops listening.
 */
export async function forgetKeysOnRevocation(
  store: Pick<Store, 'capabilities' | 'openChannel'>,
  forget: () => void,
): Promise<() => Promise<void>> {
  if (!store.capabilities.crossProcessWakeups || !store.openChannel) return async () => undefined;
  const channel = await store.openChannel('keys', () => forget(), forget);
  return () => channel.close();
}
