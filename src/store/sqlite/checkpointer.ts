import { askBulkWritesToWait } from '../../queue/signal.ts';
import { superviseThread } from '../../shared/supervised-thread.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { CheckpointPolicy } from './checkpoint-policy.ts';
import type { FromCheckpointThread, ToCheckpointThread } from './checkpoint-thread.ts';

const ENTRY = new URL('./checkpoint-thread-entry.mjs', import.meta.url);
/** Its rounds are short: it exits at once when asked. */
const STOP_GRACE_MS = 5_000;

export interface CheckpointThread {
  stop(): Promise<void>;
}

/**
 * Starts the thread that checkpoints `file` in the background (see checkpoint-policy.ts). The
 * store's connections must be opened with `checkpoints: 'background'` and share `writeLock`;
 * `urgentWork` is the process's JobSignal counters (`incomingCounter`): the log's restarts
 * step aside for urgent work there, and ask the bulk lane to wait there. A thread that dies is restarted; meanwhile the writers' backstop keeps the log
 * bounded.
 */
export async function startCheckpointThread(
  file: string,
  writeLock: Int32Array,
  urgentWork: Int32Array,
  logger: Logger,
  policy?: Partial<CheckpointPolicy>,
): Promise<CheckpointThread> {
  const supervised = await superviseThread<FromCheckpointThread>({
    name: 'checkpoint thread',
    entry: ENTRY,
    workerData: { file, writeLock, urgentWork, policy },
    logger,
    // A thread that died while it asked the bulk lane to wait would have it wait at every step.
    onExit: () => askBulkWritesToWait(urgentWork, false),
  });
  return {
    stop: () => supervised.stop({ type: 'stop' } satisfies ToCheckpointThread, STOP_GRACE_MS),
  };
}
