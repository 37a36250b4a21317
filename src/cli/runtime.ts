import type { FastifyInstance } from 'fastify';
import { buildApp } from '../api/app.ts';
import type { Config } from '../config/index.ts';
import { IngestService } from '../ingest/service.ts';
import { pipelineHandlers } from '../pipeline/index.ts';
import { ProviderRegistry } from '../providers/registry.ts';
import { JobSignal } from '../queue/signal.ts';
import { Worker } from '../queue/worker.ts';
import { deriveKeys } from '../security/secrets.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import type { Logger } from '../telemetry/logger.ts';
import { createMetrics } from '../telemetry/metrics.ts';
import { TemplateCache } from '../templates/render.ts';
import { masterSecret, seedDefaultTenant } from './bootstrap.ts';

export type Role = 'api' | 'worker';

export interface Tidings {
  store: Store;
  app: FastifyInstance | null;
  worker: Worker | null;
  /** Base URL of the API when it listens. */
  url: string | null;
  generatedKey: string | null;
  keyFile: string;
  /** Stops accepting, drains the worker, closes the store. */
  close(): Promise<void>;
}

export function openStore(config: Config): Store {
  if (config.database.kind === 'postgres') {
    throw new Error('PostgreSQL support is not built yet: use sqlite:<path> for TIDINGS_DATABASE_URL.');
  }
  return openSqliteStore({ file: config.database.file });
}

/**
 * Starts Tidings with the given roles in this process: the store is migrated and the default
 * tenant seeded before the port opens.
 */
export async function startTidings(config: Config, logger: Logger, roles: Role[]): Promise<Tidings> {
  const store = openStore(config);
  const { generatedKey, keyFile } = await seedDefaultTenant(store, config);
  const keys = deriveKeys(await masterSecret(store, config));
  const signal = new JobSignal();
  const providers = new ProviderRegistry(store, keys.credentials);
  const metrics = createMetrics();

  let worker: Worker | null = null;
  if (roles.includes('worker')) {
    worker = new Worker({
      store,
      signal,
      logger,
      handlers: pipelineHandlers({ store, signal, templates: new TemplateCache(), providers, logger }),
      concurrency: config.workerConcurrency,
      leaseMs: config.leaseMs,
    });
    await worker.start();
  }

  let app: FastifyInstance | null = null;
  let url: string | null = null;
  if (roles.includes('api')) {
    const ingest = new IngestService(store, signal);
    app = await buildApp({ config, store, ingest, providers, signal, keys, logger, metrics });
    url = await app.listen({ host: config.host, port: config.port });
  }

  let closing: Promise<void> | null = null;
  return {
    store,
    app,
    worker,
    url,
    generatedKey,
    keyFile,
    close() {
      closing ??= (async () => {
        await app?.close();
        await worker?.stop();
        await providers.close();
        await store.close();
      })();
      return closing;
    },
  };
}
