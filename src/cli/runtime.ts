import type { FastifyInstance } from 'fastify';
import { buildApp, buildHealthApp } from '../api/app.ts';
import { type Config, ConfigError } from '../config/index.ts';
import { InboxFeed } from '../inbox/feed.ts';
import { relayInboxFeed } from '../inbox/relay.ts';
import { IngestService } from '../ingest/service.ts';
import { ProviderRegistry } from '../providers/registry.ts';
import { relayJobSignal } from '../queue/relay.ts';
import { JobSignal } from '../queue/signal.ts';
import { makePrivateDir, restrictExistingFiles, restrictNewFiles } from '../security/file-modes.ts';
import { prepareMasterSecret } from '../security/master-secret.ts';
import { dataKeyFrom } from '../security/personal-data.ts';
import { sealLegacyData } from '../security/personal-data-key.ts';
import { deriveKeys, type Keys } from '../security/secrets.ts';
import type { Store } from '../store/port.ts';
import { startCheckpointThread } from '../store/sqlite/checkpointer.ts';
import { ThreadWriteLock } from '../store/sqlite/write-lock.ts';
import type { Logger } from '../telemetry/logger.ts';
import { createMetrics } from '../telemetry/metrics.ts';
import { WebhookEmitter } from '../webhooks/emit.ts';
import { seedDefaultTenant } from './bootstrap.ts';
import { openStore, type SharedSqlite, storeOpensFromThreads } from './open-store.ts';
import { startWorkerRole, type WorkerRole } from './worker-role.ts';
import { startWorkerThread } from './worker-threads.ts';

export { openStore } from './open-store.ts';

export type Role = 'api' | 'worker';

export interface Tidings {
  store: Store;
  app: FastifyInstance | null;
  worker: WorkerRole | null;
  /** Base URL of the API when it listens. */
  url: string | null;
  generatedKey: string | null;
  keyFile: string;
  /** Keys derived from the master secret (tests mint tokens with them). */
  keys: Keys;
  /** Stops accepting, drains the worker, closes the store. */
  close(): Promise<void>;
}

function combineRoles(roles: WorkerRole[]): WorkerRole {
  return {
    owner: roles.map((r) => r.owner).join(','),
    health: () => roles.map((r) => r.health()).find((problem) => problem !== null) ?? null,
    threads: () => roles.flatMap((r) => r.threads()),
    invalidate: (tenantId) => {
      for (const role of roles) role.invalidate(tenantId);
    },
    stop: async () => {
      await Promise.all(roles.map((r) => r.stop()));
    },
  };
}

/**
 * Starts Tidings with the given roles in this process: the store is migrated and the default
 * tenant seeded before the port opens.
 */
