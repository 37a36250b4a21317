import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/index.ts';
import { type InboxChange, InboxFeed } from '../inbox/feed.ts';
import { relayInboxFeed } from '../inbox/relay.ts';
import { relayJobSignal } from '../queue/relay.ts';
import { JobSignal } from '../queue/signal.ts';
import type { MasterSecrets } from '../security/master-secret.ts';
import { dataKeyFrom } from '../security/personal-data.ts';
import { deriveKeys } from '../security/secrets.ts';
import type { Lane } from '../shared/model.ts';
import { DeliveryTally, type TallySnapshot } from '../telemetry/delivery-tally.ts';
import { createLogger } from '../telemetry/logger.ts';
import { openStore, type SharedSqlite } from './open-store.ts';
import { startWorkerRole } from './worker-role.ts';

/** Messages between the API thread and a worker thread. */
export type ToWorkerThread =
  | { type: 'notify'; lane: Lane | null }
  | { type: 'invalidate'; tenantId: string }
  | { type: 'stop' };
export type FromWorkerThread =
  | { type: 'ready'; owner: string }
  | { type: 'stopped' }
  | { type: 'inbox'; changes: readonly InboxChange[] }
  /** Delivery counts since the last such message, for the API thread's /metrics. */
  | { type: 'metrics'; snapshot: TallySnapshot }
  /** The thread's workers started or stopped failing their claims (null: fine again). */
  | { type: 'health'; problem: string | null };

// The body of a worker thread (see worker-threads.ts): its own store connection and workers,
// woken by the API thread's job signals.
const config = workerData.config as Config;
const secrets = workerData.secrets as MasterSecrets;
const port = parentPort!;
const logger = createLogger(config.logLevel, undefined, config.logFormat ?? 'json').child({
  thread: 'worker',
});
const store = await openStore(config, workerData.shared as SharedSqlite, logger);
store.personalData.use(dataKeyFrom(Buffer.from(secrets.personalDataKey, 'base64')));
// Shares the API thread's count of urgent events being accepted (the bulk lane steps aside): a
// counter of its own would quietly turn that off.
const urgentIncoming = workerData.urgentIncoming;
const urgentSlot = workerData.urgentSlot;
if (
  !(urgentIncoming instanceof Int32Array && urgentIncoming.buffer instanceof SharedArrayBuffer) ||
  !(Number.isInteger(urgentSlot) && urgentSlot > 0 && urgentSlot < urgentIncoming.length)
)
  throw new Error(
    'a worker thread needs the shared urgent counters and its slot (workerData.urgentIncoming, urgentSlot)',
  );
const signal = new JobSignal(urgentIncoming, urgentSlot);
// Shares the API thread's count of open streams: deliveries make what streams show only for an audience.
const inboxFeed = new InboxFeed(workerData.inboxAudience as Int32Array, (error) =>
  logger.error({ err: error }, 'an inbox relay failed on a change'),
);
// Streams live on the API thread: every inbox change of this thread's deliveries goes there.
inboxFeed.tap((changes, origin) => {
  if (origin === 'local') port.postMessage({ type: 'inbox', changes } satisfies FromWorkerThread);
});
// The API thread listens for other processes and forwards; this thread announces its own jobs.
const unrelay = await relayJobSignal(store, signal, { listen: false });
// New inbox items go to the API thread (above) and, through the store, to other processes' streams.
const unrelayInbox = await relayInboxFeed(store, inboxFeed, { listen: false });
// Counted here, handed to the API thread's registry once a second: a scrape sees counts at most
// a second old, and the hot path never posts a message per delivery.
const tally = new DeliveryTally();
const METRICS_EVERY_MS = 1000;
const flushMetrics = () => {
  const snapshot = tally.take();
  if (snapshot) port.postMessage({ type: 'metrics', snapshot } satisfies FromWorkerThread);
};
const metricsTimer = setInterval(flushMetrics, METRICS_EVERY_MS);
metricsTimer.unref();
const role = await startWorkerRole(
  config,
  store,
  deriveKeys(secrets.current, secrets.previous),
  signal,
  logger,
  inboxFeed,
  (problem) => port.postMessage({ type: 'health', problem } satisfies FromWorkerThread),
  tally,
);

port.on('message', (message: ToWorkerThread) => {
  if (message.type === 'notify') {
    // Already announced by the API thread (or received from another process): not sent out again.
    signal.notify(message.lane, 'remote');
    return;
  }
  if (message.type === 'invalidate') {
    role.invalidate(message.tenantId);
    return;
  }
  void role
    .stop()
    .then(unrelay)
    .then(unrelayInbox)
    .then(() => store.close())
    .finally(() => {
      clearInterval(metricsTimer);
      flushMetrics();
      port.postMessage({ type: 'stopped' } satisfies FromWorkerThread);
      port.close();
    });
});
port.postMessage({ type: 'ready', owner: role.owner } satisfies FromWorkerThread);
