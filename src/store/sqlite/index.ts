import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { PersonalData } from '../../security/personal-data.ts';
import { SQLITE_CAPABILITIES } from '../capabilities.ts';
import type { Store } from '../port.ts';
import { CHECKPOINT_POLICY } from './checkpoint-policy.ts';
import { sqliteCircuitStore } from './circuits.ts';
import { sqliteDeviceStore } from './devices.ts';
import { digestStatements, sqliteDigestStore } from './digests.ts';
import { sqliteEventStore } from './events.ts';
import { sqliteFeedbackStore } from './feedback.ts';
import { inboxLogStatements, sqliteInboxStore, sqlitePresenceStore } from './inbox.ts';
import { jobStatements, sqliteJobStore } from './jobs.ts';
import { sqliteRehashDigestKeys, sqliteSealLegacy } from './legacy-personal.ts';
import { sqliteListingStore } from './listing.ts';
import { sqliteMessageStore } from './messages.ts';
import { migrate } from './migrate.ts';
import { consentStatements, sqlitePersonalDataStore } from './personal-data.ts';
import { sqlitePreferenceStore } from './preferences.ts';
import { sqliteProbe } from './probe.ts';
import { sqliteRateCounterStore } from './rate-counters.ts';
import { sqliteSubscriberStore, subscriberStatements } from './subscribers.ts';
import { sqliteTenantSettingsStore } from './tenant-settings.ts';
import { sqliteTenantStore } from './tenants.ts';
import { classifySqliteErrors } from './unavailable.ts';
import { sqliteWebhookEndpointStore } from './webhook-endpoints.ts';
import { sqliteIntegrationStore, sqliteWorkflowStore } from './workflows.ts';
import { guardWrites, ThreadWriteLock } from './write-lock.ts';

export interface SqliteOptions {
  /** Path of the database file, or ':memory:'. */
  file: string;
  /** Shared by the threads of this process that open the same file (see ThreadWriteLock). */
  writeLock?: Int32Array;
  /**
   * Who copies the write-ahead log into the database file: the committing writer (SQLite's
   * default), or a checkpoint thread (see checkpoint-policy.ts), writers keeping only a backstop.
   */
  checkpoints?: 'on-commit' | 'background';
}

/**
 * Writes that answer an API caller (a 202, a saved opt-out, a new key) are fsynced before they
 * return: they survive power loss. The workers' own commits (claims, deliveries, statuses) use
 * synchronous=NORMAL — they survive a process crash, and since the WAL is append-only, the next
 * durable commit makes them durable too; a power cut can only roll back work whose job rolls
 * back with it and runs again.
 */
const DURABLE_WRITES = [
  'acceptEvents',
  'cancelEvent',
  'cancelEventsByKey',
  'settingOnce',
  'replaceSetting',
  'ensureTenant',
  'addApiKey',
  'addFirstApiKey',
  'revokeApiKey',
  'upsertSubscriber',
  'loadOrCreateSubscribers',
  'upsertTopic',
  'addTopicMembers',
  'removeTopicMember',
  'upsertSubscribers',
  'deleteWorkflow',
  'deleteIntegration',
  'deleteTopic',
  'upsertDevice',
  'deleteDevice',
  'putWorkflow',
  'putIntegration',
  'resealCredentials',
  'markInbox',
  'markAllInbox',
  'snoozeInbox',
  'replayDeadMessage',
  'patchPreferences',
  'patchTenantSettings',
  'putWebhookEndpoint',
  'deleteWebhookEndpoint',
  'replaceWebhookSecrets',
  // A provider's word on an address (hard bounce, complaint, STOP) must outlive a power cut: the
  // provider will not say it again.
  'suppressAddress',
  'liftSuppression',
  // A 202 for an erasure means the profile is gone for good.
  'beginErasure',
] as const satisfies readonly (keyof Store)[];

