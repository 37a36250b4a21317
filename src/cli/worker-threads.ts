import type { Config } from '../config/index.ts';
import type { InboxFeed } from '../inbox/feed.ts';
import { forgetRunningUrgentJobs, JobSignal } from '../queue/signal.ts';
import type { MasterSecrets } from '../security/master-secret.ts';
import { processNameData } from '../shared/process-name.ts';
import { superviseThread } from '../shared/supervised-thread.ts';
import type { DeliveryTally } from '../telemetry/delivery-tally.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { SharedSqlite } from './open-store.ts';
import type { WorkerRole } from './worker-role.ts';
import type { FromWorkerThread, ToWorkerThread } from './worker-thread.ts';

const ENTRY = new URL('./worker-thread-entry.mjs', import.meta.url);
const STOP_GRACE_MS = 15_000;
/**
 * The worker thread's young generation: 128 MiB of semi-spaces (Node's default for a thread is 32).
 * A send batch keeps hundreds of sends' objects alive across the scavenges of its HTTP/2 round
 * trip; with the default, garbage collection was 3.5 s of 25 s of busy time per 100k pushes, with
 * this 2.2 s (the push bench, TIDINGS_WORKER_THREADS=0 and --max-semi-space-size=64). The space
 * grows to this only under such load.
 */
const YOUNG_GENERATION_MB = 192;

/**
 * Runs the workers on a thread of their own, so HTTP ingest and delivery use separate cores.
 * Job signals of the API thread are forwarded, so a new event still wakes a worker at once;
 * a thread that dies unexpectedly is restarted.
 */
export async function startWorkerThread(
  config: Config,
  shared: SharedSqlite,
  secrets: MasterSecrets,
  signal: JobSignal,
  logger: Logger,
  inboxFeed: InboxFeed,
  /** The API thread's delivery counts, which the thread's own are added to (for /metrics). */
  tally: DeliveryTally,
  /** Which of the process's worker threads this is (from 0): its slot in the urgent counters. */
  index: number,
): Promise<WorkerRole> {
  const urgentSlot = JobSignal.runningSlot(index);
  let threadProblem: string | null = null;
  const supervised = await superviseThread<Extract<FromWorkerThread, { type: 'ready' }>>({
    name: 'worker thread',
    entry: ENTRY,
    // The secrets settled by the API thread at start (never re-read or re-decided by a thread).
    workerData: {
      // Its changes relayed through the store are this process's: the API thread has them already.
      ...processNameData(),
      config,
      shared,
      secrets,
      inboxAudience: inboxFeed.audienceCounter,
      urgentIncoming: signal.incomingCounter,
      urgentSlot,
    },
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    logger,
    // Jobs a thread that died was running are not running any more (its finally blocks never ran).
    onExit: () => forgetRunningUrgentJobs(signal.incomingCounter, urgentSlot),
    // New inbox items of the thread's deliveries reach this thread's streams (and relays); its
    // workers' health is kept for /readyz (a new incarnation starts healthy).
    onMessage: (message) => {
      const fromThread = message as FromWorkerThread;
      if (fromThread.type === 'inbox') inboxFeed.publish(fromThread.changes, 'remote');
      else if (fromThread.type === 'health') threadProblem = fromThread.problem;
      else if (fromThread.type === 'metrics') tally.add(fromThread.snapshot);
      else if (fromThread.type === 'ready') threadProblem = null;
    },
  });
  const post = (message: ToWorkerThread) => supervised.post(message);
  const unsubscribe = signal.subscribe((lane) => post({ type: 'notify', lane }));

  return {
    get owner() {
      return supervised.current.ready.owner;
    },
    health() {
      // A thread that has exited reports -1 (even before its 'exit' event); it stays the current
      // one until a restart is ready, and for good if the restart failed.
      if (supervised.current.thread.threadId === -1)
        return 'the worker thread has exited and is not running again yet';
      return threadProblem;
    },
    threads: () => [supervised.current.thread],
    invalidate(tenantId) {
      post({ type: 'invalidate', tenantId });
    },
    async stop() {
      unsubscribe();
      await supervised.stop({ type: 'stop' } satisfies ToWorkerThread, STOP_GRACE_MS);
    },
  };
}
