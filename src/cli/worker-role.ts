import type { Worker as Thread } from 'node:worker_threads';
import type { Config } from '../config/index.ts';
import type { InboxFeed } from '../inbox/feed.ts';
import { startRetentionSweep } from '../ingest/retention.ts';
import { pipelineHandlers } from '../pipeline/index.ts';
import { ProviderRegistry } from '../providers/registry.ts';
import type { JobSignal } from '../queue/signal.ts';
import { Worker } from '../queue/worker.ts';
import type { Keys } from '../security/secrets.ts';
import type { Store } from '../store/port.ts';
import type { DeliveryTally } from '../telemetry/delivery-tally.ts';
import type { Logger } from '../telemetry/logger.ts';
import { TemplateCache } from '../templates/render.ts';
import { WebhookEmitter } from '../webhooks/emit.ts';

/** A running set of job workers and what they own. */
export interface WorkerRole {
  owner: string;
  /** Why these workers cannot take work now (claims failing, a thread dead), or null (see /readyz). */
  health(): string | null;
  /** The threads these workers run on (none when they run on the caller's); for diagnostics and tests. */
  threads(): readonly Thread[];
  /** Integrations or webhook endpoints of a tenant changed: read them again on the next use. */
  invalidate(tenantId: string): void;
  stop(): Promise<void>;
}

/** Starts the pipeline's workers on `store`; stopping drains them and closes provider clients. */
export async function startWorkerRole(
  config: Config,
  store: Store,
  keys: Keys,
  signal: JobSignal,
  logger: Logger,
  inboxFeed: InboxFeed,
  onHealthChange?: (problem: string | null) => void,
  /** Where deliveries are counted for /metrics. */
  tally?: DeliveryTally,
): Promise<WorkerRole> {
  const providers = new ProviderRegistry(
    store,
    keys.credentialKeyring,
    config.allowPrivateTargets,
    config.publicUrl,
    config.circuitCoolDownMs,
  );
  const webhooks = new WebhookEmitter(store);
  const worker = new Worker({
    store,
    signal,
    logger,
    handlers: pipelineHandlers({
      store,
      signal,
      templates: new TemplateCache(),
      providers,
      inboxFeed,
      links: {
        publicUrl: config.publicUrl,
        unsubscribeKey: keys.unsubscribeSigning,
        preferencesKey: keys.preferenceLinkSigning,
        trackingKey: keys.trackingSigning,
      },
      webhooks: { emitter: webhooks, keyring: keys.credentialKeyring },
      erasureKey: keys.erasure,
      tally,
    }),
    concurrency: config.workerConcurrency,
    leaseMs: config.leaseMs,
    onHealthChange,
  });
  await worker.start();
  const stopPurge = startRetentionSweep(store, logger, config.retentionMs);
  return {
    owner: worker.owner,
    health: () => worker.health(),
    threads: () => [],
    invalidate: (tenantId) => {
      providers.invalidate(tenantId);
      webhooks.forget(tenantId);
    },
    async stop() {
      stopPurge();
      await worker.stop();
      await providers.close();
    },
  };
}
