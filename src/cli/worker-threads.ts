import { Worker as Thread } from 'node:worker_threads';
import type { Config } from '../config/index.ts';
import type { InboxFeed } from '../inbox/feed.ts';
import type { JobSignal } from '../queue/signal.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { SharedSqlite } from './open-store.ts';
import type { WorkerRole } from './worker-role.ts';
import type { FromWorkerThread, ToWorkerThread } from './worker-thread.ts';

const ENTRY = new URL('./worker-thread-entry.mjs', import.meta.url);
const STOP_GRACE_MS = 15_000;

/**
 * Runs the workers on a thread of their own, so HTTP ingest and delivery use separate cores.
 * Job signals of the API thread are forwarded, so a new event still wakes a worker at once;
 * a thread that dies unexpectedly is restarted.
 */
export async function startWorkerThread(
  config: Config,
  shared: SharedSqlite,
  signal: JobSignal,
  logger: Logger,
  inboxFeed: InboxFeed,
): Promise<WorkerRole> {
  let stopping = false;
  let current: { thread: Thread; owner: string };

  const spawn = () =>
    new Promise<{ thread: Thread; owner: string }>((resolve, reject) => {
      const thread = new Thread(ENTRY, { workerData: { config, shared } });
      const onEarlyExit = (code: number) =>
        reject(new Error(`worker thread exited during start-up (code ${code})`));
      thread.once('error', reject);
      thread.once('exit', onEarlyExit);
      // New inbox items of the thread's deliveries reach this thread's streams (and relays).
      thread.on('message', (message: FromWorkerThread) => {
        if (message.type === 'inbox') inboxFeed.publish(message.changes, 'remote');
      });
      thread.once('message', (message: FromWorkerThread) => {
        if (message.type !== 'ready') return;
        thread.off('error', reject);
        thread.off('exit', onEarlyExit);
        thread.on('error', (error) => logger.error({ err: error }, 'worker thread failed'));
        thread.on('exit', (code) => {
          if (stopping) return;
          logger.error({ code }, 'worker thread exited; restarting it');
          setTimeout(
            () =>
              void spawn().then(
                (next) => (current = next),
                (error) => logger.fatal({ err: error }, 'worker thread restart failed'),
              ),
            1000,
          );
        });
        resolve({ thread, owner: message.owner });
      });
    });

  current = await spawn();
  const unsubscribe = signal.subscribe((lane) =>
    current.thread.postMessage({ type: 'notify', lane } satisfies ToWorkerThread),
  );

  return {
    get owner() {
      return current.owner;
    },
    invalidate(tenantId) {
      current.thread.postMessage({ type: 'invalidate', tenantId } satisfies ToWorkerThread);
    },
    async stop() {
      stopping = true;
      unsubscribe();
      const { thread } = current;
      const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
      thread.postMessage({ type: 'stop' } satisfies ToWorkerThread);
      const timer = setTimeout(() => void thread.terminate(), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
