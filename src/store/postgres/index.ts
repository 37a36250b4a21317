import type pg from 'pg';
import { PersonalData } from '../../security/personal-data.ts';
import { POSTGRES_CAPABILITIES } from '../capabilities.ts';
import type { Store } from '../port.ts';
import { channelName, openChannel } from './channel.ts';
import { postgresCircuitStore } from './circuits.ts';
import { createPool, run } from './client.ts';
import { postgresDeviceStore } from './devices.ts';
import { postgresDigestStore } from './digests.ts';
import { postgresEventStore } from './events.ts';
import { postgresFeedbackStore } from './feedback.ts';
import { postgresInboxStore, postgresPresenceStore } from './inbox.ts';
import { postgresJobStore } from './jobs.ts';
import { postgresRehashDigestKeys, postgresSealLegacy } from './legacy-personal.ts';
import { postgresListingStore } from './listing.ts';
import { postgresMessageStore } from './messages.ts';
import { migrate } from './migrate.ts';
import { postgresPersonalDataStore } from './personal-data.ts';
import { postgresPreferenceStore } from './preferences.ts';
import { postgresRateCounterStore } from './rate-counters.ts';
import { postgresSubscriberStore } from './subscribers.ts';
import { postgresTenantSettingsStore } from './tenant-settings.ts';
import { postgresTenantStore } from './tenants.ts';
import { classifyPostgresErrors } from './unavailable.ts';
import { postgresWebhookEndpointStore } from './webhook-endpoints.ts';
import { postgresIntegrationStore, postgresWorkflowStore } from './workflows.ts';

export interface PostgresOptions {
  /** postgres://user@host:port/database */
  url: string;
  /** Connections this process keeps at most. */
  poolSize?: number;
  /** Connection trouble the store recovers from by itself (logged, not thrown). */
  onError?: (error: Error, context: string) => void;
}

/**
 * Opens the PostgreSQL store, applying pending migrations first (under an advisory lock, so
 * processes started together migrate once). Connections that break — the server restarted —
 * are replaced on the next query; a query that was in flight fails and its caller retries.
 *
 * @example
 * const store = await openPostgresStore({ url: 'postgres://127.0.0.1:5432/tidings' });
 */
export async function openPostgresStore(options: PostgresOptions): Promise<Store> {
  const pool: pg.Pool = createPool({
    url: options.url,
    max: options.poolSize,
    onIdleError: (error) => options.onError?.(error, 'idle database connection lost'),
  });
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  let closed = false;
  // Replaced by the installation's key at start (src/security/personal-data-key.ts).
  const personal = new PersonalData();
  // Connection failures leave the store as StoreUnavailableError; everything else as it is.
  return classifyPostgresErrors<Store>({
    dialect: 'postgres',
    capabilities: POSTGRES_CAPABILITIES,
    personalData: personal,
    sealLegacyPersonalData: postgresSealLegacy(pool, personal),
    rehashLegacyDigestKeys: postgresRehashDigestKeys(pool, personal),
    ...postgresJobStore(pool),
    ...postgresTenantStore(pool),
    ...postgresEventStore(pool, personal),
    ...postgresSubscriberStore(pool, personal),
    ...postgresDeviceStore(pool, personal),
    ...postgresWorkflowStore(pool),
    ...postgresIntegrationStore(pool),
    ...postgresCircuitStore(pool),
    ...postgresMessageStore(pool, personal),
    ...postgresInboxStore(pool),
    ...postgresPresenceStore(pool),
    ...postgresDigestStore(pool),
    ...postgresPreferenceStore(pool),
    ...postgresTenantSettingsStore(pool),
    ...postgresRateCounterStore(pool),
    ...postgresWebhookEndpointStore(pool),
    ...postgresFeedbackStore(pool, personal),
    ...postgresListingStore(pool, personal),
    ...postgresPersonalDataStore(pool, personal),
    async probe() {
      await run(pool, 'SELECT 1 FROM tenants LIMIT 1');
      await run(pool, `SELECT min(run_at) FROM jobs WHERE state = 'ready'`);
    },
    openChannel: (name, onMessage, onReconnect) =>
      openChannel({
        url: options.url,
        pool,
        name: channelName(name),
        onMessage,
        onReconnect,
        onError: options.onError,
      }),
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  });
}