export async function startTidings(config: Config, logger: Logger, roles: Role[]): Promise<Tidings> {
  // Before anything is created: whatever this process writes is readable by its user only.
  restrictNewFiles();
  // The threads of this process share the SQLite file's write lock; a file (not ':memory:') is
  // checkpointed by a thread of its own rather than by whichever writer commits.
  const sqliteFile =
    config.database.kind === 'sqlite' && config.database.file !== ':memory:' ? config.database.file : null;
  const shared: SharedSqlite = {
    writeLock: ThreadWriteLock.create(),
    backgroundCheckpoints: sqliteFile !== null,
  };
  const store = await openStore(config, shared, logger);
  // Urgent work being accepted and run, counted across the threads (the checkpoint thread's too).
  const urgentWork = JobSignal.createIncoming(config.workerThreads);
  const checkpoints = sqliteFile
    ? await startCheckpointThread(sqliteFile, shared.writeLock, urgentWork, logger)
    : null;
  logger.info({ store: store.dialect, capabilities: store.capabilities }, 'store open and migrated');
  // The secret first: a start with one that cannot open the stored values stops before writing anything.
  const secrets = await prepareMasterSecret(store, config, logger).catch(async (error: unknown) => {
    await checkpoints?.stop();
    await store.close();
    throw error;
  });
  const keys = deriveKeys(secrets.current, secrets.previous);
  // Before anything personal is read or written: the installation's data key, not the store's own.
  store.personalData.use(dataKeyFrom(Buffer.from(secrets.personalDataKey, 'base64')));
  const sealed = await sealLegacyData(store);
  if (sealed > 0) logger.info({ sealed }, 'personal data an earlier version stored in clear is now sealed');
  const { generatedKey, keyFile } = await seedDefaultTenant(store, config);
  restrictExistingFiles([keyFile]);
  // API.md: the data directory is created if missing, also when this start writes nothing there yet.
  // A start that needs nothing there (PostgreSQL, key and secret given) still runs where it cannot
  // make one (a read-only working directory): it says so instead of stopping.
  try {
    makePrivateDir(config.dataDir);
  } catch (error) {
    logger.warn({ err: error, dataDir: config.dataDir }, 'the data directory could not be created');
  }
  const signal = new JobSignal(urgentWork);
  // Its count of open streams is shared with the worker threads (InboxFeed.hasAudience).
  const inboxFeed = new InboxFeed(InboxFeed.createAudience(), (error) =>
    logger.error({ err: error }, 'an inbox stream or relay failed on a change'),
  );
  // Workers on this thread listen for other processes' jobs; worker threads relay their own.
  const unrelay = await relayJobSignal(store, signal, { listen: roles.includes('worker') });
  // Streams live in api processes: they listen for the inbox changes of every other process.
  const unrelayInbox = await relayInboxFeed(store, inboxFeed, { listen: roles.includes('api') });
  const providers = new ProviderRegistry(
    store,
    keys.credentialKeyring,
    config.allowPrivateTargets,
    config.publicUrl,
    config.circuitCoolDownMs,
  );
  const metrics = createMetrics({
    circuits: () => store.listCircuits(null),
    queue: (now, cap) => store.queueStats(now, cap),
    deadJobs: (cap) => store.deadJobsByKind(cap),
  });
  // Status changes the API makes (inbox reads, unsubscribes) queue webhook events too.
  const webhooks = new WebhookEmitter(store);

  let worker: WorkerRole | null = null;
  if (roles.includes('worker')) {
    // A thread opens the store on its own: not possible for an in-memory database.
    const threads = roles.includes('api') && storeOpensFromThreads(config) ? config.workerThreads : 0;
    worker =
      threads > 0
        ? combineRoles(
            await Promise.all(
              Array.from({ length: threads }, (_, index) =>
                startWorkerThread(
                  config,
                  shared,
                  secrets,
                  signal,
                  logger,
                  inboxFeed,
                  metrics.delivery,
                  index,
                ),
              ),
            ),
          )
        : await startWorkerRole(config, store, keys, signal, logger, inboxFeed, undefined, metrics.delivery);
    const role = worker;
    providers.onInvalidate((tenantId) => role.invalidate(tenantId));
    webhooks.onInvalidate((tenantId) => role.invalidate(tenantId));
  }

  const workerHealth = () => worker?.health() ?? null;
  let app: FastifyInstance | null = null;
  let url: string | null = null;
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      await app?.close();
      await worker?.stop();
      await unrelay();
      await unrelayInbox();
      await providers.close();
      await checkpoints?.stop();
      await store.close();
    })();
    return closing;
  };
  try {
    url = await serve();
  } catch (error) {
    // Nothing is left running (a test that starts on a taken port, say, goes on cleanly); the
    // failure to report is the start's, not the shutdown's.
    await close().catch(() => undefined);
    throw error;
  }

  async function serve(): Promise<string | null> {
    if (roles.includes('api')) {
      const ingest = new IngestService(store, signal);
      app = await buildApp({
        config,
        store,
        ingest,
        providers,
        signal,
        keys,
        logger,
        metrics,
        inboxFeed,
        workerHealth,
        webhooks,
      });
      return listenOn(app, config.host, config.port, 'TIDINGS_PORT');
    }
    if (config.workerPort !== null) {
      app = await buildHealthApp({ store, metrics, logger, workerHealth });
      return listenOn(app, config.host, config.workerPort, 'TIDINGS_WORKER_PORT');
    }
    return null;
  }

  return { store, app, worker, url, generatedKey, keyFile, keys, close };
}

/** Where listening failed because of the address asked for, said as the configuration error it is. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'is already in use by another process',
  EACCES: 'may not be opened by this user (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'is not an address of this machine',
  ENOTFOUND: 'does not resolve',
};

async function listenOn(
  app: FastifyInstance,
  host: string,
  port: number,
  portVariable: string,
): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === undefined ? undefined : LISTEN_ERRORS[code];
    if (!why) throw error;
    throw new ConfigError(
      `cannot listen on TIDINGS_HOST=${host} ${portVariable}=${port}: the address ${why} (${code}).`,
    );
  }
}