function fsyncDurableWrites(db: Database.Database, store: Store): Store {
  const full = db.prepare('PRAGMA synchronous = FULL');
  const normal = db.prepare('PRAGMA synchronous = NORMAL');
  const wrapped: Record<string, unknown> = { ...store };
  for (const name of DURABLE_WRITES) {
    const method = store[name] as (...args: unknown[]) => Promise<unknown>;
    // better-sqlite3 runs the write synchronously inside the call, so the pragma covers exactly it.
    wrapped[name] = (...args: unknown[]) => {
      full.run();
      try {
        return method(...args);
      } finally {
        normal.run();
      }
    };
  }
  return wrapped as unknown as Store;
}

/**
 * Opens (creating and migrating if needed) the embedded SQLite store.
 *
 * @example
 * const store = openSqliteStore({ file: './data/tidings.db' });
 */
export function openSqliteStore(options: SqliteOptions): Store {
  if (options.file !== ':memory:') mkdirSync(path.dirname(options.file), { recursive: true });
  const db = new Database(options.file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.pragma('cache_size = -65536');
  // What a row leaves behind when it is deleted or rewritten is zeroed: the space in its page and
  // the pages it frees (a long message's overflow pages, freed at each status write). Otherwise
  // an erased or expired message's content and data stay readable in the file's free space
  // (FAST zeroes within pages only, and left earlier versions of long messages on free pages).
  db.pragma('secure_delete = ON');
  // Writers that checkpoint do so every ~40 MiB of WAL rather than SQLite's 4 MiB: the inbox
  // indexes are keyed by recipient, so each delivery batch dirties pages all over them, and a
  // small WAL wrote those same pages back (and fsynced) over and over.
  const autoCheckpoint =
    options.checkpoints === 'background' ? CHECKPOINT_POLICY.writerBackstopPages : 10_000;
  db.pragma(`wal_autocheckpoint = ${autoCheckpoint}`);
  if (options.writeLock) guardWrites(db, new ThreadWriteLock(options.writeLock));
  migrate(db);

  const jobs = jobStatements(db);
  // Replaced by the installation's key at start (src/security/personal-data-key.ts).
  const personal = new PersonalData();
  const subscribers = subscriberStatements(db, personal);
  const inboxLog = inboxLogStatements(db);
  const consent = consentStatements(db);
  const store: Store = {
    dialect: 'sqlite',
    capabilities: SQLITE_CAPABILITIES,
    personalData: personal,
    sealLegacyPersonalData: sqliteSealLegacy(db, personal),
    rehashLegacyDigestKeys: sqliteRehashDigestKeys(db, personal),
    ...sqliteJobStore(db, jobs),
    ...sqliteTenantStore(db),
    ...sqliteEventStore(db, jobs, subscribers, personal),
    ...sqliteSubscriberStore(db, subscribers, personal),
    ...sqliteDeviceStore(db, subscribers, personal),
    ...sqliteWorkflowStore(db),
    ...sqliteIntegrationStore(db),
    ...sqliteCircuitStore(db),
    ...sqliteMessageStore(db, jobs, digestStatements(db, jobs), inboxLog, personal),
    ...sqliteInboxStore(db, inboxLog, jobs),
    ...sqlitePresenceStore(db),
    ...sqliteDigestStore(db),
    ...sqlitePreferenceStore(db, subscribers, consent),
    ...sqliteTenantSettingsStore(db),
    ...sqliteRateCounterStore(db),
    ...sqliteWebhookEndpointStore(db),
    ...sqliteFeedbackStore(db, consent, personal),
    ...sqliteListingStore(db, subscribers, personal),
    ...sqlitePersonalDataStore(db, jobs, personal),
    probe: sqliteProbe(options.file, db),
    async close() {
      if (db.open) db.close();
    },
  };
  // Busy errors leave the store as StoreUnavailableError; everything else as it is.
  return classifySqliteErrors(fsyncDurableWrites(db, store));
}
